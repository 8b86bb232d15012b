"""Google Calendar v3 event resources → domain `CalendarEvent`s.

Wire-format facts (see calendar-apis.md §2): instances are keyed by `recurringEventId` +
`originalStartTime`; a cancelled instance of a live series may carry nothing else; a deleted
single or series comes back as `{id, status: cancelled}` and is reported as a deletion; all-day
events use `date` with an exclusive end and are never converted through UTC midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from providers.base import mailbox, storable
from rules.model import (
    Attendee,
    CalendarEvent,
    EventKind,
    EventStatus,
    EventType,
    Response,
)

AGENDA_PROPERTY = "oneonone"

_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "tentative": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "needsAction": Response.NEEDS_ACTION,
}
_TYPES = {t.value: t for t in EventType}


class MalformedEvent(ValueError):
    """An item we cannot read; the message names the event id and the field."""


@dataclass(frozen=True)
class Mapped:
    event: CalendarEvent | None = None
    deleted_id: str | None = None


def _parse_datetime(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedEvent(f"{where}: expected an RFC 3339 date-time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedEvent(f"{where}: not an RFC 3339 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedEvent(f"{where}: date-time without an offset: {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # year 1 east of UTC, year 9999 west of it
        raise MalformedEvent(f"{where}: out of range: {value!r}") from exc


def _parse_date(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise MalformedEvent(f"{where}: not a date: {value!r}") from exc


def valid_zone(name: Any) -> str | None:
    """An IANA zone name we can use, or None (a calendar's own zone is untrusted input too)."""
    return _zone(name, None)


def _zone(name: Any, fallback: str | None) -> str | None:
    if isinstance(name, str) and name:
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America"), a long name
            return fallback
    return fallback


def _member(item: dict[str, Any], field: str, key: str) -> Any:
    """`item[field][key]`, or None when `item[field]` is not an object."""
    value = item.get(field)
    return value.get(key) if isinstance(value, dict) else None


def _text(value: Any) -> str | None:
    """An optional string field; anything else is treated as absent (the store keeps strings only)."""
    return value if isinstance(value, str) else None


def _when(item: dict[str, Any], field: str, event_id: str, zone: str | None) -> tuple[datetime | None, date | None]:
    value = item.get(field)
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise MalformedEvent(f"event {event_id}: {field} is not an object")
    if "dateTime" in value:
        return _parse_datetime(value["dateTime"], f"event {event_id}: {field}.dateTime"), None
    if "date" in value:
        day = _parse_date(value["date"], f"event {event_id}: {field}.date")
        # An all-day day starts at local midnight; UTC start kept only for ordering.
        tz = ZoneInfo(zone) if zone else UTC
        try:
            return datetime.combine(day, time(0), tz).astimezone(UTC), day
        except OverflowError as exc:
            raise MalformedEvent(f"event {event_id}: {field}.date out of range: {value['date']!r}") from exc
    raise MalformedEvent(f"event {event_id}: {field} has neither dateTime nor date")


def _attendees(item: dict[str, Any], event_id: str) -> tuple[Attendee, ...]:
    raw = item.get("attendees") or []
    if not isinstance(raw, list):
        raise MalformedEvent(f"event {event_id}: attendees is not a list")
    people = []
    for entry in raw:
        email = mailbox(entry.get("email"), f"event {event_id}: attendee") if isinstance(entry, dict) else None
        if email is None:
            continue  # an attendee without a usable address (a removed guest) tells us nothing
        people.append(
            Attendee(
                email=email,
                response=_RESPONSES.get(str(entry.get("responseStatus")), Response.NEEDS_ACTION),
                is_resource=bool(entry.get("resource")),
                is_organizer=bool(entry.get("organizer")),
            )
        )
    return tuple(people)


_READ = (
    "id",
    "status",
    "recurringEventId",
    "originalStartTime",
    "start",
    "end",
    "recurrence",
    "summary",
    "description",
    "organizer",
    "attendees",
    "eventType",
    "updated",
    "etag",
    "iCalUID",
    "extendedProperties",
    "conferenceData",
    "hangoutLink",
)

_MEET_CODE = re.compile(r"^[a-z]{3}-[a-z]{4}-[a-z]{3}$")
_MEET_LINK = re.compile(r"^https://meet\.google\.com/([a-z]{3}-[a-z]{4}-[a-z]{3})(?:[/?#]|$)")


def meet_code(item: dict[str, Any]) -> str | None:
    """The Google Meet meeting code of an event's conference, if it has one.

    For a Meet conference (`conferenceSolution.key.type` "hangoutsMeet") the `conferenceId` is the
    meeting code; older events carry only `hangoutLink` or a video entry point, whose path is the code.
    A third-party conference (Zoom add-on) has no code here: its attendance cannot be read.
    """
    data = item.get("conferenceData")
    links: list[Any] = [item.get("hangoutLink")]
    if isinstance(data, dict):
        solution = _member(data, "conferenceSolution", "key")
        kind = solution.get("type") if isinstance(solution, dict) else None
        code = data.get("conferenceId")
        if kind == "hangoutsMeet" and isinstance(code, str) and _MEET_CODE.match(code):
            return code
        points = data.get("entryPoints")
        if isinstance(points, list):
            links += [p.get("uri") for p in points if isinstance(p, dict) and p.get("entryPointType") == "video"]
    for link in links:
        found = _MEET_LINK.match(link) if isinstance(link, str) else None
        if found:
            return found.group(1)
    return None


def map_event(item: Any, calendar: str, calendar_zone: str | None) -> Mapped:
    """Translate one `events.list` item; raises `MalformedEvent` naming the event and field."""
    if isinstance(item, dict):  # only what is read is made storable: a full walk costs more than the mapping
        item = storable({key: item[key] for key in _READ if key in item})
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise MalformedEvent(f"item without an id: {str(item)[:80]!r}")
    event_id: str = item["id"]
    status_raw = item.get("status", "confirmed")
    try:
        status = EventStatus(status_raw)
    except ValueError as exc:
        raise MalformedEvent(f"event {event_id}: unknown status {status_raw!r}") from exc

    series_id = item.get("recurringEventId")
    if series_id is not None and not isinstance(series_id, str):
        raise MalformedEvent(f"event {event_id}: recurringEventId is not a string")
    if status is EventStatus.CANCELLED and not series_id and "start" not in item:
        return Mapped(deleted_id=event_id)  # a deleted single event or a deleted series

    zone = _zone(_member(item, "start", "timeZone"), _zone(calendar_zone, None))
    start, start_date = _when(item, "start", event_id, zone)
    end, end_date = _when(item, "end", event_id, zone)
    original_start = None
    if series_id:
        original_start, _ = _when(item, "originalStartTime", event_id, zone)
        if original_start is None:
            raise MalformedEvent(f"event {event_id}: instance without originalStartTime")
        zone = _zone(_member(item, "originalStartTime", "timeZone"), zone)
    if status is not EventStatus.CANCELLED and start is None:
        raise MalformedEvent(f"event {event_id}: no start")
    if start is not None and end is not None and end < start:
        raise MalformedEvent(f"event {event_id}: ends before it starts")

    recurrence = item.get("recurrence") or []
    if not isinstance(recurrence, list) or not all(isinstance(r, str) for r in recurrence):
        raise MalformedEvent(f"event {event_id}: recurrence is not a list of strings")
    if recurrence:
        kind = EventKind.MASTER
        series_id = event_id
    elif series_id:
        kind = EventKind.EXCEPTION
    else:
        kind = EventKind.SINGLE

    organizer = _member(item, "organizer", "email")
    private = _member(item, "extendedProperties", "private")
    marker = private.get(AGENDA_PROPERTY) if isinstance(private, dict) else None
    updated = item.get("updated")
    return Mapped(
        event=CalendarEvent(
            provider="google",
            calendar=calendar,
            event_id=event_id,
            kind=kind,
            status=status,
            series_id=series_id,
            original_start=original_start,
            start=start,
            end=end,
            all_day=start_date is not None,
            start_date=start_date,
            end_date=end_date,
            time_zone=zone,
            recurrence=tuple(recurrence),
            summary=str(item.get("summary") or ""),
            description=str(item.get("description") or ""),
            organizer=mailbox(organizer, f"event {event_id}: organizer"),
            attendees=_attendees(item, event_id),
            event_type=_TYPES.get(str(item.get("eventType", "default")), EventType.DEFAULT),
            updated=_parse_datetime(updated, f"event {event_id}: updated") if updated else None,
            etag=_text(item.get("etag")),
            ical_uid=_text(item.get("iCalUID")),
            agenda_marker=_text(marker),
            conference=f"meet:{code}" if (code := meet_code(item)) else None,
        )
    )
