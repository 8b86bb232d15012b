"""`oneonone report`: registered by `sync.cli.parser`.

`--sync` runs one cycle first, showing how many calendars are done as it goes: the cycle runs in
a worker thread and the progress is read from the store (a calendar is done once its lease for
this cycle is released), so the cycle itself needs no hooks.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from sync.config import Settings
from sync.store.models import CalendarRow
from sync.views.report import DEFAULT_WEEKS, build_report, report_csv, report_table, row_as_dict

if TYPE_CHECKING:
    from sync.cycle import CycleReport
    from sync.runtime import Runtime

Load = Callable[[argparse.Namespace], Settings]


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: Load) -> None:
    report = sub.add_parser("report", help="per pair: last and next 1:1, current gap, what became of each 1:1")
    report.add_argument("--manager", help="only this manager's reports")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.add_argument(
        "--since", type=date.fromisoformat, default=None, help=f"period start (default: {DEFAULT_WEEKS} weeks ago)"
    )
    report.add_argument("--sync", action="store_true", help="sync every calendar first (one cycle, with progress)")
    report.set_defaults(func=lambda a, c: cmd_report(load(a), c, a))


def sync_with_progress(runtime: Runtime, console: Console) -> CycleReport:
    """One cycle, with a progress bar of the calendars synced so far."""
    from sync.cycle import run_cycle

    total = sum(len(provider.calendars()) for provider in runtime.providers)
    started = runtime.clock() - timedelta(seconds=1)
    outcome: list[CycleReport] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(run_cycle(runtime))
        except BaseException as exc:  # handed to the main thread below
            failure.append(exc)

    thread = threading.Thread(target=work, name="report-sync", daemon=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("syncing calendars", total=total or None)
        thread.start()
        while thread.is_alive():
            thread.join(0.2)
            done = _calendars_done(runtime, started)
            phase = "syncing calendars" if done < total else "evaluating the rules and sending what is due"
            progress.update(task, completed=min(done, total), description=phase)
    if failure:
        raise failure[0]
    return outcome[0]


PROGRESS_FROM = 20  # calendars: below this a first sync is over before a bar would help


def wants_progress(runtime: Runtime, console: Console) -> bool:
    """A person watching a terminal, and a first full sync of many calendars (minutes, not seconds)."""
    if not console.is_terminal:
        return False
    total = sum(len(provider.calendars()) for provider in runtime.providers)
    if total < PROGRESS_FROM:
        return False
    with runtime.db.session() as session:
        synced = session.scalar(select(func.count(CalendarRow.id)).where(CalendarRow.cursor.is_not(None)))
    return not synced


def _calendars_done(runtime: Runtime, since: datetime) -> int:
    with runtime.db.session() as session:
        count = session.scalar(
            select(func.count(CalendarRow.id)).where(
                CalendarRow.last_attempt_at >= since, CalendarRow.lease_owner.is_(None)
            )
        )
    return int(count or 0)


def cmd_report(
    settings: Settings, console: Console, args: argparse.Namespace, clock: Callable[[], datetime] | None = None
) -> int:
    from sync.runtime import build_runtime, utc_now
    from sync.store.db import Database

    clock = clock or utc_now
    if args.sync:
        runtime = build_runtime(settings, clock=clock)
        report = sync_with_progress(runtime, console)
        failed = len(report.failed_calendars)
        console.print(f"synced {len(report.calendars) - failed}/{len(report.calendars)} calendars", style="dim")
        db = runtime.db
    else:
        db = Database(settings.resolved_database_url())
        db.migrate()
    try:
        with db.session() as session:
            rows, _ = build_report(session, settings, clock(), manager=args.manager, since=args.since)
    finally:
        db.dispose()
    reach = clock().date() - timedelta(days=settings.rules.history_days)
    if args.since is not None and args.since < reach:
        sys.stderr.write(
            f"note: 1:1s before {reach.isoformat()} are outside the evaluated history "
            f"(rules.history_days = {settings.rules.history_days}) and are not counted\n"
        )
    if args.format == "json":
        sys.stdout.write(json.dumps([row_as_dict(r) for r in rows], indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(report_csv(rows))
    else:
        console.print(report_table(rows))
    return 0
