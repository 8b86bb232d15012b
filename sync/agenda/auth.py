"""Who may see a pair's page: the pair's two people, signed in by an emailed link.

The link in a calendar event names a page but grants nothing: event text is read by delegates
and travels in forwarded invites. Opening a page without a session offers to email a sign-in
link, and only ever to the pair's own two addresses (any other address gets the same answer and
no email). A sign-in link is single-use and short-lived; it opens a server-side session whose
random token sits in an HttpOnly, SameSite cookie (Secure behind HTTPS). Only hashes of tokens are
stored. Forms carry an HMAC token bound to the session (or, before sign-in, to a random cookie).
With `agenda.oidc` configured, Google or Entra ID sign-in (sync/agenda/oidc.py) replaces the links
and opens the same sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from sync.agenda.mail import queue, signin_mail
from sync.notify.policy import MailPolicy
from sync.store.models import (
    AgendaPairRow,
    AgendaSessionRow,
    AgendaSignInRow,
    DirectoryPairRow,
    DirectoryPersonRow,
    OutboxRow,
)

SESSION_COOKIE = "oo_session"
PRE_COOKIE = "oo_pre"  # binds the CSRF token of the sign-in forms before there is a session
MAX_LINKS_PER_WINDOW = 5  # sign-in emails per person and pair within one link lifetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret: str, binding: str) -> str:
    return hmac.new(secret.encode(), f"csrf|{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, binding: str | None, token: str | None) -> bool:
    if not binding or not token:
        return False
    # Bytes: the token is whatever a form sent, and `compare_digest` refuses non-ASCII `str`.
    return hmac.compare_digest(csrf_token(secret, binding).encode(), token.encode("utf-8", "surrogatepass"))


def request_signin(
    session: Session,
    pair: AgendaPairRow,
    address: str,
    now: datetime,
    *,
    canonical: Callable[[str], str],
    base_url: str,
    minutes: int,
    policy: MailPolicy,
) -> OutboxRow | None:
    """Queue a sign-in email if `address` is one of the pair's two people; otherwise do nothing.

    The caller answers the same either way, so the form tells nobody who is in the pair.
    """
    email = canonical(address)
    if email not in (pair.manager, pair.report):
        return None
    recent = session.scalar(
        select(func.count(AgendaSignInRow.id)).where(
            AgendaSignInRow.email == email,
            AgendaSignInRow.pair_id == pair.id,
            AgendaSignInRow.created_at > now - timedelta(minutes=minutes),
        )
    )
    if (recent or 0) >= MAX_LINKS_PER_WINDOW:
        return None  # a mailbox is not a target for bombing
    token = new_token()
    hashed = token_hash(token)
    session.add(
        AgendaSignInRow(
            token_hash=hashed, email=email, pair_id=pair.id, created_at=now, expires_at=now + timedelta(minutes=minutes)
        )
    )
    other = pair.report if email == pair.manager else pair.manager
    link = f"{base_url.rstrip('/')}/signin/{token}"
    return queue(session, signin_mail(email, other, link, minutes, hashed), now, policy)


def peek_signin(session: Session, token: str, now: datetime) -> AgendaSignInRow | None:
    """The sign-in link's row if it can still be used (GET shows a button; only POST consumes it,
    so mail scanners that fetch links do not burn them)."""
    row = session.scalar(select(AgendaSignInRow).where(AgendaSignInRow.token_hash == token_hash(token)))
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    return row


def consume_signin(session: Session, token: str, now: datetime) -> AgendaSignInRow | None:
    """Use the link once: a conditional UPDATE, so of many parallel POSTs exactly one wins on every
    engine (PostgreSQL re-checks the condition on the row the winner committed)."""
    hashed = token_hash(token)
    used = session.execute(
        update(AgendaSignInRow)
        .where(
            AgendaSignInRow.token_hash == hashed,
            AgendaSignInRow.used_at.is_(None),
            AgendaSignInRow.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(used, "rowcount", 0) or 0) != 1:
        return None
    return session.scalar(select(AgendaSignInRow).where(AgendaSignInRow.token_hash == hashed))


def open_session(session: Session, email: str, now: datetime, days: int) -> str:
    token = new_token()
    session.add(
        AgendaSessionRow(
            token_hash=token_hash(token), email=email, created_at=now, expires_at=now + timedelta(days=days)
        )
    )
    return token


def session_email(session: Session, token: str | None, now: datetime) -> str | None:
    """Who holds this session cookie; nobody once it expired or the directory says the person left
    (checked on every request: their sessions are ended on the spot)."""
    if not token:
        return None
    row = session.scalar(select(AgendaSessionRow).where(AgendaSessionRow.token_hash == token_hash(token)))
    if row is None or row.expires_at <= now:
        return None
    if has_left(session, row.email):
        session.execute(delete(AgendaSessionRow).where(AgendaSessionRow.email == row.email))
        return None
    return row.email


def has_left(session: Session, email: str) -> bool:
    person = DirectoryPersonRow
    return session.scalar(select(person.id).where(person.address == email, person.active.is_(False))) is not None


def pair_in_force(session: Session, pair: AgendaPairRow) -> bool:
    """A page is open to its two people while their pair is in force: a pair the directory ended (a new
    manager, a leaver, removed) closes its page; a pair no directory names (found by who organizes) stays."""
    ended = select(DirectoryPairRow.ended_at).where(
        DirectoryPairRow.manager == pair.manager, DirectoryPairRow.report == pair.report
    )
    rows = list(session.scalars(ended))
    return not rows or any(at is None for at in rows)


def close_session(session: Session, token: str | None) -> None:
    if not token:
        return
    row = session.scalar(select(AgendaSessionRow).where(AgendaSessionRow.token_hash == token_hash(token)))
    if row is not None:
        session.delete(row)
