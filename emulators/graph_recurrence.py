"""Graph `patternedRecurrence`: parsing, validation and expansion into local dates.

Expansion works on *dates* in the series' `recurrenceTimeZone`; the caller attaches the
wall-clock time of day, so a weekly 10:00 series stays at 10:00 local across DST changes.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from emulators import graph_zones

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = ("first", "second", "third", "fourth", "last")
PATTERNS = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGES = ("endDate", "noEnd", "numbered")
_NO_DATE = "0001-01-01"
_MAX_YEARS = 200  # a noEnd series is expanded lazily; this only stops runaway loops


class RecurrenceError(ValueError):
    """A recurrence Graph would refuse with 400."""


@dataclass(frozen=True)
class Recurrence:
    pattern_type: str
    interval: int
    days_of_week: tuple[int, ...]  # Python weekday numbers, Monday = 0
    day_of_month: int
    month: int
    index: str
    first_day_of_week: int
    range_type: str
    start_date: date
    end_date: date | None
    count: int
    zone: str  # the Windows name Graph reports as recurrenceTimeZone

    @classmethod
    def parse(cls, data: Any, default_zone: str, default_start: date) -> Recurrence:
        if not isinstance(data, dict) or not isinstance(data.get("pattern"), dict):
            raise RecurrenceError("The recurrence must have a pattern and a range.")
        pattern, rng = data["pattern"], data.get("range")
        if not isinstance(rng, dict):
            raise RecurrenceError("The recurrence must have a pattern and a range.")
        ptype = _choice(pattern.get("type"), PATTERNS, "pattern.type")
        interval = pattern.get("interval", 1)
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise RecurrenceError("The recurrence pattern interval must be a positive integer.")
        days = tuple(DAYS.index(_choice(d, DAYS, "daysOfWeek")) for d in pattern.get("daysOfWeek") or [])
        if ptype in ("weekly", "relativeMonthly", "relativeYearly") and not days:
            raise RecurrenceError(f"A {ptype} recurrence pattern requires daysOfWeek.")
        day_of_month = _int(pattern.get("dayOfMonth", 0), "dayOfMonth")
        if ptype in ("absoluteMonthly", "absoluteYearly") and not 1 <= day_of_month <= 31:
            raise RecurrenceError(f"A {ptype} recurrence pattern requires dayOfMonth between 1 and 31.")
        month = _int(pattern.get("month", 0), "month")
        if ptype in ("absoluteYearly", "relativeYearly") and not 1 <= month <= 12:
            raise RecurrenceError(f"A {ptype} recurrence pattern requires month between 1 and 12.")
        index = _choice(pattern.get("index") or "first", INDEXES, "index")
        fdow = DAYS.index(_choice(pattern.get("firstDayOfWeek") or "sunday", DAYS, "firstDayOfWeek"))
        rtype = _choice(rng.get("type"), RANGES, "range.type")
        start = _date(rng.get("startDate"), "startDate") or default_start
        end = _date(rng.get("endDate"), "endDate") if rtype == "endDate" else None
        if rtype == "endDate" and (end is None or end < start):
            raise RecurrenceError("The recurrence range endDate must be on or after its startDate.")
        count = _int(rng.get("numberOfOccurrences", 0), "numberOfOccurrences")
        if rtype == "numbered" and count < 1:
            raise RecurrenceError("A numbered recurrence range requires a positive numberOfOccurrences.")
        zone_name = rng.get("recurrenceTimeZone") or default_zone
        try:
            zone = graph_zones.windows_name(str(zone_name))
        except graph_zones.UnknownTimeZone as exc:
            raise RecurrenceError(f"The time zone '{zone_name}' is not supported.") from exc
        rec = cls(ptype, interval, days, day_of_month, month, index, fdow, rtype, start, end, count, zone)
        if next(rec.dates(date.max), None) is None:
            raise RecurrenceError("The recurrence pattern has no occurrence in its range.")
        return rec

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern": {
                "type": self.pattern_type,
                "interval": self.interval,
                "month": self.month,
                "dayOfMonth": self.day_of_month,
                "daysOfWeek": [DAYS[d] for d in self.days_of_week],
                "firstDayOfWeek": DAYS[self.first_day_of_week],
                "index": self.index,
            },
            "range": {
                "type": self.range_type,
                "startDate": self.start_date.isoformat(),
                "endDate": self.end_date.isoformat() if self.end_date else _NO_DATE,
                "recurrenceTimeZone": self.zone,
                "numberOfOccurrences": self.count if self.range_type == "numbered" else 0,
            },
        }

    def dates(self, until: date, since: date | None = None) -> Iterator[date]:
        """Occurrence dates in order up to `until` (inclusive), skipping ahead to about `since`.

        `since` is only a hint for speed: some earlier dates may still be yielded, and a numbered
        range always counts from its start.
        """
        last = min(until, self.end_date or date.max)
        numbered = self.range_type == "numbered"
        emitted = 0
        for day in self._candidates(None if numbered else since):
            if day > last or (numbered and emitted >= self.count):
                return
            if day >= self.start_date:
                emitted += 1
                yield day

    def _candidates(self, since: date | None) -> Iterator[date]:
        start = self.start_date
        horizon = start.year + _MAX_YEARS
        skip = max(0, (since - start).days) if since else 0
        if self.pattern_type == "daily":
            day = start + timedelta(days=skip // self.interval * self.interval)
            while day.year < horizon:
                yield day
                day += timedelta(days=self.interval)
        elif self.pattern_type == "weekly":
            anchor = start - timedelta(days=(start.weekday() - self.first_day_of_week) % 7)
            anchor += timedelta(weeks=skip // (7 * self.interval) * self.interval)
            offsets = sorted((d - self.first_day_of_week) % 7 for d in self.days_of_week)
            while anchor.year < horizon:
                yield from (anchor + timedelta(days=o) for o in offsets)
                anchor += timedelta(weeks=self.interval)
        else:
            yearly = self.pattern_type.endswith("Yearly")
            step = 12 * self.interval if yearly else self.interval
            year, month = start.year, self.month if yearly else start.month
            if yearly and month < start.month:
                year += 1
            month += max(0, skip // 31 - 1) // step * step  # months certainly before `since`
            year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
            while year < horizon:
                found = self._in_month(year, month)
                if found is not None:
                    yield found
                month += step
                year, month = year + (month - 1) // 12, (month - 1) % 12 + 1

    def _in_month(self, year: int, month: int) -> date | None:
        length = calendar.monthrange(year, month)[1]
        if self.pattern_type.startswith("absolute"):
            return date(year, month, min(self.day_of_month, length))  # Outlook: the 31st → last day
        matching = [date(year, month, d) for d in range(1, length + 1)]
        matching = [d for d in matching if d.weekday() in self.days_of_week]
        if not matching:
            return None
        return matching[-1] if self.index == "last" else matching[min(INDEXES.index(self.index), len(matching) - 1)]


def _choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    for option in allowed:
        if isinstance(value, str) and value.casefold() == option.casefold():
            return option
    raise RecurrenceError(f"The recurrence property '{name}' has an invalid value: {value!r}.")


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecurrenceError(f"The recurrence property '{name}' must be an integer.")
    return value


def _date(value: Any, name: str) -> date | None:
    if value in (None, "", _NO_DATE):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RecurrenceError(f"The recurrence property '{name}' is not a valid date.") from exc
