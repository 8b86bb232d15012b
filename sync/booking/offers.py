"""Booking offers: the proposed slots stored with the warning, and the links that name them.

A link holds a random token (only its hash is stored), good for `booking.link_hours`, for the
finding's manager only, and it grants nothing by itself: the page asks for the same sign-in as the
agenda page. The email is rendered once from these rows, so a retried delivery offers the same
slots; a fresh search (the slot was taken) adds new rows and voids nothing that was booked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.agenda.auth import new_token, token_hash
from sync.booking.propose import Proposal, Proposer
from sync.runtime import Runtime
from sync.store.models import BookingOfferRow, FindingRow


@dataclass(frozen=True)
class OfferLink:
    label: str  # "Book Tue 8 Dec, 10:00–10:30 (your time)"
    url: str


@dataclass(frozen=True)
class OfferView:
    """What a warning shows for one finding: its buttons, or why there are none, and where they lie."""

    links: tuple[OfferLink, ...]
    note: str  # "" when the slots fix the rule; else what the manager should know


def slot_label(start: datetime, end: datetime, zone: str) -> str:
    tz = ZoneInfo(zone)
    first, last = start.astimezone(tz), end.astimezone(tz)
    day = f"{first.strftime('%a')} {first.day} {first.strftime('%b')}"
    return f"Book {day}, {first.strftime('%H:%M')}–{last.strftime('%H:%M')} (your time)"


def record_offers(
    session: Session,
    finding: FindingRow,
    proposal: Proposal,
    *,
    now: datetime,
    link_hours: int,
    base_url: str,
    zone: str,
) -> OfferView:
    """Store one offer per proposed slot and return the buttons and note the warning shows."""
    links = []
    for slot in proposal.slots:
        token = new_token()
        session.add(
            BookingOfferRow(
                token_hash=token_hash(token),
                finding_id=finding.id,
                manager=finding.manager,
                report=finding.report,
                provider=proposal.series.provider,
                start=slot.start,
                end=slot.end,
                title=proposal.series.title,
                time_zone=proposal.series.time_zone,
                in_window=proposal.in_window,
                state="offered",
                created_at=now,
                expires_at=now + timedelta(hours=link_hours),
            )
        )
        links.append(OfferLink(slot_label(slot.start, slot.end, zone), f"{base_url.rstrip('/')}/book/{token}"))
    session.flush()
    return OfferView(tuple(links), _note(proposal, zone))


def _note(proposal: Proposal, zone: str) -> str:
    if proposal.error is not None:
        return f"No free times are proposed: {proposal.error}. Pick a time in your calendar."
    last = (proposal.window.end - timedelta(microseconds=1)).astimezone(ZoneInfo(zone))
    by = f"{last.strftime('%a')} {last.day} {last.strftime('%b')}"
    if not proposal.slots:
        return f"You are not both free in working hours by {by}, nor in the two weeks after."
    if not proposal.in_window:
        return f"You are not both free in working hours by {by}; these are the first free times after it."
    return ""


def offer_by_token(session: Session, token: str) -> BookingOfferRow | None:
    return session.scalar(select(BookingOfferRow).where(BookingOfferRow.token_hash == token_hash(token)))


def offers_of(session: Session, finding_id: int) -> list[BookingOfferRow]:
    return list(
        session.scalars(
            select(BookingOfferRow).where(BookingOfferRow.finding_id == finding_id).order_by(BookingOfferRow.id)
        )
    )


@dataclass
class Offering:
    """What `enqueue_warnings` calls per due finding: propose, store, and hand back the view."""

    proposer: Proposer
    link_hours: int
    base_url: str
    budget: float = 60.0  # seconds of free/busy per cycle (`booking.cycle_seconds`)
    measured: list[Proposal] = field(default_factory=list)  # every proposal made (cost, for the demo's note)

    def __call__(
        self, session: Session, finding: FindingRow, zones: Mapping[str, str], now: datetime, zone: str
    ) -> OfferView | None:
        if sum(p.seconds for p in self.measured) >= self.budget:
            return OfferView(
                (), "No free times are proposed: your calendars were slow to answer. Pick a time in your calendar."
            )
        proposal = self.proposer.propose(session, finding, zones, now)
        if proposal is None:
            return None
        self.measured.append(proposal)
        return record_offers(
            session, finding, proposal, now=now, link_hours=self.link_hours, base_url=self.base_url, zone=zone
        )


def booking_offering(runtime: Runtime) -> Offering | None:
    """This cycle's offering, when booking is enabled and the pages have a public address to link to."""
    settings = runtime.settings.booking
    if not settings.enabled or not runtime.bookers or not runtime.policy.base_url:
        return None
    proposer = Proposer(settings, runtime.bookers, default_zone=runtime.policy.default_zone)
    return Offering(proposer, settings.link_hours, runtime.policy.base_url, budget=settings.cycle_seconds)
