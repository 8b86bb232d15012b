"""Microsoft Graph v1.0 event resources → domain `CalendarEvent`s.

Wire-format facts (calendar-apis.md §3, sync-lessons.md §4): delta rows are occurrences,
exceptions and single instances, never masters; an occurrence row may be sparse (identity and
times only), so its content comes from its series master; `originalStart` keys an occurrence to
its slot; the master's `cancelledOccurrences` (`OID.<masterId>.<local date>`) is the dependable
record of deleted occurrences; zones are Windows names; `iCalUId` is never used as a key.
The result is the same domain model the Google adapter produces, so the rules cannot tell the
providers apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from providers.base import mailbox, storable
from providers.outlook_recurrence import MalformedEvent as MalformedEvent
from providers.outlook_recurrence import recurrence_lines as recurrence_lines
from providers.outlook_writeback import AGENDA_PROPERTY_ID  # our tag: the agenda writer's, read back here
from rules.model import (
    Attendee,
    CalendarEvent,
    EventKind,
    EventStatus,
    EventType,
    Response,
)

PROVIDER = "outlook"
NULL_TIME = "0001-01-01T00:00:00Z"

_RESPONSES = {
    "accepted": Response.ACCEPTED,
    "tentativelyaccepted": Response.TENTATIVE,
    "declined": Response.DECLINED,
    "none": Response.NEEDS_ACTION,
    "notresponded": Response.NEEDS_ACTION,
    "organizer": Response.ACCEPTED,
}
_SHOW_AS = {"oof": EventType.OUT_OF_OFFICE, "workingelsewhere": EventType.WORKING_LOCATION}
_WINDOWS = {name.casefold(): iana for name, iana in win_tz.items()}
_WINDOWS["coordinated universal time"] = "UTC"
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


class UnknownZone(MalformedEvent):
    """A zone name that is neither a Windows zone we know nor an IANA name."""


def iana_zone(name: Any) -> str | None:
    """The IANA name behind a Windows or IANA zone name; None when there is none."""
    if not isinstance(name, str) or not name.strip():
        return None
    text = name.strip()
    found = _WINDOWS.get(text.casefold())
    if found is not None:
        return "UTC" if found == "Etc/UTC" else found
    if "/" in text or text.upper() == "UTC":
        try:
            ZoneInfo(text)
            return text
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America"), a long name
            return None
    return None


def require_zone(name: Any, event_id: str, where: str) -> str:
    zone = iana_zone(name)
    if zone is None:
        raise UnknownZone(f"event {event_id}: unknown time zone {name!r} in {where}")
    return zone


def parse_instant(value: Any, where: str) -> datetime:
    """A DateTimeOffset (`…Z` or with an offset), up to seven fractional digits."""
    if not isinstance(value, str):
        raise MalformedEvent(f"{where}: expected a date-time, got {value!r}")
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
        return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: year 1 east of UTC, year 9999 west of it
        raise MalformedEvent(f"{where}: not a date-time: {value!r}") from exc


def parse_when(value: Any, event_id: str, field: str) -> tuple[datetime, datetime]:
    """A `dateTimeTimeZone` → (UTC instant, the local wall-clock time as written, naive)."""
    where = f"event {event_id}: {field}"
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise MalformedEvent(f"{where}: expected a dateTimeTimeZone object")
    text = _FRACTION.sub(r"\1", value["dateTime"].strip())
    try:
        local = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedEvent(f"{where}.dateTime: not a date-time: {value['dateTime']!r}") from exc
    try:
        if local.tzinfo is not None:
            return local.astimezone(UTC), local.replace(tzinfo=None)
        zone = require_zone(value.get("timeZone") or "UTC", event_id, f"{field}.timeZone")
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC), local
    except OverflowError as exc:  # year 1 east of UTC, year 9999 west of it
        raise MalformedEvent(f"{where}.dateTime: out of range: {value['dateTime']!r}") from exc


def _email(value: Any, where: str) -> str | None:
    inner = value.get("emailAddress") if isinstance(value, dict) else None
    return mailbox(inner.get("address") if isinstance(inner, dict) else None, where)


def _response(value: Any) -> tuple[Response, bool, datetime | None]:
    """(answer, is the organizer, when) from a `responseStatus`."""
    if not isinstance(value, dict):
        return Response.NEEDS_ACTION, False, None
    raw = str(value.get("response") or "none")
    when = value.get("time")
    at = None
    if isinstance(when, str) and when and when != NULL_TIME:
        try:
            at = parse_instant(when, "responseStatus.time")
        except MalformedEvent:
            at = None
    return _RESPONSES.get(raw.casefold(), Response.NEEDS_ACTION), raw.casefold() == "organizer", at


def attendees(item: Mapping[str, Any], owner: str, event_id: str) -> tuple[Attendee, ...]:
    """Attendees with their answers; the owner's own answer comes from the event's `responseStatus`."""
    raw = item.get("attendees") or []
    if not isinstance(raw, list):
        raise MalformedEvent(f"event {event_id}: attendees is not a list")
    own, own_is_organizer, own_at = _response(item.get("responseStatus"))
    people: list[Attendee] = []
    for entry in raw:
        email = _email(entry, f"event {event_id}: attendee")
        if email is None:
            continue  # a distribution list without an address tells us nothing
        response, is_organizer, at = _response(entry.get("status") if isinstance(entry, dict) else None)
        if email == owner and "responseStatus" in item and not own_is_organizer:
            response, at = own, own_at or at  # an attendee's copy knows only its owner's answer
        people.append(
            Attendee(
                email=email,
                response=response,
                is_resource=str(entry.get("type", "")).casefold() == "resource",
                is_organizer=is_organizer,
                responded_at=at,
            )
        )
    return tuple(people)


def agenda_marker(item: Mapping[str, Any]) -> str | None:
    props = item.get("singleValueExtendedProperties")
    for prop in props if isinstance(props, list) else []:
        if isinstance(prop, dict) and str(prop.get("id", "")).casefold() == AGENDA_PROPERTY_ID.casefold():
            value = prop.get("value")
            return str(value) if value is not None else None
    return None


def _common(item: Mapping[str, Any], calendar: str, event_id: str) -> dict[str, Any]:
    """Content every row kind shares: people, title, type, versions."""
    show_as = str(item.get("showAs") or "").casefold()
    updated = item.get("lastModifiedDateTime")
    body = item.get("body")
    return {
        "summary": str(item.get("subject") or ""),
        "description": str(body.get("content") or "") if isinstance(body, dict) else "",
        "organizer": _email(item.get("organizer"), f"event {event_id}: organizer"),
        "attendees": attendees(item, calendar, event_id),
        "event_type": _SHOW_AS.get(show_as, EventType.DEFAULT),
        "updated": parse_instant(updated, f"event {event_id}: lastModifiedDateTime") if updated else None,
        "etag": _etag(item),
        "ical_uid": _text(item.get("iCalUId")),
        "agenda_marker": agenda_marker(item),
        "conference": teams_conference(item),
    }


def teams_conference(item: Mapping[str, Any]) -> str | None:
    """`teams:<join URL>` for a Teams online meeting, whose attendance Graph can report; else None.

    Only Teams meetings have attendance reports (Skype or a third-party provider's link do not).
    """
    if item.get("isOnlineMeeting") is not True:
        return None
    online = item.get("onlineMeeting")
    url = online.get("joinUrl") if isinstance(online, dict) else None
    if not isinstance(url, str) or not url.startswith("https://teams.microsoft.com/"):
        return None
    return f"teams:{url}"


def _text(value: Any) -> str | None:
    """An optional string field; anything else is treated as absent (the store keeps strings only)."""
    return value if isinstance(value, str) else None


def _etag(item: Mapping[str, Any]) -> str | None:
    return _text(item.get("@odata.etag")) or _text(item.get("changeKey"))


def _times(item: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    start, start_local = parse_when(item.get("start"), event_id, "start")
    end, end_local = parse_when(item.get("end"), event_id, "end")
    if end < start:
        raise MalformedEvent(f"event {event_id}: ends before it starts")
    if item.get("isAllDay"):
        # All-day is a date: the wall-clock dates as written, end exclusive, never via UTC midnight.
        return {
            "start": start,
            "end": end,
            "all_day": True,
            "start_date": start_local.date(),
            "end_date": end_local.date(),
        }
    return {"start": start, "end": end}


def _event_id(item: Any) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise MalformedEvent("a row without an id")  # its text is untrusted: never echoed into logs
    return str(item["id"])


def map_master(item: Any, calendar: str) -> CalendarEvent:
    """A `seriesMaster` read by id: its first slot, its recurrence as RFC 5545, its cancelled slots."""
    item = storable(item)
    event_id = _event_id(item)
    recurrence = item.get("recurrence")
    if not isinstance(recurrence, dict):
        raise MalformedEvent(f"event {event_id}: series master without a recurrence")
    raw_range = recurrence.get("range")
    rng: dict[str, Any] = raw_range if isinstance(raw_range, dict) else {}
    zone_name = rng.get("recurrenceTimeZone") or item.get("originalStartTimeZone") or "UTC"
    zone = require_zone(zone_name, event_id, "recurrence.range.recurrenceTimeZone")
    times = _times(item, event_id)
    try:
        slot = times["start"].astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    except OverflowError as exc:  # year 1 in a zone west of UTC
        raise MalformedEvent(f"event {event_id}: start out of range in {zone}") from exc
    cancelled = tuple(
        sorted({_cancelled_slot(text, event_id, zone, slot, times.get("all_day", False)) for text in _oids(item)})
    )
    return CalendarEvent(
        provider=PROVIDER,
        calendar=calendar,
        event_id=event_id,
        kind=EventKind.MASTER,
        status=EventStatus.CANCELLED if item.get("isCancelled") else EventStatus.CONFIRMED,
        series_id=event_id,
        time_zone=zone,
        recurrence=recurrence_lines(recurrence, event_id, zone),
        cancelled_occurrences=cancelled,
        **times,
        **_common(item, calendar, event_id),
    )


def _oids(item: Mapping[str, Any]) -> list[str]:
    raw = item.get("cancelledOccurrences") or []
    return [storable(text) for text in raw if isinstance(text, str)] if isinstance(raw, list) else []


def _cancelled_slot(text: str, event_id: str, zone: str, slot: time, all_day: bool) -> datetime:
    """`OID.<masterId>.<YYYY-MM-DD>`: the master's local start time on that date, in UTC."""
    day_text = text.rpartition(".")[2]
    try:
        day = date.fromisoformat(day_text)
    except ValueError as exc:
        raise MalformedEvent(f"event {event_id}: unreadable cancelled occurrence {text!r}") from exc
    tz = UTC if all_day else ZoneInfo(zone)
    try:
        return datetime.combine(day, time(0) if all_day else slot, tz).astimezone(UTC)
    except OverflowError as exc:
        raise MalformedEvent(f"event {event_id}: cancelled occurrence out of range {text!r}") from exc


def cancelled_occurrence_ids(item: Mapping[str, Any]) -> list[str]:
    return _oids(item)


def map_row(
    item: Any, calendar: str, master: CalendarEvent | None, master_item: Mapping[str, Any] | None
) -> CalendarEvent:
    """A single instance, or an occurrence/exception (with its series master's content as defaults)."""
    item, master_item = storable(item), storable(master_item)
    event_id = _event_id(item)
    kind_raw = str(item.get("type") or "singleInstance")
    status = EventStatus.CANCELLED if item.get("isCancelled") else EventStatus.CONFIRMED
    if kind_raw == "singleInstance":
        zone = iana_zone(item.get("originalStartTimeZone"))
        return CalendarEvent(
            provider=PROVIDER,
            calendar=calendar,
            event_id=event_id,
            kind=EventKind.SINGLE,
            status=status,
            time_zone=zone,
            **_times(item, event_id),
            **_common(item, calendar, event_id),
        )
    if kind_raw not in ("occurrence", "exception"):
        raise MalformedEvent(f"event {event_id}: unexpected type {kind_raw!r}")
    series_id = item.get("seriesMasterId")
    if not isinstance(series_id, str) or not series_id:
        raise MalformedEvent(f"event {event_id}: {kind_raw} without seriesMasterId")
    if master is None or master_item is None:
        raise MalformedEvent(f"event {event_id}: its series master {series_id} could not be read")
    original = parse_instant(item.get("originalStart"), f"event {event_id}: originalStart")
    merged = {**master_item, **{k: v for k, v in item.items() if v is not None}}  # sparse rows: the master's
    return CalendarEvent(
        provider=PROVIDER,
        calendar=calendar,
        event_id=event_id,
        kind=EventKind.EXCEPTION,
        status=status,
        series_id=series_id,
        original_start=original,
        time_zone=master.time_zone,
        **_times(merged, event_id),
        **(_common(merged, calendar, event_id) | {"etag": _etag(item)}),
    )


def cancelled_exceptions(master: CalendarEvent, oids: list[str]) -> list[CalendarEvent]:
    """One cancelled exception per `cancelledOccurrences` entry, keyed by that OID.

    The dependable per-slot record: a stored occurrence row whose deletion Graph never signalled
    (no `@removed`) is outranked by this newer, cancelled copy of the same slot.
    """
    if master.start is None or master.end is None:
        return []
    zone = master.time_zone or "UTC"
    slot = master.start.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    length = master.end - master.start
    result = []
    for oid in sorted(set(oids)):
        start = _cancelled_slot(oid, master.event_id, zone, slot, master.all_day)
        if start > datetime.max.replace(tzinfo=UTC) - length:
            raise MalformedEvent(f"event {master.event_id}: cancelled occurrence out of range {oid!r}")
        result.append(
            CalendarEvent(
                provider=PROVIDER,
                calendar=master.calendar,
                event_id=oid,
                kind=EventKind.EXCEPTION,
                status=EventStatus.CANCELLED,
                series_id=master.event_id,
                original_start=start,
                start=start,
                end=start + length,
                time_zone=master.time_zone,
                summary=master.summary,
                organizer=master.organizer,
                attendees=master.attendees,
                updated=master.updated,
            )
        )
    return result
