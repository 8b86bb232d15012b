"""Rule 5, `agenda-not-prepared`: the report prepares the agenda, and their items come first.

Recorded, never emailed to the manager: the report gets a reminder instead (the daemon's nudge).
The only fact from outside the calendar — whether the report has written a talking point for the
coming 1:1 — is passed in, so the rule stays pure like the others.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.days import show_time
from rules.history import PairHistory
from rules.model import Finding, Occurrence

RULE = "agenda-not-prepared"


def due_agenda(history: PairHistory, now: datetime, hours: int) -> Occurrence | None:
    """The coming 1:1 whose agenda should be ready by now (less than `hours` before it starts), if any."""
    upcoming = history.next_scheduled
    if upcoming is None or upcoming.away:
        return None
    return upcoming if upcoming.start - timedelta(hours=hours) <= now < upcoming.start else None


def agenda_finding(history: PairHistory, upcoming: Occurrence, hours: int, *, prepared: bool) -> Finding | None:
    """The finding while the report has written nothing for `upcoming` (the 1:1 `due_agenda` found due;
    `prepared`: they have)."""
    if prepared:
        return None
    report = history.pair.report
    return Finding(
        rule=RULE,
        manager=history.pair.manager,
        report=report,
        key=f"agenda:{upcoming.original_start.isoformat()}",
        message=f"{report} has added no talking points for the 1:1 on {show_time(upcoming.start, history.tz)}",
        explanation=f"Less than {hours} h before the 1:1 the agenda has no talking point from {report}; "
        "they were reminded by email with the link to the page.",
        occurrence=upcoming.original_start,
        notify_at=None,
    )
