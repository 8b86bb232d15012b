"""One directory refresh (daily, on start, and `oneonone directory sync`), and the daemon job.

Fetching happens outside any transaction; the result is applied in one transaction, so a refresh
either happens entirely or not at all. A failure (the source unreachable, refused, malformed, or a
change too large to be believed) is logged and recorded with what to fix, and the last good
directory stays in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.directory import DirectoryError
from rules.days import zone
from rules.model import Pair
from sync.config import ConfigError, Settings
from sync.directory.lifecycle import plan_refresh, too_large
from sync.directory.scope import scoped
from sync.directory.sources import PeopleReader, fetch_snapshot
from sync.directory.store import (
    apply_plan,
    as_pair,
    canonical_for,
    pair_rows,
    record_failure,
    record_success,
    state_row,
)
from sync.notify.outbox import Message, queue_alert
from sync.notify.policy import mail_policy
from sync.notify.render import render_admin_alert
from sync.store.db import Database, only_one_replica, serialize
from sync.store.models import CalendarRow, DirectoryPairRow, DirectoryPersonRow

log = logging.getLogger(__name__)

DIRECTORY_LOCK = 7100110  # advisory-lock key: one replica refreshes at a time


@dataclass
class RefreshResult:
    source: str
    ok: bool
    error: str | None = None
    started: list[Pair] = field(default_factory=list)
    ended: list[tuple[Pair, str]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    findings_ended: int = 0
    in_force: int = 0
    skipped: bool = False  # nothing to refresh (no directory configured)


def _alert_admin(session: Session, settings: Settings, error: str, now: datetime) -> None:
    """Tell the admin, at most once a day: new pairs and leavers wait until the source is fixed."""
    policy = mail_policy(settings)
    if not policy.admin:
        return
    key = f"directory:{settings.directory.resolved_source}"
    subject = f"oneonone cannot read the directory ({settings.directory.resolved_source})"
    text, html = render_admin_alert(
        subject,
        f"oneonone could not refresh the directory: {error}",
        "The last good directory stays in force until this is fixed: new pairs are not started, ended pairs and "
        "people who left are not noticed.",
        "Check the directory source's credentials and that it can be reached.",
        "while it lasts",
    )
    message = Message("admin", policy.admin, [key, now.date().isoformat()], subject, text, html)
    queue_alert(session, key, message, now, policy)


def _fail(db: Database, settings: Settings, error: str, now: datetime) -> RefreshResult:
    source = settings.directory.resolved_source
    log.error("directory refresh failed; the last good directory stays in force: %s", error)
    with db.session() as session:
        record_failure(session, source, error, now)
        _alert_admin(session, settings, error, now)
    return RefreshResult(source, ok=False, error=error)


def refresh_directory(
    db: Database,
    settings: Settings,
    now: datetime,
    *,
    reader: PeopleReader | None = None,
    allow_large_changes: bool | None = None,
) -> RefreshResult:
    config = settings.directory
    source = config.resolved_source
    if source == "config" and not config.pairs:
        return RefreshResult(source, ok=True, skipped=True)
    try:
        snapshot = fetch_snapshot(settings, now, reader)
    except (DirectoryError, ConfigError) as exc:
        return _fail(db, settings, str(exc), now)
    wanted = scoped(snapshot.pairs, snapshot.people, config.include, config.exclude)
    allow = config.allow_large_changes if allow_large_changes is None else allow_large_changes
    with db.session() as session:
        serialize(session)  # replicas (and a CLI run) take turns
        in_force = {(row.manager, row.report): as_pair(row) for row in pair_rows(session)}
        first_import = session.scalar(select(DirectoryPairRow.id).limit(1)) is None
        people = session.execute(select(DirectoryPersonRow.address, DirectoryPersonRow.active))
        active = {address: is_active for address, is_active in people}
        zones = {row.calendar: row.time_zone for row in session.scalars(select(CalendarRow)) if row.time_zone}
        fallback = settings.time_zone

        def today_for(manager: str) -> date:  # a new pair starts today in the manager's own zone
            return now.astimezone(zone(zones.get(manager) or fallback)).date()

        plan = plan_refresh(in_force, active, snapshot, wanted, today_for, first_import=first_import)
        if not wanted:
            problem = (
                f"the {source} directory names no manager-report pair"
                + (" within directory.include/exclude" if snapshot.pairs else "")
                + " — check that managers are set there"
                + ("" if source in ("google", "entra") else " and the file lists pairs")
            )
        elif too_large(plan, len(in_force)) and not allow:
            problem = (
                f"the {source} directory would end {len(plan.ended)} of the {len(in_force)} pairs in force; a change "
                "that large is refused — if it is real (a reorganisation), run `oneonone directory sync "
                "--allow-large-changes` once or set directory.allow_large_changes: true"
            )
        else:
            problem = None
        if problem is None:
            findings_ended = apply_plan(session, plan, snapshot, now, canonical_for(settings))
            record_success(session, source, now)
    if problem is not None:
        return _fail(db, settings, problem, now)
    for pair, reason in plan.ended:
        log.info("directory: pair %s / %s ended (%s)", pair.manager, pair.report, reason)
    for pair in plan.started:
        log.info("directory: pair %s / %s started (%s)", pair.manager, pair.report, pair.start or "start unknown")
    log.info(
        "directory refreshed from %s: %d pairs in force (+%d, -%d), %d left, %d findings ended",
        source,
        len(plan.in_force),
        len(plan.started),
        len(plan.ended),
        len(plan.left),
        findings_ended,
    )
    return RefreshResult(
        source,
        ok=True,
        started=list(plan.started),
        ended=list(plan.ended),
        left=list(plan.left),
        findings_ended=findings_ended,
        in_force=len(plan.in_force),
    )


RETRY_AFTER_FAILURE_SECONDS = 3600


def refresh_due(db: Database, settings: Settings, now: datetime) -> bool:
    """A local source (config, file) is cheap and re-read every time; a company directory once every
    `refresh_hours` after its last success, and a failed one again after an hour."""
    if settings.directory.resolved_source in ("config", "file"):
        return True
    with db.session() as session:
        state = state_row(session)
    if state is None:
        return True
    tried = state.last_attempt_at
    if tried is not None and (now - tried).total_seconds() < RETRY_AFTER_FAILURE_SECONDS:
        return False
    last = state.last_success_at
    return last is None or (now - last).total_seconds() >= settings.directory.refresh_hours * 3600


def refresh_job(
    db: Database,
    settings: Settings,
    clock: Callable[[], datetime],
    *,
    when_due: bool = True,
    after: Callable[[], object] | None = None,
) -> Callable[[], None]:
    """The daemon's refresh, in one replica at a time: `when_due` (the hourly check) or always (on start).

    `after` runs in every replica (another one may have refreshed): it re-reads the stored directory."""

    def refresh_directory_job() -> None:
        with only_one_replica(db, DIRECTORY_LOCK) as mine:
            now = clock()
            if mine and (not when_due or refresh_due(db, settings, now)):
                refresh_directory(db, settings, now)
        if after is not None:
            after()

    return refresh_directory_job
