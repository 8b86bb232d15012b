"""A pair needs judging again only once its next transition has passed (issue 20).

The daemon re-judges a pair whose rows did not change only from `next_transition(...)` on. That is
only right if, at every moment before it, judging the same rows gives exactly the findings judging
them at the moment it was computed gave: these properties check that over generated histories,
clocks and settings (short histories and horizons too, so their edges are crossed), and that the
agenda's own moments (a reminder a day before, a notes reminder after) are never skipped either.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from rules_builders import at, context, events, weekly
from test_rules_properties import PROFILE, History, histories

from rules.agenda import due_agenda
from rules.engine import build_histories, evaluate
from rules.history import PairHistory
from rules.model import EvaluationContext
from rules.transitions import next_transition

AGENDA = timedelta(hours=24)
NOTES = timedelta(hours=2)
NOTES_WINDOW = timedelta(hours=48)
START_OFFSETS = (-AGENDA,)
END_OFFSETS = (NOTES, NOTES + NOTES_WINDOW)
MANY = settings(PROFILE, max_examples=600)  # the moments are narrow: many clocks are needed to land in one


def _at(ctx: EvaluationContext, now: datetime) -> EvaluationContext:
    return replace(ctx, now=now)


def _transition(history: History) -> datetime:
    built = build_histories(history.events, history.context).histories
    return min(
        (
            next_transition(h, history.context.settings, start_offsets=START_OFFSETS, end_offsets=END_OFFSETS)
            for h in built
        ),
        default=history.context.now + timedelta(days=365),
    )


def _agenda_moments(h: PairHistory) -> tuple[object, ...]:
    """What the agenda step decides from the clock: the 1:1 whose agenda is due, the notes reminder's window."""
    upcoming = due_agenda(h, h.now, 24)
    held = h.last_held
    notes_due = held is not None and held.end + NOTES <= h.now < held.end + NOTES + NOTES_WINDOW
    return (upcoming, held.original_start if held else None, notes_due, h.now.date())


@st.composite
def timed_histories(draw: st.DrawFn) -> History:
    """A generated history under house rules, or with a short look-back and horizon (edges within reach)."""
    history = draw(histories())
    back = draw(st.sampled_from([120, 40, 15]))
    ahead = draw(st.sampled_from([35, 10, 2]))
    minute = draw(st.integers(0, 59))
    ctx = history.context
    rules = replace(ctx.settings, history_days=back, horizon_days=ahead)
    return History(history.events, replace(ctx, settings=rules, now=ctx.now + timedelta(minutes=minute)))


@MANY
@given(timed_histories(), st.floats(0, 1, exclude_max=True))
def test_before_the_next_transition_judging_again_gives_the_same_findings(history: History, part: float) -> None:
    start = history.context.now
    until = _transition(history)
    assert until >= start
    later = start + (until - start) * part
    for moment in (later, until - timedelta(microseconds=1)):
        if not start <= moment < until:  # a fraction of a span rounds to whole microseconds
            continue
        again = _at(history.context, moment)
        assert evaluate(history.events, again).findings == evaluate(history.events, history.context).findings
        before = [_agenda_moments(h) for h in build_histories(history.events, history.context).histories]
        now = [_agenda_moments(h) for h in build_histories(history.events, again).histories]
        assert [m[:3] for m in now] == [m[:3] for m in before]


def test_a_healthy_weekly_1_1_is_next_judged_when_its_agenda_reminder_comes_due_not_at_midnight() -> None:
    """The property above cannot hold by returning `now`: a healthy pair mid-week waits for its next
    1:1 (here a day before it, when the agenda reminder is due); a moment after that 1:1 starts, the history
    holds one more held 1:1."""
    meeting = weekly(first="2025-01-06T10:00")
    ctx = context("2025-01-08T09:00")
    (history,) = build_histories(events(meeting), ctx).histories
    assert next_transition(history, ctx.settings, start_offsets=START_OFFSETS) == at("2025-01-12T10:00")
    assert next_transition(history, ctx.settings) == at("2025-01-13T10:00")
    assert history.last_held is not None and history.last_held.start == at("2025-01-06T10:00")
    (later,) = build_histories(events(meeting), _at(ctx, at("2025-01-13T10:01"))).histories
    assert later.last_held is not None and later.last_held.start == at("2025-01-13T10:00")


def test_once_a_gap_has_begun_its_day_count_moves_at_each_of_the_managers_midnights() -> None:
    meeting = weekly(first="2025-01-06T10:00", until="20250107")  # one 1:1, then nothing
    ctx = context("2025-01-24T09:00")
    (history,) = build_histories(events(meeting), ctx).histories
    assert [f.rule for f in evaluate(events(meeting), ctx).findings if f.rule == "cadence-gap"] == ["cadence-gap"]
    assert next_transition(history, ctx.settings) == at("2025-01-25T00:00")
