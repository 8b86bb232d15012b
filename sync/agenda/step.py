"""The agenda's part of a cycle, after the rules have run over the stored events.

`prepare` runs inside the cycle's transaction: it gives every visible pair its page (deciding once
whether the pair is new), reads back Markdown edits, decides the nudges (queued in that same
transaction) and the `agenda-not-prepared` findings, applies retention, and finds the events that
should carry a link. `write_links` runs after that commit: intended writes are recorded and
committed, then made one by one (see `writeback`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from providers.base import AgendaWriter
from rules.engine import pair_histories
from rules.history import PairHistory
from rules.model import CalendarEvent, EvaluationContext, Finding
from sync.agenda import markdown_backend as md
from sync.agenda.first_meeting import is_new_pair
from sync.agenda.meetings import zone_of
from sync.agenda.nudges import NudgeSettings, pair_nudges
from sync.agenda.page import anchor_for, build_page
from sync.agenda.store import apply_retention, ensure_pairs, items_by_pair, items_of, pairs_by_key
from sync.agenda.writeback import Skipped, Target, WritebackReport, find_targets, plan, run_writes
from sync.config import Settings
from sync.config.web import AgendaSettings
from sync.notify.policy import MailPolicy
from sync.store.db import Database, serialize

log = logging.getLogger(__name__)


@dataclass
class AgendaPrepared:
    findings: list[Finding] = field(default_factory=list)
    judged_pairs: set[tuple[str, str]] = field(default_factory=set)
    targets: list[Target] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    nudges: int = 0
    expired_items: int = 0
    markdown_files: dict[Path, str] = field(default_factory=dict)


def _directory_starts(context: EvaluationContext) -> dict[tuple[str, str], date]:
    canonical = context.directory.canonical
    return {
        (canonical(p.manager), canonical(p.report)): p.start for p in context.directory.pairs if p.start is not None
    }


def prepare(
    session: Session,
    agenda: AgendaSettings,
    policy: MailPolicy,
    context: EvaluationContext,
    events: Sequence[CalendarEvent],
    now: datetime,
    *,
    histories: Sequence[PairHistory] | None = None,
) -> AgendaPrepared:
    result = AgendaPrepared()
    histories = list(histories) if histories is not None else pair_histories(events, context)
    starts = _directory_starts(context)
    cfg = NudgeSettings(
        agenda_hours=agenda.agenda_nudge_hours,
        notes_hours=agenda.notes_nudge_hours,
        policy=policy,
    )
    # Pages and items are read in one query each and new pages flushed together, not one round trip per pair.
    pairs = pairs_by_key(session, [h.pair.key for h in histories])
    wanted = (
        (h.pair.key, is_new_pair(h, starts.get(h.pair.key), now.date(), agenda.new_pair_days))
        for h in histories
        if h.pair.key not in pairs
    )
    ensure_pairs(session, wanted, now, pairs)
    folder = agenda.markdown_dir if agenda.backend == "markdown" else None
    items = items_by_pair(session, [p.id for p in pairs.values()]) if folder is None else {}
    for history in histories:
        manager, report = history.pair.key
        pair = pairs[(manager, report)]
        if folder is not None:
            path = md.file_for(folder, manager, report)
            md.import_tasks(session, pair, path, now, anchor_for("action", history, now))
            pair_items = items_of(session, pair.id)  # the import may have just changed them
        else:
            pair_items = items.get(pair.id, [])
        page = build_page(manager, report, history, pair_items, now, is_new=pair.is_new)
        if folder is not None:
            result.markdown_files[md.file_for(folder, manager, report)] = md.render_markdown(
                page, zone_of(manager, context, policy.default_zone)
            )
        if history.stale:
            continue
        result.judged_pairs.add((manager, report))
        if not agenda.nudges:
            continue
        findings, queued = pair_nudges(session, history, pair, page, context, now, cfg)
        result.findings.extend(findings)
        result.nudges += queued
    result.expired_items = apply_retention(session, now, agenda.retention_days)
    result.targets, result.skipped = find_targets(events, histories, context)
    return result


def write_markdown(prepared: AgendaPrepared) -> None:
    """After the commit: the files follow what is stored."""
    for path, text in prepared.markdown_files.items():
        try:
            md.write_file(path, text)
        except OSError as exc:
            log.error("agenda: cannot write %s: %s", path, exc)


class _DryRun(Exception):
    """Raised inside the planning transaction so that a dry run records nothing."""


def write_links(
    db: Database,
    settings: Settings,
    writers: Mapping[str, AgendaWriter],
    targets: Sequence[Target],
    now: datetime,
    *,
    crash: Callable[[str], None] = lambda _point: None,
    dry_run: bool = False,
) -> WritebackReport:
    report = WritebackReport(targets=list(targets))
    if not targets:
        return report
    base_url = settings.web.base_url
    if dry_run:
        try:
            with db.session() as session:
                report.decisions = plan(session, settings, targets, base_url, now, writers)
                raise _DryRun
        except _DryRun:
            pass  # rolled back: nothing recorded, nothing written
        return report
    with db.session() as session:
        serialize(session)  # replicas take turns recording intents
        decisions = plan(session, settings, targets, base_url, now, writers)
    report.decisions = decisions
    # The intents are committed: only now may the providers be called.
    run_writes(
        db,
        writers,
        decisions,
        base_url,
        now,
        report,
        readd=settings.agenda.readd_removed,
        crash=crash,
        concurrency=settings.concurrency,
    )
    if report.written or report.failed:
        log.info(
            "agenda links: %d written, %d already there, %d removed by people, %d failed",
            report.written,
            report.already,
            report.user_removed,
            report.failed,
        )
    return report
