"""Rules 2 and 3: `cadence-gap` (it happened) and `cadence-gap-ahead` (it is about to).

Both count calendar days in the manager's zone from the last held 1:1 (or from the pair's start
when none was held), skipping days either person was away or the pair was paused. Both are keyed
by that last held start, so holding a 1:1 resolves them and a later gap is a new finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rules.days import iso_utc, local_date, midnight, show_date, show_day
from rules.history import PairHistory
from rules.model import Finding, Occurrence, OccurrenceOutcome, RuleSettings

GAP = "cadence-gap"
GAP_AHEAD = "cadence-gap-ahead"


@dataclass(frozen=True, slots=True)
class Reference:
    """Where a gap is counted from."""

    day: date
    start: datetime  # the last held 1:1's start, or the midnight the pair began
    end: datetime  # when the clock starts for an early warning
    key: str
    held: bool


def reference(history: PairHistory) -> Reference | None:
    held = history.last_held
    if held is not None:
        return Reference(local_date(held.start, history.tz), held.start, held.end, iso_utc(held.start), True)
    if history.pair.start is None:
        return None  # a pair with no start and no 1:1: nothing to count from
    start = midnight(history.pair.start, history.tz)
    return Reference(history.pair.start, start, start, "never", False)


def _breach_day(history: PairHistory, after: date, limit: int, stop: date) -> date | None:
    """The first day in (after, stop] on which more than `limit` days not away have passed."""
    if not history.away.days and not history.away.spans:  # nobody away: plain arithmetic
        breach = after + timedelta(days=limit + 1)
        return breach if breach <= stop else None
    count, day = 0, after
    while day < stop:
        day += timedelta(days=1)
        if not history.away.is_away_day(day):
            count += 1
            if count > limit:
                return day
    return None


def _counted(history: PairHistory, after: date, through: date) -> tuple[int, int]:
    """(days counted, days away) in (after, through]."""
    total = max(0, (through - after).days)
    away = history.away.count(after, through)
    return total - away, away


def _since(ref: Reference, history: PairHistory) -> str:
    if ref.held:
        return f"your last 1:1 on {show_date(ref.start, history.tz)}"
    if ref.start < history.history_start:
        # Older than the evaluated history: we only know none was held within it.
        return (
            f"the pair started on {show_day(ref.day)} (none seen in the {history.history_span_days} days we look back)"
        )
    return f"the pair started on {show_day(ref.day)}"


def _not_counting(away: int) -> str:
    return f", not counting {away} days away" if away else ""


def gap_findings(history: PairHistory, settings: RuleSettings, cancellation_keys: frozenset[str]) -> list[Finding]:
    ref = reference(history)
    if ref is None:
        return []
    limit, tz, report = settings.max_gap_days, history.tz, history.pair.report
    today = local_date(history.now, tz)
    findings = []
    breach = _breach_day(history, ref.day, limit, today)
    if breach is not None:
        days, away = _counted(history, ref.day, today)
        findings.append(
            Finding(
                rule=GAP,
                manager=history.pair.manager,
                report=report,
                key=ref.key,
                message=f"No 1:1 with {report} for {days} days{_not_counting(away)}, since {_since(ref, history)} "
                f"— the house rule is at most {limit}. Book one now.",
                explanation=f"{days} days have passed in {history.time_zone} since {_since(ref, history)}"
                f"{_not_counting(away)}, and no 1:1 was held since; "
                f"the house rule is at most {limit} days between 1:1s. It was broken on {show_day(breach)}.",
                occurrence=ref.start if ref.held else None,
                notify_at=midnight(breach, tz),
                details={
                    "last_held": ref.key if ref.held else "never",
                    "since": ref.day.isoformat(),
                    "days": str(days),
                    "away_days": str(away),
                    "max_gap_days": str(limit),
                },
            )
        )
    ahead = _gap_ahead(history, settings, ref, cancellation_keys)
    return findings + ([ahead] if ahead is not None else [])


def _gap_ahead(
    history: PairHistory, settings: RuleSettings, ref: Reference, cancellation_keys: frozenset[str]
) -> Finding | None:
    limit, tz, report = settings.max_gap_days, history.tz, history.pair.report
    upcoming = history.next_scheduled
    target = local_date(upcoming.start if upcoming else history.history_end, tz)
    breach = _breach_day(history, ref.day, limit, target)
    if breach is None:
        return None
    days, away = _counted(history, ref.day, target)
    until = upcoming.start if upcoming else history.history_end
    missing = [
        o
        for o in history.occurrences
        if not o.is_one_off
        and not o.away
        and o.outcome is OccurrenceOutcome.CANCELLED
        and ref.start < o.original_start < until
    ]
    covered = (
        bool(missing)
        and not history.series_ended
        and all(iso_utc(o.original_start) in cancellation_keys for o in missing)
    )
    base = max(ref.end, history.last_change or ref.end) + timedelta(hours=settings.reschedule_grace_hours)
    superseded = base >= midnight(breach, tz)
    deadline = breach - timedelta(days=1)
    if upcoming is not None:
        message = (
            f"Your next 1:1 with {report} is on {show_date(upcoming.start, tz)}, {days} days after "
            f"{_since(ref, history)}{_not_counting(away)} — more than {limit}. Book one by {show_day(deadline)}."
        )
    else:
        message = (
            f"No 1:1 with {report} is scheduled after {_since(ref, history)}. "
            f"Book one by {show_day(deadline)} (the house rule is at most {limit} days)."
        )
    why = [_cause(history, missing, upcoming, limit)]
    if covered:
        why.append(
            "Every missing slot already has its own cancelled-without-reschedule warning, so this is not emailed."
        )
    elif superseded:
        why.append(
            "The gap has begun by the time this warning would go out: the cadence-gap finding carries the email."
        )
    return Finding(
        rule=GAP_AHEAD,
        manager=history.pair.manager,
        report=report,
        key=ref.key,
        message=message,
        explanation=f"Counting calendar days in {history.time_zone} from {_since(ref, history)} to "
        f"{'the next scheduled 1:1' if upcoming else f'the end of the {settings.horizon_days}-day horizon'}"
        f"{_not_counting(away)}: {days} days, more than the {limit} days the house rule allows. " + " ".join(why),
        occurrence=ref.start if ref.held else None,
        notify_at=None if covered or superseded else base,
        details={
            "last_held": ref.key if ref.held else "never",
            "next_scheduled": iso_utc(upcoming.start) if upcoming else "none",
            "days": str(days),
            "away_days": str(away),
            "max_gap_days": str(limit),
            "book_by": deadline.isoformat(),
            "missing_slots": ",".join(iso_utc(o.original_start) for o in missing),
            "covered_by_cancellations": "true" if covered else "false",
            "series_ended": "true" if history.series_ended else "false",
        },
    )


def _cause(history: PairHistory, missing: list[Occurrence], upcoming: Occurrence | None, limit: int) -> str:
    if history.series_ended:
        ended = max((s.last_start for s in history.series if s.last_start is not None), default=None)
        when = f" after {show_date(ended, history.tz)}" if ended is not None else ""
        return f"The 1:1 series ended{when} and no new one continues it."
    if missing:
        return f"{len(missing)} slot(s) in between were cancelled without a replacement."
    if upcoming is not None and upcoming.start != upcoming.original_start:
        return f"The next 1:1 was moved from {show_date(upcoming.original_start, history.tz)}."
    if history.series and history.cadence_days > limit:
        return f"The series runs every {history.cadence_days} days, further apart than the limit."
    if not history.series:
        return "No recurring 1:1 is set up; only one-off meetings."
    return "No 1:1 is booked sooner."
