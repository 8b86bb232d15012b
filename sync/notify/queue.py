"""The one way an email enters the outbox.

Every message is named by what it is about (its `identity`), and its Message-ID is derived from that,
so the same message is queued once: queuing it again — a pair re-created after `forget`, a nudge
whose bookkeeping row is gone, a replica that decided the same thing — finds the row already there
instead of failing on the outbox's unique Message-ID (which once took every later cycle down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.notify.render import message_id_for, one_line
from sync.store.models import OutboxRow


@dataclass(frozen=True)
class Message:
    kind: str  # warning | digest | escalation | admin | agenda-nudge | agenda-signin | ...
    recipient: str
    identity: Sequence[str]  # what this message is about: the same identity is the same message
    subject: str
    text: str
    html: str
    cc: str | None = None
    inline_images: list[dict[str, Any]] | None = None
    channel: str = "email"  # the `Channel` that delivers it (sync/notify/channel.py)


def queue_message(
    session: Session, message: Message, now: datetime, *, sender_domain: str, observe: bool = False
) -> OutboxRow:
    """The message's outbox row: queued now (recorded only, in observe mode), or the one already queued."""
    message_id = message_id_for(message.recipient, list(message.identity), sender_domain)
    existing = session.scalar(select(OutboxRow).where(OutboxRow.message_id == message_id))
    if existing is not None:
        return existing
    row = OutboxRow(
        kind=message.kind,
        recipient=message.recipient,
        cc=message.cc,
        message_id=message_id,
        subject=one_line(message.subject),
        text_body=message.text,
        html_body=message.html,
        inline_images=message.inline_images,
        channel=message.channel,
        status="observed" if observe else "pending",
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(row)
    session.flush()
    return row
