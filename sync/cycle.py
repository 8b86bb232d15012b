"""One cycle of the daemon: sync every calendar → evaluate the rules → record → email.

Actions are driven by the findings and the outbox, never by the sync loop directly, so each step
is idempotent on its own: a crash anywhere is repaired by running the next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.base import Provider
from rules.engine import Evaluation, evaluate
from rules.model import EvaluationContext, Pause
from sync.calendars import CalendarResult, stale_calendars, sync_calendar
from sync.config import Settings
from sync.crash import CrashPlan
from sync.findings import FindingStats, record_findings
from sync.notify.outbox import DeliveryStats, deliver_pending, enqueue_warnings
from sync.store.db import Database
from sync.store.events import load_events
from sync.store.models import CalendarRow, OutboxRow, PairSeenRow, PauseRow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Send = Callable[[OutboxRow], None]


@dataclass
class Runtime:
    """Everything a cycle needs, built once from the settings (or by a test)."""

    settings: Settings
    db: Database
    providers: Sequence[Provider]
    clock: Clock
    send: Send | None = None
    worker: str = "worker"
    concurrency: int = 8
    lease: timedelta = timedelta(minutes=2)
    crash: CrashPlan = field(default_factory=CrashPlan)


@dataclass
class CycleReport:
    started: datetime
    calendars: list[CalendarResult] = field(default_factory=list)
    findings: FindingStats = field(default_factory=FindingStats)
    open_findings: int = 0
    queued: int = 0
    delivery: DeliveryStats = field(default_factory=DeliveryStats)

    @property
    def failed_calendars(self) -> list[CalendarResult]:
        return [c for c in self.calendars if not c.ok]


def evaluation_context(session: Session, settings: Settings, now: datetime) -> EvaluationContext:
    rows = session.scalars(select(CalendarRow)).all()
    zones = {row.calendar: row.time_zone for row in rows if row.time_zone}
    pauses = tuple(
        Pause(manager=p.manager, report=p.report, until=p.until, since=p.since)
        for p in session.scalars(select(PauseRow))
    )
    first_seen = {(p.manager, p.report): p.first_seen for p in session.scalars(select(PairSeenRow))}
    return EvaluationContext(
        now=now,
        default_time_zone=settings.time_zone,
        pair_first_seen=first_seen,
        settings=settings.rule_settings(),
        directory=settings.directory_model(),
        pauses=pauses,
        stale_calendars=stale_calendars(session, now, timedelta(seconds=settings.poll_interval_seconds)),
        watched_calendars=frozenset(row.calendar for row in rows),
        time_zones=zones,
    )


def remember_pairs(session: Session, context: EvaluationContext, evaluation: Evaluation) -> None:
    """A pair's start, when nothing else says, is the day oneonone first saw it (directory or calendar)."""
    known = set(context.pair_first_seen)
    today = context.now.date()
    candidates = {p.key for p in context.directory.pairs if p.start is None} | set(evaluation.judged_pairs)
    for manager, report in sorted(candidates - known):
        session.add(PairSeenRow(manager=manager, report=report, first_seen=today))


def evaluate_store(session: Session, settings: Settings, now: datetime) -> tuple[Evaluation, EvaluationContext]:
    context = evaluation_context(session, settings, now)
    return evaluate(load_events(session), context), context


def sync_all(runtime: Runtime, now: datetime, only: set[str] | None = None) -> list[CalendarResult]:
    """Sync every watched calendar (or just `only`), several at a time; one failure never stops the others."""
    work = [(p, c) for p in runtime.providers for c in p.calendars() if only is None or c in only]
    if not work:
        return []

    def one(item: tuple[Provider, str]) -> CalendarResult:
        provider, calendar = item
        return sync_calendar(
            runtime.db, provider, calendar, now, worker=runtime.worker, lease=runtime.lease, crash=runtime.crash
        )

    with ThreadPoolExecutor(max_workers=max(1, min(runtime.concurrency, len(work))), thread_name_prefix="sync") as pool:
        return list(pool.map(one, work))


def run_cycle(runtime: Runtime) -> CycleReport:
    now = runtime.clock()
    report = CycleReport(started=now)
    report.calendars = sync_all(runtime, now)
    settings = runtime.settings
    with runtime.db.session() as session:
        evaluation, context = evaluate_store(session, settings, now)
        remember_pairs(session, context, evaluation)
        report.findings = record_findings(
            session, evaluation.findings, evaluation.judged_pairs, now, judged_since=evaluation.judged_since
        )
        report.open_findings = len(evaluation.findings)
        report.queued = enqueue_warnings(
            session,
            now,
            sender_domain=settings.smtp.from_address.rpartition("@")[2],
            zones=context.time_zones,
            default_zone=settings.time_zone,
            observe=settings.notify.mode == "observe",
            opt_out=frozenset(settings.notify.opt_out),
        )
    runtime.crash.hit("after_findings")
    if runtime.send is not None:
        report.delivery = deliver_pending(
            runtime.db,
            runtime.send,
            now,
            worker=runtime.worker,
            max_attempts=settings.notify.max_attempts,
            crash=runtime.crash,
        )
    log.info(
        "cycle: %d calendars (%d failed), %d findings open (+%d, %d resolved), %d emails queued, %d sent",
        len(report.calendars),
        len(report.failed_calendars),
        report.open_findings,
        report.findings.opened,
        report.findings.resolved,
        report.queued,
        report.delivery.sent,
    )
    return report
