"""Booking in real headless Chromium: the warning's button → sign-in by email → confirm → booked.

The warning and the sign-in link arrive over real SMTP; the event is booked on the Google emulator
through the real client. Screenshots land in `artifacts/screenshots/booking-*.png`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from agenda_fixtures import NOW, AgendaWorld, make_agenda_world
from google_fixtures import ALICE, BOB, instance_id, weekly_one_on_one
from test_agenda_browser import browser, shot, signin_link  # noqa: F401 (the browser fixture)

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from providers.booking import event_id_for
from providers.google import SCOPE_EVENTS, SCOPE_FREEBUSY
from sync.booking.page import booking_blueprints
from sync.web import WebServer, agenda_deps, create_app

pytestmark = pytest.mark.browser

CANCELLED = NOW.replace(hour=10) + timedelta(weeks=1)
KEY = f"cancelled-without-reschedule|{ALICE}|{BOB}|{CANCELLED.strftime('%Y-%m-%dT%H:%M:%SZ')}"


@pytest.fixture
def site(google_emulator: GoogleCalendarEmulator, sink: MailSink, sqlite_url: str) -> Iterator[AgendaWorld]:
    server = WebServer("127.0.0.1:0")
    world = make_agenda_world(
        google_emulator,
        sink,
        sqlite_url,
        base_url=server.url,
        more={"booking": {"enabled": True}},
        scopes=(SCOPE_EVENTS, SCOPE_FREEBUSY),
    )
    deps = agenda_deps(world.runtime)
    server.mount(create_app(deps, blueprints=booking_blueprints(world.runtime, deps))).start()
    weekly_one_on_one(google_emulator, NOW.replace(hour=10) - timedelta(weeks=4), zone="UTC")
    world.cycle()
    google_emulator.delete_event(ALICE, instance_id("weekly0001", CANCELLED))
    world.cycle()
    world.cycle(timedelta(hours=25))
    try:
        yield world
    finally:
        server.stop()


def test_from_the_warnings_button_through_sign_in_to_a_booked_1_1(browser: Any, site: AgendaWorld) -> None:  # noqa: F811
    world = site
    (warning,) = world.sink.wait_for(1, timeout=15)
    body = warning.get_body(("html",))
    assert body is not None
    html = body.get_content()
    context = browser.new_context(viewport={"width": 900, "height": 900})
    page = context.new_page()
    page.set_content(html)
    shot(page, "booking-01-warning-email")
    buttons = page.locator("a:has-text('Book ')")
    assert buttons.count() == 3
    assert buttons.nth(0).inner_text() == "Book Tue 3 Mar, 11:00–11:30 (your time)"
    link = buttons.nth(1).get_attribute("href")
    assert link is not None and re.search(r"/book/[A-Za-z0-9_-]+$", link)

    response = page.goto(link)
    assert response is not None and response.status == 401  # the link alone grants nothing
    assert page.locator("#signin").is_visible()
    shot(page, "booking-02-signin")
    page.fill("#email", ALICE)
    page.click("text=Email me a sign-in link")
    page.goto(signin_link(world.sink, 2))
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#confirm")
    assert page.url == link  # the sign-in came back to the booking
    assert "Wed 4 Mar, 11:00–11:30 (your time)" in page.inner_text("#confirm")
    assert world.emulator.events(ALICE) and not [
        e for e in world.emulator.events(ALICE) if e["id"] == event_id_for(KEY)
    ]
    shot(page, "booking-03-confirm")

    page.click("#book")
    page.wait_for_selector("#booked")
    assert "booked for Wed 4 Mar, 11:00–11:30 (your time)" in page.inner_text("#booked")
    shot(page, "booking-04-booked")
    (event,) = [e for e in world.emulator.events(ALICE) if e["id"] == event_id_for(KEY)]
    assert [a["email"] for a in event["attendees"]] == [BOB]

    page.go_back()  # back to the form, and clicking again: still one event
    page.reload()
    assert page.locator("#booked").is_visible()
    assert len([e for e in world.emulator.events(ALICE) if e["id"] == event_id_for(KEY)]) == 1
    context.close()
