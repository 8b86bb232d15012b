"""A small company in either directory emulator (Google Admin SDK or Entra ID), calendars on Google.

    bea (Leadership)
    ├── maria (Engineering): raj, sam
    └── pia (Sales): tom

The directory source is the only thing that differs between the two kinds: the calendars, the
store and the mail are the same, so a test reads the same on both.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google_fixtures import SleepRecorder, make_provider

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.smtp import MailSink
from providers.entra_directory import EntraDirectoryReader
from providers.google_directory import GoogleDirectoryReader, admin_credentials
from providers.outlook_http import GraphClient
from providers.retry import RetryPolicy
from sync.actions.findings import finding_as_dict, finding_rows
from sync.cli.directory import directory_rows
from sync.config import Settings, parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.directory.refresh import RefreshResult, refresh_directory
from sync.directory.sources import PeopleReader
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
ADMIN = "it.admin@example.com"
BEA, MARIA, PIA = "bea.li@example.com", "maria.rossi@example.com", "pia.novak@example.com"
RAJ, SAM, TOM, NIA = "raj.kim@example.com", "sam.berg@example.com", "tom.costa@example.com", "nia.haddad@example.com"
CLIENT_ID, SECRET, SECRET_ENV = "oneonone-directory", "dir-s3cret", "ONEONONE_TEST_DIRECTORY_SECRET"
ORG: tuple[tuple[str, str | None, str], ...] = (
    (BEA, None, "Leadership"),
    (MARIA, BEA, "Engineering"),
    (PIA, BEA, "Sales"),
    (RAJ, MARIA, "Engineering"),
    (SAM, MARIA, "Engineering"),
    (TOM, PIA, "Sales"),
)
PAGE_SIZE = 2  # small pages: every listing is several pages


def name_of(address: str) -> str:
    return " ".join(part.capitalize() for part in address.partition("@")[0].split("."))


@dataclass
class DirectoryWorld:
    kind: str  # google | entra
    google: GoogleCalendarEmulator
    graph: GraphEmulator | None
    sink: MailSink
    runtime: Runtime
    now: list[datetime]
    key_file: Path
    waits: SleepRecorder = field(default_factory=SleepRecorder)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    # -- acting as HR in the directory ---------------------------------------------------------------
    def add_user(self, address: str, manager: str | None, department: str) -> None:
        if self.graph is not None:
            self.graph.add_user(address, name_of(address), manager=manager, department=department)
        else:
            self.google.directory.add_user(address, name_of(address), manager=manager, department=department)

    def set_manager(self, address: str, manager: str | None) -> None:
        if self.graph is not None:
            self.graph.set_manager(address, manager)
        else:
            self.google.directory.set_manager(address, manager)

    def leave(self, address: str, how: str = "blocked") -> None:
        """`blocked`: suspended (Google) / sign-in disabled (Entra); `deleted`: gone from the listing."""
        if how == "deleted":
            (self.graph.remove_user if self.graph is not None else self.google.directory.remove_user)(address)
        elif self.graph is not None:
            self.graph.disable_user(address)
        else:
            self.google.directory.suspend(address)

    def directory_requests(self) -> int:
        if self.graph is not None:
            return len(self.graph.server.requests_matching("GET", r"^/v1\.0/users$"))
        return len(self.google.server.requests_matching("GET", r"^/admin/directory/v1/users$"))

    # -- running oneonone ---------------------------------------------------------------------------
    def reader(self, settings: Settings | None = None, attempts: int = 3) -> PeopleReader:
        """The source's reader as the daemon builds it, with the waits recorded instead of slept."""
        settings = settings or self.settings
        retry = RetryPolicy(attempts=attempts, base_delay=1.0)
        if self.graph is not None:
            client = GraphClient(
                tenant_id=self.graph.tenant_id,
                client_id=CLIENT_ID,
                credential=lambda: SECRET,
                authority=self.graph.base_url,
                graph_endpoint=self.graph.graph_endpoint,
                ca_bundle=str(self.graph.ca_pem),
                sleeper=self.waits,
                rng=random.Random(3),
                retry=retry,
            )
            return EntraDirectoryReader(client, page_size=settings.directory.entra.page_size)
        google = settings.directory.google
        assert google.admin_subject is not None
        return GoogleDirectoryReader(
            admin_credentials(self.key_file, google.admin_subject),
            admin=google.admin_subject,
            customer=google.customer,
            api_endpoint=google.api_endpoint,
            page_size=google.page_size,
            retry=retry,
            sleeper=self.waits,
            rng=random.Random(3),
        )

    def refresh(self, settings: Settings | None = None, **kwargs: Any) -> RefreshResult:
        settings = settings or self.settings
        return refresh_directory(self.runtime.db, settings, self.now[0], reader=self.reader(settings), **kwargs)

    def cycle(self, advance: timedelta = timedelta(minutes=5)) -> CycleReport:
        self.now[0] += advance
        return run_cycle(self.runtime)

    def with_directory(self, **changes: Any) -> Settings:
        return self.settings.model_copy(update={"directory": self.settings.directory.model_copy(update=changes)})

    def pairs(self, settings: Settings | None = None, everything: bool = False) -> list[dict[str, Any]]:
        return directory_rows(settings or self.settings, self.runtime.db, everything=everything)[0]

    def in_force(self) -> set[tuple[str, str]]:
        return {(row["manager"], row["report"]) for row in self.pairs()}

    def findings(self) -> list[dict[str, Any]]:
        with self.runtime.db.session() as session:
            return [finding_as_dict(r) for r in finding_rows(session)]


