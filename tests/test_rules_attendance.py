"""Held from evidence: with `rules.attendance: prefer`, a 1:1 counts as held only if both joined its call.

Scenarios for issue 19. Maria's weekly 1:1 with Raj is on Mondays 10:00 Berlin (09:00 UTC) for 30 minutes;
the evidence is what the sync read from the call (Google Meet or Teams): each person's join intervals.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from rules_builders import M, R, at, context, events, ooo, weekly

from rules.attendance import Attendance, Verdict, merged, together
from rules.engine import evaluate, pair_histories
from rules.model import EvaluationContext, Occurrence, OccurrenceOutcome, RuleSettings

PREFER = RuleSettings(attendance="prefer")
SLOT = "2025-01-13T10:00"  # a Monday, in Berlin
READ = at("2025-01-13T11:00")  # read 30 minutes after the meeting ended


def call(*spans: tuple[str, str, str], read_at: datetime = READ) -> Attendance:
    """Join intervals as (person, joined, left), wall-clock Berlin times on the slot's day."""
    joined: dict[str, tuple[tuple[datetime, datetime], ...]] = {}
    for person, start, end in spans:
        joined[person] = (*joined.get(person, ()), (at(f"2025-01-13T{start}"), at(f"2025-01-13T{end}")))
    return Attendance(joined=joined, read_at=read_at, source="google-meet")


def judged(evidence: Attendance | None, *, now: str = "2025-01-15T12:00", **settings: object) -> EvaluationContext:
    base = context(now, settings=replace(PREFER, **settings))  # type: ignore[arg-type]
    if evidence is None:
        return base
    return replace(base, attendance={(M, R, at(SLOT)): evidence})


def occurrence(ctx: EvaluationContext, start: str = SLOT) -> Occurrence:
    history = pair_histories(events(weekly(first="2025-01-06T10:00")), ctx)[0]
    return next(o for o in history.occurrences if o.start == at(start))


def findings(ctx: EvaluationContext, *extra: object) -> dict[str, object]:
    evaluation = evaluate(events(weekly(first="2025-01-06T10:00"), *extra), ctx)  # type: ignore[arg-type]
    return {f.rule: f for f in evaluation.findings if f.key == "2025-01-13T09:00:00Z"}


def test_both_joined_and_stayed_together_is_held_with_the_minutes_together() -> None:
    ctx = judged(call((M, "10:00", "10:28"), (R, "10:01", "10:30")))
    seen = occurrence(ctx)
    assert seen.outcome is OccurrenceOutcome.HELD
    assert isinstance(seen.attendance, Verdict) and seen.attendance.together_minutes == 27
    assert "held-without-both" not in findings(ctx)


def test_the_report_never_joined_is_a_no_show_warning_emailed_after_the_grace_with_the_join_times() -> None:
    ctx = judged(call((M, "10:00", "10:15")))
    assert occurrence(ctx).outcome is OccurrenceOutcome.NO_SHOW
    finding = findings(ctx)["held-without-both"]
    assert finding.message == (  # type: ignore[attr-defined]
        f"Your 1:1 with {R} on Mon 13 Jan 2025 stayed on the calendar, but {R} did not join — book another one soon."
    )
    assert "you joined at 10:00 and left at 10:15; raj@acme.test never joined" in finding.explanation  # type: ignore[attr-defined]
    assert finding.notify_at == at("2025-01-14T10:00")  # type: ignore[attr-defined]  # 24 h, as a cancellation
    assert finding.details["absent"] == R  # type: ignore[attr-defined]


def test_a_no_show_is_not_held_for_the_cadence() -> None:
    ctx = judged(call((M, "10:00", "10:15")), now="2025-01-15T12:00")
    history = pair_histories(events(weekly(first="2025-01-06T10:00")), ctx)[0]
    assert history.last_held is not None and history.last_held.start == at("2025-01-06T10:00")


def test_joined_at_different_times_that_never_overlap_is_a_no_show() -> None:
    ctx = judged(call((M, "10:00", "10:08"), (R, "10:12", "10:30")))
    seen = occurrence(ctx)
    assert seen.outcome is OccurrenceOutcome.NO_SHOW
    assert seen.attendance is not None and seen.attendance.absent == () and seen.attendance.together_minutes == 0
    message = findings(ctx)["held-without-both"].message  # type: ignore[attr-defined]
    assert "you were in the call together for only 0 min" in message


