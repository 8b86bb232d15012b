"""The entry points and what they promise the daemon: `evaluate`, `pair_histories`, `PairHistory`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rules_builders import (
    M,
    P,
    R,
    cancel,
    context,
    end_series,
    events,
    move,
    on,
    one_off,
    ooo,
    seen,
    series,
    weekly,
)

from rules.engine import evaluate, pair_histories
from rules.model import EventStatus, OccurrenceOutcome

S = weekly()
AT_10 = seen("2025-01-10T12:00")


def test_pair_history_of_a_plain_weekly_series() -> None:
    (history,) = pair_histories(events(S), context("2025-01-22T12:00"))
    assert history.pair.key == (M, R) and history.pair.start is not None
    assert (history.cadence_days, history.window_days, history.time_zone) == (7, 6, "Europe/Berlin")
    assert history.last_held is not None and history.last_held.start.isoformat() == "2025-01-20T09:00:00+00:00"
    assert (
        history.next_scheduled is not None and history.next_scheduled.start.isoformat() == "2025-01-27T09:00:00+00:00"
    )
    assert not history.series_ended and not history.stale
    starts = [o.original_start for o in history.occurrences]
    assert starts == sorted(starts)
    assert {o.outcome for o in history.occurrences} == {OccurrenceOutcome.HELD, OccurrenceOutcome.SCHEDULED}


def test_occurrence_outcomes_tell_the_story() -> None:
    history_events = events(
        move(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", to="2025-01-21T15:00"),
        one_off(start="2025-01-15T11:00"),
    )
    (history,) = pair_histories(history_events, context("2025-01-22T12:00"))
    by_start = {o.original_start.date().isoformat(): o for o in history.occurrences}
    assert by_start["2025-01-13"].outcome is OccurrenceOutcome.REPLACED
    assert by_start["2025-01-13"].replaced_by == by_start["2025-01-15"].start
    assert by_start["2025-01-13"].cancelled_by == M and by_start["2025-01-13"].cancellation == "cancelled"
    assert by_start["2025-01-15"].is_one_off and by_start["2025-01-15"].outcome is OccurrenceOutcome.HELD
    assert by_start["2025-01-20"].outcome is OccurrenceOutcome.MOVED
    assert by_start["2025-01-20"].start.isoformat() == "2025-01-21T14:00:00+00:00"


def test_a_split_is_recorded_on_the_series_summaries() -> None:
    history_events = events(end_series(S, "20250119T225959Z"), weekly(first="2025-01-21T15:00", event_id="tail"))
    (history,) = pair_histories(history_events, context("2025-01-29T12:00"))
    old, new = history.series
    assert old.ended and old.continued_by == new.key and not new.ended
    assert not history.series_ended


def test_an_ended_series_is_flagged() -> None:
    (history,) = pair_histories(events(end_series(S, "20250113T225959Z")), context("2025-01-22T12:00"))
    assert history.series_ended and history.next_scheduled is None
    assert history.series[0].last_start is not None and history.series[0].continued_by is None


def test_away_is_marked_on_occurrences() -> None:
    history_events = events(cancel(S, "2025-01-13"), ooo(R, "2025-01-13", "2025-01-13"))
    (history,) = pair_histories(history_events, context("2025-01-22T12:00"))
    away = [o for o in history.occurrences if o.away]
    assert [o.original_start.isoformat() for o in away] == ["2025-01-13T09:00:00+00:00"]


def test_evaluation_is_sorted_and_says_which_pairs_it_judged() -> None:
    history_events = events(
        cancel(S, "2025-01-13", sighting=AT_10),
        cancel(series(M, P, title="1:1 Maria / Pia"), "2025-01-13", sighting=AT_10),
    )
    evaluation = evaluate(history_events, context("2025-01-22T12:00", stale=(P,)))
    assert evaluation.judged_pairs == {(M, R)} and evaluation.skipped_pairs == {(M, P)}
    assert [f.identity for f in evaluation.findings] == sorted(f.identity for f in evaluation.findings)
    assert evaluation.judged_since is not None and evaluation.judged_since.isoformat() == "2024-09-24T11:00:00+00:00"


def test_no_watched_list_means_every_calendar_present_is_watched() -> None:
    evaluation = evaluate(events(on(cancel(S, "2025-01-13"), R)), context("2025-01-22T12:00"))
    assert [f.rule for f in evaluation.findings] == ["cancelled-without-reschedule"]


def test_the_message_uses_the_managers_zone() -> None:
    late_evening = weekly(first="2025-01-07T00:30")  # Tuesday 00:30 in Berlin = Monday evening in New York
    evaluation = evaluate(
        events(cancel(late_evening, "2025-01-14")),
        context("2025-01-22T12:00", zones={M: "America/New_York"}),
    )
    (finding,) = evaluation.findings
    assert "Mon 13 Jan 2025" in finding.message and "reschedule, don't cancel" in finding.message
    assert "America/New_York" in finding.explanation


def test_titles_never_reach_the_text_of_a_finding() -> None:
    hostile = "1:1 <script>alert(1)</script>"
    evaluation = evaluate(events(cancel(weekly(title=hostile), "2025-01-13")), context("2025-01-22T12:00"))
    (finding,) = evaluation.findings
    text = " ".join([finding.message, finding.explanation, *finding.details.values()])
    assert "<script>" not in text


def test_an_unknown_manager_zone_falls_back_to_utc() -> None:
    evaluation = evaluate(events(cancel(S, "2025-01-13")), context("2025-01-22T12:00", zones={M: "Mars/Olympus"}))
    assert "(UTC)" in evaluation.findings[0].explanation


def test_the_same_meeting_seen_twice_in_the_input_counts_once() -> None:
    twice = events(cancel(S, "2025-01-13", sighting=AT_10)) * 2
    assert len(evaluate(twice, context("2025-01-22T12:00")).findings) == 1


def test_a_newer_state_of_the_same_copy_wins() -> None:
    master, cancelled = events(cancel(S, "2025-01-13", sighting=AT_10))
    assert cancelled.original_start is not None
    reinstated = replace(
        cancelled,
        status=EventStatus.CONFIRMED,
        start=cancelled.original_start,
        end=cancelled.original_start + timedelta(minutes=30),
        attendees=master.attendees,
        sighting=seen("2025-01-11T12:00"),
    )
    assert cancelled.key == reinstated.key
    assert evaluate([master, reinstated, cancelled], context("2025-01-22T12:00")).findings == ()
