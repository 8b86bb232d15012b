"""A sign-in link opens one session however many browsers race for it, and pages show no text from the
URL. (A leaver's session and an ended pair's page: tests/test_directory.py, with a real directory.)"""

from __future__ import annotations

import re
import threading

import pytest
from agenda_fixtures import AgendaWorld, client_for, csrf, signed_in, weekly_world
from flask.testing import FlaskClient
from google_fixtures import ALICE, BOB

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.store.models import AgendaSessionRow, OutboxRow


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> AgendaWorld:
    return weekly_world(google_emulator, sink, database_url)


@pytest.mark.timeout(60)
def test_eight_browsers_posting_one_sign_in_link_at_once_open_exactly_one_session(world: AgendaWorld) -> None:
    page = f"/a/{world.page_id()}"
    asker = client_for(world)
    asker.post(f"{page}/signin", data={"email": BOB, "csrf": csrf(asker.get(page))})
    with world.runtime.db.session() as session:
        (mail,) = session.query(OutboxRow).filter_by(kind="agenda-signin").all()
        link = re.search(r"/signin/[A-Za-z0-9_-]+", mail.text_body)
    assert link
    browsers = [client_for(world) for _ in range(8)]
    tokens = [csrf(b.get(link.group(0))) for b in browsers]
    start = threading.Barrier(len(browsers))
    answers: list[int] = []

    def post(browser: FlaskClient, token: str) -> None:
        start.wait()
        answers.append(browser.post(link.group(0), data={"csrf": token}).status_code)

    threads = [threading.Thread(target=post, args=pair) for pair in zip(browsers, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [303] + [400] * 7
    with world.runtime.db.session() as session:
        assert session.query(AgendaSessionRow).filter_by(email=BOB).count() == 1


def test_a_message_in_the_url_is_never_shown_on_the_page(world: AgendaWorld) -> None:
    page = f"/a/{world.page_id()}"
    bob = signed_in(world, BOB)
    phishing = "Your session expired: sign in again at https://evil.example/login"
    text = bob.get(page, query_string={"error": phishing}).get_data(as_text=True)
    assert "evil.example" not in text and "session expired" not in text
    known = bob.get(page, query_string={"error": "too-long"}).get_data(as_text=True)
    assert "That is longer than 4000 characters." in known  # a known code shows its own words


def test_the_page_speaks_to_whoever_reads_it(world: AgendaWorld) -> None:
    page = f"/a/{world.page_id()}"
    assert "Your points come first: this is your time." in signed_in(world, BOB).get(page).get_data(as_text=True)
    manager_view = signed_in(world, ALICE).get(page).get_data(as_text=True)
    assert "Bob&#39;s points come first: it is their time." in manager_view or (
        "Bob's points come first: it is their time." in manager_view
    )
