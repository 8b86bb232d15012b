"""What the rules are judged on, read from the store: the evaluation context and the stored events.

The cycle, the agenda pages, the reports and the org page all judge through here, so they see one
truth: the same directory, pauses, zones and stale calendars.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.attendance import PREFER
from rules.engine import Evaluation, evaluate
from rules.model import EvaluationContext, Pause
from sync.config import Settings
from sync.directory.store import directory_in_force
from sync.ingest.attendance import stored_attendance
from sync.ingest.calendars import stale_calendars
from sync.store.events import load_events
from sync.store.models import CalendarRow, PairSeenRow, PauseRow


def calendar_zones(rows: Sequence[CalendarRow]) -> dict[str, str]:
    """Each watched calendar's own zone, as its provider reported it."""
    return {row.calendar: row.time_zone for row in rows if row.time_zone}


def evaluation_context(session: Session, settings: Settings, now: datetime) -> EvaluationContext:
    rows = session.scalars(select(CalendarRow)).all()
    zones = calendar_zones(rows)
    pauses = tuple(
        Pause(manager=p.manager, report=p.report, until=p.until, since=p.since)
        for p in session.scalars(select(PauseRow))
    )
    seen = session.execute(select(PairSeenRow.manager, PairSeenRow.report, PairSeenRow.first_seen))
    first_seen = {(manager, report): day for manager, report, day in seen}  # plain rows: one per pair
    attendance = (
        stored_attendance(session, now - timedelta(days=settings.rules.history_days + 1))
        if settings.rules.attendance == PREFER
        else {}
    )
    return EvaluationContext(
        now=now,
        default_time_zone=settings.time_zone,
        pair_first_seen=first_seen,
        settings=settings.rule_settings(),
        directory=directory_in_force(session, settings),
        pauses=pauses,
        stale_calendars=stale_calendars(session, now, timedelta(seconds=settings.poll_interval_seconds)),
        watched_calendars=frozenset(row.calendar for row in rows),
        time_zones=zones,
        attendance=attendance,
    )


def remember_pairs(session: Session, context: EvaluationContext, evaluation: Evaluation) -> set[tuple[str, str]]:
    """A pair's start, when nothing else says, is the day oneonone first saw it (directory or calendar).
    Returns the pairs first seen now: they were judged without that day, so they are judged again."""
    known = set(context.pair_first_seen)
    today = context.now.date()
    candidates = {p.key for p in context.directory.pairs if p.start is None} | set(evaluation.judged_pairs)
    fresh = candidates - known
    for manager, report in sorted(fresh):
        session.add(PairSeenRow(manager=manager, report=report, first_seen=today))
    return fresh


def evaluate_store(session: Session, settings: Settings, now: datetime) -> tuple[Evaluation, EvaluationContext]:
    context = evaluation_context(session, settings, now)
    return evaluate(load_events(session), context), context
