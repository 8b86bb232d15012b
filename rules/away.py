"""Time away: either person out of office, or the pair paused.

A slot that falls in time away is not a violation when cancelled, and days away do not count
towards a gap. Days are the manager's calendar days. All-day out-of-office entries and pauses
are dates (never round-tripped through UTC midnight); a timed out-of-office block makes a day
away when it covers at least `AWAY_HOURS` of it, so a dentist's hour does not erase a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from rules.days import dates, local_date, midnight
from rules.model import CalendarEvent, EventKind, Pause
from rules.recurrence import expand, expand_dates, span

AWAY_HOURS = 4


@dataclass(frozen=True, slots=True)
class Away:
    days: frozenset[date]  # whole days away: all-day out of office, pauses (manager's dates)
    spans: tuple[tuple[datetime, datetime], ...]  # timed out of office (UTC), sorted
    tz: tzinfo  # the manager's zone

    def covers(self, start: datetime, end: datetime) -> bool:
        """Is a meeting at [start, end) in time away?"""
        if self.days and local_date(start, self.tz) in self.days:
            return True
        return bool(self.spans) and any(low < end and start < high for low, high in self.spans)

    def is_away_day(self, day: date) -> bool:
        if day in self.days:
            return True
        if not self.spans:
            return False
        low, high = midnight(day, self.tz), midnight(day + timedelta(days=1), self.tz)
        covered = sum(((min(high, b) - max(low, a)) for a, b in self.spans if a < high and low < b), timedelta(0))
        return covered >= timedelta(hours=AWAY_HOURS)

    def count(self, after: date, through: date) -> int:
        """Days in (after, through] that are away."""
        if through <= after or (not self.days and not self.spans):
            return 0
        return sum(1 for day in dates(after + timedelta(days=1), through) if self.is_away_day(day))


def _instances(
    event: CalendarEvent, exceptions: Mapping[datetime, CalendarEvent], first: date, last: date, tz: tzinfo
) -> Iterable[tuple[datetime, datetime] | tuple[date, date]]:
    """Each instance of an out-of-office entry: a UTC span, or a [first, last) date range."""
    if event.all_day:
        start_date = event.start_date or (event.start.date() if event.start else None)
        if start_date is None:
            return
        length = max((event.end_date or start_date) - start_date, timedelta(days=1))
        if event.kind is EventKind.MASTER:
            for day in expand_dates(event, first - length, last + timedelta(days=1)):
                yield (day, day + length)
        else:
            yield (start_date, start_date + length)
        return
    if event.start is None:
        return
    length = span(event)
    if event.kind is not EventKind.MASTER:
        yield (event.start.astimezone(UTC), event.start.astimezone(UTC) + length)
        return
    low, high = midnight(first, tz) - length, midnight(last + timedelta(days=1), tz)
    for original in expand(event, low, high).slots:
        moved = exceptions.get(original)
        if moved is None:
            yield (original, original + length)
        elif not moved.is_cancelled and moved.start is not None:
            yield (moved.start, moved.end or moved.start + length)


def build_away(
    out_of_office: Sequence[tuple[CalendarEvent, Mapping[datetime, CalendarEvent]]],
    pauses: Iterable[Pause],
    tz: tzinfo,
    first: date,
    last: date,
) -> Away:
    """Away days and spans within [first, last] (the manager's dates)."""
    days: set[date] = set()
    spans: list[tuple[datetime, datetime]] = []
    for event, exceptions in out_of_office:
        if event.is_cancelled:
            continue
        for low, high in _instances(event, exceptions, first, last, tz):
            if isinstance(low, datetime) and isinstance(high, datetime):
                spans.append((low, high))
            elif not isinstance(low, datetime) and not isinstance(high, datetime):
                days.update(day for day in dates(low, high - timedelta(days=1)) if first <= day <= last)
    for pause in pauses:
        since = max(pause.since or first, first)
        until = min(pause.until - timedelta(days=1), last)
        days.update(dates(since, until) if since <= until else ())
    return Away(frozenset(days), tuple(sorted(spans)), tz)
