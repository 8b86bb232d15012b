"""The booking tables (issue 16), on the store's one metadata; `sync.store.models` re-exports them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base


class BookingOfferRow(Base):
    """A slot proposed in a warning (issue 16), stored when the warning is queued so a resend offers the
    same slots. The link carries a random token; only its hash is kept. `state`: offered → booking (the
    intent, committed before the provider call) → booked; the other offers of a finding become `void`
    once one is booked or refused, so every link is single-use for its finding."""

    __tablename__ = "booking_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    finding_id: Mapped[int] = mapped_column(Integer, index=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    provider: Mapped[str] = mapped_column(String(32))
    start: Mapped[datetime]
    end: Mapped[datetime]
    title: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(String(64))  # the organizer's: the event is written in it
    in_window: Mapped[bool] = mapped_column(Boolean, default=True)  # False: after the rule's window
    state: Mapped[str] = mapped_column(String(16), default="offered")  # offered|booking|booked|void|not_needed
    event_id: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    booked_at: Mapped[datetime | None]
    booked_by: Mapped[str | None] = mapped_column(String(320))  # who booked it, or said it is not needed
    note: Mapped[str | None] = mapped_column(Text)  # "not needed": the reason given
