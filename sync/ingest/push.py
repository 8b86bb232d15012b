"""Push: keep a watch channel (Google) per calendar open, and turn notifications into syncs.

A notification is only a hint ("this calendar changed"): the webhook checks it is ours
(constant-time token comparison), marks the calendar as wanted in the database — so whichever
replica is free syncs it — and wakes the local loop. Polling continues regardless, because a
missed notification must never mean a missed change. Without `web.public_url` nothing here runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Response, abort, request
from sqlalchemy import select, update

from providers.base import ProviderError, is_instance
from sync.store.db import Database, app_secret
from sync.store.models import CalendarRow, PushChannelRow

if TYPE_CHECKING:  # the adapters load their vendor libraries (msal): imported only where a provider is used
    from providers.google import GoogleCalendarProvider
    from providers.outlook import OutlookProvider

log = logging.getLogger(__name__)

GOOGLE_TTL = timedelta(days=7)
GRAPH_LIFETIME = timedelta(days=3)
RENEW_BEFORE = timedelta(days=1)


def push_secret(db: Database, now: datetime) -> bytes:
    """The key behind channel tokens and clientStates: generated once, shared by every replica."""
    with db.session() as session:
        return app_secret(session, "push.secret", now).encode()


def channel_token(secret: bytes, channel_id: str) -> str:
    """What Google echoes in X-Goog-Channel-Token: proves a notification is for a channel we opened."""
    return hmac.new(secret, f"google-channel:{channel_id}".encode(), hashlib.sha256).hexdigest()


def ensure_google_channels(
    db: Database,
    provider: GoogleCalendarProvider,
    public_url: str,
    secret: bytes,
    now: datetime,
) -> int:
    """Open a channel for each calendar without one that lives past `RENEW_BEFORE`; stop replaced ones."""
    from providers import google_push

    address = public_url.rstrip("/") + "/webhooks/google"
    opened = 0
    for calendar in provider.calendars():
        with db.session() as session:
            active = list(
                session.scalars(
                    select(PushChannelRow).where(
                        PushChannelRow.provider == "google",
                        PushChannelRow.calendar == calendar,
                        PushChannelRow.status == "active",
                    )
                )
            )
        if any(row.expires_at > now + RENEW_BEFORE for row in active):
            continue
        try:
            channel = google_push.watch(provider, calendar, address, lambda cid: channel_token(secret, cid), GOOGLE_TTL)
        except ProviderError as exc:
            log.warning("calendar %s: could not open a push channel (%s); polling covers it", calendar, exc.message)
            continue
        with db.session() as session:
            session.add(
                PushChannelRow(
                    provider="google",
                    calendar=calendar,
                    channel_id=channel.channel_id,
                    resource_id=channel.resource_id,
                    expires_at=channel.expires_at,
                    created_at=now,
                    status="active",
                )
            )
        opened += 1
        for old in active:  # the new channel is live: now the old one can go
            try:
                google_push.stop(
                    provider,
                    google_push.Channel("google", calendar, old.channel_id, old.resource_id, old.expires_at),
                )
            except Exception as exc:  # an expired or unknown channel is already gone
                log.info("calendar %s: stopping old channel %s: %s", calendar, old.channel_id, exc)
            with db.session() as session:
                session.execute(update(PushChannelRow).where(PushChannelRow.id == old.id).values(status="stopped"))
    return opened


def client_state(secret: bytes, mailbox: str) -> str:
    """What Graph echoes in each notification's clientState: proves it is for a subscription we made."""
    return hmac.new(secret, f"graph-subscription:{mailbox}".encode(), hashlib.sha256).hexdigest()


