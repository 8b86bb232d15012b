"""`oneonone findings`: what the rules found, filtered, in words, and `findings explain ID`.

The table is what an admin reads at 80 columns: names rather than addresses, the rule in words, the day
in the manager's own zone, and what happened to the email (sent, due, digest only, not emailed). The
same table is the demo's; `--format json` keeps the full record for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.actions.findings import finding_as_dict, finding_rows
from sync.config import Settings
from sync.evaluation import calendar_zones
from sync.notify.render import TITLES, display_name
from sync.store.db import Database
from sync.store.models import CalendarRow, FindingRow
from sync.views.attention import email_status

STATUSES = ("open", "resolved", "ended", "all")
Load = Callable[[argparse.Namespace], Settings]


def watched_zones(session: Session) -> dict[str, str]:
    return calendar_zones(session.scalars(select(CalendarRow)).all())


def findings_table(
    rows: Sequence[FindingRow], now: datetime, zones: Mapping[str, str], default_zone: str, title: str = "Findings"
) -> Table:
    """Fits 80 columns: names, the rule in words, the manager's local day, the email's fate."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", padding=(0, 1))
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("manager", no_wrap=True)
    table.add_column("report", no_wrap=True)
    table.add_column("what")
    table.add_column("when", no_wrap=True)
    table.add_column("email", no_wrap=True)
    for row in rows:
        zone = zones.get(row.manager, default_zone)
        when = row.occurrence.astimezone(ZoneInfo(zone)).strftime("%d %b") if row.occurrence else "series"
        what = TITLES.get(row.rule, row.rule)
        if row.status != "open":
            what += f" ({row.status})"
        table.add_row(
            str(row.id),
            display_name(row.manager),
            display_name(row.report),
            what,
            when,
            email_status(row, now, zone),
        )
    return table


def _selected(session: Session, args: argparse.Namespace) -> list[FindingRow]:
    rows = finding_rows(session, status=None if args.status == "all" else args.status)
    wanted = {
        "manager": (args.manager or "").lower(),
        "report": (args.report or "").lower(),
        "rule": args.rule or "",
    }
    return [
        r
        for r in rows
        if (not wanted["manager"] or r.manager == wanted["manager"])
        and (not wanted["report"] or r.report == wanted["report"])
        and (not wanted["rule"] or r.rule == wanted["rule"])
    ]


def cmd_findings(args: argparse.Namespace, console: Console, load: Load) -> int:
    settings = load(args)
    db = Database(settings.resolved_database_url())
    db.migrate()
    now = datetime.now(UTC)
    with db.session() as session:
        if args.words:
            if len(args.words) != 2 or args.words[0] not in ("explain", "ack") or not args.words[1].isdigit():
                sys.stderr.write(
                    "usage: oneonone findings explain ID | findings ack ID --reason TEXT (the id is the table's first"
                    " column)\n"
                )
                return 2
            if args.words[0] == "ack":
                return _acknowledge(session, int(args.words[1]), args, console)
            return _explain(session, int(args.words[1]), console)
        rows = _selected(session, args)
        if args.format == "json":
            sys.stdout.write(json.dumps([finding_as_dict(r, now) for r in rows], indent=2) + "\n")
            return 0
        zones = watched_zones(session)
        console.print(findings_table(rows, now, zones, settings.time_zone))
        if rows:
            console.print("Why one was found: oneonone findings explain ID")
    return 0


def _finding(session: Session, finding_id: int) -> FindingRow | None:
    """The finding by its id, or None after saying where ids are found."""
    row = session.get(FindingRow, finding_id)
    if row is None:
        sys.stderr.write(f"no finding has id {finding_id} (the ids are in the first column of `oneonone findings`)\n")
    return row


def _explain(session: Session, finding_id: int, console: Console) -> int:
    row = _finding(session, finding_id)
    if row is None:
        return 1
    console.print(f"[bold]{TITLES.get(row.rule, row.rule)}[/bold] — {row.manager} / {row.report} ({row.rule})")
    console.print(row.message, markup=False)
    console.print(f"Why: {row.explanation}", markup=False)
    console.print(f"Status: {row.status}; first seen {row.first_seen:%Y-%m-%d %H:%M} UTC", markup=False)
    return 0


def _acknowledge(session: Session, finding_id: int, args: argparse.Namespace, console: Console) -> int:
    """Recorded with who and when; the finding leaves "needs attention" and is never emailed again."""
    row = _finding(session, finding_id)
    if row is None:
        return 1
    reason = (args.reason or "").strip()
    if not reason:
        sys.stderr.write("say why with --reason, e.g. --reason 'Raj is on parental leave until March'\n")
        return 2
    row.acknowledged_at = datetime.now(UTC)
    row.acknowledged_by = (args.by or getpass.getuser()).strip()[:320]
    row.ack_reason = reason[:2000]
    console.print(
        f"Acknowledged {finding_id} ({TITLES.get(row.rule, row.rule)}, {row.manager} / {row.report}) for "
        f"{row.acknowledged_by}: it is no longer emailed or counted as needing attention.",
        markup=False,
    )
    return 0


def add_findings_command(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: Load) -> None:
    f = sub.add_parser("findings", help="list what the rules found (filter by person, rule, status)")
    f.add_argument("--format", choices=("table", "json"), default="table")
    f.add_argument("--status", choices=STATUSES, default="all")
    f.add_argument("--manager", help="only this manager's findings (an email address)")
    f.add_argument("--report", help="only findings about this report (an email address)")
    f.add_argument("--rule", choices=sorted(TITLES), help="only this rule")
    f.add_argument(
        "words", nargs="*", metavar="explain ID | ack ID", help="say why one finding was found, or acknowledge it"
    )
    f.add_argument("--reason", help="with ack: why this finding needs no action (recorded)")
    f.add_argument("--by", help="with ack: who acknowledges it (default: your login name)")
    f.set_defaults(func=lambda a, c: cmd_findings(a, c, load))
