"""One-click unsubscribe (RFC 8058) for the mail a person can do without: the weekly digest and nudges.

Each such message carries `List-Unsubscribe: <https://…/unsubscribe/<token>>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`, so a mail client's "Unsubscribe" button stops it
without a sign-in. The token is an HMAC of (address, group) under a secret the daemon made for itself:
nothing to store per message, and nobody can stop someone else's mail. A GET only shows a button (mail
scanners fetch links); a POST — the client's one-click or that button — records the opt-out, and the
page offers to undo it. Warnings are not optional (a broken 1:1 rule is the point of oneonone), so they
carry no such link; the admin can still opt a manager out in the config.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, make_response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from sync.notify.render import MAIL_TEMPLATES
from sync.store.db import Database, app_secret, insert_missing
from sync.store.models import MailOptOutRow

# Which group of mail each kind belongs to: one link stops the whole group.
GROUPS = {"digest": "digest", "agenda-nudge": "nudge", "notes-nudge": "nudge"}
WORDS = {"digest": "weekly digests of your 1:1s", "nudge": "reminders to prepare and note your 1:1s"}
SECRET = "unsubscribe.secret"
Said = tuple[str, str, str | None, str | None]  # a page: title, text, the button's action suffix, its words


def _sign(secret: str, email: str, group: str) -> str:
    mac = hmac.new(secret.encode(), f"{email}\n{group}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_for(secret: str, email: str, group: str) -> str:
    who = base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")
    return f"{group}.{who}.{_sign(secret, email, group)}"


def read_token(secret: str, token: str) -> tuple[str, str] | None:
    """(address, group) of a genuine token; None for anything else (made up, altered, another group)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] not in WORDS or len(token) > 600:
        return None
    group, who, mac = parts
    try:
        email = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return (email, group) if hmac.compare_digest(mac, _sign(secret, email, group)) else None


def link_for(session: Session, base_url: str, kind: str, email: str, now: datetime) -> str | None:
    """The message's unsubscribe link, for the kinds a person may stop (None for the others)."""
    group = GROUPS.get(kind)
    if group is None or not base_url:
        return None
    return f"{base_url.rstrip('/')}/unsubscribe/{token_for(app_secret(session, SECRET, now), email, group)}"


def opted_out(session: Session, email: str, group: str) -> bool:
    query = select(MailOptOutRow.id).where(MailOptOutRow.email == email, MailOptOutRow.kind == group)
    return session.scalar(query) is not None


def opted_out_of(session: Session, group: str) -> frozenset[str]:
    return frozenset(session.scalars(select(MailOptOutRow.email).where(MailOptOutRow.kind == group)))


def _page(title: str, text: str, token: str, action: str | None, button: str | None) -> Response:
    html = MAIL_TEMPLATES.get_template("unsubscribe_page.html").render(
        title=title, text=text, token=token, action=action, button=button
    )
    response = make_response(html, 200)
    response.headers["Cache-Control"] = "no-store"
    return response


def unsubscribe_blueprint(db: Database, clock: Callable[[], datetime]) -> Blueprint:
    bp = Blueprint("unsubscribe", __name__, static_folder="static", static_url_path="/static/unsubscribe")

    def who(token: str) -> tuple[str, str] | None:
        with db.session() as session:
            return read_token(app_secret(session, SECRET, clock()), token)

    def answer(token: str, act: Callable[[Session, str, str], Said]) -> Response:
        """The token checked once for every route: a made-up or altered one is a 404, whatever was asked."""
        found = who(token)
        if found is None:
            return make_response("This link is not valid (it may be cut short in your mail app).", 404)
        with db.session() as session:
            title, text, action, button = act(session, *found)
        return _page(title, text, token, action, button)

    def confirm(session: Session, email: str, group: str) -> Said:
        return "Stop these emails?", f"You, {email}, will get no more {WORDS[group]}.", "", "Stop them"

    def stop(session: Session, email: str, group: str) -> Said:
        insert_missing(
            session, MailOptOutRow, {"email": email, "kind": group, "created_at": clock()}, ["email", "kind"]
        )
        text = f"You, {email}, will get no more {WORDS[group]}. Warnings about a broken 1:1 rule still come."
        return "Done", text, "/undo", "Undo: send them again"

    def undo(session: Session, email: str, group: str) -> Said:
        session.execute(delete(MailOptOutRow).where(MailOptOutRow.email == email, MailOptOutRow.kind == group))
        return "Back on", f"You, {email}, will get {WORDS[group]} again.", "", "Stop them after all"

    bp.add_url_rule("/unsubscribe/<token>", "confirm", lambda token: answer(token, confirm), methods=["GET"])
    bp.add_url_rule("/unsubscribe/<token>", "stop", lambda token: answer(token, stop), methods=["POST"])
    bp.add_url_rule("/unsubscribe/<token>/undo", "undo", lambda token: answer(token, undo), methods=["POST"])
    return bp
