"""Recording what the rules found: open once per key, update as facts change, resolve after.

Resolved findings are kept for history. A finding that reopens keeps its `notified_at`, so a
manager is never warned twice about the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.model import Finding, FindingStatus
from sync.store.db import IN_LIMIT, only_these
from sync.store.models import FindingRow
from sync.views.attention import email_state, needs_attention


@dataclass
class FindingStats:
    opened: int = 0
    updated: int = 0
    resolved: int = 0
    reopened: int = 0


def record_findings(
    session: Session,
    findings: Iterable[Finding],
    judged_pairs: Iterable[tuple[str, str]],
    now: datetime,
    *,
    judged_since: datetime | None = None,
) -> FindingStats:
    """Upsert `findings`; resolve open findings of judged pairs that were not reported again.

    A per-occurrence finding about a slot older than `judged_since` was not re-judged (it fell
    out of the evaluated history), so it is left as it is rather than resolved.
    """
    stats = FindingStats()
    judged = set(judged_pairs)
    findings = list(findings)
    existing = _open_rows(session, judged)
    # A finding with no open row may have a resolved one (it comes back: reopened, not duplicated).
    missing = {f.identity for f in findings} - existing.keys()
    managers = sorted({manager for _rule, manager, _report, _key in missing})
    for start in range(0, len(managers), IN_LIMIT):
        chunk = managers[start : start + IN_LIMIT]
        for known in session.scalars(select(FindingRow).where(FindingRow.manager.in_(chunk))):
            identity = (known.rule, known.manager, known.report, known.key)
            if identity in missing:
                existing[identity] = known
    current: set[tuple[str, str, str, str]] = set()
    for finding in findings:
        current.add(finding.identity)
        row = existing.get(finding.identity)
        if row is None:
            row = FindingRow(
                rule=finding.rule,
                manager=finding.manager,
                report=finding.report,
                key=finding.key,
                status=FindingStatus.OPEN.value,
                first_seen=now,
                last_seen=now,
                **_facts(finding),
            )
            session.add(row)
            existing[finding.identity] = row
            stats.opened += 1
            continue
        if row.status != FindingStatus.OPEN.value:
            row.status = FindingStatus.OPEN.value
            row.resolved_at = None
            stats.reopened += 1
        facts = _facts(finding)
        if any(getattr(row, k) != v for k, v in facts.items()):
            for key, value in facts.items():
                setattr(row, key, value)
            stats.updated += 1
        row.last_seen = now
    for identity, row in existing.items():
        if (
            row.status == FindingStatus.OPEN.value
            and identity not in current
            and (row.manager, row.report) in judged
            and not (judged_since and row.occurrence and row.occurrence < judged_since)
        ):
            row.status = FindingStatus.RESOLVED.value
            row.resolved_at = now
            stats.resolved += 1
    return stats


def _open_rows(session: Session, judged: set[tuple[str, str]]) -> dict[tuple[str, str, str, str], FindingRow]:
    """The open findings of the judged pairs, by identity: what this cycle may update or resolve. Resolved
    history is not read (it only grows); a cycle that judged a few pairs reads only their managers' rows."""
    query = select(FindingRow).where(FindingRow.status == FindingStatus.OPEN.value)
    query = only_these(query, FindingRow.manager, {manager for manager, _ in judged})
    return {
        (row.rule, row.manager, row.report, row.key): row
        for row in session.scalars(query)
        if (row.manager, row.report) in judged
    }


def _facts(finding: Finding) -> dict[str, Any]:
    return {
        "occurrence": finding.occurrence,
        "message": finding.message,
        "explanation": finding.explanation,
        "details": dict(finding.details),
        "digest_only": finding.digest_only,
        "notify_at": finding.notify_at,
    }


def finding_rows(session: Session, *, status: str | None = None) -> list[FindingRow]:
    query = select(FindingRow).order_by(FindingRow.manager, FindingRow.report, FindingRow.rule, FindingRow.key)
    if status:
        query = query.where(FindingRow.status == status)
    return list(session.scalars(query))


def finding_as_dict(row: FindingRow, now: datetime | None = None) -> dict[str, Any]:
    """The public JSON shape of `oneonone findings --format json` (with `now`: what became of its email)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {
        "id": row.id,  # what `oneonone findings explain ID` takes
        "rule": row.rule,
        "manager": row.manager,
        "report": row.report,
        "key": row.key,
        "occurrence": iso(row.occurrence),
        "status": row.status,
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
        "resolved_at": iso(row.resolved_at),
        "notify_at": iso(row.notify_at),
        "notified_at": iso(row.notified_at),
        "acknowledged_at": iso(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "ack_reason": row.ack_reason,
        "digest_only": row.digest_only,
        "needs_attention": needs_attention(row),
        **({"email": email_state(row, now)} if now is not None else {}),
        "message": row.message,
        "explanation": row.explanation,
        "details": row.details,
    }
