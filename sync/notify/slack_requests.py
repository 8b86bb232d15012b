"""Slack's request URL (`POST /slack/interactions`): where Slack says a person pressed a button of ours.

Nothing is believed before the signature is checked: `X-Slack-Signature` must be the HMAC-SHA256 of
`v0:{X-Slack-Request-Timestamp}:{raw body}` under the app's signing secret (compared in constant time),
and the timestamp within five minutes of our clock, so a recorded request cannot be replayed later.
Anything else is a 401. A button only ever opens the pair's signed-in page (its URL is the button's
own; Slack's client opens it): the answer names that page and nothing is booked or changed here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from sync.config import Settings
from sync.notify.slack_blocks import OPEN_PAGE

log = logging.getLogger(__name__)

MAX_AGE_SECONDS = 300


def signature_ok(secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: datetime) -> bool:
    """Slack's v0 signature over this body, made within `MAX_AGE_SECONDS` of `now` (either way)."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def slack_blueprint(secret: bytes, clock: Callable[[], datetime], base_url: str) -> Blueprint:
    """The request URL, for the Slack app's "Interactivity" setting: `<web.public_url>/slack/interactions`."""
    blueprint = Blueprint("slack", __name__)
    pages = base_url.rstrip("/") + "/a/"

    @blueprint.post("/slack/interactions")
    def interactions() -> Response:
        body = request.get_data(cache=True)  # the raw bytes Slack signed, before any form parsing
        if not signature_ok(
            secret,
            request.headers.get("X-Slack-Request-Timestamp"),
            request.headers.get("X-Slack-Signature"),
            body,
            clock(),
        ):
            log.warning("slack: refused an interactive request with a bad or stale signature")
            abort(401)
        try:
            payload: dict[str, Any] = json.loads(request.form["payload"])
        except (KeyError, ValueError):
            abort(400)
        actions = payload.get("actions") if payload.get("type") == "block_actions" else None
        for action in actions or []:
            url = str(action.get("url") or "")
            if action.get("action_id") == OPEN_PAGE and url.startswith(pages):
                return jsonify({"ok": True, "open": url})
        # Acknowledged (Slack wants a 200 within 3 s) and otherwise ignored: not a button of ours.
        return jsonify({"ok": True})

    return blueprint


def configured_blueprint(settings: Settings, clock: Callable[[], datetime]) -> Blueprint | None:
    """The request URL when the settings give a signing secret (no secret: no buttons' requests are taken)."""
    secret = settings.slack.signing_secret()
    if secret is None:
        return None
    return slack_blueprint(secret.get_secret_value().encode(), clock, settings.web.base_url)
