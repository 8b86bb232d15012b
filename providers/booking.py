"""The booking side of a provider: free/busy in, a one-off 1:1 out (issue 16).

Neutral types, so the slot search (`rules/slots.py`) and the booking page never see a wire
format. `create_meeting` is idempotent by `meeting.key`: the provider turns the key into the
event's id (Google) or `transactionId` (Graph), so a double click, a retry after a timeout or a
crash between the write and our commit books one event; a duplicate answers the event already
made, never an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from rules.slots import Interval, WorkingHours


@dataclass(frozen=True)
class Availability:
    """One person's time as the provider reports it; `hours` None when the provider gives none."""

    email: str
    busy: tuple[Interval, ...] = ()
    hours: WorkingHours | None = None
    away_days: frozenset[date] = frozenset()
    error: str | None = None  # the provider could not tell (unknown calendar, no permission)


@dataclass(frozen=True)
class NewMeeting:
    organizer: str
    attendee: str
    start: datetime
    end: datetime
    title: str
    description: str
    time_zone: str
    key: str  # what makes a retry the same booking: the finding's identity


@dataclass(frozen=True)
class Booked:
    event_id: str
    already: bool  # the provider had it from an earlier try


class Booker(Protocol):
    name: str

    @property
    def requests_made(self) -> int:
        """Provider requests made so far (the cost of free/busy is measured by difference)."""
        ...

    def availability(self, as_user: str, people: Sequence[str], window: Interval) -> dict[str, Availability]: ...

    def create_meeting(self, meeting: NewMeeting) -> Booked: ...


def event_id_for(key: str) -> str:
    """A Google-valid client id (base32hex: 0-9 and a-v), stable for the key."""
    return "oo" + hashlib.sha256(key.encode()).hexdigest()[:40]
