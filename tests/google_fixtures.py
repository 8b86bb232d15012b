"""Helpers shared by tests that drive the real googleapiclient against the Google emulator."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.google import GoogleCalendarEmulator
from providers.base import ChangePage
from providers.google import GoogleCalendarProvider, service_account_info_credentials
from providers.retry import RetryPolicy

ALICE, BOB, CAROL, DAN = "alice@example.com", "bob@example.com", "carol@example.com", "dan@example.com"


@dataclass
class SleepRecorder:
    """The injected sleeper: records the waits asked for instead of waiting."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make_provider(
    emulator: GoogleCalendarEmulator, calendars: tuple[str, ...] = (ALICE,), **kwargs: Any
) -> tuple[GoogleCalendarProvider, SleepRecorder]:
    sleeper = SleepRecorder()
    provider = GoogleCalendarProvider(
        credentials_for=kwargs.pop("credentials_for", None)
        or service_account_info_credentials(emulator.service_account_info()),
        watched=calendars,
        api_endpoint=emulator.api_endpoint,
        sleeper=sleeper,
        rng=random.Random(7),
        retry=kwargs.pop("retry", RetryPolicy(attempts=4, base_delay=1.0)),
        **kwargs,
    )
    return provider, sleeper


def when(value: datetime, zone: str = "Europe/Berlin") -> dict[str, str]:
    from zoneinfo import ZoneInfo

    return {"dateTime": value.astimezone(ZoneInfo(zone)).isoformat(), "timeZone": zone}


def weekly_one_on_one(
    emulator: GoogleCalendarEmulator,
    first: datetime,
    *,
    organizer: str = ALICE,
    attendee: str = BOB,
    event_id: str = "weekly0001",
    title: str = "1:1 Alice / Bob",
    rule: str = "RRULE:FREQ=WEEKLY",
    zone: str = "Europe/Berlin",
    description: str = "",
) -> dict[str, Any]:
    return emulator.insert_event(
        organizer,
        {
            "summary": title,
            "description": description,
            "start": when(first, zone),
            "end": when(first + timedelta(minutes=30), zone),
            "recurrence": [rule],
            "attendees": [
                {"email": organizer, "organizer": True, "responseStatus": "accepted"},
                {"email": attendee, "responseStatus": "accepted"},
            ],
        },
        event_id=event_id,
    )


def instance_id(series_id: str, original_start: datetime) -> str:
    return f"{series_id}_{original_start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def drain(pages: Iterator[ChangePage]) -> list[ChangePage]:
    return list(pages)
