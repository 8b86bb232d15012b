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
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        lag = GaugeMetricFamily(
            "oneonone_sync_lag_seconds",
            "Seconds since the calendar last synced successfully",
            labels=["provider", "calendar"],
        )
        failing = GaugeMetricFamily(
            "oneonone_calendar_consecutive_failures", "Failed syncs in a row", labels=["provider", "calendar"]
        )
        findings = GaugeMetricFamily("oneonone_findings_open", "Open findings", labels=["rule"])
        outbox = GaugeMetricFamily("oneonone_outbox_depth", "Emails waiting to be sent", labels=["status"])
        with self.db.session() as session:
            for row in session.scalars(select(CalendarRow)):
                if row.last_success_at is not None:
                    lag.add_metric([row.provider, row.calendar], (now - row.last_success_at).total_seconds())
                failing.add_metric([row.provider, row.calendar], float(row.consecutive_failures))
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
        yield from (lag, failing, findings, outbox)


class Metrics:
    """What the daemon counts; `render()` is the /metrics body."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
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
        self.skipped_items = Counter(
            "oneonone_malformed_items", "Malformed provider items skipped", ["provider"], registry=self.registry
        )
        self.unusable = Gauge(
            "oneonone_unusable_calendar_data",
            "In the last cycle: events the rules refused, and pairs left unjudged by their data",
            ["kind"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(db, clock))

    def render(self) -> bytes:
        return generate_latest(self.registry)
