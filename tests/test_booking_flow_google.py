"""From warning to booked 1:1 on Google: the email's buttons, the signed-in page, the next cycle.

Everything runs through the real googleapiclient against the emulator and real SMTP into a sink;
the clock is injected. Alice (Berlin) has a weekly 1:1 with Bob (UTC) on Mondays at 10:00 UTC.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from agenda_fixtures import NOW, AgendaWorld, SimulatedCrash, csrf, make_agenda_world, sign_in
from flask.testing import FlaskClient
from google_fixtures import ALICE, BOB, instance_id, weekly_one_on_one, when

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from providers.booking import event_id_for
from providers.google import SCOPE_EVENTS, SCOPE_FREEBUSY
from sync.booking.page import BookingDeps, booking_blueprints, create_booking_blueprint
from sync.booking.propose import Proposer
from sync.web import agenda_deps, create_app

BOOK = re.compile(r'href="(https://agenda\.example\.com/book/[A-Za-z0-9_-]+)"[^>]*>([^<]+)</a>')
SCOPES = (SCOPE_EVENTS, SCOPE_FREEBUSY)
CANCELLED = NOW.replace(hour=10) + timedelta(weeks=1)  # Monday 9 March, 10:00 UTC
KEY = f"cancelled-without-reschedule|{ALICE}|{BOB}|{CANCELLED.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _world(emulator: GoogleCalendarEmulator, sink: MailSink, url: str, scopes: tuple[str, ...] = SCOPES) -> AgendaWorld:
    world = make_agenda_world(emulator, sink, url, more={"booking": {"enabled": True}}, scopes=scopes)
    weekly_one_on_one(emulator, NOW.replace(hour=10) - timedelta(weeks=4), zone="UTC")
    world.cycle()
    emulator.delete_event(ALICE, instance_id("weekly0001", CANCELLED))
    world.cycle()
    report = world.cycle(timedelta(hours=25))  # the grace period is over: the warning goes out
    world.queued_by = report  # type: ignore[attr-defined]
    return world


def _warning(world: AgendaWorld) -> tuple[str, str]:
    (mail,) = [m for m in world.sink.messages if "cancelled" in m["Subject"]]
    return mail.get_body(("html",)).get_content(), mail.get_body(("plain",)).get_content()


def _buttons(world: AgendaWorld) -> list[tuple[str, str]]:
    return [(url.removeprefix("https://agenda.example.com"), label) for url, label in BOOK.findall(_warning(world)[0])]


def _browser(world: AgendaWorld, email: str | None = ALICE, crash: object = None) -> FlaskClient:
    deps = agenda_deps(world.runtime)
    deps.deliver = None
    blueprints = booking_blueprints(world.runtime, deps)
    if crash is not None:
        settings = world.runtime.settings.booking
        proposer = Proposer(settings, world.runtime.bookers, default_zone="UTC")
        blueprints = [create_booking_blueprint(BookingDeps(deps, world.runtime.bookers, proposer, crash=crash))]  # type: ignore[arg-type]
    client = create_app(deps, blueprints=blueprints).test_client()
    if email is not None:
        sign_in(world, client, email)
    return client


def _booked(emulator: GoogleCalendarEmulator) -> list[dict[str, object]]:
    return [e for e in emulator.events(ALICE) if e["id"] == event_id_for(KEY)]


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> AgendaWorld:
    return _world(google_emulator, sink, database_url)


def test_a_cancellation_warning_offers_three_free_slots_at_the_usual_time_in_the_managers_zone(
    world: AgendaWorld,
) -> None:
    # Now is Tuesday 3 March 09:10 UTC; the slot was Monday 10:00 UTC = 11:00 in Berlin, Alice's zone.
    assert [label for _, label in _buttons(world)] == [
        "Book Tue 3 Mar, 11:00–11:30 (your time)",
        "Book Wed 4 Mar, 11:00–11:30 (your time)",
        "Book Thu 5 Mar, 11:00–11:30 (your time)",
    ]
    text = _warning(world)[1]
    assert "Book Tue 3 Mar, 11:00–11:30 (your time): https://agenda.example.com/book/" in text


def test_one_click_after_sign_in_books_one_event_and_the_next_cycle_resolves_the_warning(
    world: AgendaWorld,
) -> None:
    link, _ = _buttons(world)[1]
    browser = _browser(world)
    shown = browser.get(link)
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    assert "Book your 1:1 with Bob" in page and "Wed 4 Mar, 11:00–11:30 (your time)" in page
    assert _booked(world.emulator) == []  # showing books nothing
    token = csrf(shown)
    done = browser.post(link, data={"csrf": token})
    assert done.status_code == 200 and "Booked" in done.get_data(as_text=True)
    again = browser.post(link, data={"csrf": token})  # a double click
    assert again.status_code == 200 and "Booked" in again.get_data(as_text=True)
    (event,) = _booked(world.emulator)
    assert event["summary"] == "1:1 Alice / Bob"
    assert [a["email"] for a in event["attendees"]] == [BOB]  # type: ignore[index]
    assert event["start"]["dateTime"].startswith("2026-03-04T10:00:00")  # type: ignore[index]
    assert "/a/" in str(event["description"])
    assert ("insert", event_id_for(KEY), "all") in world.emulator.send_updates
    world.cycle()
    with world.runtime.db.session() as session:
        from sync.store.models import FindingRow

        (finding,) = session.query(FindingRow).filter_by(rule="cancelled-without-reschedule").all()
        assert finding.status == "resolved"
    # The other buttons of that warning are used up.
    other, _ = _buttons(world)[0]
    assert browser.get(other).status_code == 200  # the booked confirmation: it was booked
    assert "Booked" in browser.get(other).get_data(as_text=True)


def test_the_link_alone_books_nothing_and_asks_for_sign_in(world: AgendaWorld) -> None:
    link, _ = _buttons(world)[0]
    stranger = _browser(world, email=None)
    shown = stranger.get(link)
    assert shown.status_code == 401 and "Sign in to book" in shown.get_data(as_text=True)
    posted = stranger.post(link, data={"csrf": csrf(shown)})
    assert posted.status_code == 401
    bob = _browser(world, email=BOB)
    assert bob.get(link).status_code == 401  # signed in, but not as the manager the link was sent to
    assert _booked(world.emulator) == []
    assert _browser(world).post(link, data={"csrf": "forged"}).status_code == 400


def test_a_slot_taken_after_the_email_is_refused_and_fresh_slots_are_offered(world: AgendaWorld) -> None:
    link, _ = _buttons(world)[0]  # Tue 3 Mar 10:00 UTC
    world.emulator.insert_event(
        BOB,
        {
            "summary": "Customer call",
            "start": when(NOW.replace(day=3, hour=10), "UTC"),
            "end": when(NOW.replace(day=3, hour=11), "UTC"),
        },
    )
    browser = _browser(world)
    taken = browser.get(link)
    page = taken.get_data(as_text=True)
    assert taken.status_code == 409 and "no longer free" in page
    fresh = re.findall(r'href="https://agenda\.example\.com(/book/[^"]+)"[^>]*>([^<]+)<', page)
    assert fresh and "Book Tue 3 Mar, 11:00–11:30 (your time)" not in [label for _, label in fresh]
    assert _booked(world.emulator) == []
    confirm = browser.get(fresh[0][0])
    assert browser.post(fresh[0][0], data={"csrf": csrf(confirm)}).status_code == 200
    assert len(_booked(world.emulator)) == 1


def test_a_crash_after_the_write_books_once_when_the_manager_tries_again(world: AgendaWorld) -> None:
    link, _ = _buttons(world)[0]

    def crash(point: str) -> None:
        if point == "after_booking_write":
            raise SimulatedCrash(point)

    dying = _browser(world, crash=crash)
    with pytest.raises(SimulatedCrash):
        dying.post(link, data={"csrf": csrf(dying.get(link))})
    assert len(_booked(world.emulator)) == 1  # Google has it; we never recorded it
    browser = _browser(world)
    shown = browser.get(link)  # the intent is recorded: no re-check that would see our own event
    assert shown.status_code == 200
    assert "Booked" in browser.post(link, data={"csrf": csrf(shown)}).get_data(as_text=True)
    assert len(_booked(world.emulator)) == 1


def test_without_the_free_busy_scope_the_warning_goes_without_slots_and_says_so(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = _world(google_emulator, sink, database_url, scopes=(SCOPE_EVENTS,))
    html, text = _warning(world)
    assert BOOK.findall(html) == []
    assert "No free times are proposed: your calendars could not be read just now." in text
    assert "Reschedule" in text or "replacement" in text


def test_the_free_busy_cost_per_warning_is_one_request(world: AgendaWorld) -> None:
    """Measured where the warning is queued: one freeBusy.query for both people."""
    ((requests, seconds),) = world.queued_by.freebusy  # type: ignore[attr-defined]
    assert requests == 1 and 0 <= seconds < 5


def test_not_needed_on_leave_pauses_the_pair_records_who_said_it_and_the_warning_resolves(world: AgendaWorld) -> None:
    from sync.store.models import BookingOfferRow, FindingRow, PauseRow

    link, _ = _buttons(world)[0]
    browser = _browser(world)
    confirm = browser.get(link)
    assert 'href="' + link + '/not-needed"' in confirm.get_data(as_text=True)
    form = browser.get(link + "/not-needed")
    assert form.status_code == 200 and "No new 1:1 with Bob?" in form.get_data(as_text=True)
    missing = browser.post(link + "/not-needed", data={"csrf": csrf(form), "reason": "leave"})
    assert missing.status_code == 400 and "Give the date the leave ends." in missing.get_data(as_text=True)
    done = browser.post(link + "/not-needed", data={"csrf": csrf(form), "reason": "leave", "until": "2026-03-31"})
    assert done.status_code == 200 and "paused until 2026-03-31" in done.get_data(as_text=True)
    with world.runtime.db.session() as session:
        (pause,) = session.query(PauseRow).all()
        assert (pause.manager, pause.report, pause.until.isoformat()) == (ALICE, BOB, "2026-03-31")
        said = [o for o in session.query(BookingOfferRow).all() if o.state == "not_needed"]
        assert [(o.booked_by, o.note) for o in said] == [(ALICE, "leave: on leave until 2026-03-31")]
    other, _ = _buttons(world)[1]
    assert "Marked as not needed" in browser.get(other).get_data(as_text=True)  # the other buttons stop working
    world.cycle()
    with world.runtime.db.session() as session:
        (finding,) = session.query(FindingRow).filter_by(rule="cancelled-without-reschedule").all()
        assert finding.status == "resolved"
    assert _booked(world.emulator) == []


def test_in_slack_the_slots_are_a_row_of_buttons_and_the_page_keeps_its_own(world: AgendaWorld) -> None:
    from sync.notify.slack_blocks import render_blocks
    from sync.store.models import OutboxRow

    with world.runtime.db.session() as session:
        (row,) = session.query(OutboxRow).filter_by(kind="warning").all()
        _, blocks = render_blocks(row)
    accessories = [b["accessory"]["text"]["text"] for b in blocks if "accessory" in b]
    assert accessories == ["Your 1:1 page with Bob"]
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Book Tue 3 Mar, 11:00–11:30 (your time)",
        "Book Wed 4 Mar, 11:00–11:30 (your time)",
        "Book Thu 5 Mar, 11:00–11:30 (your time)",
    ]
    assert all("/book/" in e["url"] for e in actions["elements"])


def test_a_gap_ahead_gets_slots_before_the_gap_breaks_and_booking_one_resolves_it(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    from sync.store.models import FindingRow

    world = make_agenda_world(google_emulator, sink, database_url, more={"booking": {"enabled": True}}, scopes=SCOPES)
    first = NOW.replace(hour=10) - timedelta(weeks=4)
    weekly_one_on_one(google_emulator, first, zone="UTC", rule="RRULE:FREQ=WEEKLY;COUNT=4")  # last: Mon 23 Feb
    for advance in (timedelta(minutes=5), timedelta(hours=25)):
        world.cycle(advance)
    (mail,) = world.sink.messages
    assert "Book one by Mon 09 Mar 2026" in mail.get_body(("plain",)).get_content()
    found = BOOK.findall(mail.get_body(("html",)).get_content())
    assert [label for _, label in found] == [
        "Book Tue 3 Mar, 11:00–11:30 (your time)",
        "Book Wed 4 Mar, 11:00–11:30 (your time)",
        "Book Thu 5 Mar, 11:00–11:30 (your time)",
    ]
    link = found[0][0].removeprefix("https://agenda.example.com")
    browser = _browser(world)
    assert "Booked" in browser.post(link, data={"csrf": csrf(browser.get(link))}).get_data(as_text=True)
    world.cycle()
    with world.runtime.db.session() as session:
        (finding,) = session.query(FindingRow).filter_by(rule="cadence-gap-ahead").all()
        assert finding.status == "resolved"


def test_a_link_expires_after_link_hours(world: AgendaWorld) -> None:
    link, _ = _buttons(world)[0]
    world.now[0] += timedelta(hours=73)
    gone = _browser(world).get(link)
    assert gone.status_code == 410 and "This booking link has expired" in gone.get_data(as_text=True)


def test_a_slot_taken_between_showing_and_clicking_is_not_booked(world: AgendaWorld) -> None:
    link, _ = _buttons(world)[2]  # Thu 5 Mar 10:00 UTC
    browser = _browser(world)
    shown = browser.get(link)
    world.emulator.insert_event(
        BOB,
        {
            "summary": "Offsite",
            "start": when(NOW.replace(day=5, hour=9), "UTC"),
            "end": when(NOW.replace(day=5, hour=12), "UTC"),
        },
    )
    refused = browser.post(link, data={"csrf": csrf(shown)})
    assert refused.status_code == 409 and "no longer free" in refused.get_data(as_text=True)
    assert _booked(world.emulator) == []


def test_a_manager_out_of_office_all_week_gets_no_slot_that_week(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    """Google's freeBusy only says "busy"; the synced outOfOffice event blocks the whole days."""
    world = make_agenda_world(google_emulator, sink, database_url, more={"booking": {"enabled": True}}, scopes=SCOPES)
    weekly_one_on_one(google_emulator, NOW.replace(hour=10) - timedelta(weeks=4), zone="UTC")
    google_emulator.insert_event(
        ALICE,
        {
            "summary": "Conference",
            "eventType": "outOfOffice",
            "start": when(NOW.replace(day=3, hour=7), "Europe/Berlin"),
            "end": when(NOW.replace(day=6, hour=17), "Europe/Berlin"),
        },
    )
    world.cycle()
    google_emulator.delete_event(ALICE, instance_id("weekly0001", CANCELLED))
    world.cycle()
    world.cycle(timedelta(hours=25))
    assert [label for _, label in _buttons(world)] == [
        "Book Mon 9 Mar, 11:00–11:30 (your time)",
        "Book Tue 10 Mar, 11:00–11:30 (your time)",
        "Book Wed 11 Mar, 11:00–11:30 (your time)",
    ]


def test_an_out_of_office_morning_blocks_the_whole_day(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_agenda_world(google_emulator, sink, database_url, more={"booking": {"enabled": True}}, scopes=SCOPES)
    weekly_one_on_one(google_emulator, NOW.replace(hour=10) - timedelta(weeks=4), zone="UTC")
    google_emulator.insert_event(
        ALICE,
        {
            "summary": "Doctor",
            "eventType": "outOfOffice",
            "start": when(NOW.replace(day=3, hour=6), "Europe/Berlin"),
            "end": when(NOW.replace(day=3, hour=8), "Europe/Berlin"),
        },
    )
    world.cycle()
    google_emulator.delete_event(ALICE, instance_id("weekly0001", CANCELLED))
    world.cycle()
    world.cycle(timedelta(hours=25))
    assert _buttons(world)[0][1] == "Book Wed 4 Mar, 11:00–11:30 (your time)"
