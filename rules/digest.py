"""Rules 4 and 5, for the weekly digest only: `short-meeting` and `reschedule-churn`.

Neither is worth an email on its own; both are patterns a manager should see once a week.
"""

from __future__ import annotations

from datetime import timedelta

from rules.days import iso_utc, show_date, show_time
from rules.history import PairHistory
from rules.model import Finding, Occurrence, OccurrenceOutcome, RuleSettings

SHORT = "short-meeting"
CHURN = "reschedule-churn"
_LIVE = (OccurrenceOutcome.HELD, OccurrenceOutcome.SCHEDULED, OccurrenceOutcome.MOVED)
_CHURNED = (OccurrenceOutcome.MOVED, OccurrenceOutcome.REPLACED)


RECENT = timedelta(weeks=4)


def short_findings(history: PairHistory, settings: RuleSettings) -> list[Finding]:
    """Short 1:1s of the last four weeks and ahead: one finding for a series that is short throughout,
    one per occurrence that was shortened on its own (a digest line per slot would bury the point)."""
    minimum = timedelta(minutes=settings.min_duration_minutes)
    recent = [o for o in history.occurrences if o.outcome in _LIVE and o.original_start >= history.now - RECENT]
    by_series: dict[str | None, list[Occurrence]] = {}
    for occurrence in recent:
        by_series.setdefault(occurrence.series_key, []).append(occurrence)
    findings = []
    for key, occurrences in by_series.items():
        short = [o for o in occurrences if o.end - o.start < minimum]
        if key is not None and len(short) >= 2 and len(short) == len(occurrences):
            findings.append(_short_series(history, settings, key, short))
            continue
        findings.extend(_short_one(history, settings, o) for o in short)
    return findings


def _short_series(history: PairHistory, settings: RuleSettings, key: str, short: list[Occurrence]) -> Finding:
    minutes = int((short[-1].end - short[-1].start).total_seconds() // 60)
    return Finding(
        rule=SHORT,
        manager=history.pair.manager,
        report=history.pair.report,
        key=f"series:{key}",
        message=f"Your recurring 1:1 with {history.pair.report} is {minutes} minutes long; "
        f"the house minimum is {settings.min_duration_minutes}.",
        explanation=f"All {len(short)} of its slots from {show_date(short[0].start, history.tz)} on are scheduled "
        f"for less than the house minimum of {settings.min_duration_minutes} minutes. Shown in the weekly digest only.",
        occurrence=short[-1].original_start,
        digest_only=True,
        details={"duration_minutes": str(minutes), "min_duration_minutes": str(settings.min_duration_minutes)},
    )


def _short_one(history: PairHistory, settings: RuleSettings, occurrence: Occurrence) -> Finding:
    minutes = int((occurrence.end - occurrence.start).total_seconds() // 60)
    return Finding(
        rule=SHORT,
        manager=history.pair.manager,
        report=history.pair.report,
        key=iso_utc(occurrence.original_start),
        message=f"Your 1:1 with {history.pair.report} on {show_date(occurrence.start, history.tz)} "
        f"is {minutes} minutes long; the house minimum is {settings.min_duration_minutes}.",
        explanation=f"The 1:1 at {show_time(occurrence.start, history.tz)} ({history.time_zone}) is "
        f"scheduled for {minutes} minutes, less than the house minimum of {settings.min_duration_minutes}. "
        "Shown in the weekly digest only.",
        occurrence=occurrence.original_start,
        digest_only=True,
        details={"duration_minutes": str(minutes), "min_duration_minutes": str(settings.min_duration_minutes)},
    )


def churn_findings(history: PairHistory, settings: RuleSettings) -> list[Finding]:
    """At least `churn_moves` of the last `churn_window` slots (up to now) moved or replaced."""
    past = [o for o in history.occurrences if not o.is_one_off and o.original_start <= history.now]
    recent = past[-settings.churn_window :] if settings.churn_window > 0 else []
    churned = [o for o in recent if o.outcome in _CHURNED]
    if not churned or len(churned) < settings.churn_moves:
        return []
    report = history.pair.report
    return [
        Finding(
            rule=CHURN,
            manager=history.pair.manager,
            report=report,
            key=iso_utc(churned[0].original_start),
            message=f"{len(churned)} of your last {len(recent)} 1:1s with {report} were moved or replaced; "
            "a steady slot is part of the deal.",
            explanation=f"Of the {len(recent)} most recent slots, {len(churned)} were moved or replaced "
            f"({settings.churn_moves} or more is churn): "
            + ", ".join(show_date(o.original_start, history.tz) for o in churned)
            + ". Shown in the weekly digest only.",
            occurrence=churned[0].original_start,
            digest_only=True,
            details={
                "moved_or_replaced": str(len(churned)),
                "of": str(len(recent)),
                "occurrences": ",".join(iso_utc(o.original_start) for o in churned),
            },
        )
    ]
