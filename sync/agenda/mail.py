"""The agenda's emails (sign-in links, nudges), queued in the transactional outbox.

Each is written in the transaction that decides to send it, with a deterministic Message-ID, so a
crash never sends a nudge twice and a resend after an SMTP hiccup carries the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from sync.notify.channel import DeliveryError
from sync.notify.outbox import CLAIM_SECONDS, Message, queue_message, suppress_departed
from sync.notify.policy import MailPolicy
from sync.notify.render import MAIL_TEMPLATES, display_name, first_name, local_time, one_line
from sync.store.db import Database
from sync.store.models import OutboxRow

log = logging.getLogger(__name__)


KIND_SIGNIN = "agenda-signin"
KIND_AGENDA_NUDGE = "agenda-nudge"
KIND_NOTES_NUDGE = "notes-nudge"


@dataclass(frozen=True)
class Mail:
    kind: str
    recipient: str
    subject: str
    text: str
    html: str
    identity: str  # what makes the Message-ID unique and deterministic
    zone: str | None = None  # the recipient's, for a chat channel's quiet hours


def render(template: str, kind: str, recipient: str, subject: str, identity: str, **context: Any) -> Mail:
    context = {"recipient_name": first_name(recipient), **context}
    return Mail(
        kind=kind,
        recipient=recipient,
        subject=one_line(subject),
        text=MAIL_TEMPLATES.get_template(f"{template}.txt").render(context),
        html=MAIL_TEMPLATES.get_template(f"{template}.html").render(context),
        identity=identity,
    )


def queue(session: Session, mail: Mail, now: datetime, policy: MailPolicy) -> OutboxRow:
    message = Message(mail.kind, mail.recipient, [mail.identity], mail.subject, mail.text, mail.html, zone=mail.zone)
    return queue_message(session, message, now, policy)


def signin_mail(recipient: str, other: str, link: str, minutes: int, token_hash: str) -> Mail:
    return render(
        "signin",
        KIND_SIGNIN,
        recipient,
        f"Sign in to your 1:1 agenda with {display_name(other)}",
        f"signin|{token_hash}",
        other_name=display_name(other),
        link=link,
        minutes=minutes,
    )


def agenda_nudge_mail(report: str, manager: str, link: str, start: datetime, zone: str) -> Mail:
    when = local_time(start, zone)
    return render(
        "agenda_nudge",
        KIND_AGENDA_NUDGE,
        report,
        f"Your 1:1 with {display_name(manager)} is coming up: add your talking points",
        f"agenda-not-prepared|{manager}|{report}|{start.isoformat()}",
        other_name=display_name(manager),
        link=link,
        when=when,
    )


def notes_nudge_mail(manager: str, report: str, link: str, start: datetime, zone: str) -> Mail:
    when = local_time(start, zone)
    return render(
        "notes_nudge",
        KIND_NOTES_NUDGE,
        manager,
        f"1:1 with {display_name(report)}: record the notes and action items",
        f"notes-missing|{manager}|{report}|{start.isoformat()}",
        other_name=display_name(report),
        link=link,
        when=when,
    )


def deliver_now(db: Database, send: Callable[[OutboxRow], None], outbox_id: int, now: datetime, *, worker: str) -> bool:
    """Send one queued email right away (a sign-in link should not wait for the next cycle).

    The row is claimed with one conditional UPDATE, so the cycle's delivery and this never both
    send it; a failure leaves it pending for the cycle to retry.
    """
    with db.session() as session:
        suppress_departed(session, now)  # never to someone the directory says left (the row stays unsent)
    with db.session() as session:
        claimed = session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id == outbox_id,
                OutboxRow.status == "pending",
                or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
            )
            .values(claimed_by=worker, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return False
        row = session.get(OutboxRow, outbox_id)
        assert row is not None
        session.expunge(row)
    try:
        send(row)
    except DeliveryError as exc:
        log.warning("sign-in email to %s failed, the next cycle retries: %s", row.recipient, exc)
        with db.session() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == outbox_id)
                .values(
                    attempts=row.attempts + 1,
                    last_error=str(exc)[:2000],
                    claimed_until=None,
                    next_attempt_at=now + timedelta(seconds=30),
                )
            )
        return False
    with db.session() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(status="sent", sent_at=now, attempts=row.attempts + 1, claimed_until=None, last_error=None)
        )
    return True
