"""Graph `patternedRecurrence` → RFC 5545 RRULE lines (calendar-apis.md §3.2).

Rules expand every provider's series from RRULE lines in the series' own zone, so the Outlook
adapter converts Graph's patterns here: Windows-style `firstDayOfWeek` becomes WKST, "the second
Wednesday" becomes BYDAY=2WE, an `endDate` range ends with the last second of that local day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_DAYS = {"sunday": "SU", "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH", "friday": "FR"}
_DAYS["saturday"] = "SA"
_INDEX = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}


class MalformedEvent(ValueError):
    """A row we cannot read; the message names the event id and the field."""


def recurrence_lines(recurrence: Mapping[str, Any], event_id: str, zone: str) -> tuple[str, ...]:
    """Graph's `patternedRecurrence` as one RRULE line (calendar-apis.md §3.2)."""
    pattern = recurrence.get("pattern")
    rng = recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(rng, dict):
        raise MalformedEvent(f"event {event_id}: recurrence without pattern or range")
    kind = str(pattern.get("type") or "")
    interval = pattern.get("interval") or 1
    if not isinstance(interval, int) or interval < 1:
        raise MalformedEvent(f"event {event_id}: recurrence interval {interval!r}")
    parts = [f"INTERVAL={interval}"] if interval != 1 else []
    days = _days(pattern, event_id)
    if kind == "daily":
        freq = "DAILY"
    elif kind == "weekly":
        freq = "WEEKLY"
        if not days:
            raise MalformedEvent(f"event {event_id}: weekly recurrence without daysOfWeek")
        first = _DAYS.get(str(pattern.get("firstDayOfWeek") or "sunday").casefold(), "SU")
        parts += [f"BYDAY={','.join(days)}", f"WKST={first}"]
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        freq = "MONTHLY" if kind == "absoluteMonthly" else "YEARLY"
        if kind == "absoluteYearly":
            parts.append(f"BYMONTH={_month(pattern, event_id)}")
        parts += _month_day(pattern, event_id)
    elif kind in ("relativeMonthly", "relativeYearly"):
        freq = "MONTHLY" if kind == "relativeMonthly" else "YEARLY"
        if kind == "relativeYearly":
            parts.append(f"BYMONTH={_month(pattern, event_id)}")
        if not days:
            raise MalformedEvent(f"event {event_id}: {kind} recurrence without daysOfWeek")
        index = _INDEX.get(str(pattern.get("index") or "first").casefold())
        if index is None:
            raise MalformedEvent(f"event {event_id}: recurrence index {pattern.get('index')!r}")
        # "the second Wednesday" is 2WE; "the first weekday" is a set of days and a position in it.
        parts += [f"BYDAY={index}{days[0]}"] if len(days) == 1 else [f"BYDAY={','.join(days)}", f"BYSETPOS={index}"]
    else:
        raise MalformedEvent(f"event {event_id}: unknown recurrence pattern {kind!r}")
    parts += _range(rng, event_id, zone)
    return (f"RRULE:FREQ={freq};" + ";".join(parts) if parts else f"RRULE:FREQ={freq}",)


def _days(pattern: Mapping[str, Any], event_id: str) -> list[str]:
    raw = pattern.get("daysOfWeek") or []
    days = [_DAYS.get(str(d).casefold()) for d in raw] if isinstance(raw, list) else [None]
    if any(d is None for d in days):
        raise MalformedEvent(f"event {event_id}: unreadable daysOfWeek {raw!r}")
    order = list(_DAYS.values())
    return sorted({d for d in days if d is not None}, key=order.index)


def _month(pattern: Mapping[str, Any], event_id: str) -> int:
    month = pattern.get("month")
    if not isinstance(month, int) or not 1 <= month <= 12:
        raise MalformedEvent(f"event {event_id}: recurrence month {month!r}")
    return month


def _month_day(pattern: Mapping[str, Any], event_id: str) -> list[str]:
    day = pattern.get("dayOfMonth")
    if not isinstance(day, int) or not 1 <= day <= 31:
        raise MalformedEvent(f"event {event_id}: recurrence dayOfMonth {day!r}")
    if day <= 28:
        return [f"BYMONTHDAY={day}"]
    # Outlook moves the 29th-31st to the month's last day when the month is shorter.
    return [f"BYMONTHDAY={','.join(str(d) for d in range(28, day + 1))}", "BYSETPOS=-1"]


def _range(rng: Mapping[str, Any], event_id: str, zone: str) -> list[str]:
    kind = str(rng.get("type") or "noEnd")
    if kind == "numbered":
        count = rng.get("numberOfOccurrences")
        if not isinstance(count, int) or count < 1:
            raise MalformedEvent(f"event {event_id}: numbered recurrence with {count!r} occurrences")
        return [f"COUNT={count}"]
    if kind == "endDate":
        try:
            last = date.fromisoformat(str(rng.get("endDate"))[:10])
            # The range ends with that local day: its last second, in the series zone, as UTC.
            until = datetime.combine(last + timedelta(days=1), time(0), ZoneInfo(zone)) - timedelta(seconds=1)
            return [f"UNTIL={until.astimezone(UTC):%Y%m%dT%H%M%SZ}"]
        except (ValueError, OverflowError) as exc:  # OverflowError: 9999-12-31 has no next day
            raise MalformedEvent(f"event {event_id}: recurrence endDate {rng.get('endDate')!r}") from exc
    if kind == "noEnd":
        return []
    raise MalformedEvent(f"event {event_id}: unknown recurrence range {kind!r}")
