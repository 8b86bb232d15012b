"""The booking page (Flask blueprint): `/book/<token>` from a warning's button.

The link alone grants nothing: it needs the same sign-in as the agenda page, as the finding's
manager. GET shows the slot after re-checking that both are still free (else fresh slots); only
the POST, a CSRF-protected form, books. A booked, used or expired link says so, never errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, make_response, render_template, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from providers.base import ProviderError
from providers.booking import Booker
from rules.slots import Interval
from sync.agenda import auth
from sync.agenda.deps import AgendaDeps
from sync.booking.book import book, slot_is_free, usable
from sync.booking.not_needed import NotNeededError, parse, record
from sync.booking.offers import OfferView, offer_by_token, record_offers, slot_label
from sync.booking.propose import Proposer
from sync.notify.render import display_name
from sync.runtime import Runtime
from sync.store.models import AgendaPairRow, BookingOfferRow, FindingRow


class Shown(TypedDict):
    report_name: str
    when: str
    title: str
    zone: str


NEXT_COOKIE = "oo_next"  # where the emailed sign-in link returns to


@dataclass
class BookingDeps:
    agenda: AgendaDeps
    bookers: dict[str, Booker]
    proposer: Proposer
    link_hours: int = 72
    crash: Callable[[str], None] = field(default=lambda _point: None)


def create_booking_blueprint(deps: BookingDeps) -> Blueprint:
    bp = Blueprint("booking", __name__, template_folder="templates")
    agenda = deps.agenda

    def viewer() -> str | None:
        with agenda.db.session() as session:
            return auth.session_email(session, request.cookies.get(auth.SESSION_COOKIE), agenda.clock())

    def binding() -> str | None:
        return request.cookies.get(auth.SESSION_COOKIE) or request.cookies.get(auth.PRE_COOKIE)

    def page(template: str, *, status: int = 200, **context: object) -> Response:
        bound = binding()
        fresh = None if bound else auth.new_token()
        csrf = auth.csrf_token(agenda.secret, bound or fresh or "")
        response = make_response(render_template(f"booking/{template}", csrf=csrf, **context), status)
        if fresh is not None:
            response.set_cookie(
                auth.PRE_COOKIE, fresh, max_age=86400, httponly=True, samesite="Lax", secure=agenda.secure
            )
        return response

    def signin(token: str, offer: BookingOfferRow, email: str | None) -> Response:
        with agenda.db.session() as session:
            pair = session.scalar(select(AgendaPairRow).filter_by(manager=offer.manager, report=offer.report))
            page_id = pair.page_id if pair is not None else ""
        response = page(
            "signin.html",
            status=401,
            page_id=page_id,
            signed_in_as=email,
            next=f"/book/{token}",
            oidc_label=agenda.oidc.provider.label if agenda.oidc is not None else None,
        )
        response.set_cookie(
            NEXT_COOKIE, f"/book/{token}", max_age=3600, httponly=True, samesite="Lax", secure=agenda.secure
        )
        return response

    def load(token: str) -> BookingOfferRow:
        with agenda.db.session() as session:
            offer = offer_by_token(session, token)
            if offer is None:
                abort(404)
            session.expunge(offer)
            return offer

    def fresh_offers(offer: BookingOfferRow, zone: str) -> OfferView | None:
        now = agenda.clock()
        with agenda.db.session() as session:
            finding = session.get(FindingRow, offer.finding_id)
            if finding is None or finding.status != "open":
                return None
            zones = agenda.context_for(session, now).time_zones
            proposal = deps.proposer.propose(session, finding, zones, now)
            if proposal is None:
                return None
            return record_offers(
                session, finding, proposal, now=now, link_hours=deps.link_hours, base_url=agenda.base_url, zone=zone
            )

    def shown(offer: BookingOfferRow) -> Shown:
        with agenda.db.session() as session:
            zone = agenda.context_for(session, agenda.clock()).time_zones.get(offer.manager, agenda.policy.default_zone)
        return {
            "report_name": display_name(offer.report),
            "when": slot_label(offer.start, offer.end, zone).removeprefix("Book "),
            "title": offer.title,
            "zone": zone,
        }

    def finished(kind: str, offer: BookingOfferRow, token: str) -> Response:
        info = shown(offer)
        if kind == "booked":
            return page("booked.html", **info)
        if kind == "taken":
            return page("taken.html", status=409, offers=fresh_offers(offer, info["zone"]), **info)
        return page("gone.html", status=410, kind=kind, **info)

    @bp.get("/book/<token>")
    def show(token: str) -> Response:
        offer = load(token)
        email = viewer()
        if email != offer.manager:
            return signin(token, offer, email)
        with agenda.db.session() as session:
            why = usable(session, offer, agenda.clock())
        if why is not None:
            return finished(why, offer, token)
        booker = deps.bookers.get(offer.provider)
        if booker is None:
            return finished("gone", offer, token)
        try:
            free = offer.state == "booking" or slot_is_free(
                booker, offer.manager, offer.report, Interval(offer.start, offer.end)
            )
        except ProviderError:
            free = True  # cannot re-check now: the POST checks again before it books
        if not free:
            return finished("taken", offer, token)
        response = page("confirm.html", token=token, **shown(offer))
        response.delete_cookie(NEXT_COOKIE)
        return response

    @bp.post("/book/<token>")
    def confirm(token: str) -> Response:
        if not auth.csrf_ok(agenda.secret, binding(), request.form.get("csrf")):
            abort(400, "This form has expired. Reload the page and try again.")
        offer = load(token)
        email = viewer()
        if email != offer.manager:
            return signin(token, offer, email)
        booker = deps.bookers.get(offer.provider)
        if booker is None:
            return finished("gone", offer, token)
        try:
            outcome = book(agenda.db, booker, offer.id, email, agenda.clock, agenda.base_url, deps.crash)
        except ProviderError:
            # The intent stays recorded: trying again books the same event, never a second one.
            return page("retry.html", status=503, token=token, **shown(offer))
        return finished(outcome.kind, offer, token)

    @bp.get("/book/<token>/not-needed")
    def not_needed_form(token: str) -> Response:
        offer = load(token)
        email = viewer()
        if email != offer.manager:
            return signin(token, offer, email)
        return page("not_needed.html", token=token, error=None, **shown(offer))

    @bp.post("/book/<token>/not-needed")
    def not_needed(token: str) -> Response:
        if not auth.csrf_ok(agenda.secret, binding(), request.form.get("csrf")):
            abort(400, "This form has expired. Reload the page and try again.")
        offer = load(token)
        email = viewer()
        if email != offer.manager:
            return signin(token, offer, email)
        now = agenda.clock()
        info = shown(offer)
        today = now.astimezone(ZoneInfo(info["zone"])).date()
        try:
            said = parse(request.form.get("reason", ""), request.form.get("until"), request.form.get("text"), today)
        except NotNeededError as exc:
            return page("not_needed.html", status=400, token=token, error=str(exc), **info)
        with agenda.db.session() as session:
            row = session.get(BookingOfferRow, offer.id)
            assert row is not None
            why = usable(session, row, now)
            if why is not None:
                return finished(why, offer, token)
            record(session, row, said, email, now, today)
        return page("not_needed_done.html", reason=said.reason, until=said.until, **info)

    return bp


def booking_blueprints(runtime: Runtime, agenda: AgendaDeps) -> list[Blueprint]:
    """The booking page, when booking is enabled (else its links would lead nowhere: none are sent)."""
    settings = runtime.settings.booking
    if not settings.enabled or not runtime.bookers:
        return []
    proposer = Proposer(settings, runtime.bookers, default_zone=runtime.policy.default_zone)
    deps = BookingDeps(agenda, runtime.bookers, proposer, settings.link_hours, crash=runtime.crash.hit)
    return [create_booking_blueprint(deps)]
