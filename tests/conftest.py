"""Shared fixtures: each test gets its own database (SQLite file, or a fresh PostgreSQL database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

if TYPE_CHECKING:
    from emulators.google import GoogleCalendarEmulator
    from emulators.graph import GraphEmulator
    from emulators.ics_feed import IcsFeedServer
    from emulators.smtp import MailSink

hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

PG_ENV = "ONEONONE_TEST_DATABASE_URL"


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests lets these override `verify=`; CI images often export them (calendar-apis.md §4.4)."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _postgres_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sync.store.db import normalize_url

    base = make_url(normalize_url(os.environ[PG_ENV]))
    name = f"oneonone_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every store test runs on SQLite and on PostgreSQL (when ONEONONE_TEST_DATABASE_URL is set)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'oneonone.db'}"
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    yield from _postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'oneonone.db'}"


@pytest.fixture
def google_emulator() -> Iterator[GoogleCalendarEmulator]:
    """A Google Calendar emulator with four people's calendars in three zones."""
    from google_fixtures import ALICE, BOB, CAROL, DAN

    from emulators.google import GoogleCalendarEmulator

    emulator = GoogleCalendarEmulator()
    emulator.start()
    for person, zone in ((ALICE, "Europe/Berlin"), (BOB, "Europe/Berlin"), (CAROL, "America/New_York"), (DAN, "UTC")):
        emulator.add_calendar(person, zone)
    yield emulator
    emulator.stop()


@pytest.fixture
def graph_emulator(tmp_path: Path) -> Iterator[GraphEmulator]:
    """A Graph emulator (HTTPS, its own test CA) with the daemon's app and four mailboxes in three zones."""
    from outlook_fixtures import ALICE, BOB, CAROL, CLIENT_ID, DAN, SECRET

    from emulators.graph import GraphEmulator

    with GraphEmulator(ca_dir=tmp_path / "graph-ca") as emulator:
        emulator.add_app(CLIENT_ID, SECRET)
        for person, zone in (
            (ALICE, "W. Europe Standard Time"),
            (BOB, "Europe/Berlin"),
            (CAROL, "Eastern Standard Time"),
            (DAN, "UTC"),
        ):
            emulator.add_mailbox(person, zone)
        yield emulator


@pytest.fixture
def sink() -> Iterator[MailSink]:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives."""
    from emulators.smtp import MailSink

    with MailSink() as server:
        yield server


@pytest.fixture
def ics_server() -> Iterator[IcsFeedServer]:
    """Serves ICS feeds over HTTP on a free port (conditional GET, faults)."""
    from emulators.ics_feed import IcsFeedServer

    feeds = IcsFeedServer()
    feeds.start()
    yield feeds
    feeds.stop()
