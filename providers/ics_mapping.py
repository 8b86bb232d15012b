"""iCalendar documents → domain `CalendarEvent`s, shared by the ICS feed and CalDAV adapters.

A VEVENT with RRULE/RDATE is a MASTER (its first slot, its zone, its recurrence lines rendered by
`ics_values`), one with RECURRENCE-ID an EXCEPTION of the master with that UID, anything else a
SINGLE. Ids are the UID, plus `#` and the RECURRENCE-ID in UTC (a date for all-day) for an
override, so they are stable across fetches. Writers disagree; what we do about it:

- An override whose RECURRENCE-ID time differs from the series' time (Exchange writes local
  midnight) belongs to the series' slot on that local date, as Outlook shows it. EXDATEs too.
- An override whose master is not in the document (a free/busy share, a one-instance invitation)
  is a meeting on its own: a SINGLE, never a sign that the series was deleted.
- Duplicates of one (UID, RECURRENCE-ID): the highest SEQUENCE wins, then the latest DTSTAMP.
- A VEVENT without UID gets one derived from its DTSTART and SUMMARY (stable while they are).
- An unreadable VEVENT is skipped and named (`SkippedItem`); the rest of the document is used.
- No ORGANIZER and no ATTENDEE (a published feed): the calendar's owner is the organizer.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from icalendar import Calendar
from icalendar.error import GloballyUniqueTZIDGuessed

from providers.base import SkippedItem, mailbox, storable
from providers.ics_values import (
    BadValue,
    Moment,
    Zones,
    as_list,
    date_lines,
    day_stamp,
    list_moments,
    prop_moment,
    rule_lines,
    stamp,
)
from providers.ics_zones import ZoneResolver, valid_zone
from rules.days import zone as zone_of
from rules.model import Attendee, CalendarEvent, EventKind, EventStatus, EventType, Response, normalize_email
from rules.recurrence import expand

log = logging.getLogger(__name__)

AGENDA_PROPERTY = "X-ONEONONE-AGENDA"
_STATUS = {"CONFIRMED": EventStatus.CONFIRMED, "TENTATIVE": EventStatus.TENTATIVE, "CANCELLED": EventStatus.CANCELLED}
_PARTSTAT = {"ACCEPTED": Response.ACCEPTED, "TENTATIVE": Response.TENTATIVE, "DECLINED": Response.DECLINED}


class MalformedCalendar(ValueError):
    """The document as a whole is not iCalendar."""


@dataclass(frozen=True)
class MappedCalendar:
    events: tuple[CalendarEvent, ...]
    skipped: tuple[SkippedItem, ...]
    time_zone: str | None  # the document's own zone, if it tells one


@dataclass
class _Source:
    """The fixed facts of one mapping run."""

    provider: str
    owner: str
    zones: Zones
    etag: str | None
    skipped: list[SkippedItem] = field(default_factory=list)


def parse_calendar(
    data: bytes | str, *, provider: str, owner: str, default_zone: str | None = None, etag: str | None = None
) -> MappedCalendar:
    """Map every VEVENT of an iCalendar document; raises `MalformedCalendar` if it is not one."""
    with warnings.catch_warnings():
        # We resolve vendor-prefixed TZIDs ourselves; icalendar's guess warning is only noise.
        warnings.simplefilter("ignore", GloballyUniqueTZIDGuessed)
        return _parse(data, provider=provider, owner=owner, default_zone=default_zone, etag=etag)


def _parse(
    data: bytes | str, *, provider: str, owner: str, default_zone: str | None, etag: str | None
) -> MappedCalendar:
    # NUL (which PostgreSQL refuses in text) and lone surrogates never reach an event.
    data = data.replace(b"\x00", "\ufffd".encode()) if isinstance(data, bytes) else storable(data)
    try:
        calendars = Calendar.from_ical(data, multiple=True)
    except Exception as exc:  # the parser meets untrusted bytes: any failure of it means "not readable"
        raise MalformedCalendar(f"not an iCalendar document: {exc}") from exc
    if not calendars:
        raise MalformedCalendar("not an iCalendar document: no VCALENDAR")
    source = _Source(provider, normalize_email(owner), _zones(calendars, default_zone), etag)
    components = [event for cal in calendars for event in cal.walk("VEVENT")]
    return MappedCalendar(_map_all(components, source), tuple(source.skipped), source.zones.calendar_zone)


def _zones(calendars: list[Any], default_zone: str | None) -> Zones:
    vtimezones = {str(vtz.get("TZID")): bytes(vtz.to_ical()) for cal in calendars for vtz in cal.walk("VTIMEZONE")}
    hint = next((str(_first(c.get("X-WR-TIMEZONE"))).strip() for c in calendars if c.get("X-WR-TIMEZONE")), None)
    years = [year for cal in calendars for e in cal.walk("VEVENT") if (year := _year(e)) is not None]
    resolver = ZoneResolver(vtimezones, hint=hint, reference_year=min(years) if years else datetime.now(UTC).year)
    calendar_zone = resolver.resolve(hint) if hint else None
    if hint and calendar_zone is None:
        log.warning("feed: unknown X-WR-TIMEZONE %r; its days are counted in the configured default zone", hint[:80])
    if calendar_zone is None and len(vtimezones) == 1:
        calendar_zone = resolver.resolve(next(iter(vtimezones)))
    default = default_zone if default_zone and valid_zone(default_zone) else "UTC"
    return Zones(resolver, calendar_zone, calendar_zone or default)


def _year(component: Any) -> int | None:
    """The year of a VEVENT's DTSTART, if it has a readable date or date-time (and no broken property)."""
    if component.errors:
        return None
    try:
        value = _first(component.get("DTSTART")).dt
    except Exception:  # absent, or icalendar's own error type for a broken property
        return None
    return value.year if isinstance(value, date) else None


