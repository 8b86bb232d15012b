"""A pair's series: copies grouped into one series each, expanded into slots.

Copies of one series are recognised by content, not by id alone: Google gives every copy the
same id, Outlook gives each mailbox its own, and two providers never agree. Masters of the same
pair that share an id or a first slot are one series; the organizer's copy decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rules.copies import Canonical, Copy, Judge, Slot, answer, decide, deleted_at, rank
from rules.model import CalendarEvent, Response, epoch
from rules.recurrence import Expansion, expand, span


@dataclass(frozen=True, slots=True)
class SeriesCopy:
    calendar: str  # the owner, canonical
    master: CalendarEvent
    exceptions: Mapping[datetime, CalendarEvent]  # by original start (UTC)


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    copies: tuple[SeriesCopy, ...]  # the deciding copy first
    expansion: Expansion
    deleted_at: datetime | None  # slots from here on are not occurrences

    @property
    def decisive(self) -> SeriesCopy:
        return self.copies[0]

    @property
    def first_start(self) -> datetime:
        start = self.decisive.master.start
        return start.astimezone(UTC) if start is not None else epoch()

    @property
    def cadence_days(self) -> int | None:
        return self.expansion.cadence_days

    def ended(self, now: datetime) -> bool:
        """No slot from `now` on: its rule ran out, or it was deleted."""
        if self.deleted_at is not None and self.deleted_at <= now:
            return True
        return self.expansion.last is not None and self.expansion.last < now

    def live_at(self, moment: datetime) -> bool:
        return self.deleted_at is None or moment < self.deleted_at


def _groups(copies: Sequence[SeriesCopy]) -> list[list[SeriesCopy]]:
    """Union of copies that share a provider id or a first slot."""
    parent = list(range(len(copies)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[object, int] = {}
    for i, copy in enumerate(copies):
        for key in ((copy.master.provider, copy.master.event_id), copy.master.start):
            if key in seen:
                parent[root(i)] = root(seen[key])
            else:
                seen[key] = i
    grouped: dict[int, list[SeriesCopy]] = {}
    for i, copy in enumerate(copies):
        grouped.setdefault(root(i), []).append(copy)
    return list(grouped.values())


def group_series(
    copies: Sequence[SeriesCopy], manager: str, canonical: Canonical, start: datetime, end: datetime
) -> list[Series]:
    """Group copies into series and expand each once, from its deciding copy."""
    result = []
    for group in _groups(copies):
        ordered = sorted(group, key=lambda c: _rank(c, canonical, manager))
        master = ordered[0].master
        key = f"{master.provider}:{master.event_id}"
        result.append(Series(key, tuple(ordered), expand(master, start, end), deleted_at(master)))
    return sorted(result, key=lambda s: (s.first_start, s.key))


def _rank(copy: SeriesCopy, canonical: Canonical, manager: str) -> tuple[bool, bool, float, str, str, str]:
    organizer = canonical(copy.master.organizer) if copy.master.organizer else None
    return rank(Copy(copy.calendar, copy.master), organizer, manager)


def series_slots(series: Series, judge: Judge, canonical: Canonical, keep: Callable[[datetime], bool]) -> list[Slot]:
    """Every slot of the series that `keep` accepts, merged across its copies."""
    length = span(series.decisive.master)
    plain = _plain_slot(series, judge, canonical, length)
    slots = []
    for original in series.expansion.slots:
        if not keep(original) or not series.live_at(original):
            continue
        if (
            plain is not None
            and original not in series.expansion.excluded
            and not any(original in c.exceptions for c in series.copies)
        ):
            # No exception anywhere and nobody declined the series: the slot stands as the masters say.
            slots.append(
                Slot(
                    series.key,
                    original,
                    original,
                    original + length,
                    live=True,
                    seen_at=plain.seen_at,
                    by_full_listing=plain.by_full_listing,
                    titled=plain.titled,
                    conference=series.decisive.master.conference,
                )
            )
            continue
        copies = [Copy(c.calendar, c.master, c.exceptions.get(original)) for c in series.copies]
        slots.append(
            decide(
                copies,
                judge,
                canonical,
                series_key=series.key,
                original_start=original,
                length=length,
                excluded=original in series.expansion.excluded,
            )
        )
    return slots


def _plain_slot(series: Series, judge: Judge, canonical: Canonical, length: timedelta) -> Slot | None:
    """What a slot with no exception on any copy decides, when that cannot depend on its time.

    It can only depend on the time through a series-level decline (which counts from when it was
    given); without one, every such slot is the same live slot, so deciding it once is enough.
    """
    if not series.expansion.slots:
        return None
    copies = [Copy(c.calendar, c.master, None) for c in series.copies]
    for person in judge.people:
        found = answer(person, copies, copies[0], canonical)
        if found is not None and found[0].response is Response.DECLINED:
            return None
    first = series.expansion.slots[0]
    probe = decide(copies, judge, canonical, series_key=series.key, original_start=first, length=length)
    return probe if probe.live and probe.start == first else None


def one_off_slots(
    copies: Sequence[tuple[Copy, bool]], judge: Judge, canonical: Canonical, keep: Callable[[datetime], bool]
) -> list[Slot]:
    """One-offs merged across copies by start time; `bool` says whether the copy's title matched."""
    by_start: dict[datetime, list[tuple[Copy, bool]]] = {}
    for copy, titled in copies:
        if copy.event.start is not None and keep(copy.event.start):
            by_start.setdefault(copy.event.start.astimezone(UTC), []).append((copy, titled))
    slots = []
    for start, group in sorted(by_start.items()):
        ordered = sorted(
            (copy for copy, _ in group),
            key=lambda c: rank(c, canonical(c.event.organizer) if c.event.organizer else None, judge.manager),
        )
        slots.append(
            decide(
                ordered,
                judge,
                canonical,
                series_key=None,
                original_start=start,
                length=span(ordered[0].event),
                titled=any(titled for _, titled in group),
            )
        )
    return slots
