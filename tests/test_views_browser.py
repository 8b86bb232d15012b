"""The org page and the digest email in real headless Chromium (Debian's, driven by Playwright).

The org page is served by the daemon's web server and opened with the admin token; the digest is the
HTML of the queued outbox row, rendered with its `cid:` pictures swapped for `data:` URIs (for the
screenshot only: email clients get `cid:`). Screenshots land in `artifacts/screenshots/`.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from page_words import CONFIG_KEY
from rules_builders import B, M, R
from views_fixtures import NOW, SECRET_DESCRIPTION, SECRET_TITLE, org_settings, seed

from sync.actions.digest import digest_job
from sync.actions.escalation import render_escalation
from sync.agenda.mail import agenda_nudge_mail, notes_nudge_mail, signin_mail
from sync.agenda.store import add_item, pair_pages
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.notify.inline import images_from_json
from sync.notify.render import render_admin_alert
from sync.runtime import Runtime, build_runtime
from sync.store.models import AgendaPairRow, FindingRow, OutboxRow
from sync.views.orgpage import org_blueprint, org_deps
from sync.views.timeline import CELL, SCALE, legend, size
from sync.web import WebServer, agenda_deps, create_app

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("ONEONONE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--no-first-run"]
TOKEN = "org-token-0123456789abcdef"
NOTE = "SECRET-NOTE Raj wants to talk about leaving"


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


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {reason} (.ci/run installs chromium)")
    pytest.skip(reason)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def runtime(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("ONEONONE_TEST_ORG_TOKEN", TOKEN)
    settings = parse_settings(org_settings(sqlite_url, org_page={"admin_token_env": "ONEONONE_TEST_ORG_TOKEN"}))
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[], send=lambda row: None)
    seed(runtime.db)
    run_cycle(runtime)
    with runtime.db.session() as session:
        pair = session.query(AgendaPairRow).filter_by(manager=M, report=R).one()
        add_item(session, pair.id, "note", NOTE, author=M, now=NOW, occurrence=None)
    yield runtime
    runtime.db.dispose()


def test_the_org_page_shows_the_aggregates_and_no_note_text(browser: Any, runtime: Runtime) -> None:
    deps = org_deps(runtime.settings, runtime.db, runtime.clock)
    assert deps is not None
    with WebServer("127.0.0.1:0") as server:
        server.mount(create_app(agenda_deps(runtime, server.url), blueprints=[org_blueprint(deps)]))
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        assert page.goto(f"{server.url}/org").status == 401
        assert page.locator("#denied").is_visible() and page.locator("#managers").count() == 0
        shot(page, "org-page-refused")

        assert page.goto(f"{server.url}/org?token={TOKEN}").status == 200
        maria = page.locator('tr[data-manager="maria@acme.test"]')
        assert maria.locator(".reports").inner_text() == "2"
        assert maria.locator(".share").inner_text() == "50% (1 of 2)"
        assert maria.locator(".cancelled").inner_text() == "24%"
        assert maria.locator(".rescheduled").inner_text() == "12%"
        assert maria.locator(".gap").inner_text() == "27 days"
        assert "late" in (maria.locator(".gap").get_attribute("class") or "")
        bea = page.locator(f'tr[data-manager="{B}"]')
        assert (bea.locator(".share").inner_text(), bea.locator(".gap").inner_text()) == ("100% (1 of 1)", "4 days")
        assert page.locator("#chart .bar").count() == 12
        assert page.locator("#chart").bounding_box()["height"] > 100  # drawn, inline, with no script
        text = page.inner_text("body") + page.content()
        for private in (NOTE, "SECRET-NOTE", SECRET_TITLE, "TOPSECRET", SECRET_DESCRIPTION, R):
            assert private not in text
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280, "no sideways scrolling on a laptop"
        assert not CONFIG_KEY.search(page.inner_text("body")), "the page shows a setting's name"
        words = page.inner_text("body")
        assert "(Europe/Berlin)" in words and "UTC" not in words, "its time in the organisation's zone, named"
        shot(page, "org-page")

        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        mobile = phone.new_page()
        assert mobile.goto(f"{server.url}/org?token={TOKEN}").status == 200
        assert mobile.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling on a phone"
        table = mobile.locator("#managers").bounding_box()
        assert table is not None and table["x"] >= 0 and table["x"] + table["width"] <= 390  # nothing cut off
        row = mobile.locator('tr[data-manager="maria@acme.test"]')
        assert row.locator(".gap").inner_text() == "27 days"  # the same figure as on the laptop
        shot(mobile, "org-page-phone")
        phone.close()
        context.close()


def test_the_digest_renders_with_its_timelines(browser: Any, runtime: Runtime) -> None:
    assert digest_job(runtime)() == 2
    with runtime.db.session() as session:
        row = session.query(OutboxRow).filter_by(kind="digest", recipient=M).one()
        html, images = row.html_body, images_from_json(row.inline_images)
    for image in images:  # the screenshot only: mail clients get cid: parts
        html = html.replace(f"cid:{image.cid}", "data:image/png;base64," + base64.b64encode(image.data).decode())
    assert "cid:" not in html
    context = browser.new_context(viewport={"width": 720, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    page.set_content(html)
    widths = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.complete])")
    width, _ = size(12)
    assert widths[:2] == [[width * SCALE, True], [width * SCALE, True]]  # the two timelines
    assert widths[2:] == [[CELL * SCALE, True]] * (len(legend()) + 1)  # the legend's keys: the strip's own cells
    shown = page.eval_on_selector_all("img", "els => els.slice(2).map(e => e.getBoundingClientRect().width)")
    assert set(shown) == {16}
    assert page.locator("#summary tr").count() == 3  # the header and two reports
    assert "very short 1:1s" in page.inner_text("body")
    shot(page, "digest-email")
    context.close()


def _inlined(html: str, images: Any) -> str:
    """The HTML as a mail client shows it: its cid: pictures in place (the browser cannot fetch cid:)."""
    for image in images_from_json(images):
        html = html.replace(f"cid:{image.cid}", "data:image/png;base64," + base64.b64encode(image.data).decode())
    return html


def _every_email(runtime: Runtime) -> dict[str, str]:
    """One HTML body of each kind oneonone sends: warnings and digests as a real cycle queued them, the
    rest rendered by their own code for the same people (the cycle of this world sends no nudges)."""
    assert digest_job(runtime)() == 2
    with runtime.db.session() as session:
        rows = session.query(OutboxRow).order_by(OutboxRow.id).all()
        bodies = {row.kind: _inlined(row.html_body, row.inline_images) for row in rows}
        findings = session.query(FindingRow).filter_by(manager=M).order_by(FindingRow.id).all()
        links = {report: url for (_, report), url in pair_pages(session, runtime.policy.base_url, [M]).items()}
    start = NOW + timedelta(days=2)
    link = "http://127.0.0.1:8080/a/page-id"
    bodies["agenda-nudge"] = agenda_nudge_mail(R, M, link, start, "America/Los_Angeles").html
    bodies["notes-nudge"] = notes_nudge_mail(M, R, link, start, "Europe/Berlin").html
    bodies["agenda-signin"] = signin_mail(R, M, link + "/signin", 15, "hash").html
    bodies["escalation"] = render_escalation(M, B, findings[:3], "Europe/Berlin", 30, links)[2]
    long_id = "event-" + "x" * 120  # event ids are long and unbroken: the alert must still fit a phone
    bodies["admin"] = render_admin_alert(
        "oneonone cannot use an event",
        f"oneonone cannot use an event: {long_id}.",
        "It is ignored.",
        "Fix it.",
        "per event",
    )[1]
    return bodies


# A setting's name as a manager would never say it: `rules.max_gap_days`, `digest.opt_out = …`.
# Whose zone each kind is read in: the report's for their nudge and sign-in, else the manager's.
# A zone is named by its name or by its abbreviation at that time of year (PDT, CET).
LOS_ANGELES, BERLIN = ("America/Los_Angeles", "PDT", "PST"), ("Europe/Berlin", "CET", "CEST")
ZONES = {"agenda-nudge": LOS_ANGELES, "agenda-signin": LOS_ANGELES} | dict.fromkeys(
    ("warning", "digest", "notes-nudge", "escalation", "admin"), BERLIN
)


def test_every_email_has_one_design_and_fits_a_phone_and_a_laptop(browser: Any, runtime: Runtime) -> None:
    bodies = _every_email(runtime)
    assert {"warning", "digest", "agenda-nudge", "notes-nudge", "agenda-signin", "escalation", "admin"} <= set(bodies)
    for kind, html in bodies.items():
        for width in (390, 1280):
            context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=False)
            page = context.new_page()
            page.set_content(html)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, f"{kind} is {overflow} px wide on a {width} px screen"
            assert page.locator("table.card").count() == 1, f"{kind} does not use the one layout"
            assert page.locator("td.footer").count() == 1
            card = page.locator("table.card").bounding_box()
            assert card is not None and card["width"] <= 600
            if kind == "admin":
                shot(page, f"email-{kind}-{width}")
                context.close()
                continue  # to the admin about a calendar: no greeting by name, nothing to open
            words = page.inner_text("body")
            assert not CONFIG_KEY.search(words), f"{kind} shows a setting's name: {CONFIG_KEY.search(words)}"
            assert re.search(r"\b(you|your)\b", words, re.I), f"{kind} does not speak to its reader"
            assert "UTC" not in words, f"{kind} shows UTC to someone who is not in UTC"
            if re.search(r"\b\d{2}:\d{2}\b", words):  # a time of day: in the reader's zone, and it says which
                assert any(re.search(rf"\b{re.escape(name)}\b", words) for name in ZONES[kind]), (kind, words)
            greeting = page.locator("table.card p").first.inner_text()
            assert re.fullmatch(r"Hi [A-Z][a-z]+,.*", greeting, re.S), f"{kind} greets {greeting!r}"
            links = page.eval_on_selector_all("table.card a[href]", "els => els.map(e => e.href)")
            assert any(href.startswith("http") for href in links), f"{kind} has no link to act on"
            shot(page, f"email-{kind}-{width}")
            context.close()
