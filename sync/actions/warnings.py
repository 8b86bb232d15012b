"""Warnings: one email per manager for the findings that are due, each line linking to the pair's page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.model import FindingStatus
from sync.agenda.store import pair_pages
from sync.booking.offers import OfferView
from sync.notify.outbox import Message, queue_message
from sync.notify.policy import MailPolicy
from sync.notify.render import render_warning
from sync.store.models import FindingRow

# (session, finding, zones, now, the manager's zone) -> the finding's booking buttons, or None
Offer = Callable[[Session, FindingRow, Mapping[str, str], datetime, str], OfferView | None]


def enqueue_warnings(
    session: Session,
    now: datetime,
    policy: MailPolicy,
    zones: Mapping[str, str],
    offer: Offer | None = None,
) -> int:
    """Queue one email per manager for the findings that are due; returns how many were queued. With a
    `base_url` in the policy, each report's line links to the pair's 1:1 page, where the manager can act.
    With `offer` (booking enabled), each finding a slot can fix gets its proposed slots, computed and
    stored now, so the email (rendered once, kept in the outbox) is the same on every retry."""
    due = session.scalars(
        select(FindingRow)
        .where(
            FindingRow.status == FindingStatus.OPEN.value,
            FindingRow.notify_at.is_not(None),
            FindingRow.notify_at <= now,
            FindingRow.outbox_id.is_(None),
            FindingRow.notified_at.is_(None),
            FindingRow.digest_only.is_(False),
            FindingRow.acknowledged_at.is_(None),
        )
        .order_by(FindingRow.manager, FindingRow.occurrence, FindingRow.id)
    ).all()
    by_manager: dict[str, list[FindingRow]] = defaultdict(list)
    for row in due:
        if row.manager not in policy.opt_out:
            by_manager[row.manager].append(row)
    queued = 0
    pages = pair_pages(session, policy.base_url, by_manager)
    for manager, rows in by_manager.items():
        zone = policy.zone(manager, zones)
        links = {report: url for (m, report), url in pages.items() if m == manager}
        offers = {}
        if offer is not None and policy.base_url:
            for row in rows:
                view = offer(session, row, zones, now, zone)
                if view is not None:
                    offers[row.id] = view
        mail = render_warning(manager, rows, zone, links, offers)
        identities = [f"{r.rule}|{r.report}|{r.key}" for r in rows]
        message = Message("warning", manager, identities, mail.subject, mail.text, mail.html, zone=zone)
        outbox = queue_message(session, message, now, policy)
        for row in rows:
            row.outbox_id = outbox.id
        queued += 1
    return queued
