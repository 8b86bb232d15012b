"""Which pairs a cycle judges: every pair, or only those whose findings may have moved (issue 20).

Every pair is judged on the first cycle of a process, after the clock went back, after a directory
refresh or a call's attendance was read, while an agenda write is half done, and when what all pairs
rest on alike changed (thresholds, directory, watched calendars). Otherwise a cycle judges the pairs
of calendars whose events changed, the pairs whose next transition has passed and, every
`rules.full_evaluation_minutes`, the pairs whose inputs no longer match what they were judged on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rules.agenda import RULE as AGENDA_RULE
from rules.attendance import PREFER
from rules.model import EvaluationContext
from rules.screen import BadData
from sync import pair_states
from sync.ingest.calendars import CalendarResult
from sync.runtime import Runtime
from sync.store.models import AgendaWriteRow, AttendanceRow, DirectoryStateRow, EventRow, FindingRow

Key = tuple[str, str]


@dataclass(frozen=True)
class Scope:
    """Part of the pairs; a cycle that judges every pair has no scope (None)."""

    calendars: frozenset[str]  # people whose calendars changed this cycle: each pair of theirs is judged
    pairs: dict[Key, list[str]] = field(default_factory=dict)  # pairs due, with the calendars they rest on

    def keeps(self, key: Key) -> bool:
        return key in self.pairs or not self.calendars.isdisjoint(key)

    def keeps_bad(self, bad: BadData) -> bool:
        """A refused event is named again whenever a pair that rests on its calendar is judged."""
        if bad.pair:
            return self.keeps(bad.pair)
        return bad.calendar in self.calendars or any(
            bad.calendar in key or bad.calendar in calendars for key, calendars in self.pairs.items()
        )

    def describe(self) -> str:
        return f"{len(self.calendars)} people, {len(self.pairs)} pairs due"

    def to_load(self, session: Session) -> set[str]:
        """The calendars whose events decide these pairs: their own, and everyone who shares an event."""
        wanted = set(self.calendars) | partners(session, set(self.calendars))
        for key, calendars in self.pairs.items():
            wanted.update(key)
            wanted.update(calendars)
        return wanted


def partners(session: Session, calendars: set[str]) -> set[str]:
    """Everyone who shares an event with these calendars: their copies decide those pairs too."""
    if not calendars:
        return set()
    people: set[str] = set()
    rows = session.execute(
        select(EventRow.organizer, EventRow.attendees).where(EventRow.calendar.in_(sorted(calendars)))
    )
    for organizer, attendees in rows:
        if organizer:
            people.add(organizer)
        people.update(a["email"] for a in attendees or () if isinstance(a, dict) and a.get("email"))
    return people


def _changed(results: list[CalendarResult]) -> frozenset[str]:
    return frozenset(
        r.calendar for r in results if r.ok and (r.full or r.stats.inserted or r.stats.changed or r.stats.deleted)
    )


def _waiting_for_points(session: Session) -> dict[Key, list[str]]:
    """Pairs told their agenda is empty: a talking point written on the page since resolves it."""
    rows = session.execute(
        select(FindingRow.manager, FindingRow.report).where(FindingRow.rule == AGENDA_RULE, FindingRow.status == "open")
    )
    return {(m, r): [] for m, r in rows}


@dataclass(frozen=True)
class Judging:
    """What a cycle judges, and what it tells the process once its transaction is committed."""

    scope: Scope | None  # None: every pair
    checked: bool  # every pair was judged or had its inputs checked
    shared: str  # the digest of what all pairs rest on alike
    at: datetime


def judged(runtime: Runtime, judging: Judging) -> None:
    """After the commit only: a rolled-back cycle leaves the next one to judge what this one meant to."""
    if judging.checked:
        runtime.last_full_check = judging.at
    if judging.scope is None:
        runtime.judged_context = judging.shared


def evaluation_scope(
    session: Session, runtime: Runtime, results: list[CalendarResult], context: EvaluationContext, now: datetime
) -> Judging:
    settings = runtime.settings
    every = timedelta(minutes=settings.rules.full_evaluation_minutes)
    last = runtime.last_full_check
    pending = session.scalar(select(AgendaWriteRow.id).where(AgendaWriteRow.state == "intended").limit(1))
    # A directory refresh since the last check may have started or ended pairs anywhere.
    refreshed = session.scalar(select(func.max(DirectoryStateRow.last_success_at)))
    # A call's attendance read since: the pair's 1:1 may have become a no-show (or been held after all).
    evidence = session.scalar(select(func.max(AttendanceRow.read_at)))
    shared = pair_states.context_digest(context)
    check = last is None or now - last >= every
    # Read from outside the calendars on every check (call attendance, Markdown files): judge them all then.
    outside = settings.rules.attendance == PREFER or settings.agenda.backend == "markdown"
    if (
        last is None
        or now < last
        or pending is not None  # a write left half done
        or (refreshed is not None and refreshed > last)
        or (evidence is not None and evidence >= last)
        or shared != runtime.judged_context
        or (check and outside)
    ):
        return Judging(None, True, shared, now)
    pairs = pair_states.due(session, now)
    if check:
        versions = pair_states.calendar_versions(session, context, None)
        pairs = {**_waiting_for_points(session), **pair_states.moved(session, context, versions), **pairs}
    return Judging(Scope(_changed(results), pairs), check, shared, now)
