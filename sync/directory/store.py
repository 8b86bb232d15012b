"""The stored directory: pairs with their lifecycle, people (who left), and the last refresh.

The rules see the pairs in force (`directory_in_force`), never the raw source, so a source that
fails leaves the last good directory in force. Until a refresh has succeeded once, the directory
is the config as written (`directory.pairs`, and `directory.file` for source file).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.model import Directory, FindingStatus, Pair, normalize_email
from sync.config import ConfigError, Settings
from sync.directory.lifecycle import RefreshPlan
from sync.directory.sources import DirectorySnapshot, config_directory
from sync.store.models import DirectoryPairRow, DirectoryPersonRow, DirectoryStateRow, FindingRow

log = logging.getLogger(__name__)

STATE = "directory"


def state_row(session: Session) -> DirectoryStateRow | None:
    return session.scalar(select(DirectoryStateRow).where(DirectoryStateRow.name == STATE))


def _state(session: Session, source: str, now: datetime) -> DirectoryStateRow:
    row = state_row(session)
    if row is None:
        row = DirectoryStateRow(name=STATE)
        session.add(row)
    row.source, row.last_attempt_at = source, now
    return row


def record_success(session: Session, source: str, now: datetime) -> None:
    row = _state(session, source, now)
    row.last_success_at, row.last_error, row.last_error_at = now, None, None


def record_failure(session: Session, source: str, error: str, now: datetime) -> None:
    row = _state(session, source, now)
    row.last_error, row.last_error_at = error[:4000], now


def pair_rows(session: Session, *, include_ended: bool = False) -> list[DirectoryPairRow]:
    query = select(DirectoryPairRow).order_by(DirectoryPairRow.manager, DirectoryPairRow.report)
    if not include_ended:
        query = query.where(DirectoryPairRow.ended_at.is_(None))
    return list(session.scalars(query))


def as_pair(row: DirectoryPairRow) -> Pair:
    return Pair(manager=row.manager, report=row.report, start=row.start, source=row.source)


def canonical_for(settings: Settings) -> Callable[[str], str]:
    """How the rules name a person: lower case, aliases resolved (as findings are stored)."""
    aliases = {normalize_email(k): normalize_email(v) for k, v in settings.directory.aliases.items()}
    return Directory(aliases=aliases).canonical


def _config_directory(settings: Settings) -> Directory:
    try:
        return config_directory(settings)
    except ConfigError as exc:  # a broken file: judge nothing rather than guess pairs from organizers
        log.error("directory: %s; no pair is judged until it is fixed", exc)
        return Directory(
            domains=tuple(d.lower() for d in settings.directory.domains),
            aliases={normalize_email(k): normalize_email(v) for k, v in settings.directory.aliases.items()},
            configured=True,
        )


def directory_in_force(session: Session, settings: Settings) -> Directory:
    """What the rules judge: the stored pairs in force (config, file, Google or Entra), aliases and domains."""
    config = settings.directory
    if config.resolved_source == "config" and not config.pairs:
        return config_directory(settings)  # no directory at all: organizers are managers (rules.unknown_pairs)
    state = state_row(session)
    if state is None or state.last_success_at is None:
        return _config_directory(settings)
    rows = pair_rows(session)
    chain = session.execute(
        select(DirectoryPersonRow.address, DirectoryPersonRow.manager).where(
            DirectoryPersonRow.active.is_(True), DirectoryPersonRow.manager.is_not(None)
        )
    )
    manager_of = {address: manager for address, manager in chain if manager}
    manager_of.update({row.report: row.manager for row in rows})
    return Directory(
        pairs=tuple(as_pair(row) for row in rows),
        domains=tuple(d.lower() for d in config.domains),
        aliases={normalize_email(k): normalize_email(v) for k, v in config.aliases.items()},
        manager_of=manager_of,
        configured=True,
    )


def _apply_pairs(session: Session, plan: RefreshPlan, now: datetime) -> None:
    rows = {(r.manager, r.report): r for r in session.scalars(select(DirectoryPairRow))}
    for pair in plan.started:
        row = rows.get(pair.key)
        if row is None:
            session.add(
                DirectoryPairRow(
                    manager=pair.manager,
                    report=pair.report,
                    start=pair.start,
                    source=pair.source,
                    first_seen=now,
                    last_seen=now,
                )
            )
            continue
        row.ended_at, row.end_reason = None, None  # together again (e.g. moved back): a new start
        row.start, row.source, row.last_seen = pair.start, pair.source, now
    for pair in plan.kept:
        row = rows[pair.key]
        row.start, row.source, row.last_seen = pair.start, pair.source, now
    for pair, reason in plan.ended:
        row = rows[pair.key]
        row.ended_at, row.end_reason = now, reason


def _apply_people(session: Session, snapshot: DirectorySnapshot, now: datetime) -> None:
    stored = {r.address: r for r in session.scalars(select(DirectoryPersonRow))}
    for address, person in snapshot.people.items():
        row = stored.get(address)
        if row is None:
            row = DirectoryPersonRow(address=address, active=person.active, last_seen=now)
            row.left_at = None if person.active else now
            session.add(row)
        elif row.active != person.active:
            row.active, row.left_at = person.active, (None if person.active else now)
        row.department, row.manager, row.last_seen = person.department, person.manager, now
    if snapshot.whole_company:
        for address, row in stored.items():
            if address not in snapshot.people and row.active:
                row.active, row.left_at = False, now


def end_findings(
    session: Session, pairs: Iterable[tuple[str, str]], now: datetime, canonical: Callable[[str], str]
) -> int:
    """Open findings of ended pairs become `ended`: closed, kept, never emailed."""
    wanted = {(canonical(m), canonical(r)) for m, r in pairs}
    if not wanted:
        return 0
    managers = sorted({m for m, _ in wanted})
    count = 0
    query = select(FindingRow).where(FindingRow.status == FindingStatus.OPEN.value, FindingRow.manager.in_(managers))
    for row in session.scalars(query):
        if (row.manager, row.report) in wanted:
            row.status, row.resolved_at = FindingStatus.ENDED.value, now
            count += 1
    return count


def apply_plan(
    session: Session, plan: RefreshPlan, snapshot: DirectorySnapshot, now: datetime, canonical: Callable[[str], str]
) -> int:
    """Write the refresh; returns how many open findings were ended with their pairs."""
    _apply_pairs(session, plan, now)
    _apply_people(session, snapshot, now)
    return end_findings(session, (pair.key for pair, _ in plan.ended), now, canonical)


def departed(session: Session) -> set[str]:
    return set(session.scalars(select(DirectoryPersonRow.address).where(DirectoryPersonRow.active.is_(False))))
