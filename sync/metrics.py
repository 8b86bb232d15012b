"""Prometheus metrics: counters the daemon bumps, plus gauges read from the store at scrape time.

One registry per runtime (no process-global state), so tests and several daemons in one process
never mix their numbers. Per-calendar sync lag and outbox depth are read from the database when
scraped, so every replica reports the same truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from sync.store.db import Database
from sync.store.models import CalendarRow, FindingRow, OutboxRow


class _StoreCollector(Collector):
    """Per provider by default: a calendar's label is its owner's address, which a scrape should not
    collect unless the admin asks for it (`web.metrics_per_calendar`)."""

    def __init__(self, db: Database, clock: Callable[[], datetime], per_calendar: bool) -> None:
        self.db = db
        self.clock = clock
        self.per_calendar = per_calendar

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        labels = ["provider", "calendar"] if self.per_calendar else ["provider"]
        lag = GaugeMetricFamily(
            "oneonone_sync_lag_seconds",
            "Seconds since the calendar last synced successfully (per provider: the longest)",
            labels=labels,
        )
        failing = GaugeMetricFamily(
            "oneonone_calendar_consecutive_failures",
            "Failed syncs in a row (per provider: the most)",
            labels=labels,
        )
        failing_count = GaugeMetricFamily(
            "oneonone_calendars_failing", "Calendars whose last sync failed", labels=["provider"]
        )
        findings = GaugeMetricFamily("oneonone_findings_open", "Open findings", labels=["rule"])
        outbox = GaugeMetricFamily("oneonone_outbox_depth", "Emails waiting to be sent", labels=["status"])
        with self.db.session() as session:
            longest: dict[str, float] = {}
            most: dict[str, int] = {}
            failing_by_provider: dict[str, int] = {}
            for row in session.scalars(select(CalendarRow)):
                seconds = (now - row.last_success_at).total_seconds() if row.last_success_at is not None else None
                if self.per_calendar:
                    if seconds is not None:
                        lag.add_metric([row.provider, row.calendar], seconds)
                    failing.add_metric([row.provider, row.calendar], float(row.consecutive_failures))
                if seconds is not None:
                    longest[row.provider] = max(seconds, longest.get(row.provider, 0.0))
                most[row.provider] = max(row.consecutive_failures, most.get(row.provider, 0))
                failing_by_provider[row.provider] = failing_by_provider.get(row.provider, 0) + (
                    row.consecutive_failures > 0
                )
            if not self.per_calendar:
                for provider, seconds in sorted(longest.items()):
                    lag.add_metric([provider], seconds)
                for provider, failures in sorted(most.items()):
                    failing.add_metric([provider], float(failures))
            for provider, failing_now in sorted(failing_by_provider.items()):
                failing_count.add_metric([provider], float(failing_now))
            for rule, count in session.execute(
                select(FindingRow.rule, func.count(FindingRow.id))
                .where(FindingRow.status == "open")
                .group_by(FindingRow.rule)
            ):
                findings.add_metric([rule], float(count))
            for status, count in session.execute(
                select(OutboxRow.status, func.count(OutboxRow.id)).group_by(OutboxRow.status)
            ):
                outbox.add_metric([status], float(count))
        yield from (lag, failing, failing_count, findings, outbox)


class Metrics:
    """What the daemon counts; `render()` is the /metrics body."""

    def __init__(self, db: Database, clock: Callable[[], datetime], *, per_calendar: bool = False) -> None:
        self.registry = CollectorRegistry()
        self.syncs = Counter(
            "oneonone_syncs", "Calendar syncs by result", ["provider", "result"], registry=self.registry
        )
        self.errors = Counter("oneonone_errors", "Errors by kind", ["kind"], registry=self.registry)
        self.api_requests = Counter(
            "oneonone_api_requests", "Requests made to calendar APIs", ["provider"], registry=self.registry
        )
        self.emails = Counter("oneonone_emails", "Emails by outcome", ["outcome"], registry=self.registry)
        self.cycles = Counter("oneonone_cycles", "Completed cycles", registry=self.registry)
        self.channel_fallbacks = Counter(
            "oneonone_channel_fallbacks",
            "Messages a chat channel could not deliver, sent by email instead",
            registry=self.registry,
        )
        self.skipped_items = Counter(
            "oneonone_malformed_items", "Malformed provider items skipped", ["provider"], registry=self.registry
        )
        self.unusable = Gauge(
            "oneonone_unusable_calendar_data",
            "In the last cycle: events the rules refused, and pairs left unjudged by their data",
            ["kind"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(db, clock, per_calendar))

    def render(self) -> bytes:
        return generate_latest(self.registry)
