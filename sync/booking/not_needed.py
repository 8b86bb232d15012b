""" "Not needed": the manager says a warning needs no new 1:1, and why; recorded with who said it.

On leave until a date pauses the pair until then, and the pair ended pauses it with no end in sight
(the directory file is the manager's to edit; the page says so): either way the rules count those
days as away, so the finding resolves at the next cycle and no later warning repeats it. "Other"
keeps the reason on record. Every offer of the finding stops working.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.booking.offers import offers_of
from sync.store.models import BookingOfferRow, PauseRow

REASONS = ("leave", "ended", "other")
ENDED_DAYS = 3650  # "the pair ended": paused for ten years, until the directory says so too


class NotNeededError(ValueError):
    """The form was incomplete: the page shows it again with the message."""


@dataclass(frozen=True)
class Said:
    reason: str
    until: date | None
    text: str


def parse(reason: str, until: str | None, text: str | None, today: date) -> Said:
    if reason not in REASONS:
        raise NotNeededError("Pick one of the reasons.")
    if reason == "leave":
        try:
            day = date.fromisoformat(until or "")
        except ValueError as exc:
            raise NotNeededError("Give the date the leave ends.") from exc
        if day <= today:
            raise NotNeededError("The leave must end after today.")
        return Said(reason, day, "")
    if reason == "other" and not (text or "").strip():
        raise NotNeededError("Say in a few words why no 1:1 is needed.")
    return Said(reason, None, (text or "").strip()[:500])


def record(session: Session, offer: BookingOfferRow, said: Said, who: str, now: datetime, today: date) -> None:
    if said.reason in ("leave", "ended"):
        until = said.until if said.until is not None else today + timedelta(days=ENDED_DAYS)
        pause = session.scalar(select(PauseRow).filter_by(manager=offer.manager, report=offer.report))
        if pause is None:
            pause = PauseRow(manager=offer.manager, report=offer.report)
            session.add(pause)
        pause.since, pause.until = today, until
    note = {"leave": f"on leave until {said.until}", "ended": "the pair ended", "other": said.text}[said.reason]
    for row in offers_of(session, offer.finding_id):
        if row.state in ("offered", "void"):
            row.state = "void"
    offer.state, offer.booked_by, offer.booked_at, offer.note = "not_needed", who, now, f"{said.reason}: {note}"
