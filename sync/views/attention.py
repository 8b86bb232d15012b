"""Two words every surface uses, defined once: what "needs attention" counts and what "emailed" says.

The digest's subject, the report, `findings` and the demo's table all read these, so a finding that was
never going to be emailed (history from before oneonone watched, a digest-only note, an acknowledged
one) is never counted as something a manager must act on.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_

from sync.store.models import FindingRow

OPEN = "open"


def needs_attention(row: FindingRow) -> bool:
    """Open, not acknowledged, and emailed or to be emailed: what a manager is asked to act on."""
    return (
        row.status == OPEN
        and row.acknowledged_at is None
        and not row.digest_only
        and (row.notified_at is not None or row.notify_at is not None)
    )


def needs_attention_clause() -> ColumnElement[bool]:
    """`needs_attention` as SQL, for counting in the store."""
    return and_(
        FindingRow.status == OPEN,
        FindingRow.acknowledged_at.is_(None),
        FindingRow.digest_only.is_(False),
        or_(FindingRow.notified_at.is_not(None), FindingRow.notify_at.is_not(None)),
    )


def email_state(row: FindingRow, now: datetime) -> str:
    """What became of the finding's email: sent, due, queued, digest only, not emailed, acknowledged."""
    if row.acknowledged_at is not None:
        return "acknowledged" if row.notified_at is None else "sent, acknowledged"
    if row.notified_at is not None:
        return "sent"
    if row.digest_only:
        return "digest only"
    if row.status != OPEN:
        return "—"
    if row.notify_at is None:
        return "not emailed"  # history from before oneonone watched, or already covered by another finding
    return "due" if row.notify_at > now else "queued"


def email_status(row: FindingRow, now: datetime, zone: str) -> str:
    """`email_state` with the day and time it is due, in the manager's zone."""
    state = email_state(row, now)
    if state == "due" and row.notify_at is not None:
        return "due " + row.notify_at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")
    return state
