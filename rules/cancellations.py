"""Rule 1, `cancelled-without-reschedule`: a 1:1 slot lost with nothing in its place.

A slot is lost when it is cancelled, declined by either person, or moved further than the
window. It is forgiven when a replacement was found for it, or when either person was away.
The manager gets one email once the grace period has passed, counted from when the
cancellation was first seen or from the slot's start, whichever comes first; old history
revealed by a full listing is recorded without email.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.days import iso_utc, local_date, show_date, show_day, show_time
from rules.history import PairHistory
from rules.model import Finding, Occurrence, OccurrenceOutcome, RuleSettings

RULE = "cancelled-without-reschedule"


def notify_at(occurrence: Occurrence, settings: RuleSettings) -> datetime | None:
    """Grace runs from first seen or the slot's start, whichever is first; old history is quiet."""
    seen = occurrence.cancellation_seen_at
    start = occurrence.original_start
    if (
        occurrence.cancellation_by_full_listing
        and seen is not None
        and seen - start > timedelta(days=settings.notify_lookback_days)
    ):
        return None
    basis = min(seen, start) if seen is not None else start
    return basis + timedelta(hours=settings.reschedule_grace_hours)


def _who(person: str | None, history: PairHistory) -> str:
    if person is None:
        return ""
    names = ["you" if p == history.pair.manager else p for p in person.split(", ")]
    return " and ".join(names)


def _what(occurrence: Occurrence, history: PairHistory) -> str:
    who = _who(occurrence.cancelled_by, history)
    if occurrence.cancellation == "declined":
        return f"declined by {who or 'an attendee'}"
    if occurrence.cancellation == "moved-too-far" and occurrence.moved_to is not None:
        return f"moved to {show_date(occurrence.moved_to, history.tz)}, too far from its slot to count"
    return f"cancelled by {who}" if who else "cancelled"


def cancellation_findings(history: PairHistory, settings: RuleSettings) -> list[Finding]:
    findings = []
    for occurrence in history.occurrences:
        if occurrence.is_one_off or occurrence.away or occurrence.outcome is not OccurrenceOutcome.CANCELLED:
            continue
        findings.append(_finding(occurrence, history, settings))
    return findings


def _finding(occurrence: Occurrence, history: PairHistory, settings: RuleSettings) -> Finding:
    tz, window, report = history.tz, history.window_days, history.pair.report
    day = local_date(occurrence.original_start, tz)
    first, last = day - timedelta(days=window), day + timedelta(days=window)
    what = _what(occurrence, history)
    late = f" — a late cancellation, less than {settings.late_cancellation_hours} h before the start"
    seen = occurrence.cancellation_seen_at
    if occurrence.cancellation == "declined" and occurrence.cancelled_by == report:
        # The report said no: the manager did not cancel, so "don't cancel" would be the wrong advice.
        message = f"Your 1:1 with {report} on {show_day(day)} was {what} and no other time was found."
    else:
        message = (
            f"Your 1:1 with {report} on {show_day(day)} was {what} and has not been rescheduled"
            " — reschedule, don't cancel."
        )
    explanation = (
        f"The 1:1 slot of {show_time(occurrence.original_start, tz)} ({history.time_zone}) was {what}"
        f"{late if occurrence.late_cancellation else ''}. "
        f"No replacement 1:1 with {report} was found from {show_day(first)} to {show_day(last)}: "
        f"a replacement counts when it starts within {window} days of the slot. "
        f"This warning comes {settings.reschedule_grace_hours} hours after the cancellation was first seen "
        "(or after the slot's start, if that was earlier); a replacement booked later still resolves it."
    )
    details = {
        "occurrence": iso_utc(occurrence.original_start),
        "how": occurrence.cancellation or "cancelled",
        "cancelled_by": occurrence.cancelled_by or "",
        "late": "true" if occurrence.late_cancellation else "false",
        "replacement_looked_for": f"{first.isoformat()}/{last.isoformat()}",
        "window_days": str(window),
        "series": occurrence.series_key or "",
        "first_seen": iso_utc(seen) if seen is not None else "",
        "revealed_by_full_listing": "true" if occurrence.cancellation_by_full_listing else "false",
    }
    if occurrence.moved_to is not None:
        details["moved_to"] = iso_utc(occurrence.moved_to)
    return Finding(
        rule=RULE,
        manager=history.pair.manager,
        report=report,
        key=iso_utc(occurrence.original_start),
        message=message,
        explanation=explanation,
        occurrence=occurrence.original_start,
        notify_at=notify_at(occurrence, settings),
        details=details,
    )
