"""The transactional outbox: nothing lost, nothing twice.

Deciding to send and recording the email happen in one transaction, through `queue_message`, the
one way into the outbox: every message is named by what it is about (its identity, from which its
Message-ID is derived), so queuing the same message again — a pair re-created after `forget`, a
nudge whose bookkeeping row is gone, a replica that decided the same thing — finds the row already
there instead of failing on the unique Message-ID. Delivery happens after, row by row, each through
its own channel: claim, send, mark sent. The only duplicate possible is a crash between the SMTP server's acceptance and
our commit; the resend carries the same Message-ID, so it can be recognised (a chat channel looks for it before
posting again: a claim left by a dead worker counts as an attempt). The kind picks the channel (`notify.channels`,
via the policy), a chat message queued in the recipient's quiet hours is due at their end, and a channel that
cannot deliver a row (`DeliveryError.fallback`) hands it to email, once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from sync.crash import CrashPlan
from sync.notify.channel import DeliveryError, Send, senders
from sync.notify.policy import MailPolicy
from sync.notify.render import message_id_for, one_line
from sync.notify.unsubscribe import link_for
from sync.store.db import Database
from sync.store.models import AlertRow, DirectoryPersonRow, FindingRow, OutboxRow

log = logging.getLogger(__name__)

CLAIM_SECONDS = 300
SUPPRESSED = "suppressed"


MAYBE_DELIVERED_TRIES = 3


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    fallbacks: int = 0  # rows a channel could not deliver, handed to email (oneonone_channel_fallbacks_total)


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
    channel: str | None = None  # the `Channel` that delivers it; None: the policy's for the kind (notify.channels)
    zone: str | None = None  # the recipient's zone, for a chat channel's quiet hours (None: the default zone)


def queue_message(session: Session, message: Message, now: datetime, policy: MailPolicy) -> OutboxRow:
    """The message's outbox row: queued now (recorded only, in observe mode), or the one already queued."""
    message_id = message_id_for(message.recipient, list(message.identity), policy.sender_domain)
    existing = session.scalar(select(OutboxRow).where(OutboxRow.message_id == message_id))
    if existing is not None:
        return existing
    channel = message.channel or policy.channel_for(message.kind)
    row = OutboxRow(
        kind=message.kind,
        recipient=message.recipient,
        cc=message.cc,
        message_id=message_id,
        subject=one_line(message.subject),
        text_body=message.text,
        html_body=message.html,
        inline_images=message.inline_images,
        channel=channel,
        status="observed" if policy.observed(message.kind) else "pending",
        created_at=now,
        attempts=0,
        next_attempt_at=policy.not_before(now, message.zone or policy.default_zone, channel),
        list_unsubscribe=link_for(session, policy.base_url, message.kind, message.recipient, now),
    )
    session.add(row)
    session.flush()
    return row


ALERT_EVERY = timedelta(days=1)


def queue_alert(session: Session, key: str, message: Message, now: datetime, policy: MailPolicy) -> bool:
    """Queue an admin alert unless the same one (by `key`) went out in the last day; say whether it was queued.

    A broken calendar or directory does not fix itself, so the admin is told once a day, not once a poll."""
    seen = session.scalar(select(AlertRow).where(AlertRow.key == key))
    if seen is not None and seen.last_sent_at > now - ALERT_EVERY:
        return False
    queue_message(session, message, now, policy)
    if seen is None:
        session.add(AlertRow(key=key, last_sent_at=now))
    else:
        seen.last_sent_at = now
    return True


def _claim(db: Database, now: datetime, worker: str, channels: list[str]) -> OutboxRow | None:
    with db.session() as session:
        query = (
            select(OutboxRow)
            .where(
                OutboxRow.status == "pending",
                OutboxRow.channel.in_(channels),
                OutboxRow.next_attempt_at <= now,
                or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
            )
            .order_by(OutboxRow.id)
            .limit(1)
        )
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        row = session.scalar(query)
        if row is None:
            return None
        if row.claimed_until is not None:
            # A claim never released: the worker died mid-send, perhaps after the channel took the
            # message. That counts as an attempt, so the channel knows to check before sending again.
            row.attempts += 1
        row.claimed_by = worker
        row.claimed_until = now + timedelta(seconds=CLAIM_SECONDS)
        session.flush()
        session.expunge(row)
        return row


