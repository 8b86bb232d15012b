"""Helpers shared by tests that drive the real msal and requests against the Graph emulator."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from google_fixtures import SleepRecorder

from emulators.graph import GraphEmulator
from providers.base import ChangePage
from providers.outlook import OutlookProvider
from providers.outlook_http import GraphClient
from providers.retry import RetryPolicy
from rules.model import CalendarEvent

ALICE, BOB, CAROL, DAN = "alice@contoso.com", "bob@contoso.com", "carol@contoso.com", "dan@contoso.com"
CLIENT_ID, SECRET = "oneonone-daemon", "s3cret-value"
BERLIN = "W. Europe Standard Time"
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def make_client(emulator: GraphEmulator, secret: str = SECRET, **kwargs: Any) -> tuple[GraphClient, SleepRecorder]:
    sleeper = SleepRecorder()
    client = GraphClient(
        tenant_id=emulator.tenant_id,
        client_id=CLIENT_ID,
        credential=lambda: secret,
        authority=emulator.base_url,
        graph_endpoint=emulator.graph_endpoint,
        ca_bundle=str(emulator.ca_pem),
        sleeper=sleeper,
        rng=random.Random(7),
        retry=kwargs.pop("retry", RetryPolicy(attempts=4, base_delay=1.0)),
        **kwargs,
    )
    return client, sleeper


def make_provider(
    emulator: GraphEmulator, mailboxes: tuple[str, ...] = (ALICE,), *, secret: str = SECRET, **kwargs: Any
) -> tuple[OutlookProvider, SleepRecorder]:
    client, sleeper = make_client(emulator, secret)
    return OutlookProvider(client=client, watched=mailboxes, **kwargs), sleeper


def when(value: datetime, zone: str = BERLIN) -> dict[str, str]:
    """A dateTimeTimeZone as Outlook writes it: local wall-clock time and a Windows zone name."""
    from emulators.graph_zones import resolve

    local = value.astimezone(resolve(zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(), "timeZone": zone}


def weekly_series(
    emulator: GraphEmulator,
    first: datetime,
    *,
    organizer: str = ALICE,
    attendee: str = BOB,
    subject: str = "1:1 Alice / Bob",
    zone: str = BERLIN,
    interval: int = 1,
    until: datetime | None = None,
    minutes: int = 30,
) -> dict[str, Any]:
    """A weekly 1:1 organized in Outlook, first slot `first` (aware)."""
    from emulators.graph_zones import resolve

    local = first.astimezone(resolve(zone))
    rng: dict[str, Any] = {"type": "noEnd", "startDate": local.date().isoformat(), "recurrenceTimeZone": zone}
    if until is not None:
        rng |= {"type": "endDate", "endDate": until.astimezone(resolve(zone)).date().isoformat()}
    return emulator.create_event(
        organizer,
        {
            "subject": subject,
            "body": {"contentType": "HTML", "content": "<p>Bring your topics.</p>"},
            "start": when(first, zone),
            "end": when(first + timedelta(minutes=minutes), zone),
            "recurrence": {
                "pattern": {"type": "weekly", "interval": interval, "daysOfWeek": [DAYS[local.weekday()]]},
                "range": rng,
            },
            "attendees": [{"emailAddress": {"address": attendee}, "type": "required"}],
        },
    )


def single(
    emulator: GraphEmulator,
    start: datetime,
    *,
    organizer: str = ALICE,
    attendee: str | None = BOB,
    subject: str = "1:1 Alice / Bob",
    zone: str = BERLIN,
    minutes: int = 30,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": subject,
        "start": when(start, zone),
        "end": when(start + timedelta(minutes=minutes), zone),
    }
    if attendee:
        body["attendees"] = [{"emailAddress": {"address": attendee}, "type": "required"}]
    return emulator.create_event(organizer, body)


def drain(pages: Iterator[ChangePage]) -> list[ChangePage]:
    return list(pages)


def events_of(pages: list[ChangePage]) -> list[CalendarEvent]:
    return [e for p in pages for e in p.events]


def local(value: datetime, zone: str = "Europe/Berlin") -> datetime:
    return value.astimezone(ZoneInfo(zone))
