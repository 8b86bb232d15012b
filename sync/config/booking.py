"""The booking section (issue 16): proposed slots in warnings, booked with one click.

Off by default: booking needs scopes a read-only install has not granted (README, "Booking":
`calendar.events` and `calendar.freebusy` on Google, `Calendars.ReadWrite` on Graph).
"""

from __future__ import annotations

import re
from datetime import time

from pydantic import Field, field_validator

from sync.config.base import Section

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class BookingSettings(Section):
    enabled: bool = False
    # For people whose provider gives no working hours (Google never does): local time, Monday to Friday.
    working_hours: str = "09:00-17:00"
    slots: int = Field(3, ge=1, le=5)
    step_minutes: int = Field(30, ge=5, le=120)
    link_hours: int = Field(72, ge=1, le=24 * 14)
    # One free/busy call (Google: the whole request) is tried once within this; a cycle spends at most
    # `cycle_seconds` on free/busy in all: the warnings after that go without slots and say so.
    timeout_seconds: float = Field(10, gt=0)
    cycle_seconds: float = Field(60, gt=0)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = _HOURS.match(value.strip())
        if match is None or value.strip()[:5] >= value.strip()[6:]:
            raise ValueError(f"expected HH:MM-HH:MM with the start first, e.g. 09:00-17:00 (got {value!r})")
        return value.strip()

    def hours(self) -> tuple[time, time]:
        start, end = self.working_hours.split("-")
        last = time(23, 59, 59) if end == "24:00" else time.fromisoformat(end)
        return time.fromisoformat(start), last
