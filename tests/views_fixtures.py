"""A small org with a hand-computed 1:1 history, seeded straight into the store.

Maria (M) manages Raj (R) and Pia (P); Bea (B) manages Maria. Times are Europe/Berlin. `NOW` is
Monday 10 March 2025, 08:30 — the default digest time — and the figures the tests expect were
worked out by hand from the list below.

- Maria / Raj, Mondays 10:00 from 6 Jan: 13 Jan cancelled (nothing replaced it); 20 Jan moved to
  Wed 22 Jan; 27 Jan cancelled and replaced by a 1:1 on Wed 29 Jan; 10 Feb cancelled while Raj was
  out of office (10–14 Feb); 24 Feb shortened to 15 minutes (a `short-meeting`); the rest held.
  Since 1 Jan: held 5 (6 Jan, 3, 17, 24 Feb, 3 Mar), moved 1, replaced 1, cancelled 1, away 1.
  Last held Mon 3 Mar, next Mon 10 Mar 10:00, gap 7 days.
- Maria / Pia, Tuesdays 11:00 from 7 Jan: held to 11 Feb (6), then 18 Feb, 25 Feb and 4 Mar cancelled
  (3). Last held Tue 11 Feb, next Tue 11 Mar, gap 27 days.
- Bea / Maria, Thursdays 15:00 from 9 Jan: all 9 held to 6 Mar. Gap 4 days.

Per manager over 12 weeks: Maria — 2 reports, 1 met within cadence (Raj), 17 due, 4 cancelled
(24%), 2 moved or replaced (12%), longest gap 27 days. Bea — 1 report, 1 met (100%), 9 due, 0%,
0%, longest gap 4 days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from rules_builders import B, M, P, R, at, cancel, events, move, ooo, shorten, weekly
from rules_builders import on as copies_on
from rules_builders import one_off as one_off_meeting

from rules.model import CalendarEvent
from sync.ingest.leases import calendar_row
from sync.store.db import Database
from sync.store.events import WriteStats, upsert_events

NOW = at("2025-03-10T08:30")
START = "2025-01-01"
SECRET_TITLE = "1:1 Maria / Raj TOPSECRET-TITLE"
SECRET_DESCRIPTION = "Salary talk TOPSECRET-DESCRIPTION"
PEOPLE = (M, R, P, B)


def org_events() -> tuple[CalendarEvent, ...]:
    raj = weekly(M, R, "2025-01-06T10:00", title=SECRET_TITLE)
    raj = cancel(raj, "2025-01-13")
    raj = move(raj, "2025-01-20", to="2025-01-22T14:00")
    raj = cancel(raj, "2025-01-27")
    raj = cancel(raj, "2025-02-10")
    raj = shorten(raj, "2025-02-24", minutes=15)
    raj = copies_on(raj, M, R)
    replacement = copies_on(one_off_meeting(M, R, "2025-01-29T11:00", title="1:1 Maria / Raj"), M, R)
    pia = weekly(M, P, "2025-01-07T11:00", title="1:1 Maria / Pia")
    for day in ("2025-02-18", "2025-02-25", "2025-03-04"):
        pia = cancel(pia, day)
    pia = copies_on(pia, M, P)
    bea = copies_on(weekly(B, M, "2025-01-09T15:00", title="Bea / Maria 1:1"), B, M)
    found = events(raj, replacement, pia, bea, ooo(R, "2025-02-10", "2025-02-14"))
    return tuple(_described(e) for e in found)


def _described(event: CalendarEvent) -> CalendarEvent:
    from dataclasses import replace

    return replace(event, description=SECRET_DESCRIPTION) if event.summary == SECRET_TITLE else event


def seed(db: Database, found: Iterable[CalendarEvent] | None = None, now: Any = NOW) -> None:
    """Store the events as synced copies of four watched calendars (Europe/Berlin), fresh as of `now`."""
    groups: dict[tuple[str, str], list[CalendarEvent]] = defaultdict(list)
    for event in found if found is not None else org_events():
        groups[(event.provider, event.calendar)].append(event)
    with db.session() as session:
        for person in PEOPLE:
            row = calendar_row(session, "google", person)
            row.time_zone = "Europe/Berlin"
            row.last_success_at = now - timedelta(minutes=1)
        for (provider, calendar), group in sorted(groups.items()):
            upsert_events(session, provider, calendar, group, now=now, full_listing=False, stats=WriteStats())


def org_settings(database_url: str, *, smtp_port: int = 25, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "poll_interval_seconds": 86400,  # the seeded calendars stay fresh while a test moves the clock
        "time_zone": "Europe/Berlin",
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "oneonone@acme.test"},
        "directory": {
            "pairs": [
                {"manager": M, "report": R, "start": START},
                {"manager": M, "report": P, "start": START},
                {"manager": B, "report": M, "start": START},
            ],
            "domains": ["acme.test"],
        },
        "web": {"base_url": "https://oneonone.acme.test"},
        "agenda": {"nudges": False, "attach": False},
        **extra,
    }