def ensure_graph_subscriptions(
    db: Database, provider: OutlookProvider, public_url: str, secret: bytes, now: datetime
) -> int:
    """Create a subscription per mailbox without a live one; renew those expiring within a day."""
    from providers import outlook_push

    base = public_url.rstrip("/")
    changed = 0
    for mailbox in provider.calendars():
        with db.session() as session:
            active = session.scalar(
                select(PushChannelRow).where(
                    PushChannelRow.provider == "outlook",
                    PushChannelRow.calendar == mailbox,
                    PushChannelRow.status == "active",
                )
            )
            row_id = active.id if active is not None else None
            current = (
                outlook_push.Subscription(mailbox, active.channel_id, active.expires_at) if active is not None else None
            )
        try:
            if current is not None and current.expires_at > now + RENEW_BEFORE:
                continue
            if current is not None:
                renewed = outlook_push.renew(provider, current, GRAPH_LIFETIME, now)
                with db.session() as session:
                    session.execute(
                        update(PushChannelRow).where(PushChannelRow.id == row_id).values(expires_at=renewed.expires_at)
                    )
            else:
                made = outlook_push.subscribe(
                    provider,
                    mailbox,
                    f"{base}/webhooks/graph",
                    f"{base}/webhooks/graph-lifecycle",
                    client_state(secret, mailbox),
                    GRAPH_LIFETIME,
                    now,
                )
                with db.session() as session:
                    session.add(
                        PushChannelRow(
                            provider="outlook",
                            calendar=mailbox,
                            channel_id=made.subscription_id,
                            resource_id=None,
                            expires_at=made.expires_at,
                            created_at=now,
                            status="active",
                        )
                    )
            changed += 1
        except ProviderError as exc:
            if current is not None and exc.kind == "permanent":  # gone on Graph's side: make a new one next time
                with db.session() as session:
                    session.execute(update(PushChannelRow).where(PushChannelRow.id == row_id).values(status="stopped"))
            log.warning("mailbox %s: push subscription not in place (%s); polling covers it", mailbox, exc.message)
    return changed


def ensure_push(providers: Iterable[object], db: Database, public_url: str, secret: bytes, now: datetime) -> int:
    """One pass of the renewal job over every provider that can push."""
    done = 0
    for provider in providers:
        if is_instance(provider, "providers.google", "GoogleCalendarProvider"):
            done += ensure_google_channels(db, cast("GoogleCalendarProvider", provider), public_url, secret, now)
        elif is_instance(provider, "providers.outlook", "OutlookProvider"):
            done += ensure_graph_subscriptions(db, cast("OutlookProvider", provider), public_url, secret, now)
    return done


# One POST may batch several notifications; more distinct subscriptions than this in one body is no
# batch Graph sends for one daemon's mailboxes, only a way to make each POST cost many lookups.
MAX_SUBSCRIPTIONS_PER_POST = 50


def _subscription_mailboxes(db: Database, subscription_ids: set[str]) -> dict[str, str]:
    """Our active subscriptions among `subscription_ids`, by id: one query however many there are."""
    if not subscription_ids:
        return {}
    with db.session() as session:
        rows = session.scalars(
            select(PushChannelRow).where(
                PushChannelRow.provider == "outlook", PushChannelRow.channel_id.in_(sorted(subscription_ids))
            )
        )
        return {row.channel_id: row.calendar for row in rows if row.status == "active"}


