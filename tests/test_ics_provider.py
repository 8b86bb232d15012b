"""ICS feeds end to end: conditional GET over HTTP, failures named per feed, no mass cancellation."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from emulators.http import Fault, Reply
from emulators.ics_feed import IcsFeedServer
from providers.ics import IcsFeed, IcsFeedProvider
from providers.retry import RetryPolicy
from sync.config import ConfigError, parse_settings
from sync.cycle import run_cycle
from sync.runtime import Runtime, build_providers, build_runtime
from sync.store.events import load_events
from sync.store.models import CalendarRow

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)  # a Monday
MARIA, BOB = "maria@acme.test", "bob@acme.test"


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def feed(*events: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//acme//EN", "X-WR-TIMEZONE:Europe/Berlin", *events]
    return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()


def one_off(uid: str, start: datetime, summary: str = "Maria / Bob 1:1") -> str:
    end = start + timedelta(minutes=30)
    head = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"DTSTART:{stamp(start)}", f"DTEND:{stamp(end)}"]
    tail = [f"SUMMARY:{summary}", f"ORGANIZER:mailto:{MARIA}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{BOB}", "END:VEVENT"]
    return "\r\n".join([*head, *tail])


def weekly(uid: str = "weekly-1", exdates: tuple[datetime, ...] = ()) -> str:
    first = NOW - timedelta(weeks=6, hours=3)  # Mondays 09:00 UTC (11:00 Berlin)
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        f"DTSTART;TZID=Europe/Berlin:{first:%Y%m%dT110000}",
    ]
    lines += [f"DTEND;TZID=Europe/Berlin:{first:%Y%m%dT113000}", "RRULE:FREQ=WEEKLY", "SUMMARY:Maria / Bob 1:1"]
    lines += [f"EXDATE:{stamp(d)}" for d in exdates]
    lines += [f"ORGANIZER:mailto:{MARIA}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{BOB}", "END:VEVENT"]
    return "\r\n".join(lines)


@pytest.fixture
def server(ics_server: IcsFeedServer) -> IcsFeedServer:
    return ics_server


def provider(*feeds: IcsFeed, waits: list[float] | None = None) -> IcsFeedProvider:
    sleeps = waits if waits is not None else []
    return IcsFeedProvider(
        feeds=feeds, retry=RetryPolicy(attempts=3), sleeper=sleeps.append, rng=random.Random(1), timeout=5
    )


def world(database_url: str, ics: IcsFeedProvider, clock: list[datetime]) -> Runtime:
    settings = parse_settings(
        {
            "database_url": database_url,
            "directory": {"pairs": [{"manager": MARIA, "report": BOB, "start": "2025-01-01"}]},
        }
    )
    return build_runtime(settings, clock=lambda: clock[0], providers=[ics], send=None)


def test_an_unchanged_feed_costs_one_304_and_writes_nothing(server: IcsFeedServer, database_url: str) -> None:
    server.publish("maria.ics", feed(weekly(), one_off("extra", NOW + timedelta(days=2))))
    ics = provider(IcsFeed(owner=MARIA, url=server.url("maria.ics")))
    clock = [NOW]
    runtime = world(database_url, ics, clock)
    first = run_cycle(runtime).calendars[0]
    assert first.ok and first.full and first.stats.inserted == 2
    clock[0] += timedelta(minutes=5)
    second = run_cycle(runtime).calendars[0]
    assert second.ok and not second.full and second.stats.inserted == second.stats.changed == 0
    gets = server.server.requests_matching("GET", r"/maria\.ics$")
    assert len(gets) == 2 and gets[1].header("if-none-match")
    with runtime.db.session() as session:
        row = session.query(CalendarRow).filter_by(provider="ics", calendar=MARIA).one()
        assert row.time_zone == "Europe/Berlin" and row.last_full_sync_at == NOW
    # A new EXDATE changes the content: one 200, a full listing, the master updated.
    server.publish(
        "maria.ics",
        feed(weekly(exdates=(NOW + timedelta(days=7, hours=-3),)), one_off("extra", NOW + timedelta(days=2))),
    )
    clock[0] += timedelta(minutes=5)
    third = run_cycle(runtime).calendars[0]
    assert third.ok and third.full and third.stats.changed == 1


def test_a_host_without_validators_is_compared_by_content(tmp_path: Path) -> None:
    server = IcsFeedServer(etags=False)
    server.start()
    try:
        server.publish("f.ics", feed(one_off("a", NOW)))
        ics = provider(
            IcsFeed(
                owner=MARIA, url=server.url("f.ics").replace("http://", "webcal://").replace("webcal://", "http://")
            )
        )
        (page,) = ics.list_changes(MARIA, None, NOW)
        assert page.full and [e.event_id for e in page.events] == ["a"]
        (again,) = ics.list_changes(MARIA, page.cursor, NOW)
        assert not again.full and again.events == () and again.cursor == page.cursor
    finally:
        server.stop()
    local = tmp_path / "maria.ics"
    local.write_bytes(feed(one_off("b", NOW)))
    (from_file,) = provider(IcsFeed(owner=MARIA, path=local)).list_changes(MARIA, None, NOW)
    assert [e.event_id for e in from_file.events] == ["b"] and from_file.calendar == MARIA


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_feed_is_named_and_the_others_go_on(server: IcsFeedServer, database_url: str) -> None:
    server.publish("maria.ics", feed(weekly()))
    waits: list[float] = []
    secret = f"http://127.0.0.1:{_closed_port()}/calendar/private-5f2c9a77d1e84b0c/basic.ics"
    ics = provider(IcsFeed(owner=BOB, url=secret), IcsFeed(owner=MARIA, url=server.url("maria.ics")), waits=waits)
    report = run_cycle(world(database_url, ics, [NOW]))
    by = {c.calendar: c for c in report.calendars}
    assert by[MARIA].ok
    assert not by[BOB].ok and by[BOB].error_kind == "transient"
    assert "ICS feed http://127.0.0.1" in (by[BOB].error or "") and "unreachable" in (by[BOB].error or "")
    assert "private-5f2c" not in (by[BOB].error or "")  # the secret part of the address is never shown
    assert len(waits) == 2  # three attempts, the sleeper asked twice


def test_a_feed_that_is_gone_or_serves_html_fails_clearly(server: IcsFeedServer) -> None:
    ics = provider(IcsFeed(owner=MARIA, url=server.url("nothing.ics"), name="Maria cal"))
    with pytest.raises(Exception, match=r"ICS feed 'Maria cal': HTTP 404: the feed is gone"):
        list(ics.list_changes(MARIA, None, NOW))
    server.server.faults.add(Fault(Reply(200, b"<html>sign in</html>", {"Content-Type": "text/html"}), path="login"))
    html = provider(IcsFeed(owner=MARIA, url=server.url("login.ics"), name="m"))
    with pytest.raises(Exception, match="not an iCalendar document"):
        list(html.list_changes(MARIA, None, NOW))


def test_a_feed_that_suddenly_comes_back_empty_is_held(server: IcsFeedServer, database_url: str) -> None:
    series = [weekly(f"w{n}") for n in range(6)]
    server.publish("maria.ics", feed(*series))
    clock = [NOW]
    runtime = world(database_url, provider(IcsFeed(owner=MARIA, url=server.url("maria.ics"))), clock)
    assert run_cycle(runtime).calendars[0].ok
    for empty in (feed(), b""):
        server.publish("maria.ics", empty)
        clock[0] += timedelta(minutes=5)
        result = run_cycle(runtime).calendars[0]
        assert not result.ok and result.error_kind in ("empty_listing", "permanent")
        with runtime.db.session() as session:
            events = load_events(session)
            assert len(events) == 6 and not any(e.is_cancelled for e in events)
    server.publish("maria.ics", feed(*series))
    clock[0] += timedelta(minutes=5)
    assert run_cycle(runtime).calendars[0].ok
    with runtime.db.session() as session:
        assert not any(e.is_cancelled for e in load_events(session))


def test_a_vanished_one_off_is_a_cancellation_only_inside_the_feeds_range(
    server: IcsFeedServer, database_url: str
) -> None:
    """The feed is cut to a window (its earliest one-off): what falls out of it stays as it was."""
    days = {"old": -20, "early": -10, "inside": 3, "late": 10}
    events = {key: one_off(key, NOW + timedelta(days=offset)) for key, offset in days.items()}
    server.publish("maria.ics", feed(*events.values()))
    clock = [NOW]
    runtime = world(database_url, provider(IcsFeed(owner=MARIA, url=server.url("maria.ics"))), clock)
    assert run_cycle(runtime).calendars[0].ok
    # The host now publishes from 10 days back only ("old" drops out), and "inside" was deleted.
    server.publish("maria.ics", feed(events["early"], events["late"]))
    clock[0] += timedelta(minutes=5)
    result = run_cycle(runtime).calendars[0]
    assert result.ok and result.stats.deleted == 1
    with runtime.db.session() as session:
        state = {e.event_id: e.is_cancelled for e in load_events(session)}
    assert state == {"old": False, "early": False, "inside": True, "late": False}


def test_config_and_runtime_build_the_feed_provider(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "ics": {"feeds": [{"owner": "Maria@Acme.test", "url": "webcal://cal.example/x.ics"}], "timeout_seconds": 5},
            "time_zone": "Europe/Berlin",
        }
    )
    (ics,) = build_providers(settings)
    assert isinstance(ics, IcsFeedProvider) and ics.calendars() == (MARIA,) and ics.default_zone == "Europe/Berlin"
    for bad, hint in (
        ({"feeds": [{"owner": MARIA}]}, "set exactly one of url and path"),
        ({"feeds": [{"owner": MARIA, "url": "ftp://x"}]}, "must be http(s)://"),
        ({"feeds": [{"owner": MARIA, "path": "a.ics"}, {"owner": MARIA, "path": "b.ics"}]}, "one feed per owner"),
        ({"feeds": [{"owner": "nobody", "path": "a.ics"}]}, "not an email address"),
    ):
        with pytest.raises(ConfigError, match="ics"):
            try:
                parse_settings({"ics": bad})
            except ConfigError as exc:
                assert hint in str(exc)
                raise
    with pytest.raises(ConfigError, match=r"caldav\.url is not set"):
        parse_settings({"caldav": {"calendars": [{"owner": MARIA, "url": "/maria/cal/"}]}})
