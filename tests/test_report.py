"""`oneonone report`: per-pair figures checked against a hand-computed history (tests/views_fixtures.py)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from datetime import date, timedelta
from io import StringIO

import pytest
from agenda_fixtures import FIRST, make_agenda_world
from google_fixtures import weekly_one_on_one
from rich.console import Console
from rules_builders import M, P, R, at, context, directory, events
from views_fixtures import NOW, PEOPLE, START, org_events, org_settings, seed

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from rules.engine import pair_histories
from rules.summary import WeekCell, week_cells
from sync.cli.report import cmd_report, sync_with_progress
from sync.config import Settings, parse_settings
from sync.cycle import run_cycle
from sync.runtime import build_runtime
from sync.store.db import Database
from sync.views.report import build_report, report_csv, report_rows, report_table, row_as_dict


@pytest.fixture
def settings(database_url: str) -> Settings:
    settings = parse_settings(org_settings(database_url))
    db = Database(database_url)
    db.migrate()
    seed(db)
    db.dispose()
    return settings


def _rows(settings: Settings, **kwargs: object) -> dict[str, dict[str, object]]:
    db = Database(settings.resolved_database_url())
    with db.session() as session:
        rows, _ = build_report(session, settings, NOW, **kwargs)  # type: ignore[arg-type]
    db.dispose()
    return {f"{r.summary.manager}/{r.summary.report}": row_as_dict(r) for r in rows}


def test_report_figures_match_the_hand_computed_history(settings: Settings) -> None:
    rows = _rows(settings)
    assert set(rows) == {f"bea@acme.test/{M}", f"{M}/{P}", f"{M}/{R}"}
    raj = rows[f"{M}/{R}"]
    assert (raj["held"], raj["moved"], raj["replaced"], raj["cancelled"], raj["away"]) == (5, 1, 1, 1, 1)
    assert raj["last_held"] == "2025-03-03T09:00:00Z"  # Mon 3 Mar 10:00 Berlin
    assert raj["next_scheduled"] == "2025-03-10T09:00:00Z"
    assert raj["gap_days"] == 7
    assert raj["time_zone"] == "Europe/Berlin" and raj["stale"] is False
    pia = rows[f"{M}/{P}"]
    assert (pia["held"], pia["moved"], pia["replaced"], pia["cancelled"], pia["away"]) == (6, 0, 0, 3, 0)
    assert pia["last_held"] == "2025-02-11T10:00:00Z" and pia["gap_days"] == 27
    assert pia["next_scheduled"] == "2025-03-11T10:00:00Z"
    bea = rows[f"bea@acme.test/{M}"]
    assert (bea["held"], bea["cancelled"], bea["gap_days"]) == (9, 0, 4)


def test_since_starts_the_period_at_midnight_in_the_managers_zone(settings: Settings) -> None:
    rows = _rows(settings, since=date(2025, 2, 1))
    raj = rows[f"{M}/{R}"]
    assert raj["since"] == "2025-01-31T23:00:00Z"  # midnight in Berlin
    assert (raj["held"], raj["moved"], raj["replaced"], raj["cancelled"], raj["away"]) == (4, 0, 0, 0, 1)
    pia = rows[f"{M}/{P}"]
    assert (pia["held"], pia["cancelled"]) == (2, 3)
    only = _rows(settings, manager="MARIA@acme.test")  # addresses are case-insensitive
    assert set(only) == {f"{M}/{P}", f"{M}/{R}"}


def test_rows_carry_the_open_findings_the_daemon_recorded(settings: Settings) -> None:
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[], send=lambda row: None)
    run_cycle(runtime)
    runtime.db.dispose()
    rows = _rows(settings)
    assert rows[f"{M}/{P}"]["open_findings"] == {
        "cadence-gap": 1,
        "cadence-gap-ahead": 1,
        "cancelled-without-reschedule": 3,
    }
    assert rows[f"{M}/{R}"]["open_findings"] == {"cancelled-without-reschedule": 1, "short-meeting": 1}
    assert str(rows[f"{M}/{R}"]["agenda_url"]).startswith("https://oneonone.acme.test/a/")


def test_a_replacement_counts_once_with_the_slot_it_replaced() -> None:
    raj = next(h for h in pair_histories(org_events(), _context()) if h.pair.key == (M, R))
    counted = report_rows([raj])[0].summary
    total = counted.held + counted.moved + counted.replaced + counted.cancelled + counted.away
    assert total == 9  # nine Mondays from 6 Jan to 3 Mar; the 29 Jan one-off is not a tenth
    assert counted.due == 8  # the one cancelled while Raj was away was not due


def test_the_timeline_weeks_read_as_the_history() -> None:
    raj = next(h for h in pair_histories(org_events(), _context()) if h.pair.key == (M, R))
    cells = week_cells(raj, 12)
    assert cells[0].label == "W52" and cells[-1].label == "W11"
    assert [c.state for c in cells] == [
        "none",
        "none",
        "held",
        "cancelled",
        "moved",
        "replaced",
        "held",
        "away",
        "held",
        "held",
        "held",
        "scheduled",
    ]
    pia = next(h for h in pair_histories(org_events(), _context()) if h.pair.key == (M, P))
    assert [c.state for c in week_cells(pia, 5)] == ["held", "cancelled", "cancelled", "cancelled", "scheduled"]


def test_a_week_without_a_1_1_is_a_gap_only_when_one_was_due() -> None:
    from rules_builders import weekly

    biweekly = weekly(M, R, "2025-01-06T10:00", rrule="FREQ=WEEKLY;INTERVAL=2")
    ctx = context("2025-03-10T08:30", directory=directory((M, R, START)), watched=PEOPLE)
    (history,) = pair_histories(events(biweekly), ctx)
    states = [c.state for c in week_cells(history, 6)]
    assert states == ["held", "none", "held", "none", "held", "none"]  # off weeks are not gaps
    ended = weekly(M, R, "2025-01-06T10:00", until="20250203T235959Z")
    (history,) = pair_histories(events(ended), ctx)
    assert [c.state for c in week_cells(history, 6)] == ["held", "gap", "gap", "gap", "gap", "gap"]
    assert isinstance(week_cells(history, 1)[0], WeekCell)


def _context():  # type: ignore[no-untyped-def]
    return context(
        "2025-03-10T08:30",
        directory=directory((M, R, START), (M, P, START), ("bea@acme.test", M, START)),
        watched=PEOPLE,
    )


def _args(**kwargs: object) -> argparse.Namespace:
    return argparse.Namespace(**{"manager": None, "since": None, "sync": False, "format": "table", **kwargs})


def test_the_command_prints_json_csv_and_a_table(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_report(settings, Console(), _args(format="json", manager=M), clock=lambda: NOW) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["report"], d["held"], d["cancelled"]) for d in data] == [(P, 6, 3), (R, 5, 1)]
    assert cmd_report(settings, Console(), _args(format="csv"), clock=lambda: NOW) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert table[0].keys() >= {"manager", "report", "last_held", "gap_days", "held", "open_findings"}
    assert {(r["report"], r["gap_days"]) for r in table} == {(M, "4"), (P, "27"), (R, "7")}
    assert cmd_report(settings, Console(), _args(format="json", since=date(2024, 1, 1)), clock=lambda: NOW) == 0
    assert "outside the evaluated history (rules.history_days = 120)" in capsys.readouterr().err
    console = Console(file=StringIO(), width=200)
    assert cmd_report(settings, console, _args(), clock=lambda: NOW) == 0
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "raj@acme.test" in out and "Mon 03 Mar 10:00" in out  # the manager's zone


def test_addresses_are_never_read_as_console_markup_or_spreadsheet_formulas() -> None:
    from rules_builders import weekly

    odd = "=cmd[red]x@acme.test"
    meeting = weekly(M, odd, "2025-03-03T10:00")
    ctx = context("2025-03-10T08:30", directory=directory((M, odd, START)), watched=(M,))
    rows = report_rows(pair_histories(events(meeting), ctx))
    console = Console(file=StringIO(), width=200)
    console.print(report_table(rows))
    assert "=cmd[red]x@acme.test" in console.file.getvalue()  # type: ignore[attr-defined]
    assert "'=cmd[red]x@acme.test" in report_csv(rows)


def test_sync_first_shows_progress_and_then_reports(google_emulator: GoogleCalendarEmulator, sqlite_url: str) -> None:
    with MailSink() as sink:
        world = make_agenda_world(google_emulator, sink, sqlite_url)
        weekly_one_on_one(google_emulator, FIRST, zone="UTC")
        out = StringIO()
        report = sync_with_progress(world.runtime, Console(file=out, force_terminal=True, width=120))
        assert [c.ok for c in report.calendars] == [True]
        assert "syncing calendars" in out.getvalue() or "evaluating" in out.getvalue()
        with world.runtime.db.session() as session:
            rows, _ = build_report(session, world.runtime.settings, world.now[0] + timedelta(minutes=1))
        (row,) = rows
        assert row.summary.held == 4 and row.summary.next_scheduled is not None
        assert row.page_url is not None and "/a/" in row.page_url
        assert at("2026-03-02T10:00Z") == row.summary.next_scheduled


@pytest.mark.parametrize(
    ("today", "away", "too_long"),
    [
        ("2025-03-17T12:00", None, False),  # 14 days since the last 1:1: the house rule allows it
        ("2025-03-18T12:00", None, True),  # 15: the cadence-gap rule breaks, and every surface says "too long"
        ("2025-03-18T12:00", ("2025-03-10", "2025-03-11"), False),  # 15, two of them away: 13 counted
    ],
)
def test_too_long_is_exactly_where_the_cadence_gap_rule_breaks(
    today: str, away: tuple[str, str] | None, too_long: bool
) -> None:
    from rules_builders import one_off, ooo

    from rules.engine import evaluate

    found = events(one_off(M, R, "2025-03-03T10:00"), *([ooo(M, *away)] if away else []))
    ctx = context(today, directory=directory((M, R, "2025-01-01")), watched=(M,))
    (row,) = report_rows(pair_histories(found, ctx))
    broke = any(f.rule == "cadence-gap" for f in evaluate(found, ctx).findings)
    assert row.summary.gap_too_long is too_long and broke is too_long
    assert row_as_dict(row)["gap_too_long"] is too_long
