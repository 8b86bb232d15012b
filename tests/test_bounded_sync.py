"""A calendar server cannot stall the cycle: a page token that never ends, a body trickled one byte at
a time, or a listing without end fails that one calendar, named, while the others sync as usual.

The deadlines here are short (one second) so the tests are quick; the daemon's are minutes
(`providers/deadline.py`). The servers trickle for far longer than any deadline: a client that waited
for the whole body would hold the test until its own timeout.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import requests
from google_fixtures import ALICE, CAROL, drain, make_provider, weekly_one_on_one
from outlook_fixtures import make_client, weekly_series

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.http import Fault, Reply
from emulators.ics_feed import IcsFeedServer
from providers.base import TransientError
from providers.deadline import ListingBounds, bounded_session
from providers.ics import IcsFeed, IcsFeedProvider
from providers.outlook import OutlookProvider
from providers.retry import RetryPolicy
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.runtime import build_runtime

NOW = datetime.now(UTC).replace(microsecond=0)
ONCE = RetryPolicy(attempts=1)
ENDLESS = {"kind": "calendar#events", "timeZone": "UTC", "items": [], "nextPageToken": "again-and-again"}


@pytest.mark.timeout(60)
def test_a_google_page_token_that_never_ends_fails_that_calendar_and_the_others_sync(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    weekly_one_on_one(google_emulator, NOW - timedelta(weeks=4), zone="UTC")
    google_emulator.server.faults.add(Fault(Reply.json(200, ENDLESS), times=10_000, path=rf"/{CAROL}/events$"))
    provider, _ = make_provider(google_emulator, (CAROL, ALICE), retry=ONCE)
    settings = parse_settings({"database_url": database_url})
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[provider], send=None)
    report = run_cycle(runtime)
    by_calendar = {c.calendar: c for c in report.calendars}
    assert by_calendar[ALICE].ok
    carol = by_calendar[CAROL]
    assert not carol.ok and carol.error_kind == "transient" and "same page token twice" in (carol.error or "")
    asked = google_emulator.server.requests_matching("GET", rf"/{CAROL}/events$")
    assert len(asked) == 2  # the first page, and the one that repeated its token: then it stopped


@pytest.mark.timeout(60)
def test_a_google_listing_past_its_page_limit_is_stopped(google_emulator: GoogleCalendarEmulator) -> None:
    for week in range(4):
        weekly_one_on_one(google_emulator, NOW - timedelta(weeks=8 - week), zone="UTC", event_id=f"series{week:04d}")
    provider, _ = make_provider(google_emulator, (ALICE,), retry=ONCE, page_size=1, max_pages=2)
    with pytest.raises(TransientError, match="past 2 pages"):
        drain(provider.list_changes(ALICE, None, NOW))


@pytest.mark.timeout(60)
def test_a_google_body_trickled_one_byte_at_a_time_fails_at_the_request_deadline(
    google_emulator: GoogleCalendarEmulator,
) -> None:
    weekly_one_on_one(google_emulator, NOW - timedelta(weeks=4), zone="UTC")
    google_emulator.server.faults.add(Fault(None, trickle=0.2, path=r"/events$"))  # minutes for the whole body
    provider, _ = make_provider(google_emulator, (ALICE,), retry=ONCE, request_seconds=1.0)
    with pytest.raises(TransientError, match="no complete answer within 1 s"):
        drain(provider.list_changes(ALICE, None, NOW))
    # The next cycle, with an honest answer, syncs as usual.
    assert drain(provider.list_changes(ALICE, None, NOW))[-1].cursor


def _graph(graph_emulator: GraphEmulator, **client: float) -> OutlookProvider:
    graph, _ = make_client(graph_emulator, retry=ONCE, **client)
    return OutlookProvider(client=graph, watched=(ALICE,))


@pytest.mark.timeout(60)
def test_a_graph_next_link_that_comes_back_again_fails_that_mailbox(graph_emulator: GraphEmulator) -> None:
    weekly_series(graph_emulator, NOW - timedelta(weeks=4))
    loop = f"{graph_emulator.graph_endpoint}/users/{ALICE}/calendarView/delta?$skiptoken=again"
    page = {"value": [], "@odata.nextLink": loop}
    graph_emulator.server.faults.add(Fault(Reply.json(200, page), times=10_000, path=r"/calendarView/delta$"))
    with pytest.raises(TransientError, match="same page token twice"):
        drain(_graph(graph_emulator).list_changes(ALICE, None, NOW))


@pytest.mark.timeout(60)
def test_a_graph_body_trickled_one_byte_at_a_time_fails_at_the_request_deadline(graph_emulator: GraphEmulator) -> None:
    weekly_series(graph_emulator, NOW - timedelta(weeks=4))
    graph_emulator.server.faults.add(Fault(None, trickle=0.2, path=r"/calendarView/delta$"))
    with pytest.raises(TransientError, match="no complete answer within 1 s"):
        drain(_graph(graph_emulator, request_seconds=1.0).list_changes(ALICE, None, NOW))


@pytest.mark.timeout(60)
def test_an_ics_feed_trickled_one_byte_at_a_time_fails_that_feed_only(ics_server: IcsFeedServer) -> None:
    calendar = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + b"X-PAD:" + b"x" * 400 + b"\r\nEND:VCALENDAR\r\n"
    )
    ics_server.publish("slow.ics", calendar)
    ics_server.publish("fine.ics", calendar)
    ics_server.server.faults.add(Fault(None, trickle=0.2, path=r"slow\.ics$"))
    provider = IcsFeedProvider(
        feeds=(
            IcsFeed(owner="slow@acme.test", url=ics_server.url("slow.ics")),
            IcsFeed(owner="fine@acme.test", url=ics_server.url("fine.ics")),
        ),
        retry=ONCE,
        sleeper=lambda _: None,
        rng=random.Random(1),
        timeout=5,
        session=bounded_session(requests.Session(), 1.0),
    )
    with pytest.raises(TransientError, match=r"slow@acme\.test"):
        drain(provider.list_changes("slow@acme.test", None, NOW))
    assert drain(provider.list_changes("fine@acme.test", None, NOW))


def test_a_listing_is_bounded_in_time_with_the_clock_injected() -> None:
    moments = iter([0.0, 10.0, 31.0])
    bounds = ListingBounds("maria@acme.test", seconds=30, clock=lambda: next(moments))
    bounds.next_page(None)
    bounds.next_page("p2")
    with pytest.raises(TransientError, match="longer than 30 s"):
        bounds.next_page("p3")


def test_an_unknown_calendar_zone_is_named_in_the_log_not_dropped_silently(
    google_emulator: GoogleCalendarEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    google_emulator.server.faults.add(
        Fault(
            Reply.json(200, {**ENDLESS, "timeZone": "Mars/Olympus", "nextPageToken": None, "nextSyncToken": "s1"}),
            path=r"/events$",
        )
    )
    provider, _ = make_provider(google_emulator, (ALICE,), retry=ONCE)
    (page,) = drain(provider.list_changes(ALICE, None, NOW))
    assert page.time_zone is None
    assert "unknown time zone 'Mars/Olympus'" in caplog.text and ALICE in caplog.text
