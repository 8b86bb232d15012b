"""Rule 5, `agenda-not-prepared`, as a pure rule: due less than the set hours before the coming 1:1, and
only while the report has written nothing for it."""

from __future__ import annotations

from datetime import timedelta

from rules_builders import R, context, events, weekly

from rules.agenda import RULE, agenda_finding, due_agenda
from rules.engine import pair_histories


def _history(now: str):  # type: ignore[no-untyped-def]
    (history,) = pair_histories(events(weekly()), context(now))
    return history


def test_a_day_before_the_1on1_an_unprepared_agenda_is_a_finding_about_the_report() -> None:
    history = _history("2025-01-19T12:00")  # the weekly 1:1 is Monday 10:00 Berlin: 22 h to go
    upcoming = due_agenda(history, history.now, 24)
    assert upcoming is not None
    finding = agenda_finding(history, upcoming, 24, prepared=False)
    assert finding is not None and finding.rule == RULE and finding.report == R
    assert finding.occurrence == history.next_scheduled.start and finding.notify_at is None  # type: ignore[union-attr]
    assert finding.key == f"agenda:{history.next_scheduled.original_start.isoformat()}"  # type: ignore[union-attr]


def test_a_prepared_agenda_or_one_not_yet_due_is_no_finding() -> None:
    history = _history("2025-01-19T12:00")
    upcoming = due_agenda(history, history.now, 24)
    assert upcoming is not None and agenda_finding(history, upcoming, 24, prepared=True) is None
    assert due_agenda(history, history.now, 12) is None  # 22 h to go, due at 12 h
    assert due_agenda(history, history.now - timedelta(days=2), 24) is None
