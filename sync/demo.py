"""`oneonone demo`: the whole daemon on an embedded default, nothing to configure.

Starts the Google Calendar emulator seeded with a realistic org, a local SMTP server that keeps
what it receives as .eml files, and the daemon itself against a SQLite file, then runs cycles
and shows what it found. Everything lives under one folder (default `.demo/`).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from emulators.google import GoogleCalendarEmulator
from emulators.org import OrgPlan, google_instance_id, plan_org, seed_google
from emulators.smtp import MailSink
from sync.cli import print_cycle
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.findings import finding_as_dict, finding_rows
from sync.runtime import build_runtime


def demo_config(folder: Path, emulator: GoogleCalendarEmulator, smtp_port: int, plan: OrgPlan) -> dict[str, Any]:
    key_file = folder / "google-service-account.json"
    key_file.write_text(json.dumps(emulator.service_account_info(), indent=2), encoding="utf-8")
    key_file.chmod(0o600)
    first_start = {(s.organizer, s.attendee): s.first_start.date().isoformat() for s in plan.series}
    return {
        "database_url": f"sqlite:///{(folder / 'oneonone.db').resolve()}",
        "poll_interval_seconds": 30,
        "time_zone": "UTC",
        "google": {
            "api_endpoint": emulator.api_endpoint,
            "service_account_file": str(key_file.resolve()),
            "calendars": list(plan.managers),
        },
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "from": "oneonone@example.com"},
        "notify": {"mode": "send"},
        "directory": {
            "domains": [plan.domain],
            "pairs": [{"manager": m, "report": r, "start": first_start.get((m, r))} for m, r in plan.pairs()],
        },
    }


def _findings_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Open findings", show_lines=False)
    for column in ("rule", "manager", "report", "when", "emailed"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if row["status"] != "open":
            continue
        table.add_row(
            str(row["rule"]),
            str(row["manager"]),
            str(row["report"]),
            str(row["occurrence"] or row["key"]),
            "yes" if row["notified_at"] else ("digest" if row["digest_only"] else "not yet"),
        )
    return table


def _live_change(emulator: GoogleCalendarEmulator, plan: OrgPlan, now: datetime) -> str | None:
    """Between cycles, someone cancels next week's 1:1 — the daemon should notice incrementally."""
    for series in plan.series:
        if plan.stories.get((series.organizer, series.attendee)) != "healthy-weekly":
            continue
        slot = series.first_start
        while slot.astimezone(UTC) < now + timedelta(days=2):
            slot = (slot.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=slot.tzinfo)
        emulator.delete_event(series.organizer, google_instance_id(series.key, slot))
        return f"{series.organizer} cancelled the 1:1 with {series.attendee} on {slot:%a %d %b %H:%M}"
    return None


def run_demo(folder: Path, *, cycles: int, interval: float, console: Console) -> int:
    for stale in ("oneonone.db", "oneonone.db-wal", "oneonone.db-shm", "mail"):
        target = folder / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.pop("REQUESTS_CA_BUNDLE", None)
    now = datetime.now(UTC)
    plan = plan_org(now)
    emulator = GoogleCalendarEmulator()
    sink = MailSink(folder / "mail")
    stop = threading.Event()
    emulator.start()
    try:
        seed_google(emulator, plan)
        _, smtp_port = sink.start()
        config = demo_config(folder, emulator, smtp_port, plan)
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        settings = parse_settings(config, origin="demo config")
        runtime = build_runtime(settings)
        stories = Counter(plan.stories.values())
        console.rule("[bold]oneonone demo")
        console.print(
            f"Org: {len(plan.managers)} managers, {sum(len(r) for r in plan.reports.values())} reports, "
            f"{len(plan.series)} 1:1 series; stories: {', '.join(f'{k} x{v}' for k, v in sorted(stories.items()))}"
        )
        console.print(f"Google Calendar emulator: {emulator.api_endpoint}")
        console.print(f"SMTP server: 127.0.0.1:{smtp_port}; emails are saved in [bold]{folder / 'mail'}[/bold]")
        console.print(
            f"Config written to {folder / 'config.yaml'} (try: oneonone --config {folder / 'config.yaml'} findings)"
        )
        cycle = 0
        while not stop.is_set():
            cycle += 1
            console.rule(f"cycle {cycle}")
            report = run_cycle(runtime)
            print_cycle(report, console)
            with runtime.db.session() as session:
                rows = [finding_as_dict(r) for r in finding_rows(session)]
            console.print(_findings_table(rows))
            console.print(f"Emails received by the SMTP server so far: {len(sink.messages)} (in {folder / 'mail'})")
            if cycles and cycle >= cycles:
                break
            if cycle == 1:
                change = _live_change(emulator, plan, runtime.clock())
                if change:
                    console.print(f"[yellow]Meanwhile:[/yellow] {change}")
            console.print(f"Next cycle in {interval:.0f}s (Ctrl-C to stop)")
            stop.wait(interval)
    except KeyboardInterrupt:
        console.print("\nStopping.")
    finally:
        sink.stop()
        emulator.stop()
    return 0
