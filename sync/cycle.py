"""One cycle of the daemon: sync every calendar → evaluate the rules → record → email.

Actions are driven by the findings and the outbox, never by the sync loop directly, so each step
is idempotent on its own: a crash anywhere is repaired by running the next cycle.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from providers.base import Provider
from rules.engine import build_histories, judge_histories
from rules.history import PairHistory
from rules.screen import BadData
from sync import pair_states
from sync.actions.alerts import enqueue_admin_alerts, enqueue_attendance_alerts, enqueue_bad_data_alerts
from sync.actions.escalation import enqueue_escalations
from sync.actions.findings import FindingStats, record_findings
from sync.actions.warnings import enqueue_warnings
from sync.agenda.step import AgendaPrepared, write_links, write_markdown
from sync.agenda.step import prepare as prepare_agenda
from sync.agenda.writeback import WritebackReport
from sync.booking.offers import booking_offering
from sync.evaluation import evaluation_context, remember_pairs
from sync.heap import collector_paused
from sync.ingest.attendance import AttendanceStats, read_attendance
from sync.ingest.calendars import CalendarResult, commit_quiet, resting_calendars, sync_calendar
from sync.ingest.leases import Claim, acquire_many, release
from sync.notify.outbox import DeliveryStats, deliver_pending
from sync.runtime import Runtime
from sync.scope import Judging, Scope, evaluation_scope, judged
from sync.store.db import pid_alive, release_dead_local_workers, serialize
from sync.store.events import load_events
from sync.store.models import (
    FindingRow,
    OutboxRow,
)

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    started: datetime
    calendars: list[CalendarResult] = field(default_factory=list)
    findings: FindingStats = field(default_factory=FindingStats)
    open_findings: int = 0
    queued: int = 0
    delivery: DeliveryStats = field(default_factory=DeliveryStats)
    agenda: WritebackReport = field(default_factory=WritebackReport)
    nudges: int = 0
    alerts: int = 0
    evaluated: str = "all"  # which pairs the rules judged: "all", or "<n> people, <m> pairs due" (sync/scope.py)
    judged: int = 0  # how many pairs the rules judged
    escalations: int = 0  # skip-level copies queued (escalation.enabled)
    bad_data: tuple[BadData, ...] = ()  # events the rules refused, pairs left unjudged by them (named to admins)
    attendance: AttendanceStats = field(default_factory=AttendanceStats)  # calls read (judged next cycle)
    # A dry run: what this cycle would have sent (kind, recipient, subject, channel); nothing was kept.
    would_send: tuple[tuple[str, str, str, str], ...] = ()
    agenda_prepared: AgendaPrepared | None = None  # the agenda step's decisions, acted on after the transaction
    # What free/busy cost per warning that proposed slots (booking.enabled): (provider requests, seconds).
    freebusy: list[tuple[int, float]] = field(default_factory=list)

    @property
    def failed_calendars(self) -> list[CalendarResult]:
        return [c for c in self.calendars if not c.ok]


def _count(runtime: Runtime, report: CycleReport, requests_before: dict[str, int]) -> None:
    metrics = runtime.metrics
    assert metrics is not None
    for result in report.calendars:
        outcome = "ok" if result.ok and result.error_kind is None else (result.error_kind or "error")
        metrics.syncs.labels(result.provider, outcome).inc()
        if not result.ok and result.error_kind:
            metrics.errors.labels(result.error_kind).inc()
        if result.skipped:
            metrics.skipped_items.labels(result.provider).inc(result.skipped)
    for provider in runtime.providers:
        made = getattr(provider, "requests_made", 0) - requests_before.get(provider.name, 0)
        if made > 0:
            metrics.api_requests.labels(provider.name).inc(made)


def sync_all(
    runtime: Runtime,
    now: datetime,
    only: set[str] | None = None,
    stop: threading.Event | None = None,
    fresh_within: timedelta | None = None,
) -> list[CalendarResult]:
    """Sync every watched calendar (or just `only`), several at a time; one failure never stops the others.

    Once `stop` is set, calendars not yet started are skipped; those in flight finish.
    """
    work = [(p, c) for p in runtime.providers for c in p.calendars() if only is None or c in only]
    if not work:
        return []
    resting = resting_calendars(runtime.db, now, timedelta(seconds=runtime.settings.poll_interval_seconds))

    results: dict[tuple[str, str], CalendarResult] = {}

    def one(provider: Provider, calendar: str, claim: Claim, quiet: list[dict[str, Any]]) -> CalendarResult:
        if stop is not None and stop.is_set():
            release(runtime.db, provider.name, calendar, runtime.worker)
            return CalendarResult(provider=provider.name, calendar=calendar, ok=True, error_kind="stopping")
        return sync_calendar(
            runtime.db,
            provider,
            calendar,
            now,
            worker=runtime.worker,
            lease=runtime.lease,
            crash=runtime.crash,
            claim=claim,
            quiet=quiet,
        )

    def finish(provider: Provider, futures: dict[str, Future[CalendarResult]], quiet: list[dict[str, Any]]) -> None:
        for calendar, future in futures.items():
            results[(provider.name, calendar)] = future.result()
        try:
            commit_quiet(runtime.db, quiet, runtime.crash)
        except Exception as exc:  # the cursors stay where they were: the next cycle asks again
            log.error("could not record %d quiet calendar(s): %s", len(quiet), exc)
            for params in quiet:
                results[(provider.name, params["c"])] = CalendarResult(
                    provider=provider.name, calendar=params["c"], ok=False, error=str(exc), error_kind="database"
                )

    # Leases are taken a batch at a time (one statement for many calendars), and at most two batches
    # are in flight (the next is claimed while the last runs), so replicas still share the cycle.
    batch = max(16, runtime.concurrency * 4)
    in_flight: deque[tuple[Provider, dict[str, Future[CalendarResult]], list[dict[str, Any]]]] = deque()
    with ThreadPoolExecutor(max_workers=max(1, min(runtime.concurrency, len(work))), thread_name_prefix="sync") as pool:
        for provider in runtime.providers:
            mine = [c for p, c in work if p is provider]
            for start in range(0, len(mine), batch):
                if stop is not None and stop.is_set():
                    break
                part = []
                for calendar in mine[start : start + batch]:
                    if (provider.name, calendar) in resting:
                        until = resting[(provider.name, calendar)]
                        results[(provider.name, calendar)] = CalendarResult(
                            provider=provider.name,
                            calendar=calendar,
                            ok=False,
                            error=f"resting after repeated failures until {until.isoformat(timespec='minutes')}",
                            error_kind="circuit_open",
                        )
                    else:
                        part.append(calendar)
                claims = acquire_many(runtime.db, provider.name, part, runtime.worker, now, runtime.lease, fresh_within)
                for calendar in part:
                    if calendar not in claims:  # leased by a live worker, or just synced by another replica
                        results[(provider.name, calendar)] = CalendarResult(
                            provider=provider.name, calendar=calendar, ok=True, error_kind="leased_elsewhere"
                        )
                quiet: list[dict[str, Any]] = []
                futures = {c: pool.submit(one, provider, c, claims[c], quiet) for c in part if c in claims}
                in_flight.append((provider, futures, quiet))
                if len(in_flight) > 1:
                    finish(*in_flight.popleft())
        while in_flight:
            finish(*in_flight.popleft())
    return [
        results.get((p.name, c)) or CalendarResult(provider=p.name, calendar=c, ok=True, error_kind="stopping")
        for p, c in work
    ]


def run_cycle(
    runtime: Runtime,
    *,
    only: set[str] | None = None,
    stop: threading.Event | None = None,
    fresh_within: timedelta | None = None,
    dry_run: bool = False,
) -> CycleReport:
    """One cycle. A dry run syncs the calendars (reading is harmless) and judges them, then rolls back
    everything people would see — findings, emails, agenda links, alerts — and says what it would have sent."""
    now = runtime.clock()
    report = CycleReport(started=now)
    release_dead_local_workers(runtime.db, runtime.worker.partition(":")[0], pid_alive)
    requests_before = {p.name: getattr(p, "requests_made", 0) for p in runtime.providers}
    report.calendars = sync_all(runtime, now, only, stop, fresh_within)
    if runtime.metrics is not None:
        _count(runtime, report, requests_before)
    try:
        with runtime.db.session() as session:
            judging, histories = _judge_and_record(runtime, session, report, now, dry_run)
    except _RolledBack:
        return report
    judged(runtime, judging)
    _act(runtime, report, judging.scope, histories, now)
    return report


class _RolledBack(Exception):
    """A dry run's transaction is thrown away on purpose."""