def _first(prop: Any) -> Any:
    """A property given more than once comes back as a list: like `prop_moment`, read the first."""
    return prop[0] if isinstance(prop, list) and prop else prop


def _written(prop: Any) -> tuple[str, Any] | None:
    """A property's value as written and its parameters; None when absent or unreadable."""
    prop = _first(prop)
    if prop is None:
        return None
    try:
        return prop.to_ical().decode(), prop.params
    except Exception:  # a broken property, or a value icalendar cannot render back
        return None


def _uid(component: Any, taken: dict[str, int]) -> tuple[str, bool]:
    uid = str(component.get("UID") or "").strip()
    if uid:
        return uid, True
    start = _written(component.get("DTSTART"))
    seed = f"{start[0]}|{start[1]}" if start is not None else "|"
    digest = hashlib.sha256(f"{seed}|{component.get('SUMMARY') or ''}".encode()).hexdigest()[:16]
    taken[digest] = taken.get(digest, 0) + 1
    return f"nouid-{digest}" + (f"-{taken[digest]}" if taken[digest] > 1 else ""), False


def _rank(component: Any) -> tuple[int, str]:
    sequence = component.get("SEQUENCE")
    stamp_prop = component.get("LAST-MODIFIED") or component.get("DTSTAMP")
    try:
        when = stamp_prop.dt.astimezone(UTC).isoformat() if stamp_prop is not None else ""
    except Exception:
        when = ""
    try:
        return int(sequence or 0), when
    except (TypeError, ValueError):
        return 0, when


def _map_all(components: list[Any], source: _Source) -> tuple[CalendarEvent, ...]:
    """Masters first, so overrides and EXDATEs can be matched to their slots."""
    taken: dict[str, int] = {}
    masters: dict[str, tuple[Any, bool]] = {}
    overrides: dict[tuple[str, str], tuple[Any, bool]] = {}
    for component in components:
        uid, real = _uid(component, taken)
        recid = component.get("RECURRENCE-ID")
        if recid is None:
            if uid not in masters or _rank(component) >= _rank(masters[uid][0]):
                masters[uid] = (component, real)
            continue
        written = _written(recid)
        key = (uid, written[0] + str(written[1].get("TZID", "")) if written is not None else repr(recid))
        if key not in overrides or _rank(component) >= _rank(overrides[key][0]):
            overrides[key] = (component, real)
    events: list[CalendarEvent] = []
    mapped_masters: dict[str, CalendarEvent] = {}
    for uid, (component, real) in masters.items():
        event = _guard(partial(_map_main, component, uid, real, source), uid, source)
        if event is not None:
            events.append(event)
            if event.kind is EventKind.MASTER:
                mapped_masters[uid] = event
    for (uid, _), (component, real) in overrides.items():
        event = _guard(partial(_map_override, component, uid, real, mapped_masters.get(uid), source), uid, source)
        if event is not None:
            events.append(event)
    return tuple(events)


def _guard(build: Callable[[], CalendarEvent], uid: str, source: _Source) -> CalendarEvent | None:
    try:
        return build()
    except (BadValue, ValueError, TypeError, KeyError, OverflowError) as exc:
        log.warning("calendar %s: skipped event %s: %s", source.owner, uid, exc)
        source.skipped.append(SkippedItem(event_id=uid, reason=str(exc)))
        return None


