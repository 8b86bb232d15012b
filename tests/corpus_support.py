"""Occurrences of real calendars, derived the way the daemon derives them.

Timed series go through the rules' own path (`group_series` → `series_slots` → `decide`): slots
from `rules/recurrence.py`, minus cancelled ones, moved ones at their new time. All-day series
(never 1:1s, so the rules skip them) are expanded with `expand_dates` and their overrides matched
by date. Times are rendered in the series' own zone, as INDEX.md writes them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from providers.ics_mapping import MappedCalendar, parse_calendar
from rules.copies import Judge
from rules.model import CalendarEvent, EventKind
from rules.recurrence import expand_dates
from rules.series import SeriesCopy, group_series, series_slots

OWNER = "owner@example.com"


def corpus_root() -> Path:
    """../shared/corpus beside the repository; missing is a failure in CI and a skip elsewhere."""
    root = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    if not (root / "INDEX.md").is_file():
        reason = f"the real-calendar corpus is not at {root} (it lives in shared/, beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


def load(relative: str, default_zone: str | None = None) -> MappedCalendar:
    data = (corpus_root() / relative).read_bytes()
    return parse_calendar(data, provider="ics", owner=OWNER, default_zone=default_zone)


@dataclass(frozen=True)
class Occ:
    """One occurrence: its slot, where it is, and what happened to it."""

    slot: str  # "YYYY-MM-DD HH:MM" local (timed) or "YYYY-MM-DD" (all-day)
    start: str
    end: str
    state: str  # "unchanged" | "moved" | "cancelled" | "edited" (same time, other details)

    @property
    def minutes(self) -> int:
        fmt = "%Y-%m-%d %H:%M"
        return int((datetime.strptime(self.end, fmt) - datetime.strptime(self.start, fmt)).total_seconds() // 60)


def _local(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def masters(mapped: MappedCalendar, summary: str | None = None, uid: str | None = None) -> list[CalendarEvent]:
    return [
        e
        for e in mapped.events
        if e.kind is EventKind.MASTER
        and (summary is None or e.summary == summary)
        and (uid is None or (e.ical_uid or e.event_id).startswith(uid) or e.event_id.startswith(uid))
    ]


def exceptions_of(mapped: MappedCalendar, master: CalendarEvent) -> list[CalendarEvent]:
    return [e for e in mapped.events if e.kind is EventKind.EXCEPTION and e.series_id == master.event_id]


def occurrences(mapped: MappedCalendar, master: CalendarEvent, low: date, high: date) -> list[Occ]:
    """Every slot whose original start falls in [low, high) local dates of the series."""
    if master.all_day:
        return _all_day(mapped, master, low, high)
    zone = master.time_zone or "UTC"
    tz = ZoneInfo(zone)
    start = datetime.combine(low, datetime.min.time(), tz).astimezone(UTC)
    end = datetime.combine(high, datetime.min.time(), tz).astimezone(UTC)
    own = {e.original_start: e for e in exceptions_of(mapped, master) if e.original_start is not None}
    (series,) = group_series([SeriesCopy(OWNER, master, own)], OWNER, lambda a: a, start, end)
    judge = Judge(manager=OWNER, report="nobody@example.com", late_hours=24)
    found = []
    for slot in series_slots(series, judge, lambda a: a, lambda _: True):
        exception = own.get(slot.original_start)
        if not slot.live:
            state = "cancelled"
        elif slot.start != slot.original_start or (
            exception is not None
            and (exception.all_day or slot.end != slot.original_start + (master.end - master.start))  # type: ignore[operator]
        ):
            state = "moved"
        else:
            state = "edited" if exception is not None else "unchanged"
        if exception is not None and exception.all_day and slot.live:
            assert exception.start_date is not None and exception.end_date is not None
            found.append(
                Occ(_local(slot.original_start, zone), str(exception.start_date), str(exception.end_date), state)
            )
            continue
        found.append(Occ(_local(slot.original_start, zone), _local(slot.start, zone), _local(slot.end, zone), state))
    return found


def _all_day(mapped: MappedCalendar, master: CalendarEvent, low: date, high: date) -> list[Occ]:
    zone = ZoneInfo(master.time_zone or "UTC")
    own = {
        e.original_start.astimezone(zone).date(): e
        for e in exceptions_of(mapped, master)
        if e.original_start is not None
    }
    assert master.start_date is not None and master.end_date is not None
    length = master.end_date - master.start_date
    days = set(expand_dates(master, low, high))
    # expand_dates drops EXDATE'd days: list every day of the pattern to report them as cancelled.
    pattern = set(expand_dates(_without_exdates(master), low, high))
    found = []
    for day in sorted(pattern):
        exception = own.get(day)
        if (day not in days and exception is None) or (exception is not None and exception.is_cancelled):
            found.append(Occ(str(day), str(day), str(day + length), "cancelled"))
        elif exception is not None:
            first = exception.start_date or day
            last = exception.end_date or first + length
            state = "moved" if (first, last) != (day, day + length) else "edited"
            found.append(Occ(str(day), str(first), str(last), state))
        else:
            found.append(Occ(str(day), str(day), str(day + length), "unchanged"))
    return found


def _without_exdates(master: CalendarEvent) -> CalendarEvent:
    from dataclasses import replace

    return replace(master, recurrence=tuple(line for line in master.recurrence if not line.startswith("EXDATE")))


def by_state(found: Sequence[Occ], state: str) -> list[str]:
    return [o.slot for o in found if o.state == state]


def moves(found: Sequence[Occ]) -> dict[str, str]:
    return {o.slot: o.start for o in found if o.state == "moved"}


def live(found: Sequence[Occ]) -> list[Occ]:
    return [o for o in found if o.state != "cancelled"]


def days(*values: str) -> list[str]:
    return list(values)


__all__ = ["Occ", "by_state", "corpus_root", "days", "live", "load", "masters", "moves", "occurrences", "timedelta"]
