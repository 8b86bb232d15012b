"""Properties of the rules over generated histories.

- evaluating the same history twice gives the same findings;
- the order events arrive in never matters;
- adding a replacement (a live, undeclined one-off 1:1) never adds a cancellation finding.

Derandomized when `CI` is set, so a CI run is reproducible; locally each run explores anew.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_builders import (
    BERLIN,
    M,
    Meeting,
    R,
    cancel,
    context,
    copies,
    decline,
    directory,
    events,
    move,
    one_off,
    ooo,
    seen,
    weekly,
)

from rules.engine import Evaluation, evaluate
from rules.model import CalendarEvent, EvaluationContext, Sighting

FIRST = date(2025, 1, 6)  # a Monday
SLOTS = 10
PLACES = [
    (("google", M),),
    (("google", M), ("google", R)),
    (("outlook", M), ("google", R)),
    (("google", M), ("outlook", R)),
]
PROFILE = settings(
    derandomize=bool(os.environ.get("CI")),
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class History:
    events: tuple[CalendarEvent, ...]
    context: EvaluationContext


def _local(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


@st.composite
def sightings(draw: st.DrawFn, day: date) -> Sighting | None:
    if draw(st.booleans()):
        return None
    when = day + timedelta(days=draw(st.integers(-6, 3)))
    return seen(_local(when, draw(st.integers(0, 23))), full=draw(st.booleans()))


@st.composite
def series_histories(draw: st.DrawFn) -> Meeting:
    meeting = weekly(first=_local(FIRST, 10))
    for k in range(SLOTS):
        day = FIRST + timedelta(days=7 * k)
        op = draw(st.sampled_from(["keep", "keep", "cancel", "move", "decline"]))
        sighting = draw(sightings(day))
        if op == "cancel":
            meeting = cancel(meeting, day.isoformat(), sighting=sighting)
        elif op == "move":
            to = day + timedelta(days=draw(st.integers(-9, 9)))
            meeting = move(meeting, day.isoformat(), to=_local(to, draw(st.integers(7, 18))), sighting=sighting)
        elif op == "decline":
            person = draw(st.sampled_from([M, R]))
            meeting = decline(meeting, person, day.isoformat(), sighting=sighting)
    return copies(meeting, *draw(st.sampled_from(PLACES)))


@st.composite
def one_offs(draw: st.DrawFn, *, live: bool = False) -> Meeting:
    day = FIRST + timedelta(days=draw(st.integers(-3, 75)))
    title = "1:1 Maria / Raj" if live or draw(st.booleans()) else "Catch-up"
    meeting = one_off(start=_local(day, draw(st.integers(7, 18)), draw(st.sampled_from([0, 30]))), title=title)
    if not live and draw(st.integers(0, 3)) == 0:
        meeting = decline(meeting, draw(st.sampled_from([M, R])))
    return meeting


@st.composite
def histories(draw: st.DrawFn) -> History:
    items: list[Meeting | CalendarEvent] = [draw(series_histories())]
    items += draw(st.lists(one_offs(), max_size=4))
    if draw(st.booleans()):
        start = FIRST + timedelta(days=draw(st.integers(0, 70)))
        items.append(
            ooo(
                draw(st.sampled_from([M, R])),
                start.isoformat(),
                (start + timedelta(days=draw(st.integers(0, 12)))).isoformat(),
            )
        )
    now = FIRST + timedelta(days=draw(st.integers(0, 85)))
    directory_mode = draw(st.booleans())
    ctx = context(
        _local(now, draw(st.integers(0, 23))),
        directory=directory((M, R, "2025-01-01")) if directory_mode else None,
        zones={M: draw(st.sampled_from([BERLIN, "America/New_York", "UTC"])), R: BERLIN},
    )
    return History(events(*items), ctx)


def _cancellations(evaluation: Evaluation) -> set[tuple[str, str, str, str]]:
    return {f.identity for f in evaluation.findings if f.rule == "cancelled-without-reschedule"}


@PROFILE
@given(histories())
def test_evaluating_twice_gives_the_same_findings(history: History) -> None:
    first = evaluate(history.events, history.context)
    second = evaluate(history.events, history.context)
    assert first == second


@PROFILE
@given(st.data())
def test_the_order_of_events_never_matters(data: st.DataObject) -> None:
    history = data.draw(histories())
    shuffled = data.draw(st.permutations(history.events))
    assert evaluate(shuffled, history.context) == evaluate(history.events, history.context)
    assert evaluate(tuple(reversed(history.events)), history.context) == evaluate(history.events, history.context)


@PROFILE
@given(histories(), one_offs(live=True))
def test_adding_a_replacement_never_adds_a_cancellation_finding(history: History, extra: Meeting) -> None:
    before = evaluate(history.events, history.context)
    after = evaluate((*history.events, *extra.events()), history.context)
    assert _cancellations(after) <= _cancellations(before)
