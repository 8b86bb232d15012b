"""A hostile or broken recurrence rule costs only its own series: it never hangs or aborts expansion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rules_builders import at

from rules.model import CalendarEvent, EventKind
from rules.recurrence import expand, rule_problem
from sync.ingest.calendars import series_last_start

WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 12, 31, tzinfo=UTC))


def series(rule: str, first: str = "2025-01-06T10:00", tz: str = "Europe/Berlin") -> CalendarEvent:
    start = at(first, tz)
    return CalendarEvent(
        provider="ics",
        calendar="maria@acme.test",
        event_id="hostile-1",
        kind=EventKind.MASTER,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone=tz,
        recurrence=(rule,),
    )


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=WEEKLY;INTERVAL=0",
        "RRULE:FREQ=DAILY;INTERVAL=0;BYHOUR=10",
        "RRULE:FREQ=WEEKLY;INTERVAL=-1",
        "RRULE:FREQ=WEEKLY;INTERVAL=99999999999",
        "RRULE:FREQ=WEEKLY;COUNT=999999999999",
        "RRULE:FREQ=SECONDLY",
        "RRULE:FREQ=MINUTELY;INTERVAL=1",
        "RRULE:FREQ=HOURLY",
    ],
)
def test_a_rule_that_is_no_1on1_cadence_is_refused_and_expands_to_the_first_slot_only(rule: str) -> None:
    event = series(rule)
    assert rule_problem(rule.split(":", 1)[1], event.start) is not None
    slots = expand(event, *WINDOW).slots
    assert len(slots) <= 1


@pytest.mark.timeout(20)
def test_a_series_ending_in_year_9999_expands_as_an_open_weekly_series() -> None:
    slots = expand(series("RRULE:FREQ=WEEKLY;UNTIL=99991231T235959Z"), *WINDOW).slots
    assert len(slots) == 52


@pytest.mark.timeout(20)
def test_a_series_starting_in_year_9999_east_of_utc_has_no_slots_and_raises_nothing() -> None:
    event = series("RRULE:FREQ=WEEKLY", first="9999-12-31T20:00", tz="Pacific/Kiritimati")
    assert expand(event, *WINDOW).slots == ()


def test_a_plain_weekly_rule_is_still_accepted() -> None:
    event = series("RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=10")
    assert rule_problem("FREQ=WEEKLY;INTERVAL=2;COUNT=10", event.start) is None
    assert len(expand(event, *WINDOW).slots) == 10


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "rule",
    ["RRULE:FREQ=WEEKLY;INTERVAL=0;COUNT=5", "RRULE:FREQ=WEEKLY;COUNT=999999999999", "RRULE:FREQ=WEEKLY;UNTIL=2025x"],
)
def test_the_sweep_treats_an_unreadable_or_endless_rule_as_a_series_that_never_ends(rule: str) -> None:
    first = datetime(2025, 1, 6, 9, tzinfo=UTC)
    assert series_last_start(first, "Europe/Berlin", (rule,)) is None


def test_the_sweep_still_finds_the_end_of_a_counted_series() -> None:
    first = datetime(2025, 1, 6, 9, tzinfo=UTC)
    assert series_last_start(first, "Europe/Berlin", ("RRULE:FREQ=WEEKLY;COUNT=3",)) == first + timedelta(weeks=2)
