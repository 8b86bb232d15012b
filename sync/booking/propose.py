"""Proposing slots for a finding: what the store knows of the series, free/busy from the provider,
and the pure search (`rules/slots.py`).

Called while a warning is queued. A provider that fails (or is not configured for booking) never
holds the warning up: the proposal says why there are no slots, and the email says so too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from providers.base import ProviderError
from providers.booking import Availability, Booker
from rules.slots import Interval, Person, SlotQuery, WorkingHours, rule_window, search
from sync.config.booking import BookingSettings
from sync.store.models import CalendarRow, EventRow, FindingRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Series:
    """What a booked replacement copies: the provider holding the organizer's calendar, the title,
    the duration, the usual time of day (in the manager's zone) and the zone events are written in."""

    provider: str
    title: str
    duration: timedelta
    usual_time: time | None
    time_zone: str


@dataclass(frozen=True)
class Proposal:
    slots: tuple[Interval, ...]
    in_window: bool
    window: Interval
    series: Series
    error: str | None = None  # why there are no slots: free/busy failed, booking not available
    requests: int = 0  # provider requests the free/busy cost
    seconds: float = 0.0


def series_of(session: Session, manager: str, report: str, zone: str) -> Series | None:
    """The pair's latest series (or one-off) on the manager's calendar; None when none is synced."""
    rows = session.scalars(
        select(EventRow)
        .where(EventRow.calendar == manager, EventRow.kind.in_(("master", "single")), EventRow.status != "cancelled")
        .order_by(EventRow.kind, EventRow.start.desc())
    ).all()
    for row in rows:
        if row.start is None or row.end is None or row.all_day:
            continue
        if any(str(a.get("email", "")).lower() == report for a in row.attendees or []):
            local = row.start.astimezone(ZoneInfo(zone))
            return Series(row.provider, row.summary or "1:1", row.end - row.start, local.time(), row.time_zone or zone)
    return None


def away_days(session: Session, person: str, zone: str, window: Interval) -> frozenset[date]:
    """Days an out-of-office event on the person's synced calendar touches, in their zone."""
    rows = session.scalars(
        select(EventRow).where(
            EventRow.calendar == person,
            EventRow.event_type == "outOfOffice",
            EventRow.status != "cancelled",
            or_(EventRow.start < window.end, EventRow.start_date.is_not(None)),
        )
    ).all()
    tz, days = ZoneInfo(zone), set()
    for row in rows:
        if row.all_day and row.start_date is not None:
            first, last = row.start_date, (row.end_date or row.start_date + timedelta(days=1)) - timedelta(days=1)
        elif row.start is not None and row.end is not None:
            first = row.start.astimezone(tz).date()
            last = (row.end - timedelta(microseconds=1)).astimezone(tz).date()
        else:
            continue
        day = first
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return frozenset(days)


@dataclass
class Proposer:
    """Everything a proposal needs besides the finding: settings, bookers by provider name, zones."""

    settings: BookingSettings
    bookers: Mapping[str, Booker]
    default_zone: str = "UTC"
    after_days: int = 14
    timer: Callable[[], float] = monotonic  # injected, so the measured cost of free/busy is testable

    def propose(
        self, session: Session, finding: FindingRow, zones: Mapping[str, str], now: datetime
    ) -> Proposal | None:
        manager_zone = zones.get(finding.manager, self.default_zone)
        window = rule_window(finding.rule, finding.details or {}, manager_zone, now)
        if window is None:
            return None
        series = series_of(session, finding.manager, finding.report, manager_zone) or Series(
            _provider_of(session, finding.manager), "1:1", timedelta(minutes=30), None, manager_zone
        )
        booker = self.bookers.get(series.provider)
        if booker is None:
            return None  # an ICS feed or CalDAV calendar: nothing to book with, the warning is as before
        asked = Interval(max(window.start, now), max(window.end, now) + timedelta(days=self.after_days))
        before, started = booker.requests_made, self.timer()
        try:
            found = booker.availability(finding.manager, [finding.manager, finding.report], asked)
        except ProviderError as exc:
            log.warning("free/busy for %s and %s failed: %s", finding.manager, finding.report, exc)
            return Proposal((), True, window, series, error="your calendars could not be read just now")
        cost = (booker.requests_made - before, self.timer() - started)
        unknown = [a.email for a in found.values() if a.error]
        if unknown:
            return Proposal((), True, window, series, "free/busy is not available for " + ", ".join(unknown), *cost)
        people = tuple(self._person(session, found[p], zones, asked) for p in (finding.manager, finding.report))
        result = search(
            SlotQuery(
                people=people,
                window=window,
                duration=series.duration,
                now=now,
                display_zone=manager_zone,
                usual_time=series.usual_time,
                step=timedelta(minutes=self.settings.step_minutes),
                count=self.settings.slots,
                after_days=self.after_days,
            )
        )
        return Proposal(result.slots, result.in_window, window, series, None, *cost)

    def _person(self, session: Session, found: Availability, zones: Mapping[str, str], asked: Interval) -> Person:
        zone = zones.get(found.email, self.default_zone)
        start, end = self.settings.hours()
        hours = found.hours or WorkingHours(zone, start, end)
        away = found.away_days | away_days(session, found.email, hours.zone, asked)
        return Person(found.email, hours, found.busy, away)


def _provider_of(session: Session, calendar: str) -> str:
    row = session.scalar(select(CalendarRow).where(CalendarRow.calendar == calendar))
    return row.provider if row is not None else ""
