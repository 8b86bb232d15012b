"""The house rules' numbers (cadence, windows, grace periods), validated and turned into `RuleSettings`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import (
    Field,
    field_validator,
)

from rules.address import address_or_none
from sync.config.base import Section, email_address


class RulesSettings(Section):
    title_patterns: tuple[str, ...] | None = None
    unknown_pairs: Literal["organizer", "ignore"] = "organizer"
    cadence_days: int = Field(7, ge=1)
    max_gap_days: int = Field(14, ge=1)
    reschedule_window_days: int = Field(7, ge=0)
    reschedule_grace_hours: int = Field(24, ge=0)
    late_cancellation_hours: int = Field(24, ge=0)
    min_duration_minutes: int = Field(25, ge=0)
    churn_moves: int = Field(3, ge=1)
    churn_window: int = Field(5, ge=1)
    history_days: int = Field(120, ge=14)
    horizon_days: int = Field(35, ge=1)
    # A cycle re-judges the pairs whose calendars changed and those whose next time-driven change (a gap
    # opening, a nudge coming due) has passed; this often it also checks every pair's other inputs (pauses,
    # zones, stale calendars) and re-judges the pairs where one moved.
    full_evaluation_minutes: int = Field(30, ge=1)
    # "manager,report": regex. A title matching it is a 1:1 of that pair even without attendee lines (ICS feeds).
    pair_title_patterns: dict[str, str] = Field(default_factory=dict)
    # Held from evidence: "prefer" judges a past 1:1 with a video call by who joined it (Google Meet, Teams);
    # "off" (until the scopes are granted, see the README) leaves it to the calendar.
    attendance: Literal["off", "prefer"] = "off"
    min_attended_minutes: int = Field(10, ge=1)

    @field_validator("attendance", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        """YAML reads a bare `off` as false: it means the same here."""
        return "off" if value is False else value

    @field_validator("pair_title_patterns")
    @classmethod
    def _pair_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            manager, sep, report = key.partition(",")
            if not sep or address_or_none(manager) is None or address_or_none(report) is None:
                raise ValueError(f"key {key!r} must be 'manager@example.com,report@example.com'")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern for {key!r} is not a valid regular expression: {exc}") from None
        pairs = ((k.partition(",")[0], k.partition(",")[2], v) for k, v in value.items())
        return {f"{email_address(manager)},{email_address(report)}": v for manager, report, v in pairs}


class AttendanceSettings(Section):
    """When and how far back the calls' attendance is read (only with `rules.attendance: prefer`)."""

    # Evidence appears minutes after a call ends: a 1:1 is read only this long after its end.
    settle_minutes: int = Field(30, ge=0)
    # Calls older than this are not read (Meet keeps conference records 30 days; a first install reads no history).
    lookback_days: int = Field(7, ge=1, le=30)
