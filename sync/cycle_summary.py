"""The one-line summary of each cycle on the terminal (`sync --once`, `run`, `demo`)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from sync.cycle import CycleReport


def print_cycle(report: CycleReport, console: Console) -> None:
    ok = sum(1 for c in report.calendars if c.ok)
    console.print(
        f"synced {ok}/{len(report.calendars)} calendars; findings open: {report.open_findings} "
        f"(+{report.findings.opened} new, {report.findings.resolved} resolved); "
        f"emails queued {report.queued}, sent {report.delivery.sent}, deferred {report.delivery.deferred}"
    )
    for failed in report.failed_calendars:
        console.print(f"[red]calendar {failed.calendar} ({failed.provider}) failed[/red]: {escape(failed.error or '')}")
