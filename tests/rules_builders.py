"""Tiny builders for meeting histories, so a scenario reads in a few lines.

A `Meeting` is the organizer's view of a series or a one-off plus the calendars (and providers)
its copies live on; `.events()` renders the copies as the providers would deliver them: Google
copies share the event id, Outlook copies get an id per mailbox and report deleted occurrences on
the master's `cancelled_occurrences`. Times are written as local wall-clock strings in the
meeting's zone (`"2025-01-13T10:00"`), a day as `"2025-01-13"` (the slot on that day), and an
instant as UTC with a trailing `Z`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.model import (
    Attendee,
    CalendarEvent,
    Directory,
    EvaluationContext,
    EventKind,
    EventStatus,
    EventType,
    Pair,
    Pause,
    Response,
    RuleSettings,
    Sighting,
)

M = "maria@acme.test"  # the manager
R = "raj@acme.test"  # her report
P = "pia@acme.test"  # a peer of Maria's
B = "bea@acme.test"  # Maria's own manager (skip-level to Raj)
BERLIN = "Europe/Berlin"


def at(text: str, tz: str = BERLIN) -> datetime:
    """`...Z` is UTC; anything else is wall-clock time in `tz`."""
    if text.endswith("Z"):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)


def seen(when: str, *, full: bool = False, tz: str = BERLIN) -> Sighting:
    """When the store saw a state: by an incremental sync, or (`full`) by a full listing."""
    moment = at(when, tz)
    return Sighting(first_seen=moment, changed_at=moment, by_full_listing=full)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Meeting:
    """One series or one-off, as its organizer's copy, and where its copies live."""

    event: CalendarEvent
    # (slot original start UTC, only on this calendar or None for every copy) -> exception
    exceptions: Mapping[tuple[datetime, str | None], CalendarEvent] = field(default_factory=dict)
    copies: tuple[tuple[str, str], ...] = (("google", M),)  # (provider, calendar)

    @property
    def tz(self) -> str:
        return self.event.time_zone or BERLIN

    def slot(self, day: str) -> datetime:
        """The original start of the slot on a local day (or an explicit local time / UTC)."""
        if "T" in day:
            return at(day, self.tz)
        start = self.event.start
        assert start is not None
        local = start.astimezone(ZoneInfo(self.tz))
        return datetime.combine(date.fromisoformat(day), local.timetz()).astimezone(UTC)

    def events(self) -> list[CalendarEvent]:
        return [event for provider, calendar in self.copies for event in self._copy(provider, calendar)]

    def _copy(self, provider: str, calendar: str) -> list[CalendarEvent]:
        base = self.event.event_id
        event_id = base if provider == "google" else f"{base}-{calendar.partition('@')[0]}"
        mine: dict[datetime, CalendarEvent] = {}
        for (slot, only_on), exception in sorted(self.exceptions.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if only_on is None:
                mine.setdefault(slot, exception)
        for (slot, only_on), exception in self.exceptions.items():
            if only_on == calendar:
                mine[slot] = exception
        master = replace(self.event, provider=provider, calendar=calendar, event_id=event_id)
        if self.event.kind is EventKind.MASTER:
            master = replace(master, series_id=event_id)
        out = []
        for slot, exception in sorted(mine.items()):
            if provider == "outlook" and exception.is_cancelled:
                master = replace(master, cancelled_occurrences=(*master.cancelled_occurrences, slot))
                continue
            out.append(
                replace(
                    exception,
                    provider=provider,
                    calendar=calendar,
                    event_id=f"{event_id}_{_stamp(slot)}",
                    series_id=event_id,
                )
            )
        return [master, *out]


def _attendees(people: Iterable[str], organizer: str) -> tuple[Attendee, ...]:
    return tuple(
        Attendee(p, Response.ACCEPTED if p == organizer else Response.NEEDS_ACTION, is_organizer=p == organizer)
        for p in people
    )


def series(
    manager: str = M,
    report: str = R,
    first: str = "2025-01-06T10:00",
    *,
    rrule: str = "FREQ=WEEKLY",
    until: str | None = None,
    tz: str = BERLIN,
    minutes: int = 30,
    title: str = "1:1 Maria / Raj",
    organizer: str | None = None,
    others: tuple[str, ...] = (),
    rooms: tuple[str, ...] = (),
    event_id: str | None = None,
    sighting: Sighting | None = None,
    event_type: EventType = EventType.DEFAULT,
) -> Meeting:
    """A recurring meeting; `until` is a raw UNTIL value (`20250203`, `20250203T225959Z`)."""
    organizer = organizer or manager
    start = at(first, tz)
    rule = f"RRULE:{rrule}" + (f";UNTIL={until}" if until else "")
    people = (manager, report, *others)
    event = CalendarEvent(
        provider="google",
        calendar=organizer,
        event_id=event_id or f"s{_stamp(start)[:8]}{manager[0]}{report[0]}",
        kind=EventKind.MASTER,
        start=start,
        end=start + timedelta(minutes=minutes),
        time_zone=tz,
        recurrence=(rule,),
        summary=title,
        organizer=organizer,
        attendees=_attendees(people, organizer) + tuple(Attendee(r, is_resource=True) for r in rooms),
        sighting=sighting,
        event_type=event_type,
    )
    return Meeting(event, copies=(("google", organizer),))


weekly = series


def one_off(
    manager: str = M,
    report: str = R,
    start: str = "2025-01-15T11:00",
    *,
    tz: str = BERLIN,
    minutes: int = 30,
    title: str = "1:1 Maria / Raj",
    organizer: str | None = None,
    others: tuple[str, ...] = (),
    all_day: bool = False,
    sighting: Sighting | None = None,
    status: EventStatus = EventStatus.CONFIRMED,
) -> Meeting:
    organizer = organizer or manager
    begin = at(start, tz)
    event = CalendarEvent(
        provider="google",
        calendar=organizer,
        event_id=f"o{_stamp(begin)}{manager[0]}{report[0]}",
        kind=EventKind.SINGLE,
        status=status,
        start=begin,
        end=begin + timedelta(minutes=minutes),
        all_day=all_day,
        start_date=begin.astimezone(ZoneInfo(tz)).date() if all_day else None,
        end_date=begin.astimezone(ZoneInfo(tz)).date() + timedelta(days=1) if all_day else None,
        time_zone=tz,
        summary=title,
        organizer=organizer,
        attendees=_attendees((manager, report, *others), organizer),
        sighting=sighting,
    )
    return Meeting(event, copies=(("google", organizer),))


def _exception(meeting: Meeting, slot: datetime) -> CalendarEvent:
    known = meeting.exceptions.get((slot, None))
    if known is not None:
        return known
    length = (meeting.event.end or slot) - (meeting.event.start or slot)
    return replace(
        meeting.event,
        kind=EventKind.EXCEPTION,
        original_start=slot,
        start=slot,
        end=slot + length,
        recurrence=(),
        sighting=None,
    )


def _with(meeting: Meeting, slot: datetime, exception: CalendarEvent, only_on: str | None = None) -> Meeting:
    return replace(meeting, exceptions={**meeting.exceptions, (slot, only_on): exception})


def cancel(meeting: Meeting, day: str, *, sighting: Sighting | None = None, only_on: str | None = None) -> Meeting:
    """The organizer cancels one occurrence (a sparse cancelled row, as Google sends it).

    `only_on` shows the cancellation on one calendar's copy only (a copy out of step).
    """
    slot = meeting.slot(day)
    row = replace(
        meeting.event,
        kind=EventKind.EXCEPTION,
        status=EventStatus.CANCELLED,
        original_start=slot,
        start=None,
        end=None,
        recurrence=(),
        attendees=(),
        summary="",
        sighting=sighting,
    )
    return _with(meeting, slot, row, only_on)


def exdate(meeting: Meeting, line: str) -> Meeting:
    """Add a raw EXDATE line to the rule (how iCalendar clients delete one occurrence)."""
    return replace(meeting, event=replace(meeting.event, recurrence=(*meeting.event.recurrence, line)))


def move(meeting: Meeting, day: str, *, to: str, sighting: Sighting | None = None) -> Meeting:
    slot = meeting.slot(day)
    exception = _exception(meeting, slot)
    length = (exception.end or slot) - (exception.start or slot)
    begin = at(to, meeting.tz)
    return _with(meeting, slot, replace(exception, start=begin, end=begin + length, sighting=sighting))


def shorten(meeting: Meeting, day: str, *, minutes: int) -> Meeting:
    slot = meeting.slot(day)
    exception = _exception(meeting, slot)
    start = exception.start or slot
    return _with(meeting, slot, replace(exception, end=start + timedelta(minutes=minutes)))


def _answer(
    attendees: tuple[Attendee, ...], person: str, response: Response, when: datetime | None
) -> tuple[Attendee, ...]:
    return tuple(replace(a, response=response, responded_at=when) if a.email == person else a for a in attendees)


def respond(
    meeting: Meeting,
    person: str,
    day: str | None = None,
    *,
    response: Response = Response.DECLINED,
    responded_at: str | None = None,
    sighting: Sighting | None = None,
    only_on: str | None = None,
) -> Meeting:
    """An answer to one occurrence (`day`) or to the whole series / one-off (`day=None`).

    `only_on` puts the answer on one calendar's copy only (each copy tells its owner's answer).
    """
    when = at(responded_at, meeting.tz) if responded_at else None
    if day is None:
        event = replace(
            meeting.event,
            attendees=_answer(meeting.event.attendees, person, response, when),
            sighting=sighting or meeting.event.sighting,
        )
        return replace(meeting, event=event)
    slot = meeting.slot(day)
    exception = _exception(meeting, slot)
    answered = replace(exception, attendees=_answer(exception.attendees, person, response, when), sighting=sighting)
    return _with(meeting, slot, answered, only_on)


def decline(meeting: Meeting, person: str, day: str | None = None, **kwargs: object) -> Meeting:
    return respond(meeting, person, day, response=Response.DECLINED, **kwargs)  # type: ignore[arg-type]


def end_series(meeting: Meeting, until: str, *, sighting: Sighting | None = None) -> Meeting:
    """Trim the rule with a raw UNTIL value (Google's "this and following" writes `...T225959Z`)."""
    rule = meeting.event.recurrence[0].split(";UNTIL=")[0]
    event = replace(meeting.event, recurrence=(f"{rule};UNTIL={until}",), sighting=sighting or meeting.event.sighting)
    return replace(meeting, event=event)


def delete_series(meeting: Meeting, *, sighting: Sighting) -> Meeting:
    """The whole series deleted; the store keeps the last content with status cancelled."""
    return replace(meeting, event=replace(meeting.event, status=EventStatus.CANCELLED, sighting=sighting))


def on(meeting: Meeting, *calendars: str, provider: str = "google") -> Meeting:
    """Copies on these calendars (one provider)."""
    return replace(meeting, copies=tuple((provider, c) for c in calendars))


def copies(meeting: Meeting, *places: tuple[str, str]) -> Meeting:
    """Copies at explicit (provider, calendar) places, e.g. Google for one, Outlook for the other."""
    return replace(meeting, copies=places)


def ooo(person: str, first: str, last: str, *, tz: str = BERLIN) -> CalendarEvent:
    """An all-day out-of-office entry from `first` to `last`, both included."""
    start, end = date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1)
    return CalendarEvent(
        provider="google",
        calendar=person,
        event_id=f"ooo-{person[0]}-{first}",
        kind=EventKind.SINGLE,
        all_day=True,
        start_date=start,
        end_date=end,
        start=datetime.combine(start, time(), tzinfo=ZoneInfo(tz)).astimezone(UTC),
        end=datetime.combine(end, time(), tzinfo=ZoneInfo(tz)).astimezone(UTC),
        time_zone=tz,
        summary="Out of office",
        organizer=person,
        event_type=EventType.OUT_OF_OFFICE,
    )


