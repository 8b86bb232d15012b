"""Helpers for the agenda tests: a daemon world on the Google emulator with an injected clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from google_fixtures import ALICE, BOB, make_provider, weekly_one_on_one
from werkzeug.test import TestResponse

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from providers.base import AgendaLink, AgendaWriter, EventText
from providers.google import service_account_info_credentials
from sync.agenda import auth
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import AgendaPairRow, AgendaWriteRow
from sync.web import agenda_deps, create_app

BASE_URL = "https://agenda.example.com"
LINK = re.compile(r'href="(https?://[^"]+/a/[A-Za-z0-9_-]+)"')
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
FIRST = NOW - timedelta(weeks=4) + timedelta(hours=2)  # Mondays 10:00 UTC, four weeks of history


@dataclass
class AgendaWorld:
    emulator: GoogleCalendarEmulator
    sink: MailSink
    runtime: Runtime
    now: list[datetime]

    def cycle(self, advance: timedelta = timedelta(minutes=5)) -> CycleReport:
        self.now[0] += advance
        return run_cycle(self.runtime)

    def writes(self) -> list[AgendaWriteRow]:
        with self.runtime.db.session() as session:
            return list(session.query(AgendaWriteRow).order_by(AgendaWriteRow.id))

    def page_id(self, manager: str = ALICE, report: str = BOB) -> str:
        with self.runtime.db.session() as session:
            return str(session.query(AgendaPairRow).filter_by(manager=manager, report=report).one().page_id)

    def patches(self, event_id: str) -> list[tuple[str, str, str | None]]:
        return [w for w in self.emulator.send_updates if w[1] == event_id and w[0] in ("patch", "PATCH", "update")]


def make_agenda_world(
    emulator: GoogleCalendarEmulator,
    sink: MailSink,
    database_url: str,
    *,
    calendars: tuple[str, ...] = (ALICE,),
    agenda: dict[str, Any] | None = None,
    base_url: str = BASE_URL,
    start: datetime = NOW,
    pairs: list[dict[str, Any]] | None = None,
    more: dict[str, Any] | None = None,
    scopes: tuple[str, ...] | None = None,
) -> AgendaWorld:
    settings = parse_settings(
        {
            "database_url": database_url,
            "poll_interval_seconds": 300,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@example.com"},
            "directory": {
                "pairs": pairs or [{"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=30)).date()}]
            },
            "web": {"base_url": base_url},
            "agenda": {"nudges": False, **(agenda or {})},
            # Nudges are time-driven: judge every pair every cycle, so "at the right time" is exact here.
            "rules": {"full_evaluation_minutes": 1},
            **(more or {}),
        }
    )
    now = [start]
    credentials = service_account_info_credentials(emulator.service_account_info(), scopes) if scopes else None
    provider, _ = make_provider(emulator, calendars, credentials_for=credentials)
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    return AgendaWorld(emulator, sink, runtime, now)


def weekly_world(emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> AgendaWorld:
    """Alice and Bob's weekly 1:1 (four weeks of history), synced once: their page exists."""
    world = make_agenda_world(emulator, sink, database_url)
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    return world


def client_for(world: AgendaWorld, deliver: bool = False) -> FlaskClient:
    """A browser on the daemon's web app (sign-in mails stay queued unless `deliver`)."""
    deps = agenda_deps(world.runtime)
    if not deliver:
        deps.deliver = None
    return create_app(deps).test_client()


def csrf(response: TestResponse) -> str:
    match = CSRF.search(response.get_data(as_text=True))
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def sign_in(world: AgendaWorld, client: FlaskClient, email: str) -> None:
    with world.runtime.db.session() as session:
        token = auth.open_session(session, email, world.now[0], 30)
    client.set_cookie(auth.SESSION_COOKIE, token)


def signed_in(world: AgendaWorld, email: str) -> FlaskClient:
    client = client_for(world)
    sign_in(world, client, email)
    return client


class SimulatedCrash(BaseException):
    """The process dies here: nothing after it runs (not an Exception, so nothing catches it)."""


@dataclass
class CrashingWriter:
    """Wraps a real writer and dies once, before or after the provider accepted the write."""

    inner: AgendaWriter
    when: str  # "before" | "after"
    name: str = "google"
    crashed: bool = False

    def read_event(self, calendar: str, event_id: str) -> EventText:
        return self.inner.read_event(calendar, event_id)

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        if not self.crashed and self.when == "before":
            self.crashed = True
            raise SimulatedCrash("killed between recording the intent and the write")
        etag = self.inner.attach_agenda(current, link)
        if not self.crashed and self.when == "after":
            self.crashed = True
            raise SimulatedCrash("killed after the write, before recording it")
        return etag
