"""freebusy.query (`POST /calendar/v3/freeBusy`), as Google's reference describes it.

The body names up to `calendarExpansionMax` (at most 50) calendars; the answer maps each id to
its merged busy intervals in [timeMin, timeMax), or to `errors[]` (`notFound`) for a calendar
the caller may not see. Within the emulated domain every calendar's free/busy is visible, as in
a Workspace domain with default sharing. Busy means: not cancelled, not `transparent`, and not
declined by the calendar's owner; out-of-office and all-day opaque events are busy too.
Recurring series are expanded like `events.list?singleEvents=true`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from emulators.google_errors import GoogleApiError, bad_request
from emulators.google_listing import list_snapshot
from emulators.google_query import parse_list_query
from emulators.google_state import GoogleState
from emulators.google_time import format_updated, parse_rfc3339

MAX_CALENDARS = 50


def query(state: GoogleState, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Bad Request")
    for name in ("timeMin", "timeMax"):
        if not isinstance(body.get(name), str):
            raise GoogleApiError(400, "required", "Missing time range.", location=name)
    lo = parse_rfc3339(body["timeMin"], location="timeMin")
    hi = parse_rfc3339(body["timeMax"], location="timeMax")
    if hi <= lo:
        raise GoogleApiError(400, "timeRangeEmpty", location="timeMax")
    items = body.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
        raise bad_request("Invalid value for: items", location="items")
    limit = body.get("calendarExpansionMax", MAX_CALENDARS)
    if not isinstance(limit, int) or not 1 <= limit <= MAX_CALENDARS:
        raise bad_request("Invalid calendarExpansionMax value.", location="calendarExpansionMax")
    if len(items) > limit:
        raise bad_request("Too many calendars requested.", reason="tooManyCalendarsRequested")
    calendars: dict[str, Any] = {}
    with state.operation():
        for item in items:
            calendars[item["id"]] = _calendar(state, item["id"].lower(), lo, hi)
    return {
        "kind": "calendar#freeBusy",
        "timeMin": format_updated(lo),
        "timeMax": format_updated(hi),
        "calendars": calendars,
    }


def _calendar(state: GoogleState, owner: str, lo: datetime, hi: datetime) -> dict[str, Any]:
    try:
        cal = state.calendar(owner)
    except GoogleApiError:
        return {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
    params = {"singleEvents": ["true"], "timeMin": [format_updated(lo)], "timeMax": [format_updated(hi)]}
    intervals = []
    for event in list_snapshot(state, cal, parse_list_query(params)).items:
        if not _blocks(event, cal.owner):
            continue
        start, end = _bound(event["start"], cal.time_zone), _bound(event["end"], cal.time_zone)
        start, end = max(start, lo), min(end, hi)
        if start < end:
            intervals.append((start, end))
    return {"busy": [{"start": format_updated(s), "end": format_updated(e)} for s, e in _merge(intervals)]}


def _blocks(event: dict[str, Any], owner: str) -> bool:
    if event.get("status") == "cancelled" or event.get("transparency") == "transparent":
        return False
    own = [a for a in event.get("attendees") or [] if str(a.get("email", "")).lower() == owner]
    return not any(a.get("responseStatus") == "declined" for a in own)


def _bound(value: dict[str, Any], tz: str) -> datetime:
    if "dateTime" in value:
        return parse_rfc3339(value["dateTime"], default_zone=value.get("timeZone") or tz)
    day = datetime.fromisoformat(value["date"])
    return parse_rfc3339(day.strftime("%Y-%m-%dT00:00:00"), default_zone=value.get("timeZone") or tz)


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + timedelta(0):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
