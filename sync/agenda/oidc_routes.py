"""The OpenID Connect sign-in routes: `/auth/oidc/start` (a form on the sign-in page) and the callback.

The start stores the attempt (hashed `state`, `nonce`, PKCE verifier, where to go back to) bound to
this browser by an HttpOnly cookie, then redirects to the provider. The callback takes the attempt
once (a replayed or foreign `state` is a 400), redeems the code, checks the ID token and opens a
session exactly as an emailed link does. Only local paths are ever redirected to.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import Blueprint, make_response, redirect, render_template, request
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from sync.agenda import auth
from sync.agenda.deps import AgendaDeps
from sync.agenda.oidc import Login, OidcClient, OidcRefused, OidcUnavailable
from sync.store.models import AgendaOidcLoginRow

log = logging.getLogger(__name__)

BROWSER_COOKIE = "oo_oidc"  # binds a sign-in under way to the browser that started it
COOKIE_PATH = "/auth/oidc"
LOGIN_MINUTES = 10  # how long the provider's sign-in may take
# A return path: `/` or slash-separated segments of [A-Za-z0-9_-]. No `//`, `\`, `.`, scheme or host.
LOCAL_PATH = re.compile(r"/(?:[A-Za-z0-9_-]{1,128}(?:/[A-Za-z0-9_-]{1,128}){0,7})?")


def local_path(value: str | None) -> str | None:
    """`value` if it is a path on this site (never an absolute or scheme-relative URL), else None."""
    if value is None or len(value) > 256 or not LOCAL_PATH.fullmatch(value):
        return None
    return value


def start_login(session: Session, login: Login, browser: str, return_path: str, now: datetime) -> AgendaOidcLoginRow:
    # Attempts nobody finished are dead after LOGIN_MINUTES: drop yesterday's here, so they never pile up.
    session.execute(delete(AgendaOidcLoginRow).where(AgendaOidcLoginRow.expires_at < now - timedelta(days=1)))
    row = AgendaOidcLoginRow(
        state_hash=auth.token_hash(login.state),
        browser_hash=auth.token_hash(browser),
        nonce=login.nonce,
        code_verifier=login.verifier,
        return_path=return_path,
        created_at=now,
        expires_at=now + timedelta(minutes=LOGIN_MINUTES),
    )
    session.add(row)
    return row


def take_login(session: Session, state: str, browser: str | None, now: datetime) -> AgendaOidcLoginRow | None:
    """The attempt `state` names, used up now; None if unknown, used, expired or from another browser.

    One conditional UPDATE: of two callbacks racing with the same state, only one gets it.
    """
    if not browser:
        return None
    hashed = auth.token_hash(state)
    claimed = session.execute(
        update(AgendaOidcLoginRow)
        .where(
            AgendaOidcLoginRow.state_hash == hashed,
            AgendaOidcLoginRow.browser_hash == auth.token_hash(browser),
            AgendaOidcLoginRow.used_at.is_(None),
            AgendaOidcLoginRow.expires_at > now,
        )
        .values(used_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    return session.scalar(select(AgendaOidcLoginRow).where(AgendaOidcLoginRow.state_hash == hashed))


def register(
    bp: Blueprint,
    deps: AgendaDeps,
    client: OidcClient,
    *,
    check_csrf: Callable[[], None],
    with_session: Callable[[Response, str], Response],
) -> None:
    def failed(message: str, status: int = 400) -> Response:
        html = render_template("agenda/error.html", title="Sign-in failed", message=message)
        response = make_response(html, status)
        response.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
        return response

    @bp.post("/auth/oidc/start")
    def oidc_start() -> Response:
        check_csrf()
        return_path = local_path(request.form.get("next"))
        if return_path is None:
            return failed("That return address is not a page of this site.")
        login = Login.new()
        try:
            target = client.authorization_url(login)
        except OidcUnavailable as exc:
            log.error("oidc: %s is unavailable: %s", client.provider.label, exc)
            return failed(f"Sign-in with {client.provider.label} is unavailable right now. Try again later.", 503)
        browser = request.cookies.get(BROWSER_COOKIE) or auth.new_token()
        with deps.db.session() as session:
            start_login(session, login, browser, return_path, deps.clock())
        response = redirect(target, 303)
        response.set_cookie(
            BROWSER_COOKIE,
            browser,
            max_age=LOGIN_MINUTES * 60,
            httponly=True,
            samesite="Lax",  # sent on the provider's top-level redirect back, not on cross-site subrequests
            secure=deps.secure,
            path=COOKIE_PATH,
        )
        return response

    @bp.get("/auth/oidc/callback")
    def oidc_callback() -> Response:
        state = request.args.get("state", "")[:512]
        now = deps.clock()
        with deps.db.session() as session:  # committed before the provider is asked: a state works once
            row = take_login(session, state, request.cookies.get(BROWSER_COOKIE), now) if state else None
            attempt = (row.nonce, row.code_verifier, row.return_path) if row is not None else None
        if attempt is None:
            return failed(
                "This sign-in has expired, was already used, or was started in another browser. "
                "Go back to the page and sign in again."
            )
        nonce, verifier, return_path = attempt
        if request.args.get("error"):
            log.info("oidc: %s answered error %.80r", client.provider.label, request.args.get("error"))
            return failed(f"{client.provider.label} did not sign you in. Go back to the page and try again.")
        code = request.args.get("code", "")
        if not code or len(code) > 4096:
            return failed("The sign-in answer carries no authorization code.")
        try:
            address = client.sign_in(code, verifier, nonce)
        except OidcRefused as exc:
            log.warning("oidc: sign-in refused: %s", exc.reason)
            return failed("The sign-in could not be verified. Go back to the page and sign in again.")
        except OidcUnavailable as exc:
            log.error("oidc: %s is unavailable: %s", client.provider.label, exc)
            return failed(f"Sign-in with {client.provider.label} is unavailable right now. Try again later.", 503)
        email = deps.canonical(address)
        with deps.db.session() as session:
            cookie = auth.open_session(session, email, now, deps.session_days)
        log.info("oidc: signed in through %s", client.provider.label)
        response = with_session(redirect(local_path(return_path) or "/", 303), cookie)
        response.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
        return response
