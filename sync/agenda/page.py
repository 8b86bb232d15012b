"""What a pair's page shows, computed from the pair's meetings and items (pure: no I/O, `now` given).

Meetings come from the rules' `PairHistory` (held and upcoming occurrences), so the page agrees
with what the daemon judges. Each item is anchored to the meeting it was written for (its
original start); an item whose meeting was cancelled or moved flows into the next meeting that
takes place, so nothing written for a 1:1 is lost when the 1:1 moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rules.history import PairHistory, is_held
from rules.model import Occurrence, OccurrenceOutcome
from sync.agenda.store import Item
from sync.notify.render import attendance_words


@dataclass(frozen=True)
class MeetingView:
    original_start: datetime | None  # None: no meeting is scheduled (items wait for the next one)
    start: datetime | None
    end: datetime | None
    held: bool
    in_progress: bool = False
    topics: tuple[Item, ...] = ()  # the report's first, then the manager's
    notes: tuple[Item, ...] = ()
    actions: tuple[Item, ...] = ()
    # Who joined its call, where read: "held (both joined, 28 min)", "no-show: Raj did not join".
    attendance: str = ""

    @property
    def empty(self) -> bool:
        return not (self.topics or self.notes or self.actions)


@dataclass(frozen=True)
class PageView:
    manager: str
    report: str
    next: MeetingView  # the next meeting (or the one in progress)
    notes_target: MeetingView  # where notes and action items go: the latest meeting that has started
    review: tuple[Item, ...]  # open action items from earlier meetings
    past: tuple[MeetingView, ...] = field(default_factory=tuple)  # older meetings, newest first
    first_meeting: bool = False
    # What happened to the slots around now — cancelled, moved, replaced — oldest first, so "Next 1:1 Mon
    # 14 Dec" never hides that 07 Dec was cancelled.
    changes: tuple[SlotChange, ...] = ()


@dataclass(frozen=True)
class SlotChange:
    what: str  # cancelled | moved | replaced | no-show
    slot: datetime  # the slot's original start
    to: datetime | None = None  # where it went (moved) or the 1:1 that made up for it (replaced)
    by_report: bool = False  # the report cancelled or declined it


CHANGES_WINDOW = timedelta(weeks=4)  # how far back and ahead the page tells what happened to a slot


def slot_changes(history: PairHistory | None, now: datetime) -> tuple[SlotChange, ...]:
    if history is None:
        return ()
    found = []
    for o in history.occurrences:
        if not (now - CHANGES_WINDOW <= o.original_start <= now + CHANGES_WINDOW) or o.away:
            continue
        report_did = o.cancelled_by == history.pair.report
        if o.outcome is OccurrenceOutcome.CANCELLED:
            found.append(SlotChange("cancelled", o.original_start, o.moved_to, report_did))
        elif o.outcome is OccurrenceOutcome.REPLACED:
            found.append(SlotChange("replaced", o.original_start, o.replaced_by, report_did))
        elif o.outcome is OccurrenceOutcome.MOVED and o.start != o.original_start:
            found.append(SlotChange("moved", o.original_start, o.start))
        elif o.outcome is OccurrenceOutcome.NO_SHOW:
            found.append(SlotChange("no-show", o.original_start))
    return tuple(sorted(found, key=lambda c: c.slot))


def _meetings(history: PairHistory | None, now: datetime) -> tuple[list[Occurrence], Occurrence | None]:
    if history is None:
        return [], None
    # A no-show stood on the calendar: its page keeps what was written for it, and says who did not join.
    took_place = (o for o in history.occurrences if is_held(o, now) or o.outcome is OccurrenceOutcome.NO_SHOW)
    held = sorted(took_place, key=lambda o: (o.start, o.original_start))
    upcoming = history.next_scheduled
    current = next((o for o in reversed(held) if o.start <= now < o.end), None)
    return held, current or upcoming


def anchor_for(kind: str, history: PairHistory | None, now: datetime) -> datetime | None:
    """The meeting a new item belongs to: talking points to the next (or running) meeting; notes
    and action items to the latest meeting that has started, else the next one."""
    held, upcoming = _meetings(history, now)
    if kind != "topic" and held:
        return held[-1].original_start
    return upcoming.original_start if upcoming is not None else None


def _bucket(item: Item, held: Sequence[Occurrence]) -> int | None:
    """Index of the held meeting the item belongs to, or None for the next meeting."""
    if item.occurrence is None:
        return None
    for index, meeting in enumerate(held):
        if meeting.original_start == item.occurrence:
            return index
    for index, meeting in enumerate(held):
        if meeting.original_start >= item.occurrence or meeting.start >= item.occurrence:
            return index
    return None


def _view(occurrence: Occurrence | None, items: Sequence[Item], report: str, now: datetime) -> MeetingView:
    topics = sorted((i for i in items if i.kind == "topic"), key=lambda i: (i.author != report, i.created_at, i.id))
    if occurrence is None:
        return MeetingView(
            None,
            None,
            None,
            False,
            topics=tuple(topics),
            notes=tuple(i for i in items if i.kind == "note"),
            actions=tuple(i for i in items if i.kind == "action"),
        )
    return MeetingView(
        original_start=occurrence.original_start,
        start=occurrence.start,
        end=occurrence.end,
        held=occurrence.start <= now,
        in_progress=occurrence.start <= now < occurrence.end,
        topics=tuple(topics),
        notes=tuple(i for i in items if i.kind == "note"),
        actions=tuple(i for i in items if i.kind == "action"),
        attendance=attendance_words(occurrence),
    )


def build_page(
    manager: str, report: str, history: PairHistory | None, items: Sequence[Item], now: datetime, *, is_new: bool
) -> PageView:
    held, upcoming = _meetings(history, now)
    buckets: dict[int | None, list[Item]] = {}
    for item in items:
        buckets.setdefault(_bucket(item, held), []).append(item)
    running_index = next((i for i, o in enumerate(held) if upcoming is not None and o is upcoming), None)
    next_items = buckets.get(None, []) + (buckets.get(running_index, []) if running_index is not None else [])
    next_view = _view(upcoming, next_items, report, now)
    past = [_view(o, buckets.get(i, []), report, now) for i, o in enumerate(held) if i != running_index]
    past.reverse()
    # Notes go to the meeting under way, else the latest one held (shown in its own section, not in `past`).
    notes_target = next_view if running_index is not None or not past else past.pop(0)
    # Every open action item is reviewed, the last 1:1's included (it is what "from last time" means);
    # only those written for the coming 1:1 itself are not yet "from last time".
    review_from = {i.id for i in next_view.actions}
    review = tuple(
        sorted(
            (i for i in items if i.kind == "action" and not i.done and i.id not in review_from),
            key=lambda i: (i.due is None, i.due or now.date(), i.created_at, i.id),
        )
    )
    return PageView(
        manager=manager,
        report=report,
        next=next_view,
        notes_target=notes_target,
        review=review,
        past=tuple(past),
        first_meeting=is_new and not held,
        changes=slot_changes(history, now),
    )
