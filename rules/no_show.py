"""Rule 6, `held-without-both`: a 1:1 that stayed on the calendar but one or both never joined the call.

Judged only with `rules.attendance: prefer` and only where the call's attendance was read (see
`rules.attendance`). It is emailed like a cancellation and with the same grace: once
`reschedule_grace_hours` have passed since the slot's start, and forgiven when another 1:1 of the
pair was held within the window after it (the make-up meeting) or when either person was away.
Evidence read long after the meeting (a first install reading old calls) is recorded without email.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from rules.attendance import Verdict
from rules.days import days_apart, iso_utc, local_date, show_day, show_time
from rules.history import PairHistory, is_held
from rules.model import Finding, Occurrence, OccurrenceOutcome, RuleSettings

RULE = "held-without-both"


def _name(person: str, history: PairHistory) -> str:
    return "you" if person == history.pair.manager else person


def _clock(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def absent_words(verdict: Verdict, history: PairHistory) -> str:
    """ "raj@… did not join", "neither of you joined", or "you were never in the call together"."""
    if len(verdict.absent) == 2:
        return "neither of you joined"
    if verdict.absent:
        who = _name(verdict.absent[0], history)
        return "you did not join" if who == "you" else f"{who} did not join"
    return f"you were in the call together for only {verdict.together_minutes} min"


def join_times(verdict: Verdict, history: PairHistory) -> str:
    """Each person's first join and last leave, in the manager's zone."""
    parts = []
    for person in (history.pair.manager, history.pair.report):
        who = _name(person, history)
        if person in verdict.first_joined:
            joined = _clock(verdict.first_joined[person], history.tz)
            left = _clock(verdict.last_left[person], history.tz)
            parts.append(f"{who} joined at {joined} and left at {left}")
        else:
            parts.append(f"{who} never joined")
    return "; ".join(parts)


def _made_up(occurrence: Occurrence, history: PairHistory) -> bool:
    """Another 1:1 held after it, within the window: the pair met after all."""
    return any(
        other.start > occurrence.start
        and is_held(other, history.now)
        and days_apart(occurrence.start, other.start, history.tz) <= history.window_days
        for other in history.occurrences
    )


def notify_at(occurrence: Occurrence, evidence_read_at: datetime | None, settings: RuleSettings) -> datetime | None:
    if evidence_read_at is not None and evidence_read_at - occurrence.start > timedelta(
        days=settings.notify_lookback_days
    ):
        return None
    return occurrence.start + timedelta(hours=settings.reschedule_grace_hours)


def no_show_findings(history: PairHistory, settings: RuleSettings) -> list[Finding]:
    findings = []
    for occurrence in history.occurrences:
        verdict = occurrence.attendance
        if occurrence.outcome is not OccurrenceOutcome.NO_SHOW or occurrence.away or verdict is None:
            continue
        if _made_up(occurrence, history):
            continue
        findings.append(_finding(occurrence, verdict, history, settings))
    return findings


def _finding(
    occurrence: Occurrence,
    verdict: Verdict,
    history: PairHistory,
    settings: RuleSettings,
) -> Finding:
    tz, report = history.tz, history.pair.report
    day = local_date(occurrence.start, tz)
    what = absent_words(verdict, history)
    message = f"Your 1:1 with {report} on {show_day(day)} stayed on the calendar, but {what} — book another one soon."
    explanation = (
        f"The call of the 1:1 at {show_time(occurrence.start, tz)} ({history.time_zone}): "
        f"{join_times(verdict, history)}. A 1:1 counts as held when both of you are in the call together "
        f"for at least {settings.min_attended_minutes} minutes. No other 1:1 with {report} was held in the "
        f"{history.window_days} days after it. This warning comes {settings.reschedule_grace_hours} hours after "
        "the slot's start; a 1:1 held later still resolves it."
    )
    details = {
        "occurrence": iso_utc(occurrence.original_start),
        "start": iso_utc(occurrence.start),
        "absent": ",".join(verdict.absent),
        "together_minutes": str(verdict.together_minutes),
        "min_attended_minutes": str(settings.min_attended_minutes),
        "series": occurrence.series_key or "",
    }
    for person, moment in verdict.first_joined.items():
        role = "manager" if person == history.pair.manager else "report"
        details[f"{role}_joined"] = iso_utc(moment)
        details[f"{role}_left"] = iso_utc(verdict.last_left[person])
    return Finding(
        rule=RULE,
        manager=history.pair.manager,
        report=report,
        key=iso_utc(occurrence.original_start),
        message=message,
        explanation=explanation,
        occurrence=occurrence.start,  # when the call was (a moved 1:1 keeps its slot as the key)
        notify_at=notify_at(occurrence, verdict.read_at, settings),
        details=details,
    )