def _span(component: Any, start: Moment, source: _Source, default: timedelta | None) -> Moment:
    """The end: DTEND, else DTSTART + DURATION, else `default` (a day for dates; zero otherwise)."""
    end = prop_moment(component, "DTEND", source.zones)
    if end is not None and end.all_day == start.all_day:
        return end if _after(end, start) else _plus(start, _default_length(start))
    duration = component.get("DURATION")
    if duration is not None and isinstance(getattr(duration, "dt", None), timedelta):
        return _plus(start, duration.dt)
    return _plus(start, default if default is not None else _default_length(start))


def _default_length(start: Moment) -> timedelta:
    return timedelta(days=1) if start.all_day else timedelta(0)


def _after(end: Moment, start: Moment) -> bool:
    if start.all_day:
        return end.local_date() > start.local_date()
    assert end.instant is not None and start.instant is not None
    return end.instant >= start.instant


def _plus(start: Moment, length: timedelta) -> Moment:
    if start.all_day:
        assert start.day is not None
        return Moment(None, start.day + timedelta(days=max(length.days, 1)), start.zone)
    assert start.instant is not None
    return Moment(start.instant + max(length, timedelta(0)), None, start.zone)


def _people(component: Any, source: _Source) -> tuple[str | None, tuple[Attendee, ...]]:
    where = f"calendar {source.owner}: event {str(component.get('UID') or '')[:120]}"
    organizer = _address(component.get("ORGANIZER"), f"{where}: organizer")
    attendees: dict[str, Attendee] = {}  # one person listed twice (two CAL-ADDRESSes, one EMAIL) is one person
    for prop in as_list(component.get("ATTENDEE")):
        email = _address(prop, f"{where}: attendee")
        if email is None:
            continue
        params = getattr(prop, "params", {})
        attendee = Attendee(
            email=email,
            response=_PARTSTAT.get(str(params.get("PARTSTAT", "")).upper(), Response.NEEDS_ACTION),
            is_resource=str(params.get("CUTYPE", "")).upper() in ("RESOURCE", "ROOM"),
            is_organizer=email == organizer,
        )
        known = attendees.get(email)
        if known is None or (
            known.response is Response.NEEDS_ACTION and attendee.response is not Response.NEEDS_ACTION
        ):
            attendees[email] = attendee
    if organizer is None and not attendees:
        organizer = source.owner  # a published feed: the owner's own calendar
    return organizer, tuple(attendees.values())


def _address(prop: Any, where: str) -> str | None:
    """The person's address: the EMAIL parameter (RFC 7986) when there is one — iCloud writes an opaque
    `…@imip.me.com` CAL-ADDRESS with the real address there, others a `urn:uuid:` — else the CAL-ADDRESS."""
    if prop is None:
        return None
    email = getattr(prop, "params", {}).get("EMAIL")
    if email:
        parsed = mailbox(str(email), f"{where} (EMAIL)")
        if parsed is not None:
            return parsed
    text = str(prop).strip()
    return mailbox(text, where) if "@" in text else None


def _status(component: Any) -> EventStatus:
    return _STATUS.get(str(component.get("STATUS") or "CONFIRMED").strip().upper(), EventStatus.CONFIRMED)


def _event_type(component: Any) -> EventType:
    busy = str(component.get("X-MICROSOFT-CDO-BUSYSTATUS") or "").upper()
    return EventType.OUT_OF_OFFICE if busy == "OOF" else EventType.DEFAULT


def _updated(component: Any) -> datetime | None:
    prop = component.get("LAST-MODIFIED") or component.get("DTSTAMP")
    try:
        value = prop.dt if prop is not None else None
    except Exception:
        return None
    return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else None


def _build(
    component: Any,
    source: _Source,
    *,
    event_id: str,
    kind: EventKind,
    start: Moment,
    end: Moment,
    uid: str,
    real_uid: bool,
    **extra: Any,
) -> CalendarEvent:
    organizer, attendees = _people(component, source)
    return CalendarEvent(
        provider=source.provider,
        calendar=source.owner,
        event_id=event_id,
        kind=kind,
        status=_status(component),
        start=start.utc(),
        end=end.utc(),
        all_day=start.all_day,
        start_date=start.day,
        end_date=end.day if start.all_day else None,
        time_zone=start.zone,
        summary=str(component.get("SUMMARY") or "").strip(),
        description=str(component.get("DESCRIPTION") or ""),
        organizer=organizer,
        attendees=attendees,
        event_type=_event_type(component),
        updated=_updated(component),
        etag=source.etag,
        ical_uid=uid if real_uid else None,
        agenda_marker=str(component.get(AGENDA_PROPERTY)) if component.get(AGENDA_PROPERTY) else None,
        **extra,
    )


