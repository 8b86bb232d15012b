"""OIDC sign-in to the agenda pages, over real HTTP against the Google and Entra ID emulators.

Every sign-in runs the whole flow: the page's form, the daemon's redirect to the authorization
endpoint (PKCE S256, state, nonce), the emulator's approval, the callback, the code redeemed at the
token endpoint and the ID token checked against the emulator's JWKS. Refusals open no session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from google_fixtures import BOB, CAROL
from oidc_fixtures import CLIENT_SECRET, GOOGLE_CLIENT, Site, entra_site, google_site, query_of, vendor_site

from sync.agenda import auth
from sync.agenda.oidc import SCOPE, s256
from sync.store.models import OutboxRow


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Site]:
    with google_site(monkeypatch, database_url) as site:
        yield site


@pytest.fixture
def entra(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    with entra_site(monkeypatch, sqlite_url, tmp_path / "ca") as site:
        yield site


@pytest.fixture(params=["google", "entra"])
def site(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> Iterator[Site]:
    with vendor_site(request.param, monkeypatch, sqlite_url, tmp_path / "ca") as site:
        yield site


def assert_opened(site: Site, response: Any, email: str) -> None:
    assert response.status_code == 303 and response.headers["Location"] == site.page  # a local path, nothing else
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith(auth.SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert site.sessions() == [email]


def assert_refused(site: Site, response: Any) -> None:
    assert response.status_code == 400 and "Sign-in failed" in response.text
    assert auth.SESSION_COOKIE not in response.cookies
    assert site.sessions() == []
    assert site.http.get(site.url + site.page).status_code == 401


def test_google_sign_in_as_the_report_opens_the_pair_page(google: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    started = google.start()
    assert started.status_code == 303
    location = started.headers["Location"]
    assert location.startswith(google.emulator.base_url + "/o/oauth2/v2/auth?")
    asked = query_of(location)
    assert asked["response_type"] == "code" and asked["scope"] == SCOPE == "openid email profile"
    assert asked["client_id"] == GOOGLE_CLIENT and asked["redirect_uri"] == google.url + "/auth/oidc/callback"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert len(asked["state"]) >= 43 and len(asked["nonce"]) >= 43 and asked["state"] != asked["nonce"]
    callback = google.authorize(location, BOB)
    assert query_of(callback)["state"] == asked["state"]

    done = google.http.get(callback, allow_redirects=False)
    assert_opened(google, done, BOB)
    page = google.http.get(google.url + google.page)
    assert page.status_code == 200 and "Talking points" in page.text

    forms = [{k: v[-1] for k, v in parse_qs(r.body.decode()).items()} for r in google.emulator.server.requests]
    (form,) = [f for f in forms if f.get("grant_type") == "authorization_code"]
    assert s256(form["code_verifier"]) == asked["code_challenge"] and form["redirect_uri"] == asked["redirect_uri"]
    assert form["client_secret"] == CLIENT_SECRET  # sent to the provider, and never logged by the daemon
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("sync")]
    assert logged and not any(CLIENT_SECRET in line or form["code"] in line for line in logged)


def test_entra_sign_in_as_the_report_opens_the_pair_page(entra: Site) -> None:
    started = entra.start()
    location = started.headers["Location"]
    assert location.startswith(f"{entra.emulator.base_url}/contoso-tenant/oauth2/v2.0/authorize?")
    assert query_of(location)["code_challenge_method"] == "S256"
    done = entra.http.get(entra.authorize(location, BOB), allow_redirects=False)
    assert_opened(entra, done, BOB)
    assert entra.http.get(entra.url + entra.page).status_code == 200


def test_entra_with_the_tenant_given_by_its_guid(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    with entra_site(monkeypatch, sqlite_url, tmp_path / "ca", by_guid=True) as entra:
        assert_opened(entra, entra.sign_in(BOB), BOB)


def test_entra_without_an_email_claim_uses_preferred_username(entra: Site) -> None:
    entra.idp.tamper_next({"email": None})
    assert_opened(entra, entra.sign_in(BOB), BOB)


def test_the_signed_in_address_is_normalized_like_every_other(google: Site) -> None:
    google.idp.tamper_next({"email": "Bob@EXAMPLE.com"})
    assert_opened(google, google.sign_in(BOB), BOB)
    assert google.http.get(google.url + google.page).status_code == 200


def test_someone_outside_the_pair_gets_a_session_but_not_the_page(site: Site) -> None:
    done = site.sign_in(CAROL)
    assert done.status_code == 303 and site.sessions() == [CAROL]
    page = site.http.get(site.url + site.page)
    assert page.status_code == 401 and "not one of the two people" in page.text and "Talking points" not in page.text


def _expired(site: Site) -> dict[str, Any]:
    now = int(site.world.now[0].timestamp())
    return {"iat": now - 2 * 3600, "exp": now - 3600}


REFUSALS: list[tuple[str, Any, str]] = [
    ("signature", lambda site: ({}, True), "signature does not verify"),
    ("audience", lambda site: ({"aud": "someone-else"}, False), "audience is not this client"),
    ("issuer", lambda site: ({"iss": "https://evil.example"}, False), "issuer is not the configured one"),
    ("nonce", lambda site: ({"nonce": "not-the-nonce-this-sign-in-sent"}, False), "nonce is not the one"),
    ("expired", lambda site: (_expired(site), False), "has expired"),
]


@pytest.mark.parametrize(("name", "tamper", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_bad_id_token_is_refused_and_opens_no_session(
    site: Site, caplog: pytest.LogCaptureFixture, name: str, tamper: Any, reason: str
) -> None:
    claims, foreign_key = tamper(site)
    site.idp.tamper_next(claims, foreign_key=foreign_key)
    with caplog.at_level(logging.WARNING, logger="sync.agenda.oidc_routes"):
        done = site.sign_in(BOB)
    assert_refused(site, done)
    assert any(reason in record.getMessage() for record in caplog.records), [r.getMessage() for r in caplog.records]
    assert_opened(site, site.sign_in(BOB), BOB)  # the next, untampered sign-in works


def test_google_refuses_an_unverified_email(google: Site, caplog: pytest.LogCaptureFixture) -> None:
    google.idp.tamper_next({"email_verified": False})
    with caplog.at_level(logging.WARNING, logger="sync.agenda.oidc_routes"):
        assert_refused(google, google.sign_in(BOB))
    assert "email_verified" in caplog.text


def test_entra_refuses_a_token_from_another_tenant(entra: Site, caplog: pytest.LogCaptureFixture) -> None:
    entra.idp.tamper_next({"tid": "9188040d-6c67-4c5b-b112-36a304b66dad"})  # personal Microsoft accounts
    with caplog.at_level(logging.WARNING, logger="sync.agenda.oidc_routes"):
        assert_refused(entra, entra.sign_in(BOB))
    assert "another Entra ID tenant" in caplog.text


def test_a_state_works_once_only_in_the_browser_that_started_it(google: Site) -> None:
    started = google.start()
    callback = google.authorize(started.headers["Location"], BOB)
    thief = google.browser()  # a callback URL delivered to another browser (login CSRF) is refused...
    assert_refused(google, thief.get(callback, allow_redirects=False))
    done = google.http.get(callback, allow_redirects=False)  # ...and does not burn it for its owner
    assert_opened(google, done, BOB)
    replay = google.http.get(callback, allow_redirects=False)
    assert replay.status_code == 400 and "already used" in replay.text
    forged = callback.replace(query_of(callback)["state"], "x" * 43)
    assert google.http.get(forged, allow_redirects=False).status_code == 400
    assert google.sessions() == [BOB]


def test_an_unfinished_sign_in_expires(google: Site) -> None:
    started = google.start()
    callback = google.authorize(started.headers["Location"], BOB)
    google.world.now[0] += timedelta(minutes=11)
    assert_refused(google, google.http.get(callback, allow_redirects=False))


def test_a_refusal_by_the_provider_opens_nothing(google: Site) -> None:
    started = google.start()
    state = query_of(started.headers["Location"])["state"]
    denied = google.http.get(
        f"{google.url}/auth/oidc/callback?error=access_denied&state={state}", allow_redirects=False
    )
    assert denied.status_code == 400 and "did not sign you in" in denied.text
    assert google.sessions() == []


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/a/x",
        "//evil.example/a/x",
        "/\\evil.example",
        "/a/../../evil",
        "javascript:alert(1)",
        "/a/x?next=https://evil.example",
        "a/x",
        "",
    ],
)
def test_the_return_path_must_be_a_local_path(google: Site, target: str) -> None:
    refused = google.start(next_path=target)
    assert refused.status_code == 400 and "Location" not in refused.headers
    assert "not a page of this site" in refused.text
    assert google.emulator.server.requests_matching("GET", "/o/oauth2/v2/auth") == []


def test_the_email_link_form_is_not_offered_when_oidc_is_on(site: Site) -> None:
    page = site.http.get(site.url + site.page)
    unknown = site.http.get(site.url + "/a/not-a-real-page-id-at-all-xxxxxxxxxxxxx")
    for response in (page, unknown):  # unknown page ids still look exactly like known ones
        assert response.status_code == 401
        assert f"Sign in with {site.label}" in response.text
        assert "Email me a sign-in link" not in response.text and 'name="email"' not in response.text
    origin = site.emulator.base_url
    assert f"form-action 'self' {origin};" in page.headers["Content-Security-Policy"]
    csrf = page.text.split('name="csrf" value="')[1][:64]
    asked = site.http.post(f"{site.url}{site.page}/signin", data={"email": BOB, "csrf": csrf})
    assert asked.status_code == 404
    with site.world.runtime.db.session() as session:
        assert session.query(OutboxRow).filter_by(kind="agenda-signin").count() == 0
