"""Booking one offer: re-check, record the intent, write the event, record it (issue 16).

Crash-safe and idempotent: the intent (`state=booking`) is committed before the provider call, and
the event's id (Google) or `transactionId` (Graph) comes from the finding, so a double click, a
retry after a timeout or a crash between the write and our commit makes one event. A retry of an
intent skips the free/busy re-check, which would otherwise see our own event and call it taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.booking import Booker, NewMeeting
from rules.slots import Interval
from sync.booking.offers import offers_of
from sync.store.db import Database
from sync.store.models import AgendaPairRow, BookingOfferRow, FindingRow


@dataclass(frozen=True)
class Outcome:
    kind: str  # booked | taken | gone | expired
    offer_id: int
    event_id: str | None = None


def meeting_key(finding: FindingRow) -> str:
    """One booking per finding, whichever of its offers is clicked and however often."""
    return f"{finding.rule}|{finding.manager}|{finding.report}|{finding.key}"


def slot_is_free(booker: Booker, manager: str, report: str, slot: Interval) -> bool:
    """Both still free for the slot (one free/busy request)."""
    found = booker.availability(manager, [manager, report], slot)
    return all(a.error is None and not any(slot.overlaps(b) for b in a.busy) for a in found.values())


def usable(session: Session, offer: BookingOfferRow, now: datetime) -> str | None:
    """Why the offer can no longer be booked (None: it can)."""
    booked = [o for o in offers_of(session, offer.finding_id) if o.state == "booked"]
    if booked:
        return "booked"
    if offer.state == "not_needed" or any(o.state == "not_needed" for o in offers_of(session, offer.finding_id)):
        return "not_needed"
    finding = session.get(FindingRow, offer.finding_id)
    if finding is None or finding.status != "open":
        return "resolved"  # a replacement was found meanwhile (booked by hand, or the slot came back)
    if offer.state == "void":
        return "gone"
    if offer.state == "offered" and now >= offer.expires_at:
        return "expired"
    return None


def book(
    db: Database,
    booker: Booker,
    offer_id: int,
    who: str,
    clock: Callable[[], datetime],
    base_url: str,
    crash: Callable[[str], None] = lambda _point: None,
) -> Outcome:
    with db.session() as session:
        offer = session.get(BookingOfferRow, offer_id, with_for_update=True)
        assert offer is not None
        why = usable(session, offer, clock())
        if why == "booked":
            done = next(o for o in offers_of(session, offer.finding_id) if o.state == "booked")
            return Outcome("booked", done.id, done.event_id)
        if why is not None:
            return Outcome(why, offer.id)
        retry = offer.state == "booking"
        finding = session.get(FindingRow, offer.finding_id)
        if finding is None:
            return Outcome("gone", offer.id)
        pair = session.scalar(select(AgendaPairRow).filter_by(manager=offer.manager, report=offer.report))
        page = f"{base_url.rstrip('/')}/a/{pair.page_id}" if pair is not None else ""
        meeting = NewMeeting(
            organizer=offer.manager,
            attendee=offer.report,
            start=offer.start,
            end=offer.end,
            title=offer.title,
            description=f"Booked with oneonone. The agenda: {page}" if page else "Booked with oneonone.",
            time_zone=offer.time_zone,
            key=meeting_key(finding),
        )
        slot, manager, report = Interval(offer.start, offer.end), offer.manager, offer.report
        if not retry:
            offer.state, offer.booked_by = "booking", who  # the intent, committed before the write
    if not retry and not slot_is_free(booker, manager, report, slot):
        with db.session() as session:
            row = session.get(BookingOfferRow, offer_id)
            assert row is not None
            row.state = "void"
        return Outcome("taken", offer_id)
    booked = booker.create_meeting(meeting)
    crash("after_booking_write")
    with db.session() as session:
        row = session.get(BookingOfferRow, offer_id)
        assert row is not None
        row.state, row.event_id, row.booked_at = "booked", booked.event_id, clock()
        for other in offers_of(session, row.finding_id):
            if other.id != row.id and other.state == "offered":
                other.state = "void"
    return Outcome("booked", offer_id, booked.event_id)
