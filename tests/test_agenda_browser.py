"""The agenda page in real headless Chromium (Debian's, driven by Playwright; never a downloaded browser).

Opens the page from the link the daemon wrote into the calendar event, signs in through the link
received over real SMTP, and uses the page as the report would. Screenshots land in
`artifacts/screenshots/`. Without a browser these tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agenda_fixtures import FIRST, LINK, NOW, AgendaWorld, make_agenda_world
from google_fixtures import ALICE, BOB, weekly_one_on_one
from page_words import CONFIG_KEY

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.agenda.store import add_item
from sync.store.models import AgendaPairRow, OutboxRow
from sync.web import WebServer, agenda_deps, create_app

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("ONEONONE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason} (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def site(google_emulator: GoogleCalendarEmulator, sink: MailSink, sqlite_url: str) -> Iterator[tuple[AgendaWorld, str]]:
    server = WebServer("127.0.0.1:0")
    world = make_agenda_world(google_emulator, sink, sqlite_url, base_url=server.url)
    server.mount(create_app(agenda_deps(world.runtime))).start()
    weekly_one_on_one(world.emulator, FIRST, zone="UTC", description="Weekly 1:1. Bring your topics!")
    world.cycle()
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "topic", "Team offsite dates", author=ALICE, now=NOW, occurrence=None)
    (url,) = LINK.findall(world.emulator.get_event(BOB, "weekly0001")["description"])  # what Bob sees
    try:
        yield world, url
    finally:
        server.stop()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signin_link(sink: MailSink, count: int) -> str:
    messages = sink.wait_for(count, timeout=15)
    assert len(messages) == count, "the sign-in email arrived over SMTP"
    body = messages[-1].get_body(("plain",)).get_content()
    match = re.search(r"https?://\S+/signin/[A-Za-z0-9_-]+", body)
    assert match
    return match.group(0)


def topics(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#next [data-kind=topic] .text").all_inner_texts()]


def test_sign_in_by_email_add_a_talking_point_and_carry_open_action_items(
    browser: Any, site: tuple[AgendaWorld, str]
) -> None:
    world, url = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    response = page.goto(url)
    assert response.status == 401  # the link alone grants nothing
    assert page.locator("#signin").is_visible() and page.locator("#next").count() == 0
    assert "Team offsite" not in page.content()
    shot(page, "01-signin")

    page.fill("#email", "mallory@evil.example")
    page.click("text=Email me a sign-in link")
    assert "Check your inbox" in page.inner_text("#signin-sent")
    with world.runtime.db.session() as session:
        assert session.query(OutboxRow).filter_by(kind="agenda-signin").count() == 0
    assert world.sink.wait_for(1, timeout=1) == []  # nothing was sent to anyone

    page.goto(url)
    page.fill("#email", BOB)
    page.click("text=Email me a sign-in link")
    link = signin_link(world.sink, 1)
    assert world.sink.messages[0]["To"] == BOB
    page.goto(link)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#next")
    assert page.url == url
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280, "no sideways scrolling on a laptop"
    words = page.inner_text("body")
    assert "Your points come first" in words, "the page speaks to Bob, the report"
    assert "11:00 (Europe/Berlin)" in words and "UTC" not in words, words  # 10:00 UTC in Bob's zone, named
    assert not CONFIG_KEY.search(words), f"the page shows a setting's name: {CONFIG_KEY.search(words)}"
    shot(page, "02-page-signed-in")

    page.fill("#topic-text", "My growth plan <b>for 2026</b>")
    page.click("button:has-text('Add talking point')")
    page.wait_for_selector("#next [data-kind=topic] >> nth=1")
    assert topics(page) == ["My growth plan <b>for 2026</b>", "Team offsite dates"]  # the report's first, escaped

    for text, owner in (("Draft the promo doc", BOB), ("Book the training", ALICE)):
        page.fill("#action-text", text)
        page.select_option("#action-owner", owner)
        page.click("button:has-text('Add action item')")
        page.wait_for_selector(f"#notes [data-kind=action]:has-text('{text}')")
    page.click("#notes [data-kind=action]:has-text('Draft the promo doc') button.box")
    page.wait_for_selector("#notes [data-kind=action][data-done=yes]:has-text('Draft the promo doc')")
    assert page.locator("#notes [data-kind=action][data-done=no]:has-text('Book the training')").count() == 1
    shot(page, "03-actions")

    world.now[0] += timedelta(weeks=1)  # a week later: that 1:1 is held, the next one is coming
    page.reload()
    review = page.inner_text("#review")
    assert "Book the training" in review and "Draft the promo doc" not in review
    assert "Owner: Alice" in review
    shot(page, "04-carried-over")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
    mobile = phone.new_page()
    mobile.context.add_cookies(context.cookies())
    mobile.goto(url)
    assert mobile.locator("#review").is_visible()
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a phone"
    heights = mobile.eval_on_selector_all(
        "button:not(.box):not(.link), select, input[type=text], input[type=date]",
        "els => els.filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().height)",
    )
    assert heights and min(heights) >= 40, "touch targets of at least 40 px"
    shot(mobile, "05-phone")
    phone.close()
    context.close()


def test_the_page_works_without_javascript(browser: Any, site: tuple[AgendaWorld, str]) -> None:
    world, url = site
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    page.fill("#email", ALICE)
    page.click("text=Email me a sign-in link")
    page.goto(signin_link(world.sink, 1))
    page.click("button:has-text('Sign in')")
    page.fill("#note-text", "We agreed on the roadmap")
    page.click("button:has-text('Add note')")
    assert "We agreed on the roadmap" in page.inner_text("#notes")
    context.close()