def _matches(given: str, expected: str) -> bool:
    """Constant time. `given` is any text a caller sent; `compare_digest` refuses non-ASCII `str`, so compare bytes."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable()


def mark_wanted(db: Database, provider: str, calendar: str, now: datetime) -> None:
    with db.session() as session:
        session.execute(
            update(CalendarRow)
            .where(CalendarRow.provider == provider, CalendarRow.calendar == calendar)
            .values(wanted_at=now)
        )


def push_blueprint(db: Database, secret: bytes, clock: Callable[[], datetime], wake: threading.Event) -> Blueprint:
    blueprint = Blueprint("push", __name__)

    @blueprint.post("/webhooks/google")
    def google_notification() -> Response:
        channel_id = request.headers.get("X-Goog-Channel-ID", "")
        token = request.headers.get("X-Goog-Channel-Token", "")
        state = request.headers.get("X-Goog-Resource-State", "")
        if not channel_id or not _matches(token, channel_token(secret, channel_id)):
            return Response("unknown channel\n", status=401, mimetype="text/plain")
        with db.session() as session:
            row = session.scalar(
                select(PushChannelRow).where(
                    PushChannelRow.provider == "google", PushChannelRow.channel_id == channel_id
                )
            )
            calendar = row.calendar if row is not None and row.status == "active" else None
        if calendar is None:
            return Response("unknown channel\n", status=404, mimetype="text/plain")
        if state != "sync":  # "sync" only confirms the channel; "exists" means something changed
            mark_wanted(db, "google", calendar, clock())
            wake.set()
        return Response(status=204)

    def _validation() -> Response | None:
        """Graph's handshake: echo the token as text/plain within 10 s, or no subscription is made."""
        token = request.args.get("validationToken")
        if token is None:
            return None
        return Response(token, status=200, mimetype="text/plain")

    def _notifications() -> list[tuple[dict[str, Any], str | None]] | None:
        """Each notification with the mailbox it is verified for (None: not ours, or a forged state).
        The body is bounded before any lookup: at most `MAX_SUBSCRIPTIONS_PER_POST` distinct ids, one query."""
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
            return None
        items = [item for item in payload["value"] if isinstance(item, dict)]
        # Our subscription ids are Graph's GUIDs: anything else (JSON may even carry NUL or a lone
        # surrogate, which a database refuses as a parameter) cannot be one of ours.
        ids = {s for item in items if isinstance(s := item.get("subscriptionId"), str) and _plain(s) and len(s) <= 64}
        if len(ids) > MAX_SUBSCRIPTIONS_PER_POST:
            abort(413)
        mailboxes = _subscription_mailboxes(db, ids)

        def verified(item: dict[str, Any]) -> str | None:
            mailbox, state = mailboxes.get(str(item.get("subscriptionId"))), item.get("clientState")
            if mailbox is None or not isinstance(state, str):
                return None
            return mailbox if _matches(state, client_state(secret, mailbox)) else None

        return [(item, verified(item)) for item in items]

    @blueprint.post("/webhooks/graph")
    def graph_notification() -> Response:
        handshake = _validation()
        if handshake is not None:
            return handshake
        items = _notifications()
        if items is None:
            return Response('expected {"value": [...]}\n', status=400, mimetype="text/plain")
        accepted = 0
        for _, mailbox in items:  # one POST may carry several notifications: each is checked
            if mailbox is not None:
                mark_wanted(db, "outlook", mailbox, clock())
                accepted += 1
        if accepted:
            wake.set()
        return Response(status=202 if accepted or not items else 401)

    @blueprint.post("/webhooks/graph-lifecycle")
    def graph_lifecycle() -> Response:
        handshake = _validation()
        if handshake is not None:
            return handshake
        items = _notifications()
        if items is None:
            return Response('expected {"value": [...]}\n', status=400, mimetype="text/plain")
        for item, mailbox in items:
            if mailbox is None:
                continue
            event = item.get("lifecycleEvent")
            with db.session() as session:
                subscription = str(item.get("subscriptionId"))
                match = (PushChannelRow.provider == "outlook", PushChannelRow.channel_id == subscription)
                if event == "reauthorizationRequired":  # renew on the next pass of the renewal job
                    session.execute(update(PushChannelRow).where(*match).values(expires_at=clock()))
                elif event == "subscriptionRemoved":
                    session.execute(update(PushChannelRow).where(*match).values(status="stopped"))
            # Whatever happened, changes may have been missed: sync now ("missed" means exactly that).
            mark_wanted(db, "outlook", mailbox, clock())
            wake.set()
        return Response(status=202)

    return blueprint