def suppress_departed(session: Session, now: datetime) -> int:
    """Pending emails to people who left are never sent: marked `suppressed` (warnings, nudges, sign-in links)."""
    gone = select(DirectoryPersonRow.address).where(DirectoryPersonRow.active.is_(False))
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.status == "pending", OutboxRow.recipient.in_(gone))
        .values(status=SUPPRESSED, last_error="not sent: the recipient has left (directory)", claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.info("directory: %d email(s) to people who left were suppressed (%s)", count, now.isoformat())
    return count


def deliver_pending(
    db: Database,
    send: Mapping[str, Send] | Send,
    now: datetime,
    *,
    worker: str = "worker",
    max_attempts: int = 8,
    rng: random.Random | None = None,
    limit: int = 10_000,
    crash: CrashPlan | None = None,
) -> DeliveryStats:
    """Send what is due, one row at a time, each through its own channel (`send`: by channel name, or the
    email sender alone); a failure backs the row off and moves on. A row whose channel is not set up
    here waits for a process that has it."""
    channels = senders(send)
    rng = rng or random.Random()
    stats = DeliveryStats()
    with db.session() as session:
        suppress_departed(session, now)  # people the directory says left are never emailed
    for _ in range(limit):
        row = _claim(db, now, worker, sorted(channels))
        if row is None:
            break
        try:
            channels[row.channel](row)
        except DeliveryError as exc:
            if exc.fallback is not None and exc.fallback != row.channel:
                _fall_back(db, row, exc.fallback, str(exc), stats)
                continue
            tries = (
                1
                if exc.permanent
                else min(max_attempts, MAYBE_DELIVERED_TRIES)
                if exc.maybe_delivered
                else max_attempts
            )
            _record_failure(db, row, now, str(exc), 1 if exc.permanent else tries, rng, stats)
            continue
        except Exception as exc:  # a bug in one message never leaves it claimed and the others unsent
            log.exception("email %s could not be built or sent", row.message_id)
            _record_failure(db, row, now, f"{type(exc).__name__}: {exc}", max_attempts, rng, stats)
            continue
        if crash is not None:
            crash.hit("after_smtp")
        with db.session() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id)
                .values(status="sent", sent_at=now, attempts=row.attempts + 1, claimed_until=None, last_error=None)
            )
            session.execute(update(FindingRow).where(FindingRow.outbox_id == row.id).values(notified_at=now))
        stats.sent += 1
        log.info("sent %s to %s (%s)", row.kind, row.recipient, row.message_id)
    return stats


def _fall_back(db: Database, row: OutboxRow, channel: str, error: str, stats: DeliveryStats) -> None:
    """Hand the row to `channel` (email) for good: due at once, same Message-ID, its attempts kept."""
    with db.session() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(channel=channel, last_error=f"{row.channel}: {error}"[:2000], claimed_until=None)
        )
    stats.fallbacks += 1
    log.warning(
        "%s to %s could not go out on %s (%s): sending it by %s instead",
        row.kind,
        row.recipient,
        row.channel,
        error,
        channel,
    )


def _record_failure(
    db: Database,
    row: OutboxRow,
    now: datetime,
    error: str,
    max_attempts: int,
    rng: random.Random,
    stats: DeliveryStats,
) -> None:
    attempts = row.attempts + 1
    give_up = attempts >= max_attempts
    delay = min(3600.0, 30.0 * 2 ** (attempts - 1)) * (0.5 + rng.random() / 2)
    with db.session() as session:
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(
                status="failed" if give_up else "pending",
                attempts=attempts,
                last_error=error[:2000],
                next_attempt_at=now + timedelta(seconds=delay),
                claimed_until=None,
            )
        )
    if give_up:
        stats.failed += 1
        log.error("giving up on email to %s after %d attempts: %s", row.recipient, attempts, error)
    else:
        stats.deferred += 1
        log.warning("email to %s failed (attempt %d), retrying in %.0fs: %s", row.recipient, attempts, delay, error)


def outbox_depth(session: Session) -> int:
    return int(session.scalar(select(func.count(OutboxRow.id)).where(OutboxRow.status == "pending")) or 0)
