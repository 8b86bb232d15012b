"""Helpers for the OIDC sign-in tests: the daemon's web server with `agenda.oidc` pointing at an emulator.

The emulators run on the daemon's injected clock, so ID token times are checked against that clock.
A sign-in is driven over real HTTP with requests, following every redirect by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from agenda_fixtures import FIRST, NOW, AgendaWorld, make_agenda_world
from google_fixtures import ALICE, BOB, CAROL, DAN, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.oidc import OidcProvider
from emulators.smtp import MailSink
from sync.store.models import AgendaSessionRow
from sync.web import WebServer, agenda_deps, create_app

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
SECRET_ENV = "ONEONONE_TEST_OIDC_SECRET"
CLIENT_SECRET = "GOCSPX-emulator-web-client-secret"
GOOGLE_CLIENT = "123456789012-web.apps.googleusercontent.com"
ENTRA_CLIENT = "11112222-bbbb-3333-cccc-4444dddd5555"
TENANT = "contoso-tenant"  # a name, not a GUID: the tenant's GUID comes from discovery


@dataclass
class Site:
    world: AgendaWorld
    url: str  # the daemon's web server
    idp: OidcProvider  # the emulator's side of the flow (tamper_next)
    emulator: Any  # GoogleCalendarEmulator | GraphEmulator
    verify: str | bool  # for requests to the emulator
    label: str
    page: str = ""  # /a/<page id> of Alice and Bob's pair
    http: requests.Session = field(default_factory=requests.Session)
    others: list[requests.Session] = field(default_factory=list)

    def sessions(self) -> list[str]:
        with self.world.runtime.db.session() as session:
            return [row.email for row in session.query(AgendaSessionRow).order_by(AgendaSessionRow.id)]

    def browser(self) -> requests.Session:
        """Another browser: its own cookie jar."""
        self.others.append(requests.Session())
        return self.others[-1]

    def close(self) -> None:
        # Kept-alive connections would hold the web server's loop open when it stops.
        for http in (self.http, *self.others):
            http.close()

    def start(self, http: requests.Session | None = None, next_path: str | None = None) -> requests.Response:
        """Open the page, press "Sign in with …": the daemon's 303 to the authorization endpoint."""
        http = http or self.http
        page = http.get(self.url + self.page)
        assert page.status_code == 401
        match = CSRF.search(page.text)
        assert match and 'action="/auth/oidc/start"' in page.text
        form = {"csrf": match.group(1), "next": self.page if next_path is None else next_path}
        return http.post(self.url + "/auth/oidc/start", data=form, allow_redirects=False)

    def authorize(self, location: str, user: str, http: requests.Session | None = None) -> str:
        """The user signs in at the provider (login_hint picks the account): the callback URL it redirects to."""
        answer = (http or self.http).get(
            f"{location}&login_hint={quote(user)}", allow_redirects=False, verify=self.verify
        )
        assert answer.status_code == 302, answer.text
        callback = str(answer.headers["Location"])
        assert callback.startswith(self.url + "/auth/oidc/callback?")
        return callback

    def sign_in(self, user: str, http: requests.Session | None = None) -> requests.Response:
        http = http or self.http
        started = self.start(http)
        assert started.status_code == 303
        return http.get(self.authorize(started.headers["Location"], user, http), allow_redirects=False)


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@contextmanager
def agenda_site(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    oidc: dict[str, Any],
    emulator: Any,
    idp: OidcProvider,
    verify: str | bool,
    label: str,
) -> Iterator[Site]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    server = WebServer("127.0.0.1:0")
    with MailSink() as sink:
        calendar = emulator if isinstance(emulator, GoogleCalendarEmulator) else None
        world = make_agenda_world(
            calendar or _calendar_only(),
            sink,
            database_url,
            base_url=server.url,
            agenda={"oidc": {"client_secret_env": SECRET_ENV, **oidc}},
        )
        idp.clock = lambda: world.now[0]  # ID tokens are issued on the daemon's clock
        idp.register(oidc["client_id"], CLIENT_SECRET, (server.url + "/auth/oidc/callback",))
        server.mount(create_app(agenda_deps(world.runtime))).start()
        weekly_one_on_one(world.emulator, FIRST, zone="UTC")
        world.cycle()
        site = Site(world, server.url, idp, emulator, verify, label)
        site.page = f"/a/{world.page_id()}"
        try:
            yield site
        finally:
            site.close()
            server.stop()
            if calendar is None:
                world.emulator.stop()


def _calendar_only() -> GoogleCalendarEmulator:
    """The calendar side for the Entra tests (the pair is found in Google; sign-in is Entra's)."""
    emulator = GoogleCalendarEmulator(clock=lambda: NOW)
    emulator.start()
    for person in (ALICE, BOB, CAROL, DAN):
        emulator.add_calendar(person, "UTC")
    return emulator


@contextmanager
def google_site(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Site]:
    with GoogleCalendarEmulator() as emulator:
        for person in (ALICE, BOB, CAROL, DAN):
            emulator.add_calendar(person, "UTC")
        oidc = {"provider": "google", "client_id": GOOGLE_CLIENT, "issuer": emulator.base_url}
        with agenda_site(monkeypatch, database_url, oidc, emulator, emulator.sign_in.provider, True, "Google") as site:
            yield site


@contextmanager
def entra_site(
    monkeypatch: pytest.MonkeyPatch, database_url: str, ca_dir: Path, *, by_guid: bool = False
) -> Iterator[Site]:
    """`agenda.oidc.tenant` is the tenant's name (its GUID then comes from discovery), or with `by_guid` its GUID."""
    with GraphEmulator(tenant_id=TENANT, ca_dir=ca_dir) as emulator:
        tenant = emulator.identity.tenant_guid if by_guid else TENANT
        for person in (ALICE, BOB, CAROL):
            emulator.add_user(person, person.split("@")[0].capitalize())
        assert emulator.identity.sign_in is not None
        oidc = {
            "provider": "entra",
            "client_id": ENTRA_CLIENT,
            "tenant": tenant,
            "issuer": f"{emulator.base_url}/{tenant}/v2.0",
            "ca_bundle": str(emulator.ca_pem),
        }
        idp = emulator.identity.sign_in.provider
        with agenda_site(monkeypatch, database_url, oidc, emulator, idp, str(emulator.ca_pem), "Microsoft") as site:
            yield site


@contextmanager
def vendor_site(vendor: str, monkeypatch: pytest.MonkeyPatch, database_url: str, ca_dir: Path) -> Iterator[Site]:
    """`google_site` or `entra_site`, for tests that run against both vendors."""
    if vendor == "google":
        with google_site(monkeypatch, database_url) as site:
            yield site
    else:
        with entra_site(monkeypatch, database_url, ca_dir) as site:
            yield site
