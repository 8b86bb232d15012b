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
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, Response, request
from sqlalchemy import select, update

from providers import google_push
from providers.base import ProviderError
from providers.google import GoogleCalendarProvider
from sync.store.db import Database
from sync.store.models import CalendarRow, PushChannelRow

log = logging.getLogger(__name__)

GOOGLE_TTL = timedelta(days=7)
RENEW_BEFORE = timedelta(days=1)


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
        if not channel_id or not hmac.compare_digest(token, channel_token(secret, channel_id)):
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

    return blueprint
