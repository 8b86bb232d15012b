"""`oneonone directory sync|show`: registered by `sync.cli.parser`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sync.config import Settings
from sync.store.db import Database

Load = Callable[[argparse.Namespace], Settings]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: Load) -> None:
    directory = sub.add_parser("directory", help="who reports to whom: refresh it now, show the pairs in force")
    commands = directory.add_subparsers(dest="directory_command", required=True)
    sync = commands.add_parser("sync", help="read the directory source now and apply it (pairs start and end)")
    sync.add_argument(
        "--allow-large-changes", action="store_true", help="accept a refresh that ends more than half of the pairs"
    )
    sync.set_defaults(func=lambda a, c: cmd_sync(load(a), c, allow_large_changes=a.allow_large_changes))
    show = commands.add_parser("show", help="the pairs in force, their source and start date")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.add_argument("--all", action="store_true", help="ended pairs too, with when and why they ended")
    show.set_defaults(func=lambda a, c: cmd_show(load(a), c, fmt=a.format, everything=a.all))


def _database(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url())
    db.migrate()
    return db


def _now() -> datetime:
    """The command's clock: a CLI run is one moment of the real world (the daemon injects its own)."""
    return datetime.now(UTC)


def cmd_sync(settings: Settings, console: Console, *, allow_large_changes: bool = False) -> int:
    from sync.directory.refresh import refresh_directory

    db = _database(settings)
    try:
        result = refresh_directory(db, settings, _now(), allow_large_changes=allow_large_changes or None)
    finally:
        db.dispose()
    if result.skipped:
        console.print("no directory configured (directory.source config, no directory.pairs): nothing to sync")
        return 0
    if not result.ok:
        sys.stderr.write(f"directory sync failed (the last good directory stays in force): {result.error}\n")
        return 1
    console.print(
        f"directory synced from {result.source}: {result.in_force} pairs in force "
        f"(+{len(result.started)} started, {len(result.ended)} ended, {len(result.left)} people left, "
        f"{result.findings_ended} open findings ended)"
    )
    for pair in result.started:
        console.print(f"  + {pair.manager} / {pair.report} (start {pair.start or 'unknown'})")
    for pair, reason in result.ended:
        console.print(f"  - {pair.manager} / {pair.report} ({reason})")
    return 0


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value.isoformat()


def directory_rows(settings: Settings, db: Database, *, everything: bool = False) -> tuple[list[dict[str, Any]], str]:
    """The pairs as `directory show` prints them, and a one-line status of the last refresh."""
    from sync.directory.store import directory_in_force, pair_rows, state_row

    with db.session() as session:
        state = state_row(session)
        if state is not None and state.last_success_at is not None:
            rows = [
                {
                    "manager": r.manager,
                    "report": r.report,
                    "source": r.source,
                    "start": _iso(r.start),
                    "first_seen": _iso(r.first_seen),
                    "status": "ended" if r.ended_at else "in force",
                    "ended_at": _iso(r.ended_at),
                    "end_reason": r.end_reason,
                }
                for r in pair_rows(session, include_ended=everything)
            ]
        else:
            configured = {(p.manager.lower(), p.report.lower()) for p in settings.directory.pairs}
            rows = [
                {
                    "manager": p.manager,
                    "report": p.report,
                    "source": "config" if p.key in configured else settings.directory.resolved_source,
                    "start": _iso(p.start),
                    "first_seen": None,
                    "status": "in force",
                    "ended_at": None,
                    "end_reason": None,
                }
                for p in sorted(directory_in_force(session, settings).pairs, key=lambda p: p.key)
            ]
    source = settings.directory.resolved_source
    if state is None or state.last_success_at is None:
        status = f"source {source}: never synced; the config is in force as written"
    else:
        status = f"source {state.source}: last synced {_iso(state.last_success_at)}"
    if state is not None and state.last_error:
        status += f"; last error {_iso(state.last_error_at)}: {state.last_error}"
    return rows, status


def cmd_show(settings: Settings, console: Console, *, fmt: str = "table", everything: bool = False) -> int:
    db = _database(settings)
    try:
        rows, status = directory_rows(settings, db, everything=everything)
    finally:
        db.dispose()
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    title = "Directory pairs" + (" (ended ones too)" if everything else " in force")
    table = Table(title=title, caption=escape(status))
    columns = ["manager", "report", "source", "start", "first_seen"]
    if everything:
        columns += ["status", "ended_at", "end_reason"]
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(escape(str(row[c] or "")) for c in columns))
    console.print(table)
    return 0
