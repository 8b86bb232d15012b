"""Admin alerts: a calendar oneonone cannot read is reported to `notify.admin_email`, at most daily.

A revoked delegation or a removed app consent does not fix itself; the managers whose calendar it
is silently lose their warnings until someone acts, so an admin is told — once a day, not once a
poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.calendars import CalendarResult
from sync.notify.render import message_id_for, one_line
from sync.store.models import AlertRow, OutboxRow

ALERT_KINDS = ("auth", "permanent")
EVERY = timedelta(days=1)

ADVICE = {
    "google": "Check the service account's domain-wide delegation (scope calendar.events) and that the user exists.",
    "outlook": "Check the app's admin consent (Calendars.ReadWrite) and the ApplicationAccessPolicy for this mailbox.",
}


def enqueue_admin_alerts(
    session: Session,
    results: Sequence[CalendarResult],
    *,
    admin: str | None,
    sender_domain: str,
    now: datetime,
) -> int:
    if not admin:
        return 0
    queued = 0
    for result in results:
        if result.ok or result.error_kind not in ALERT_KINDS:
            continue
        key = f"{result.error_kind}:{result.provider}:{result.calendar}"
        seen = session.scalar(select(AlertRow).where(AlertRow.key == key))
        if seen is not None and seen.last_sent_at > now - EVERY:
            continue
        advice = ADVICE.get(result.provider, "Check the credentials configured for this provider.")
        error = result.error or result.error_kind or "unknown error"
        subject = one_line(f"oneonone cannot read the calendar of {result.calendar} ({result.provider})")
        text = (
            f"oneonone could not sync {result.calendar} ({result.provider}): {error}\n\n"
            f"What to do: {advice}\nUntil then, this person's 1:1s are not checked. "
            "You get this at most once a day per calendar.\n"
        )
        html = (
            f"<p>oneonone could not sync <b>{escape(result.calendar)}</b> ({escape(result.provider)}):"
            f" {escape(error)}</p><p><b>What to do:</b> {escape(advice)}</p>"
            "<p>Until then, this person's 1:1s are not checked. You get this at most once a day per calendar.</p>"
        )
        session.add(
            OutboxRow(
                kind="admin",
                recipient=admin,
                message_id=message_id_for(admin, [key, now.date().isoformat()], sender_domain),
                subject=subject,
                text_body=text,
                html_body=html,
                status="pending",
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        if seen is None:
            session.add(AlertRow(key=key, last_sent_at=now))
        else:
            seen.last_sent_at = now
        queued += 1
    return queued
