"""The pair's page and its forms (Flask blueprint). Plain HTML forms: it works without JavaScript.

Every route answers an unknown page id exactly as a known one seen without a session, so ids
cannot be probed; nothing lists pages. All user text is escaped by Jinja2's autoescaping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime

from flask import Blueprint, abort, make_response, redirect, render_template, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from rules.address import address_or_none
from sync.agenda import auth, oidc_routes
from sync.agenda.deps import AgendaDeps
from sync.agenda.first_meeting import MORE_QUESTIONS_URL, NOT_A_STATUS_UPDATE, QUESTIONS, STANDING_TOPICS
from sync.agenda.meetings import pair_history, zone_of
from sync.agenda.page import anchor_for, build_page
from sync.agenda.store import (
    ITEM_ERRORS,
    ItemError,
    add_item,
    delete_item,
    deleted_text,
    edit_item,
    items_of,
    pair_by_page,
    pairs_of,
    restore_item,
    set_done,
)
from sync.agenda.views import template_helpers
from sync.notify.render import display_name
from sync.store.models import AgendaPairRow

log = logging.getLogger(__name__)

# Row ids are 32-bit on PostgreSQL: a larger id in a URL names no item (404), never a database error.
ITEM_ID = "<int(max=2147483647):item_id>"


def create_blueprint(deps: AgendaDeps) -> Blueprint:
    bp = Blueprint(
        "agenda", __name__, template_folder="templates", static_folder="static", static_url_path="/static/agenda"
    )

    def viewer(session: Session) -> str | None:
        return auth.session_email(session, request.cookies.get(auth.SESSION_COOKIE), deps.clock())

    def binding() -> str | None:
        return request.cookies.get(auth.SESSION_COOKIE) or request.cookies.get(auth.PRE_COOKIE)

    def check_csrf() -> None:
        if not auth.csrf_ok(deps.secret, binding(), request.form.get("csrf")):
            abort(400, "This form has expired. Reload the page and try again.")

    def form_csrf() -> tuple[str, str | None]:
        """The token for the forms about to be rendered, and a fresh pre-session cookie if one is needed."""
        bound = binding()
        if bound:
            return auth.csrf_token(deps.secret, bound), None
        fresh = auth.new_token()
        return auth.csrf_token(deps.secret, fresh), fresh

    def respond(html: str, status: int, fresh: str | None) -> Response:
        response = make_response(html, status)
        if fresh is not None:
            response.set_cookie(
                auth.PRE_COOKIE, fresh, max_age=86400, httponly=True, samesite="Lax", secure=deps.secure, path="/"
            )
        return response

    def signin_page(page_id: str, email: str | None, status: int = 401) -> Response:
        token, fresh = form_csrf()
        html = render_template(
            "agenda/signin.html",
            page_id=page_id,
            signed_in_as=email,
            csrf=token,
            oidc_label=deps.oidc.provider.label if deps.oidc is not None else None,
        )
        return respond(html, status, fresh)

    def no_links() -> None:
        """With OIDC configured, emailed sign-in links are not offered, sent or accepted."""
        if deps.oidc is not None:
            abort(404)

    def with_session(response: Response, cookie: str) -> Response:
        response.set_cookie(
            auth.SESSION_COOKIE,
            cookie,
            max_age=deps.session_days * 86400,
            httponly=True,
            samesite="Lax",
            secure=deps.secure,
            path="/",
        )
        response.delete_cookie(auth.PRE_COOKIE, path="/")
        return response

    if deps.oidc is not None:
        oidc_routes.register(bp, deps, deps.oidc, check_csrf=check_csrf, with_session=with_session)

    def member(session: Session, page_id: str) -> tuple[AgendaPairRow, str] | None:
        """The page's pair and who reads it, checked against the directory on every request."""
        pair = pair_by_page(session, page_id)
        email = viewer(session)
        if pair is None or email is None or email not in (pair.manager, pair.report):
            return None
        if not auth.pair_in_force(session, pair):
            return None
        return pair, email

    @bp.get("/")
    def mine() -> Response:
        """After sign-in, the viewer's own 1:1 pages (only pairs still in force); before, how to sign in."""
        with deps.db.session() as session:
            email = viewer(session)
            rows = [] if email is None else [p for p in pairs_of(session, email) if auth.pair_in_force(session, p)]
            pairs = [
                {
                    "page_id": p.page_id,
                    "other_name": display_name(p.report if p.manager == email else p.manager),
                    "role": "your report" if p.manager == email else "your manager",
                }
                for p in rows
            ]
        pairs.sort(key=lambda p: (p["role"], p["other_name"]))
        response = make_response(render_template("agenda/mine.html", viewer=email, pairs=pairs), 200)
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/a/<page_id>")
    def page(page_id: str) -> Response:
        now = deps.clock()
        with deps.db.session() as session:
            found = member(session, page_id)
            if found is None:
                return signin_page(page_id, viewer(session))
            pair, email = found
            context = deps.context_for(session, now)
            history = pair_history(session, context, pair.manager, pair.report)
            view = build_page(pair.manager, pair.report, history, items_of(session, pair.id), now, is_new=pair.is_new)
            other = pair.report if email == pair.manager else pair.manager
            zone = zone_of(email, context, deps.policy.default_zone, partner=other)
            asked = request.args.get("undo", "")
            text = deleted_text(session, pair.id, int(asked), now) if asked.isdigit() and len(asked) < 12 else None
            undo = {"id": int(asked), "text": text} if text is not None else None
        html = render_template(
            "agenda/page.html",
            page=view,
            page_id=page_id,
            viewer=email,
            zone=zone,
            csrf=form_csrf()[0],
            error=ITEM_ERRORS.get(request.args.get("error", "")),
            undo=undo,
            questions=QUESTIONS,
            more_questions_url=MORE_QUESTIONS_URL,
            not_a_status_update=NOT_A_STATUS_UPDATE,
            standing_topics=STANDING_TOPICS,
            **template_helpers(zone, pair.manager, pair.report),
        )
        return make_response(html, 200)

    @bp.post("/a/<page_id>/signin")
    def ask_for_link(page_id: str) -> Response:
        no_links()
        check_csrf()
        address = address_or_none(request.form.get("email", "")[:320])
        queued = None
        with deps.db.session() as session:
            pair = pair_by_page(session, page_id)
            if pair is not None and address is not None:
                queued = auth.request_signin(
                    session,
                    pair,
                    address,
                    deps.clock(),
                    canonical=deps.canonical,
                    base_url=deps.base_url,
                    minutes=deps.signin_minutes,
                    policy=deps.policy,
                )
            outbox_id = queued.id if queued is not None else None
        if outbox_id is not None and deps.deliver is not None:
            threading.Thread(target=deps.deliver, args=(outbox_id,), name="signin-mail", daemon=True).start()
        html = render_template("agenda/signin_sent.html", address=address, minutes=deps.signin_minutes)
        return make_response(html, 200)

    @bp.get("/signin/<token>")
    def confirm_signin(token: str) -> Response:
        no_links()
        with deps.db.session() as session:
            row = auth.peek_signin(session, token, deps.clock())
        if row is None:
            return make_response(render_template("agenda/signin_invalid.html"), 400)
        csrf, fresh = form_csrf()
        html = render_template("agenda/signin_confirm.html", token=token, email=row.email, csrf=csrf)
        return respond(html, 200, fresh)

    @bp.post("/signin/<token>")
    def complete_signin(token: str) -> Response:
        no_links()
        check_csrf()
        now = deps.clock()
        with deps.db.session() as session:
            row = auth.consume_signin(session, token, now)
            pair = session.get(AgendaPairRow, row.pair_id) if row is not None else None
            if row is None or pair is None:
                return make_response(render_template("agenda/signin_invalid.html"), 400)
            cookie = auth.open_session(session, row.email, now, deps.session_days)
            target = f"/a/{pair.page_id}"
        # A booking link asked for this sign-in (sync/booking/page.py): go back to it.
        back = oidc_routes.local_path(request.cookies.get("oo_next"))
        if back is not None and back.startswith("/book/"):
            target = back
        return with_session(redirect(target, 303), cookie)

    @bp.post("/signout")
    def signout() -> Response:
        check_csrf()
        with deps.db.session() as session:
            auth.close_session(session, request.cookies.get(auth.SESSION_COOKIE))
        response = make_response(render_template("agenda/signed_out.html"), 200)
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response

    def edit(page_id: str, action: Callable[[Session, AgendaPairRow, str, datetime], str]) -> Response:
        check_csrf()
        now = deps.clock()
        anchor = ""
        try:
            with deps.db.session() as session:
                found = member(session, page_id)
                if found is None:
                    return signin_page(page_id, viewer(session))
                pair, email = found
                anchor = action(session, pair, email, now)
                pair_id = pair.id
        except ItemError as exc:
            return redirect(f"/a/{page_id}?error={exc.code}", 303)
        if deps.on_change is not None:
            deps.on_change(pair_id)
        if anchor.startswith("undo-"):  # deleted: the page offers to bring it back
            return redirect(f"/a/{page_id}?undo={anchor.removeprefix('undo-')}#undo", 303)
        return redirect(f"/a/{page_id}#{anchor}", 303)

    @bp.post("/a/<page_id>/items")
    def add(page_id: str) -> Response:
        def act(session: Session, pair: AgendaPairRow, email: str, now: datetime) -> str:
            kind = request.form.get("kind", "")
            history = pair_history(session, deps.context_for(session, now), pair.manager, pair.report)
            owner = request.form.get("owner") if request.form.get("owner") in (pair.manager, pair.report) else None
            item = add_item(
                session,
                pair.id,
                kind,
                request.form.get("text", ""),
                author=email,
                now=now,
                occurrence=anchor_for(kind, history, now),
                owner=owner or (pair.report if kind == "action" else None),
                due=_date(request.form.get("due")),
            )
            return f"item-{item.id}"

        return edit(page_id, act)

    @bp.post(f"/a/<page_id>/items/{ITEM_ID}/edit")
    def change(page_id: str, item_id: int) -> Response:
        def act(session: Session, pair: AgendaPairRow, email: str, now: datetime) -> str:
            owner = request.form.get("owner") if request.form.get("owner") in (pair.manager, pair.report) else None
            edit_item(
                session,
                pair.id,
                item_id,
                request.form.get("text", ""),
                editor=email,
                now=now,
                owner=owner,
                due=_date(request.form.get("due")),
            )
            return f"item-{item_id}"

        return edit(page_id, act)

    @bp.post(f"/a/<page_id>/items/{ITEM_ID}/done")
    def done(page_id: str, item_id: int) -> Response:
        def act(session: Session, pair: AgendaPairRow, email: str, now: datetime) -> str:
            set_done(session, pair.id, item_id, request.form.get("done") == "1", editor=email, now=now)
            return f"item-{item_id}"

        return edit(page_id, act)

    @bp.post(f"/a/<page_id>/items/{ITEM_ID}/delete")
    def remove(page_id: str, item_id: int) -> Response:
        def act(session: Session, pair: AgendaPairRow, email: str, now: datetime) -> str:
            delete_item(session, pair.id, item_id, now)
            return f"undo-{item_id}"

        return edit(page_id, act)

    @bp.post(f"/a/<page_id>/items/{ITEM_ID}/restore")
    def restore(page_id: str, item_id: int) -> Response:
        def act(session: Session, pair: AgendaPairRow, email: str, now: datetime) -> str:
            restore_item(session, pair.id, item_id, now)
            return f"item-{item_id}"

        return edit(page_id, act)

    @bp.app_template_filter("person")
    def person(address: str | None) -> str:
        return display_name(address) if address else ""

    return bp


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ItemError("bad-date") from exc
