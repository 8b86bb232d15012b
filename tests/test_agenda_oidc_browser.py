"""OIDC sign-in in real headless Chromium (Debian's, through Playwright; never a downloaded browser).

The browser follows every redirect itself: the page's "Sign in with …" form, the daemon's redirect
to the emulator (which the page's Content-Security-Policy `form-action` must allow), the emulator's
account form, the callback, and back to the pair's page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google_fixtures import BOB
from oidc_fixtures import Site, vendor_site
from test_agenda_browser import browser, shot

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # the Chromium fixture, shared with the other agenda browser tests


@pytest.fixture(params=["google", "entra"])
def site(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> Iterator[Site]:
    with vendor_site(request.param, monkeypatch, sqlite_url, tmp_path / "ca") as site:
        yield site


def test_sign_in_through_the_provider_opens_the_page(browser: Any, site: Site) -> None:
    # The Entra emulator's TLS certificate is from a throw-away test CA the browser does not know.
    context = browser.new_context(ignore_https_errors=True, java_script_enabled=False)
    page = context.new_page()
    response = page.goto(site.url + site.page)
    assert response.status == 401
    assert page.locator("#email").count() == 0  # no emailed links when OIDC is on
    shot(page, f"oidc-01-signin-{site.label.lower()}")
    page.click(f"text=Sign in with {site.label}")
    page.wait_for_selector("#login_hint")  # the emulator's sign-in page
    page.fill("#login_hint", BOB)
    page.click("#approve")
    page.wait_for_url(site.url + site.page)  # redirected to the callback, and from there back to the page
    assert page.locator("section#next").is_visible()  # the section of the next 1:1
    assert "Talking points" in page.content()
    shot(page, f"oidc-02-signed-in-{site.label.lower()}")
    assert site.sessions() == [BOB]
    context.close()