def _judge_and_record(
    runtime: Runtime, session: Session, report: CycleReport, now: datetime, dry_run: bool
) -> tuple[Judging, list[PairHistory]]:
    """Everything of one cycle that happens in one transaction: judge, record findings, queue messages."""
    settings = runtime.settings
    serialize(session)
    report.alerts = enqueue_admin_alerts(
        session,
        report.calendars,
        runtime.policy,
        now,
    )
    context = evaluation_context(session, settings, now)
    judging = evaluation_scope(session, runtime, report.calendars, context, now)
    scope = judging.scope
    report.evaluated = "all" if scope is None else scope.describe()
    loaded = None if scope is None else scope.to_load(session)
    # Read before the rows: a write landing in between makes the pair look changed (judged again), never the reverse.
    versions = pair_states.calendar_versions(session, context, loaded)
    with collector_paused():
        events = load_events(session, loaded)
        built = build_histories(events, context)
        histories, bad_data = built.histories, built.bad_data
        if scope is not None:  # only the pairs in scope: their partners' copies were loaded too
            histories = [h for h in histories if scope.keeps(h.pair.key)]
            bad_data = tuple(b for b in bad_data if scope.keeps_bad(b))
        evaluation = judge_histories(histories, context, bad_data=bad_data)
    if scope is not None:
        pair_states.forget(session, set(scope.pairs) - {h.pair.key for h in histories})
    report.bad_data = evaluation.bad_data
    report.judged = len(evaluation.judged_pairs)
    for bad in evaluation.bad_data:
        log.warning("calendar data not used: %s", bad.describe())
    report.alerts += enqueue_bad_data_alerts(
        session,
        evaluation.bad_data,
        runtime.policy,
        now,
    )
    first_seen = remember_pairs(session, context, evaluation)
    pair_states.record(session, settings, context, histories, versions, now, first_seen=first_seen)
    # The agenda: pages, nudges (queued in this transaction) and `agenda-not-prepared` findings.
    agenda = prepare_agenda(session, settings.agenda, runtime.policy, context, events, now, histories=histories)
    findings = (*evaluation.findings, *agenda.findings)
    report.findings = record_findings(
        session, findings, evaluation.judged_pairs | agenda.judged_pairs, now, judged_since=evaluation.judged_since
    )
    session.flush()
    # Every open finding in the store: a cycle that judged only what changed still tells the whole truth.
    report.open_findings = session.scalar(select(func.count(FindingRow.id)).where(FindingRow.status == "open")) or 0
    report.nudges = agenda.nudges
    offering = booking_offering(runtime)
    report.queued = enqueue_warnings(session, now, runtime.policy, context.time_zones, offering)
    if offering is not None:
        report.freebusy = [(p.requests, p.seconds) for p in offering.measured if p.requests]
    report.escalations = enqueue_escalations(session, settings.escalation, runtime.policy, context, now)
    report.agenda_prepared = agenda
    if dry_run:
        queued = session.scalars(select(OutboxRow).where(OutboxRow.created_at == now).order_by(OutboxRow.id))
        report.would_send = tuple((r.kind, r.recipient, r.subject, r.channel) for r in queued)
        raise _RolledBack
    return judging, histories