def ooo_timed(person: str, start: str, end: str, *, tz: str = BERLIN) -> CalendarEvent:
    begin = at(start, tz)
    return CalendarEvent(
        provider="google",
        calendar=person,
        event_id=f"ooo-{person[0]}-{_stamp(begin)}",
        kind=EventKind.SINGLE,
        start=begin,
        end=at(end, tz),
        time_zone=tz,
        summary="Away",
        organizer=person,
        event_type=EventType.OUT_OF_OFFICE,
    )


def events(*items: Meeting | CalendarEvent) -> tuple[CalendarEvent, ...]:
    out: list[CalendarEvent] = []
    for item in items:
        out.extend(item.events() if isinstance(item, Meeting) else [item])
    return tuple(out)


def pause(manager: str, report: str, until: str, since: str | None = None) -> Pause:
    return Pause(manager, report, date.fromisoformat(until), date.fromisoformat(since) if since else None)


def directory(*pairs: tuple[str, str, str | None], aliases: Mapping[str, str] | None = None) -> Directory:
    """Directory pairs as (manager, report, start date or None)."""
    return Directory(
        pairs=tuple(Pair(m, r, date.fromisoformat(s) if s else None) for m, r, s in pairs),
        domains=("acme.test",),
        aliases=dict(aliases or {}),
    )


def context(
    now: str,
    *,
    settings: RuleSettings | None = None,
    directory: Directory | None = None,
    pauses: tuple[Pause, ...] = (),
    stale: Iterable[str] = (),
    watched: Iterable[str] = (),
    zones: Mapping[str, str] | None = None,
) -> EvaluationContext:
    return EvaluationContext(
        now=at(now),
        settings=settings or RuleSettings(),
        directory=directory or Directory(domains=("acme.test",)),
        pauses=pauses,
        stale_calendars=frozenset(stale),
        watched_calendars=frozenset(watched),
        time_zones=dict(zones) if zones is not None else {M: BERLIN, R: BERLIN, P: BERLIN, B: BERLIN},
    )


def feed_only(meeting: Meeting) -> Meeting:
    """As a published ICS feed shows it: no attendee lines (the calendar's owner is the organizer)."""
    exceptions = {slot: replace(e, attendees=()) for slot, e in meeting.exceptions.items()}
    return replace(meeting, event=replace(meeting.event, attendees=()), exceptions=exceptions)
