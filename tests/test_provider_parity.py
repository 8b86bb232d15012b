"""One org, two calendar systems: the same story seeded into Google and into Outlook yields the same findings.

The rules must not be able to tell the providers apart; this is where that is checked, end to end,
with the real client libraries and the store (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google_fixtures import make_provider as google_provider
from outlook_fixtures import CLIENT_ID, SECRET
from outlook_fixtures import make_provider as outlook_provider

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.org import OrgPlan, plan_org, seed_google
from emulators.org_graph import seed_graph
from providers.base import Provider
from sync.actions.findings import finding_as_dict, finding_rows
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.runtime import build_runtime

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
STORIES = ("cancelled-replaced", "cancelled-recently", "moved", "declined-by-report", "series-ended", "healthy-weekly")


@pytest.fixture(scope="module")
def plan() -> OrgPlan:
    return plan_org(NOW, managers=1, reports_per_manager=len(STORIES), stories=STORIES)


def _google(plan: OrgPlan, tmp_path: Path) -> Iterator[Provider]:
    emulator = GoogleCalendarEmulator()
    emulator.start()
    try:
        seed_google(emulator, plan)
        provider, _ = google_provider(emulator, tuple(plan.people))
        yield provider
    finally:
        emulator.stop()


def _outlook(plan: OrgPlan, tmp_path: Path) -> Iterator[Provider]:
    # Graph stamps each answer with its time (Google does not): the plan's changes were made before
    # the slots they touch, so they are seeded on a clock from before the first of them.
    clock = [NOW - timedelta(weeks=11)]
    with GraphEmulator(clock=lambda: clock[0], ca_dir=tmp_path / "graph-ca") as emulator:
        emulator.add_app(CLIENT_ID, SECRET)
        seed_graph(emulator, plan)
        clock[0] = NOW
        provider, _ = outlook_provider(emulator, tuple(plan.people))
        yield provider


def _findings(provider: Provider, plan: OrgPlan, database_url: str) -> list[tuple[Any, ...]]:
    first = {(s.organizer, s.attendee): s.first_start.date() for s in plan.series}
    settings = parse_settings(
        {
            "database_url": database_url,
            "directory": {
                "domains": [plan.domain],
                "pairs": [{"manager": m, "report": r, "start": first.get((m, r))} for m, r in plan.pairs()],
            },
        }
    )
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[provider], send=lambda row: None)
    report = run_cycle(runtime)
    assert all(c.ok for c in report.calendars), [c.error for c in report.calendars if not c.ok]
    with runtime.db.session() as session:
        rows = [finding_as_dict(r) for r in finding_rows(session)]
    return sorted((r["rule"], r["manager"], r["report"], r["key"], r["notify_at"], r["status"]) for r in rows)


def _run(name: str, plan: OrgPlan, database_url: str, tmp_path: Path) -> list[tuple[Any, ...]]:
    make = _google if name == "google" else _outlook
    for provider in make(plan, tmp_path):
        return _findings(provider, plan, database_url)
    raise AssertionError("no provider")


@pytest.fixture(scope="module")
def reference(plan: OrgPlan, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """What the rules find on the Google calendars, stored in SQLite: the yardstick for every run."""
    folder = tmp_path_factory.mktemp("reference")
    return _run("google", plan, f"sqlite:///{folder / 'reference.db'}", folder)


@pytest.mark.parametrize("provider", ["google", "outlook"])
def test_the_same_org_on_either_provider_yields_identical_findings(
    provider: str, plan: OrgPlan, database_url: str, tmp_path: Path, reference: list[tuple[Any, ...]]
) -> None:
    found = _run(provider, plan, database_url, tmp_path)
    rules = {f[0] for f in found}
    # Not an empty comparison: cancellations with and without a replacement, and the series that ended.
    assert {"cancelled-without-reschedule", "cadence-gap-ahead"} <= rules, found
    assert found == reference
