"""Counting a pair's 1:1s for people: the `report` command, the weekly digest, the org page.

Pure, like the rest of `rules/`: everything is read from a `PairHistory` at its own `now`. The
rules judge single meetings; these helpers count them, so a manager (and whoever coaches
managers) sees the shape of a pair's 1:1s over time.

Each expected 1:1 is counted once: a slot that was lost and made up for by another meeting is
*replaced*, and that other meeting is not counted again as *held*. A cancellation while either
person was away (or the pair was paused) is *away*, not *cancelled*: it broke no rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rules.days import local_date
from rules.history import PairHistory
from rules.model import Occurrence
from rules.model import OccurrenceOutcome as Outcome

# What became of one expected 1:1, as the report, the digest and the org page name it.
HELD, MOVED, REPLACED, CANCELLED, AWAY, SCHEDULED = "held", "moved", "replaced", "cancelled", "away", "scheduled"
# A week in a timeline: one of the above, or no 1:1 in it (`gap` when one was due, else `none`).
GAP, NONE = "gap", "none"
COUNTED = (HELD, MOVED, REPLACED, CANCELLED, AWAY)
WEEK_STATES = (HELD, MOVED, REPLACED, CANCELLED, AWAY, GAP, SCHEDULED, NONE)
# When a week holds several 1:1s, the one that says most about it names the week.
_WEEK_PRIORITY = (CANCELLED, REPLACED, MOVED, HELD, AWAY, SCHEDULED)


def _replacements(history: PairHistory) -> frozenset[datetime]:
    """Starts of the meetings that made up for a lost slot (counted with that slot)."""
    return frozenset(o.replaced_by for o in history.occurrences if o.outcome is Outcome.REPLACED and o.replaced_by)


def classify(occurrence: Occurrence, replacements: frozenset[datetime]) -> str | None:
    """The occurrence's kind; None for a replacement meeting (its slot already counts it)."""
    if occurrence.is_one_off and occurrence.start in replacements and occurrence.outcome is not Outcome.CANCELLED:
        return None
    # A no-show (the slot stayed, the call shows one never joined) is counted as the cancellation it was.
    if occurrence.outcome in (Outcome.CANCELLED, Outcome.NO_SHOW):
        return AWAY if occurrence.away else CANCELLED
    return {
        Outcome.HELD: HELD,
        Outcome.MOVED: MOVED,
        Outcome.REPLACED: REPLACED,
        Outcome.SCHEDULED: SCHEDULED,
    }[occurrence.outcome]


@dataclass(frozen=True, slots=True)
class PairSummary:
    manager: str
    report: str
    time_zone: str
    since: datetime
    last_held: datetime | None  # start of the last 1:1 that took place
    next_scheduled: datetime | None  # start of the next one booked
    gap_days: int | None  # calendar days (manager's zone) since the last 1:1, or since the pair began
    held: int
    moved: int
    replaced: int
    cancelled: int
    away: int
    cadence_days: int
    window_days: int
    stale: bool
    # More days (not counting days away) since the last 1:1 than the house rule allows: exactly when the
    # `cadence-gap` rule breaks, so the digest's red, the org page's and the report's agree with the warning.
    gap_too_long: bool = False

    @property
    def due(self) -> int:
        """1:1s that were due in the period (cancellations while away excused)."""
        return self.held + self.moved + self.replaced + self.cancelled

    @property
    def met_within_cadence(self) -> bool:
        """Met within the pair's rhythm, allowing the move a reschedule may make."""
        return self.gap_days is not None and self.gap_days <= self.cadence_days + self.window_days


def current_gap_days(history: PairHistory) -> int | None:
    today = local_date(history.now, history.tz)
    if history.last_held is not None:
        return (today - local_date(history.last_held.start, history.tz)).days
    if history.pair.start is not None and history.pair.start <= today:
        return (today - history.pair.start).days
    return None


def gap_too_long(history: PairHistory, max_gap_days: int) -> bool:
    """What the cadence-gap rule breaks on: more than `max_gap_days` days, days away not counted."""
    gap = current_gap_days(history)
    if gap is None or gap <= max_gap_days:
        return False
    today = local_date(history.now, history.tz)
    start = today - timedelta(days=gap)
    return gap - history.away.count(start, today) > max_gap_days


def summarize(history: PairHistory, since: datetime, max_gap_days: int = 14) -> PairSummary:
    """The pair's figures over [since, now]: every slot whose original time falls in the period."""
    replacements = _replacements(history)
    counts: Counter[str] = Counter()
    for occurrence in history.occurrences:
        if since <= occurrence.original_start <= history.now:
            kind = classify(occurrence, replacements)
            if kind is not None:
                counts[kind] += 1
    nxt = history.next_scheduled
    return PairSummary(
        manager=history.pair.manager,
        report=history.pair.report,
        time_zone=history.time_zone,
        since=since,
        last_held=history.last_held.start if history.last_held else None,
        next_scheduled=nxt.start if nxt else None,
        gap_days=current_gap_days(history),
        held=counts[HELD],
        moved=counts[MOVED],
        replaced=counts[REPLACED],
        cancelled=counts[CANCELLED],
        away=counts[AWAY],
        cadence_days=history.cadence_days,
        window_days=history.window_days,
        stale=history.stale,
        gap_too_long=gap_too_long(history, max_gap_days),
    )