def _map_main(component: Any, uid: str, real_uid: bool, source: _Source) -> CalendarEvent:
    start = prop_moment(component, "DTSTART", source.zones)
    if start is None:
        raise BadValue("no DTSTART")
    end = _span(component, start, source, None)
    rules = rule_lines(component, start, source.zones)
    rdates = list_moments(component, "RDATE", source.zones)
    if not rules and not rdates:
        return _build(
            component, source, event_id=uid, kind=EventKind.SINGLE, start=start, end=end, uid=uid, real_uid=real_uid
        )
    lines = [*rules, *date_lines("RDATE", rdates, start, lambda moment: moment)]
    bare = _build(
        component,
        source,
        event_id=uid,
        kind=EventKind.MASTER,
        start=start,
        end=end,
        uid=uid,
        real_uid=real_uid,
        series_id=uid,
        recurrence=tuple(lines),
    )
    exdates = list_moments(component, "EXDATE", source.zones)
    lines += date_lines("EXDATE", exdates, start, lambda moment: snap_to_slot(bare, moment))
    return _build(
        component,
        source,
        event_id=uid,
        kind=EventKind.MASTER,
        start=start,
        end=end,
        uid=uid,
        real_uid=real_uid,
        series_id=uid,
        recurrence=tuple(lines),
    )


def snap_to_slot(master: CalendarEvent, moment: datetime) -> datetime:
    """The master's slot on `moment`'s local date when its time of day differs (Exchange writes
    RECURRENCE-ID and EXDATE at local midnight); unchanged when it is a slot or the day has none
    or several."""
    if master.start is None:
        return moment
    tz = zone_of(master.time_zone)
    if moment.astimezone(tz).time() == master.start.astimezone(tz).time():
        return moment
    day = moment.astimezone(tz).date()
    low = datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)
    high = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    slots = [slot for slot in expand(master, low, high).slots if slot.astimezone(tz).date() == day]
    if moment in slots or len(slots) != 1:
        return moment
    return slots[0]


def _map_override(
    component: Any, uid: str, real_uid: bool, master: CalendarEvent | None, source: _Source
) -> CalendarEvent:
    recurrence_id = prop_moment(component, "RECURRENCE-ID", source.zones)
    assert recurrence_id is not None
    suffix = day_stamp(recurrence_id.day) if recurrence_id.day is not None else stamp(recurrence_id.utc())
    event_id = f"{uid}#{suffix}"
    start = prop_moment(component, "DTSTART", source.zones)
    if master is None:  # an instance whose series we do not see: a meeting of its own
        if start is None:
            raise BadValue("an instance without DTSTART and without its series")
        end = _span(component, start, source, None)
        return _build(
            component, source, event_id=event_id, kind=EventKind.SINGLE, start=start, end=end, uid=uid, real_uid=False
        )
    original = _original_start(master, recurrence_id)
    length = (master.end - master.start) if master.end and master.start else None
    if master.all_day and master.start_date and master.end_date:
        length = master.end_date - master.start_date
    if start is None:
        start = Moment(None, recurrence_id.local_date(), master.time_zone or "UTC") if master.all_day else None
        start = start or Moment(original, None, master.time_zone or "UTC")
    end = _span(component, start, source, length)
    return _build(
        component,
        source,
        event_id=event_id,
        kind=EventKind.EXCEPTION,
        start=start,
        end=end,
        uid=uid,
        real_uid=real_uid,
        series_id=master.event_id,
        original_start=original,
    )


def _original_start(master: CalendarEvent, recurrence_id: Moment) -> datetime:
    """The master slot this override replaces, in the form the master's slots take."""
    if master.all_day:
        day = recurrence_id.local_date()
        return Moment(None, day, master.time_zone or "UTC").utc()
    if recurrence_id.instant is None:  # a DATE on a timed series: that day's slot
        assert recurrence_id.day is not None
        midnight = datetime.combine(recurrence_id.day, datetime.min.time(), zone_of(master.time_zone))
        return snap_to_slot(master, midnight.astimezone(UTC))
    return snap_to_slot(master, recurrence_id.instant)
