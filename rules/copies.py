"""One meeting, many copies: which copy decides, and what each copy may tell.

The same meeting shows up once per watched participant and per provider. The organizer's copy
decides whether and when it happens; each copy tells only its owner's answer. This module turns
the copies of a series slot or of a one-off into a `Slot`: the merged facts about one expected
meeting, before replacements are matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.model import Attendee, CalendarEvent, EventKind, Response, epoch


@dataclass(frozen=True, slots=True)
class Copy:
    """One copy of a meeting: the event on one calendar, plus its exception for the slot, if any."""

    calendar: str  # the owner, canonical
    event: CalendarEvent  # the master or the one-off
    exception: CalendarEvent | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """What the copies say about one expected meeting."""

    series_key: str | None  # None for a one-off
    original_start: datetime
    start: datetime
    end: datetime
    live: bool  # neither cancelled nor declined
    how: str | None = None  # "cancelled" | "declined"
    by: str | None = None  # who cancelled or declined, where the copies tell it
    seen_at: datetime | None = None  # when the current state (a cancellation, a decline) was first seen
    by_full_listing: bool = False  # revealed by a full listing rather than seen happening
    late: bool = False
    titled: bool = True  # one-offs: untitled ones only count near a cancellation
    moved_to: datetime | None = None  # a move too far: where the meeting went
    conference: str | None = None  # live slots: the video call it happens in, if any


@dataclass(frozen=True, slots=True)
class Judge:
    """What deciding needs besides the copies: the pair and the late-cancellation threshold."""

    manager: str
    report: str
    late_hours: int

    @property
    def people(self) -> tuple[str, str]:
        return (self.manager, self.report)


def changed(event: CalendarEvent) -> datetime:
    """When this copy's current state was first seen (the provider's `updated` as a fallback)."""
    if event.sighting is not None:
        return event.sighting.changed_at
    return event.updated or epoch()


def rank(copy: Copy, organizer: str | None, manager: str) -> tuple[bool, bool, float, str, str, str]:
    """Sort key of the deciding copy: the organizer's, else the manager's, else the latest."""
    newest = changed(copy.exception or copy.event)
    return (
        copy.calendar != organizer,
        copy.calendar != manager,
        -newest.timestamp(),
        copy.event.provider,
        copy.calendar,
        copy.event.event_id,
    )


Canonical = Callable[[str], str]


def _entry(event: CalendarEvent | None, person: str, canonical: Canonical) -> Attendee | None:
    if event is None:
        return None
    for attendee in event.attendees:
        if canonical(attendee.email) == person:
            return attendee
    return None


def answer(
    person: str, copies: Sequence[Copy], decisive: Copy, canonical: Canonical
) -> tuple[Attendee, CalendarEvent] | None:
    """A person's answer: from their own copy if we see it, else from the deciding copy.

    Within a copy, the occurrence's own entry wins over the series' (a sparse occurrence may
    carry no attendees: then the series' answer stands).
    """
    own = [copy for copy in copies if copy.calendar == person]
    for copy in [*own[:1], decisive]:
        for event in (copy.exception, copy.event):
            entry = _entry(event, person, canonical)
            if entry is not None and event is not None:
                return entry, event
    return None


def _decline_time(entry: Attendee, source: CalendarEvent) -> tuple[datetime | None, bool]:
    """When a decline was given, and whether that time is known (not just revealed by a listing)."""
    if entry.responded_at is not None:
        return entry.responded_at, True
    if source.sighting is not None:
        return source.sighting.changed_at, not source.sighting.by_full_listing
    return None, False


def stood_at(entry: Attendee, source: CalendarEvent, start: datetime) -> bool:
    """A decline counts if it still stood when the meeting began.

    A decline given after the start did not stop the meeting; when we cannot tell (a full
    listing, no answer time), it is taken to have stood.
    """
    when, known = _decline_time(entry, source)
    if when is None or when <= start:
        return True
    return not known


def deleted_at(master: CalendarEvent) -> datetime | None:
    """When a cancelled master was deleted: seen happening, else the provider's stamp.

    With no time at all its slots are dropped (epoch): no evidence they ever stood.
    """
    if not master.is_cancelled:
        return None
    sighting = master.sighting
    if sighting is not None and not sighting.by_full_listing:
        return sighting.changed_at
    if master.updated is not None:
        return master.updated
    return sighting.changed_at if sighting is not None else epoch()


def cascaded(master: CalendarEvent, exception: CalendarEvent) -> bool:
    """An occurrence cancelled with (or after) its series' deletion went with the series.

    Providers cancel every exception of a deleted series; those slots were not cancelled one by
    one — the ones before the deletion stood — so they must not read as cancellations.
    """
    if master.kind is not EventKind.MASTER or not master.is_cancelled:
        return False
    gone = deleted_at(master)
    seen = exception.sighting.changed_at if exception.sighting is not None else None
    return gone is None or seen is None or seen >= gone


def decide(
    copies: Sequence[Copy],
    judge: Judge,
    canonical: Canonical,
    *,
    series_key: str | None,
    original_start: datetime,
    length: timedelta,
    excluded: bool = False,
    titled: bool = True,
) -> Slot:
    """Merge the copies of one slot (the deciding copy comes first in `copies`)."""
    decisive = copies[0]
    organizer = canonical(decisive.event.organizer) if decisive.event.organizer else None
    occurrence = decisive.exception or decisive.event
    # A deleted master ends its series at the deletion (the caller drops later slots); the
    # slots before it stood.
    cancelled = occurrence.is_cancelled and occurrence.kind is not EventKind.MASTER
    if cancelled and decisive.exception is not None and cascaded(decisive.event, decisive.exception):
        cancelled = False
    if cancelled or (excluded and decisive.exception is None):
        return _lost(series_key, original_start, length, "cancelled", organizer, occurrence, judge, titled)
    start, end = original_start, original_start + length
    if decisive.exception is not None and occurrence.start is not None:
        start = occurrence.start
        end = occurrence.end if occurrence.end is not None and occurrence.end > start else start + length
    decliners: list[tuple[str, Attendee, CalendarEvent]] = []
    for person in judge.people:
        found = answer(person, copies, decisive, canonical)
        if found is not None and found[0].response is Response.DECLINED and stood_at(*found, start):
            decliners.append((person, *found))
    if not decliners:
        sighting = occurrence.sighting
        return Slot(
            series_key,
            original_start,
            start,
            end,
            live=True,
            seen_at=sighting.changed_at if sighting is not None else None,
            by_full_listing=sighting.by_full_listing if sighting is not None else False,
            titled=titled,
            conference=occurrence.conference or decisive.event.conference,
        )
    person, entry, source = decliners[0]
    when, known = _decline_time(entry, source)
    seen = source.sighting.changed_at if source.sighting is not None else entry.responded_at
    return Slot(
        series_key,
        original_start,
        start,
        end,
        live=False,
        how="declined",
        by=", ".join(sorted(p for p, _, _ in decliners)),
        seen_at=seen,
        by_full_listing=source.sighting.by_full_listing if source.sighting is not None else False,
        late=known and when is not None and when > original_start - timedelta(hours=judge.late_hours),
        titled=titled,
    )


def _lost(
    series_key: str | None,
    original_start: datetime,
    length: timedelta,
    how: str,
    by: str | None,
    evidence: CalendarEvent,
    judge: Judge,
    titled: bool,
) -> Slot:
    sighting = evidence.sighting
    late = (
        sighting is not None
        and not sighting.by_full_listing
        and sighting.changed_at > original_start - timedelta(hours=judge.late_hours)
    )
    return Slot(
        series_key,
        original_start,
        original_start,
        original_start + length,
        live=False,
        how=how,
        by=by,
        seen_at=sighting.changed_at if sighting is not None else None,
        by_full_listing=sighting.by_full_listing if sighting is not None else False,
        late=late,
        titled=titled,
    )
