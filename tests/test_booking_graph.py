"""Booking on Microsoft Graph: getSchedule (busy, working hours, out of office) and a create with
`transactionId`, through real msal and requests against the Graph emulator, then the whole flow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from agenda_fixtures import SimulatedCrash, csrf, sign_in
from flask.testing import FlaskClient
from outlook_fixtures import ALICE, BERLIN, BOB, make_client, make_provider, single, weekly_series

from emulators.graph import GraphEmulator
from emulators.smtp import MailSink
from providers.booking import NewMeeting
from providers.outlook_booking import GraphBooker
from rules.slots import Interval
from sync.booking.page import BookingDeps, booking_blueprints, create_booking_blueprint
from sync.booking.propose import Proposer
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import FindingRow
from sync.web import agenda_deps, create_app

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 2 March
SERIES = NOW.replace(hour=9)  # Mondays 10:00 in Berlin
CANCELLED = SERIES + timedelta(weeks=1)
BOOK = re.compile(r'href="http://127\.0\.0\.1:8080(/book/[A-Za-z0-9_-]+)"[^>]*>([^<]+)</a>')


def _booker(emulator: GraphEmulator) -> GraphBooker:
    client, _ = make_client(emulator)
    return GraphBooker(client)


def test_get_schedule_gives_busy_times_working_hours_and_out_of_office_days_in_one_request(
    graph_emulator: GraphEmulator,
) -> None:
    single(graph_emulator, NOW.replace(hour=12), organizer=BOB, attendee=None, subject="Dentist", minutes=60)
    graph_emulator.create_event(
        BOB,
        {
            "subject": "Holiday",
            "showAs": "oof",
            "isAllDay": True,
            "start": {"dateTime": "2026-03-04T00:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-03-06T00:00:00", "timeZone": "Europe/Berlin"},
        },
    )
    graph_emulator.set_working_hours(BOB, "07:30", "15:00")
    booker = _booker(graph_emulator)
    before = booker.requests_made
    found = booker.availability(ALICE, [ALICE, BOB, "nobody@contoso.com"], Interval(NOW, NOW + timedelta(days=7)))
    assert booker.requests_made - before == 1
    bob = found[BOB]
    assert Interval(NOW.replace(hour=12), NOW.replace(hour=13)) in bob.busy
    assert bob.hours is not None and (bob.hours.zone, str(bob.hours.start), str(bob.hours.end)) == (
        "Europe/Berlin",
        "07:30:00",
        "15:00:00",
    )
    assert sorted(d.isoformat() for d in bob.away_days) == ["2026-03-04", "2026-03-05"]
    assert found[ALICE].busy == () and found[ALICE].error is None
    assert found["nobody@contoso.com"].error == "ErrorMailRecipientNotFound"


def test_a_retried_create_with_the_same_transaction_id_makes_one_event(graph_emulator: GraphEmulator) -> None:
    booker = _booker(graph_emulator)
    meeting = NewMeeting(ALICE, BOB, NOW, NOW + timedelta(minutes=30), "1:1 Alice / Bob", "x", "Europe/Berlin", "k1")
    first, again = booker.create_meeting(meeting), booker.create_meeting(meeting)
    assert first.event_id == again.event_id
    assert len([e for e in graph_emulator.events(ALICE) if e["subject"] == "1:1 Alice / Bob"]) == 1
    (event,) = graph_emulator.events(BOB)
    assert event["subject"] == "1:1 Alice / Bob"  # the report has the invitation


@dataclass
class World:
    emulator: GraphEmulator
    sink: MailSink
    runtime: Runtime
    now: list[datetime]
    queued_by: CycleReport | None = None

    def cycle(self, advance: timedelta = timedelta(minutes=5)) -> CycleReport:
        self.now[0] += advance
        return run_cycle(self.runtime)

    def buttons(self) -> list[tuple[str, str]]:
        return BOOK.findall(self.warning()[0])

    def warning(self) -> tuple[str, str]:
        (mail,) = [m for m in self.sink.messages if "cancelled" in m["Subject"]]
        return mail.get_body(("html",)).get_content(), mail.get_body(("plain",)).get_content()

    def browser(self, crash: Any = None) -> FlaskClient:
        deps = agenda_deps(self.runtime)
        deps.deliver = None
        blueprints = booking_blueprints(self.runtime, deps)
        if crash is not None:
            proposer = Proposer(self.runtime.settings.booking, self.runtime.bookers)
            blueprints = [create_booking_blueprint(BookingDeps(deps, self.runtime.bookers, proposer, crash=crash))]
        client = create_app(deps, blueprints=blueprints).test_client()
        sign_in(self, client, ALICE)  # type: ignore[arg-type]
        return client

    def booked(self) -> list[dict[str, Any]]:
        return [e for e in self.emulator.events(ALICE) if e["type"] == "singleInstance"]


def _world(emulator: GraphEmulator, sink: MailSink, database_url: str, before_warning: Any = None) -> World:
    settings = parse_settings(
        {
            "database_url": database_url,
            "concurrency": 1,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@contoso.com"},
            "directory": {"pairs": [{"manager": ALICE, "report": BOB, "start": (NOW - timedelta(days=60)).date()}]},
            "agenda": {"nudges": False},
            "booking": {"enabled": True},
        }
    )
    now = [NOW]
    provider, _ = make_provider(emulator, (ALICE,))
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@contoso.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    world = World(emulator, sink, runtime, now)
    weekly_series(emulator, SERIES - timedelta(weeks=4), zone=BERLIN)
    world.cycle()
    (master,) = [e for e in emulator.events(ALICE) if e["type"] == "seriesMaster"]
    emulator.cancel_occurrence(ALICE, emulator.occurrence_id(ALICE, master["id"], CANCELLED))
    world.cycle()
    if before_warning is not None:
        before_warning(emulator)
    world.queued_by = world.cycle(timedelta(hours=25))
    return world


@pytest.fixture
def world(graph_emulator: GraphEmulator, sink: MailSink, database_url: str) -> World:
    return _world(graph_emulator, sink, database_url)


def test_a_cancellation_gets_three_slots_and_one_click_books_one_event_that_resolves_it(world: World) -> None:
    assert [label for _, label in world.buttons()] == [
        "Book Tue 3 Mar, 10:30–11:00 (your time)",
        "Book Wed 4 Mar, 10:00–10:30 (your time)",
        "Book Thu 5 Mar, 10:00–10:30 (your time)",
    ]
    link = world.buttons()[1][0]
    browser = world.browser()
    shown = browser.get(link)
    assert shown.status_code == 200 and "Wed 4 Mar, 10:00–10:30" in shown.get_data(as_text=True)
    token = csrf(shown)
    assert "Booked" in browser.post(link, data={"csrf": token}).get_data(as_text=True)
    assert "Booked" in browser.post(link, data={"csrf": token}).get_data(as_text=True)  # double click
    (event,) = world.booked()
    assert event["subject"] == "1:1 Alice / Bob" and event["start"]["dateTime"].startswith("2026-03-04T09:00:00")
    assert [a["emailAddress"]["address"] for a in event["attendees"]] == [BOB]
    world.cycle()
    with world.runtime.db.session() as session:
        (finding,) = session.query(FindingRow).filter_by(rule="cancelled-without-reschedule").all()
        assert finding.status == "resolved"


def test_a_crash_after_the_create_books_once(world: World) -> None:
    link = world.buttons()[0][0]

    def crash(point: str) -> None:
        if point == "after_booking_write":
            raise SimulatedCrash(point)

    dying = world.browser(crash)
    with pytest.raises(SimulatedCrash):
        dying.post(link, data={"csrf": csrf(dying.get(link))})
    browser = world.browser()
    assert "Booked" in browser.post(link, data={"csrf": csrf(browser.get(link))}).get_data(as_text=True)
    assert len(world.booked()) == 1


def test_a_slot_taken_after_the_email_is_refused_with_fresh_slots(world: World) -> None:
    link = world.buttons()[0][0]  # Tue 3 Mar 10:30 Berlin
    single(world.emulator, NOW.replace(day=3, hour=9), organizer=BOB, attendee=None, subject="Taken", minutes=60)
    taken = world.browser().get(link)
    page = taken.get_data(as_text=True)
    assert taken.status_code == 409 and "no longer free" in page and "/book/" in page
    assert world.booked() == []


def test_out_of_office_all_week_gets_no_slot_that_week(
    graph_emulator: GraphEmulator, sink: MailSink, database_url: str
) -> None:
    def away(emulator: GraphEmulator) -> None:
        emulator.create_event(
            BOB,
            {
                "subject": "Ski week",
                "showAs": "oof",
                "isAllDay": True,
                "start": {"dateTime": "2026-03-02T00:00:00", "timeZone": "Europe/Berlin"},
                "end": {"dateTime": "2026-03-09T00:00:00", "timeZone": "Europe/Berlin"},
            },
        )

    world = _world(graph_emulator, sink, database_url, away)
    assert [label for _, label in world.buttons()] == [
        "Book Mon 9 Mar, 10:00–10:30 (your time)",
        "Book Tue 10 Mar, 10:00–10:30 (your time)",
        "Book Wed 11 Mar, 10:00–10:30 (your time)",
    ]


def test_zones_nine_hours_apart_say_there_is_no_shared_hour_or_find_the_one_there_is(
    graph_emulator: GraphEmulator, sink: MailSink, database_url: str
) -> None:
    # Bob works 08:00-17:00 at UTC-8 (no DST), Alice 08:00-17:00 in Berlin: 17:00 Berlin is 08:00 for Bob.
    graph_emulator.store.mailbox(BOB).time_zone = "Pacific/Pitcairn"
    world = _world(graph_emulator, sink, database_url)
    assert world.buttons() == []
    assert "You are not both free in working hours by Sun 15 Mar, nor in the two weeks after." in world.warning()[1]


def test_zones_nine_hours_apart_book_the_hour_they_share(
    graph_emulator: GraphEmulator, sink: MailSink, database_url: str
) -> None:
    graph_emulator.store.mailbox(BOB).time_zone = "Pacific/Pitcairn"
    graph_emulator.set_working_hours(ALICE, "08:00", "18:00")
    world = _world(graph_emulator, sink, database_url)
    assert [label for _, label in world.buttons()] == [
        "Book Tue 3 Mar, 17:00–17:30 (your time)",
        "Book Wed 4 Mar, 17:00–17:30 (your time)",
        "Book Thu 5 Mar, 17:00–17:30 (your time)",
    ]


def test_the_free_busy_cost_per_warning_is_one_request(world: World) -> None:
    """The cost is measured where the warning is queued: one getSchedule for both people."""
    assert world.queued_by is not None
    ((requests, seconds),) = world.queued_by.freebusy
    assert requests == 1 and 0 <= seconds < 5


def test_the_emulators_get_schedule_answers_in_the_documented_shape(graph_emulator: GraphEmulator) -> None:
    single(graph_emulator, NOW.replace(hour=9), organizer=BOB, attendee=None, subject="Dentist", minutes=60)
    client, _ = make_client(graph_emulator)
    reply = client.call(
        ALICE,
        "POST",
        client.user_url(ALICE, "calendar", "getSchedule"),
        what="getSchedule",
        json={
            "schedules": [BOB],
            "startTime": {"dateTime": "2026-03-02T08:00:00", "timeZone": "UTC"},
            "endTime": {"dateTime": "2026-03-02T11:00:00", "timeZone": "UTC"},
            "availabilityViewInterval": 60,
        },
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    )
    (info,) = reply.body["value"]
    assert info["scheduleId"] == BOB and info["availabilityView"] == "020"
    (item,) = info["scheduleItems"]
    assert item["status"] == "busy" and item["subject"] == "Dentist"
    assert item["start"] == {"dateTime": "2026-03-02T01:00:00.0000000", "timeZone": "Pacific Standard Time"}
    assert info["workingHours"]["timeZone"] == {"name": "W. Europe Standard Time"}