def _act(
    runtime: Runtime, report: CycleReport, scope: Scope | None, histories: list[PairHistory], now: datetime
) -> None:
    """After the transaction: what reaches outside (attendance reads, agenda links, delivery, metrics)."""
    settings = runtime.settings
    agenda = report.agenda_prepared
    assert agenda is not None
    runtime.crash.hit("after_findings")
    # Who joined the settled past 1:1 calls: HTTP outside the transaction above, on the cycles that judged
    # every pair (a call settles for half an hour anyway); what it stores makes the next cycle judge every pair.
    if scope is None:
        report.attendance = read_attendance(runtime.db, runtime.attendance, histories, settings, now)
    if report.attendance.denied:
        with runtime.db.session() as session:
            report.alerts += enqueue_attendance_alerts(session, report.attendance.denied, runtime.policy, now)
    write_markdown(agenda)
    report.agenda = write_links(runtime.db, settings, runtime.writers, agenda.targets, now, crash=runtime.crash.hit)
    if runtime.delivery():
        report.delivery = deliver_pending(
            runtime.db,
            runtime.delivery(),
            now,
            worker=runtime.worker,
            max_attempts=settings.notify.max_attempts,
            crash=runtime.crash,
        )
    if runtime.metrics is not None:
        runtime.metrics.emails.labels("sent").inc(report.delivery.sent)
        runtime.metrics.emails.labels("failed").inc(report.delivery.failed)
        runtime.metrics.emails.labels("deferred").inc(report.delivery.deferred)
        runtime.metrics.channel_fallbacks.inc(report.delivery.fallbacks)
        runtime.metrics.cycles.inc()
        unjudged = sum(1 for bad in report.bad_data if bad.pair is not None)
        runtime.metrics.unusable.labels("unjudged_pair").set(unjudged)
        runtime.metrics.unusable.labels("refused_event").set(len(report.bad_data) - unjudged)
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