def directory_config(
    kind: str, google: GoogleCalendarEmulator, graph: GraphEmulator | None, key: Path, sink: MailSink, database_url: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "database_url": database_url,
        "poll_interval_seconds": 300,
        "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@example.com"},
        "google": {
            "api_endpoint": google.api_endpoint,
            "service_account_file": str(key),
            "calendars": [BEA, MARIA, PIA],
        },
        "agenda": {"nudges": False},
        "directory": {"source": kind, "domains": ["example.com"]},
    }
    if kind == "google":
        data["directory"]["google"] = {
            "admin_subject": ADMIN,
            "api_endpoint": google.base_url + "/",
            "page_size": PAGE_SIZE,
        }
    else:
        assert graph is not None
        data["outlook"] = {
            "tenant_id": graph.tenant_id,
            "client_id": CLIENT_ID,
            "client_secret_env": SECRET_ENV,
            "authority": graph.base_url,
            "graph_endpoint": graph.graph_endpoint,
            "ca_bundle": str(graph.ca_pem),
        }
        data["directory"]["entra"] = {"page_size": PAGE_SIZE}
    return data


def make_directory_world(
    kind: str,
    google: GoogleCalendarEmulator,
    graph: GraphEmulator | None,
    sink: MailSink,
    database_url: str,
    folder: Path,
    **extra: Any,
) -> DirectoryWorld:
    for person in (BEA, MARIA, PIA, RAJ, SAM, TOM, NIA):
        google.add_calendar(person, "UTC")
    key = folder / "google-key.json"
    key.write_text(json.dumps(google.service_account_info()), encoding="utf-8")
    data = directory_config(kind, google, graph, key, sink, database_url)
    for section, values in extra.items():
        data[section] = {**data.get(section, {}), **values}
    settings = parse_settings(data)
    now = [NOW]
    provider, _ = make_provider(google, (BEA, MARIA, PIA))
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    world = DirectoryWorld(kind, google, graph, sink, runtime, now, key)
    if kind == "google":
        google.directory.add_user(ADMIN, "It Admin", department="IT", admin=True)
    else:
        assert graph is not None
        graph.add_app(CLIENT_ID, SECRET)
    for person, manager, department in ORG:
        world.add_user(person, manager, department)
    return world
