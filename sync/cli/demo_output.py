"""What the demo prints after each cycle: what changed since the last one, the table only when it did.

A demo left running for an hour used to reprint the whole findings table every ten seconds; now a quiet
cycle is one line, and the daemon's own log goes to a file in the demo folder.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from sync.actions.findings import finding_rows
from sync.cli.findings import findings_table, watched_zones
from sync.logs import TEXT_FORMAT
from sync.notify.render import TITLES, display_name
from sync.runtime import Runtime
from sync.store.models import FindingRow, OutboxRow
from sync.views.attention import email_status


@dataclass
class Shown:
    """What the last table showed, by finding id: (status, email) — a change to either is news."""

    rows: dict[int, tuple[str, str]] = field(default_factory=dict)


def _line(row: FindingRow) -> str:
    return f"{display_name(row.manager)} / {display_name(row.report)}: {TITLES.get(row.rule, row.rule)}"


def print_findings(runtime: Runtime, console: Console, shown: Shown) -> None:
    now = runtime.clock()
    with runtime.db.session() as session:
        rows = [r for r in finding_rows(session, status="open")]
        zones = watched_zones(session)
        default = runtime.settings.time_zone
        now_shown = {r.id: (r.status, email_status(r, now, zones.get(r.manager, default))) for r in rows}
        if now_shown == shown.rows:
            console.print(f"No change in the findings ({len(rows)} open).")
            return
        if shown.rows:
            for row in rows:
                if row.id not in shown.rows:
                    console.print(f"  new: {_line(row)}", markup=False)
                elif shown.rows[row.id] != now_shown[row.id]:
                    console.print(f"  email {now_shown[row.id][1]}: {_line(row)}", markup=False)
            gone = len(set(shown.rows) - set(now_shown))
            if gone:
                console.print(f"  {gone} no longer open")
        console.print(findings_table(rows, now, zones, default, title=f"Open findings ({len(rows)})"))
        shown.rows = now_shown


def log_to_file(folder: Path) -> logging.Handler:
    """The daemon's INFO lines go to `<folder>/oneonone.log`; the terminal keeps warnings and the summaries."""
    path = folder / "oneonone.log"
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(TEXT_FORMAT))
    to_file.setLevel(logging.INFO)
    root.addHandler(to_file)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return to_file


def print_booking(runtime: Runtime, console: Console, freebusy: list[tuple[int, float]]) -> None:
    """The closing note on booking: what free/busy cost per warning, and one button to try."""
    if not freebusy:
        console.print("Booking: no warning proposed slots in this run.")
        return
    requests = sum(r for r, _ in freebusy) / len(freebusy)
    millis = 1000 * sum(s for _, s in freebusy) / len(freebusy)
    console.print(
        f"Booking: {len(freebusy)} warnings proposed free slots; free/busy cost {requests:.1f} requests "
        f"and {millis:.0f} ms per warning.",
        soft_wrap=True,
    )
    with runtime.db.session() as session:
        bodies = session.execute(select(OutboxRow.recipient, OutboxRow.text_body).where(OutboxRow.kind == "warning"))
        rows = [(str(r), str(b)) for r, b in bodies]
    for recipient, body in rows:
        match = re.search(r"(Book .+? \(your time\)): (https?://\S+/book/\S+)", body)
        if match:
            console.print(f"  Try one (sign in as {recipient}): {match.group(1)}: {match.group(2)}", soft_wrap=True)
            console.print(
                "  Screenshots of the email, the sign-in and the booked 1:1 (tests/test_booking_browser.py): "
                "artifacts/screenshots/booking-*.png",
                soft_wrap=True,
            )
            return