@dataclass(frozen=True, slots=True)
class WeekCell:
    monday: date  # in the manager's zone
    state: str  # one of WEEK_STATES
    days: int = 7  # days of the week gone by: fewer for the week under way, so it is not drawn as a full one

    @property
    def label(self) -> str:
        return f"W{self.monday.isocalendar().week:02d}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_cells(history: PairHistory, weeks: int = 12, max_gap_days: int = 14) -> list[WeekCell]:
    """The last `weeks` weeks (Monday to Sunday, manager's zone), the current week last.

    A week with no 1:1 is a `gap` when more than the pair's cadence had passed since the last one
    that took place (or since the pair began) by the week's end, else `none` (not due, or before
    the pair began). A rhythm slower than the house rule allows (a monthly series, with at most
    `max_gap_days` between 1:1s) is judged by the house rule: its empty weeks past it are gaps.
    """
    tz = history.tz
    today = local_date(history.now, tz)
    first = _monday(today) - timedelta(weeks=weeks - 1)
    replacements = _replacements(history)
    states: dict[date, set[str]] = defaultdict(set)
    took_place: list[date] = []
    for occurrence in history.occurrences:
        kind = classify(occurrence, replacements)
        if kind in (HELD, MOVED, None) and occurrence.start <= history.now:  # None: a replacement meeting
            took_place.append(local_date(occurrence.start, tz))
        if kind is not None:
            states[_monday(local_date(occurrence.original_start, tz))].add(kind)
    cells = []
    for n in range(weeks):
        monday = first + timedelta(weeks=n)
        found = states.get(monday, set())
        state = next((s for s in _WEEK_PRIORITY if s in found), None)
        empty = _empty_week(history, monday, took_place, today, min(history.cadence_days, max_gap_days))
        cells.append(WeekCell(monday, state or empty, min(7, (today - monday).days + 1)))
    return cells


def _empty_week(history: PairHistory, monday: date, took_place: Sequence[date], today: date, due_days: int) -> str:
    end = min(monday + timedelta(days=6), today)
    if end < monday or (history.pair.start is not None and monday + timedelta(days=6) < history.pair.start):
        return NONE
    if monday + timedelta(days=6) < local_date(history.history_start, history.tz):
        return NONE  # older than the history we evaluate
    before = [day for day in took_place if day <= end]
    since = max(before) if before else history.pair.start
    if since is None:
        return NONE
    return GAP if (end - since).days > due_days else NONE


@dataclass(frozen=True, slots=True)
class ManagerAggregate:
    """What the org page shows of one manager: aggregates, never a single meeting or a report's name."""

    manager: str
    reports: int
    met_within_cadence: int
    held: int
    moved: int
    replaced: int
    cancelled: int
    away: int
    longest_gap_days: int | None
    too_long: int = 0  # reports whose current gap breaks the house rule

    @property
    def due(self) -> int:
        return self.held + self.moved + self.replaced + self.cancelled

    @property
    def share_met(self) -> float | None:
        return self.met_within_cadence / self.reports if self.reports else None

    @property
    def cancellation_rate(self) -> float | None:
        return self.cancelled / self.due if self.due else None

    @property
    def reschedule_rate(self) -> float | None:
        return (self.moved + self.replaced) / self.due if self.due else None


def aggregate_by_manager(summaries: Iterable[PairSummary]) -> list[ManagerAggregate]:
    by_manager: dict[str, list[PairSummary]] = defaultdict(list)
    for summary in summaries:
        by_manager[summary.manager].append(summary)
    result = []
    for manager in sorted(by_manager):
        rows = by_manager[manager]
        gaps = [r.gap_days for r in rows if r.gap_days is not None]
        result.append(
            ManagerAggregate(
                manager=manager,
                reports=len(rows),
                met_within_cadence=sum(1 for r in rows if r.met_within_cadence),
                held=sum(r.held for r in rows),
                moved=sum(r.moved for r in rows),
                replaced=sum(r.replaced for r in rows),
                cancelled=sum(r.cancelled for r in rows),
                away=sum(r.away for r in rows),
                longest_gap_days=max(gaps) if gaps else None,
                too_long=sum(1 for r in rows if r.gap_too_long),
            )
        )
    return result


def weekly_counts(histories: Iterable[PairHistory], now: datetime, weeks: int = 12) -> list[tuple[date, Counter[str]]]:
    """Held / moved / replaced / cancelled / away 1:1s per ISO week (each pair in its manager's zone)."""
    histories = list(histories)
    last = _monday(now.date())
    mondays = [last - timedelta(weeks=weeks - 1 - n) for n in range(weeks)]
    totals: dict[date, Counter[str]] = {monday: Counter() for monday in mondays}
    for history in histories:
        replacements = _replacements(history)
        for occurrence in history.occurrences:
            if occurrence.original_start > history.now:
                continue
            kind = classify(occurrence, replacements)
            monday = _monday(local_date(occurrence.original_start, history.tz))
            if kind in COUNTED and monday in totals:
                totals[monday][kind] += 1
    return [(monday, totals[monday]) for monday in mondays]
