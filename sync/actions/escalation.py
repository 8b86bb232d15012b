"""Opt-in skip-level escalation: the Nth broken 1:1 rule within a window copies the manager's manager.

Off by default (`escalation.enabled`). Counted are `cancelled-without-reschedule` and `cadence-gap`
warnings that became due (their grace period ran out) within the last `window_days` — a
cancellation made up for within its grace period never counts. When a manager reaches
`threshold`, one email goes to them with their own manager (from the directory) in copy, so
nothing happens behind their back. It is queued through the outbox in the cycle's findings
transaction and recorded in `escalations`, keyed by the warning that reached the threshold; only
warnings due after it count towards a next escalation, so each window escalates once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.cadence import GAP
from rules.cancellations import RULE as CANCELLED
from rules.model import EvaluationContext
from sync.agenda.meetings import zone_of
from sync.agenda.store import pair_pages
from sync.config.mail import EscalationSettings
from sync.notify.outbox import Message, queue_message
from sync.notify.policy import MailPolicy
from sync.notify.render import MAIL_TEMPLATES, TITLES, display_name, first_name, local_time, one_line
from sync.store.models import EscalationRow, FindingRow

log = logging.getLogger(__name__)

KIND = "escalation"
RULES = (CANCELLED, GAP)


def identity(row: FindingRow) -> str:
    return f"{row.rule}|{row.manager}|{row.report}|{row.key}"


def _counted(session: Session, now: datetime, window: timedelta) -> dict[str, list[FindingRow]]:
    """Per manager, the warnings that became due within the window, oldest first."""
    rows = session.scalars(
        select(FindingRow)
        .where(
            FindingRow.rule.in_(RULES),
            FindingRow.notify_at.is_not(None),
            FindingRow.notify_at <= now,
            FindingRow.notify_at > now - window,
        )
        .order_by(FindingRow.manager, FindingRow.notify_at, FindingRow.id)
    )
    found: dict[str, list[FindingRow]] = defaultdict(list)
    for row in rows:
        assert row.notify_at is not None
        if not (row.resolved_at is None or row.resolved_at >= row.notify_at):  # resolved in its grace: no violation
            continue
        if row.acknowledged_at is not None:
            continue  # someone said why it is fine: not counted
        details = row.details or {}
        if details.get("how") == "declined" and details.get("cancelled_by") == row.report:
            continue  # the report said no: not the manager's doing, so never held against them
        found[row.manager].append(row)
    return found


def enqueue_escalations(
    session: Session, config: EscalationSettings, policy: MailPolicy, context: EvaluationContext, now: datetime
) -> int:
    """Queue the skip-level copies that are due; returns how many were queued."""
    if not config.enabled:
        return 0
    canonical = context.directory.canonical
    bosses = {canonical(person): canonical(boss) for person, boss in context.directory.manager_of.items()}
    newest = select(EscalationRow.manager, func.max(EscalationRow.triggered_at)).group_by(EscalationRow.manager)
    last: dict[str, datetime] = {manager: at for manager, at in session.execute(newest)}
    queued = 0
    for manager, rows in sorted(_counted(session, now, timedelta(days=config.window_days)).items()):
        after = last.get(manager)
        fresh = [r for r in rows if after is None or (r.notify_at is not None and r.notify_at > after)]
        if len(fresh) < config.threshold or manager in policy.opt_out:
            continue
        boss = bosses.get(manager)
        if boss is None or boss == manager:
            log.info("escalation: %s reached %d warnings but the directory names no manager", manager, len(fresh))
            continue
        counted = fresh[: config.threshold]
        trigger = counted[-1]
        assert trigger.notify_at is not None
        zone = zone_of(manager, context, policy.default_zone)
        links = {r: url for (m, r), url in pair_pages(session, policy.base_url, [manager]).items()}
        subject, text, html = render_escalation(manager, boss, counted, zone, config.window_days, links)
        message = Message(KIND, manager, [f"escalation|{identity(trigger)}"], subject, text, html, cc=boss)
        outbox = queue_message(session, message, now, policy)
        session.add(
            EscalationRow(
                manager=manager,
                skip_level=boss,
                trigger=identity(trigger),
                triggered_at=trigger.notify_at,
                findings=[identity(r) for r in counted],
                outbox_id=outbox.id,
                created_at=now,
            )
        )
        last[manager] = trigger.notify_at
        queued += 1
        log.info(
            "escalation: %s reached %d warnings in %d days; %s is copied",
            manager,
            len(counted),
            config.window_days,
            boss,
        )
    return queued


def render_escalation(
    manager: str,
    boss: str,
    rows: list[FindingRow],
    zone: str,
    window_days: int,
    links: Mapping[str, str] | None = None,
) -> tuple[str, str, str]:
    """The note to the manager, copied to their manager; each line links to the pair's page (by report)."""
    items: list[dict[str, Any]] = [
        {
            "report_name": display_name(r.report),
            "title": TITLES.get(r.rule, r.rule),
            "when": local_time(r.occurrence, zone),
            "message": r.message,
            "page": (links or {}).get(r.report),
        }
        for r in rows
    ]
    context = {
        "manager_name": first_name(manager),
        "boss_name": display_name(boss),
        "boss": boss,
        "items": items,
        "count": len(items),
        "window_days": window_days,
        "zone": zone,
    }
    subject = f"A note on your 1:1s, shared with {first_name(boss)} so they can help"
    return (
        one_line(subject),
        MAIL_TEMPLATES.get_template("escalation.txt").render(context),
        MAIL_TEMPLATES.get_template("escalation.html").render(context),
    )