def test_together_for_less_than_the_minimum_is_a_no_show() -> None:
    ctx = judged(call((M, "10:00", "10:30"), (R, "10:25", "10:30")))
    assert occurrence(ctx).outcome is OccurrenceOutcome.NO_SHOW
    assert occurrence(judged(call((M, "10:00", "10:30"), (R, "10:25", "10:30")), min_attended_minutes=5)).outcome is (
        OccurrenceOutcome.HELD
    )


def test_neither_joined_is_a_no_show() -> None:
    ctx = judged(call())
    assert occurrence(ctx).outcome is OccurrenceOutcome.NO_SHOW
    assert "neither of you joined" in findings(ctx)["held-without-both"].message  # type: ignore[attr-defined]


def test_an_in_person_1_1_without_evidence_is_decided_by_the_calendar() -> None:
    ctx = judged(None)
    seen = occurrence(ctx)
    assert seen.outcome is OccurrenceOutcome.HELD and seen.attendance is None
    assert findings(ctx) == {}


def test_evidence_not_permitted_is_no_evidence_so_the_calendar_decides() -> None:
    """A 403 stores nothing for the occurrence (the admin alert is the sync's: tests/test_attendance_*.py)."""
    ctx = replace(judged(None), attendance={})
    assert occurrence(ctx).outcome is OccurrenceOutcome.HELD


def test_a_report_who_joined_from_two_devices_counts_once() -> None:
    ctx = judged(call((M, "10:00", "10:30"), (R, "10:02", "10:30"), (R, "10:05", "10:29")))
    seen = occurrence(ctx)
    assert seen.outcome is OccurrenceOutcome.HELD
    assert seen.attendance is not None and seen.attendance.together_minutes == 28


def test_with_attendance_off_the_evidence_is_not_used() -> None:
    ctx = judged(call((M, "10:00", "10:15")), attendance="off")
    assert occurrence(ctx).outcome is OccurrenceOutcome.HELD
    assert findings(ctx) == {}


def test_a_1_1_held_within_the_window_after_a_no_show_forgives_it() -> None:
    ctx = judged(call((M, "10:00", "10:15")), now="2025-01-22T12:00")
    history = pair_histories(events(weekly(first="2025-01-06T10:00")), ctx)[0]
    assert history.window_days == 6  # the next weekly slot is outside it
    from rules_builders import one_off

    made_up = one_off(start="2025-01-15T11:00")
    assert "held-without-both" not in findings(ctx, made_up)
    assert "held-without-both" in findings(ctx)


def test_a_no_show_while_someone_was_away_is_not_a_warning() -> None:
    ctx = judged(call((M, "10:00", "10:15")))
    assert "held-without-both" not in findings(ctx, ooo(R, "2025-01-13", "2025-01-13"))


def test_evidence_read_long_after_the_meeting_is_recorded_without_email() -> None:
    ctx = judged(call((M, "10:00", "10:15"), read_at=at("2025-01-30T10:00")), now="2025-01-30T10:00")
    assert findings(ctx)["held-without-both"].notify_at is None  # type: ignore[attr-defined]


def test_intervals_merge_and_overlap_is_measured_once() -> None:
    a, b, c = at("2025-01-13T10:00"), at("2025-01-13T10:10"), at("2025-01-13T10:20")
    assert merged([(b, c), (a, b)]) == [(a, c)]
    assert together([(a, c)], [(a, b), (a, b)]).total_seconds() == 600


def test_the_evidence_in_words_for_the_page_and_the_digest() -> None:
    from rules.attendance import in_words, judge

    def words(evidence: Attendance) -> str:
        return in_words(judge(evidence, M, R, 10))

    assert words(call((M, "10:00", "10:28"), (R, "10:00", "10:30"))) == "held (both joined, 28 min)"
    assert words(call((M, "10:00", "10:15"))) == f"no-show: {R} did not join"
    assert words(call()) == "no-show: neither joined"
    assert words(call((M, "10:00", "10:05"), (R, "10:03", "10:30"))) == "no-show: together only 2 min"
