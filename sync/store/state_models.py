"""What each pair was last judged on (issue 20); `sync.store.models` re-exports it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base


class PairStateRow(Base):
    """A pair's inputs when it was last judged (a digest of its calendars' rows and its context) and the
    next moment the clock alone may change its findings: until one of them moves, judging it again is
    known to give the same findings."""

    __tablename__ = "pair_states"
    __table_args__ = (UniqueConstraint("manager", "report"), Index("ix_pair_states_next_check", "next_check"))

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    calendars: Mapped[list[Any]] = mapped_column(JSON, default=list)  # the calendars its history rests on
    inputs: Mapped[str] = mapped_column(String(64))
    next_check: Mapped[datetime | None]
    judged_at: Mapped[datetime]
