"""Series expansion: wall-clock time across DST, every UNTIL/EXDATE/RDATE form, COUNT, all-day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rules_builders import at

from rules.model import CalendarEvent, EventKind
from rules.recurrence import expand, expand_dates, expand_general, parse_line, parse_value


def master(first: str, *lines: str, tz: str = "Europe/Berlin", cancelled: tuple[str, ...] = ()) -> CalendarEvent:
    start = at(first, tz)
    return CalendarEvent(
        provider="ics",
        calendar="maria@acme.test",
        event_id="m",
        kind=EventKind.MASTER,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone=tz,
        recurrence=lines,
        cancelled_occurrences=tuple(at(c) for c in cancelled),
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


WINDOW = (utc("2025-01-01T00:00"), utc("2025-12-31T00:00"))


def slots(event: CalendarEvent, low: datetime = WINDOW[0], high: datetime = WINDOW[1]) -> list[str]:
    return [s.strftime("%Y-%m-%dT%H:%MZ") for s in expand(event, low, high).slots]


def test_a_weekly_10_00_in_berlin_stays_10_00_local_across_both_dst_changes() -> None:
    spring = slots(master("2025-03-24T10:00", "RRULE:FREQ=WEEKLY;COUNT=2"))
    autumn = slots(master("2025-10-20T10:00", "RRULE:FREQ=WEEKLY;COUNT=2"))
    assert spring == ["2025-03-24T09:00Z", "2025-03-31T08:00Z"]
    assert autumn == ["2025-10-20T08:00Z", "2025-10-27T09:00Z"]


def test_new_york_changes_on_its_own_date() -> None:
    event = master("2025-03-03T09:00", "RRULE:FREQ=WEEKLY;COUNT=2", tz="America/New_York")
    assert slots(event) == ["2025-03-03T14:00Z", "2025-03-10T13:00Z"]


def test_an_until_given_as_a_date_includes_that_local_day() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;UNTIL=20250120")
    expansion = expand(event, *WINDOW)
    assert slots(event) == ["2025-01-06T09:00Z", "2025-01-13T09:00Z", "2025-01-20T09:00Z"]
    assert expansion.last == utc("2025-01-20T09:00")


def test_an_until_at_the_end_of_the_previous_local_day_google_split_style() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;UNTIL=20250119T225959Z")
    assert slots(event)[-1] == "2025-01-13T09:00Z"


def test_a_floating_until_is_read_in_the_series_zone() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;UNTIL=20250120T100000")
    assert slots(event)[-1] == "2025-01-20T09:00Z"


def test_count_bounds_the_series_and_gives_its_last_slot() -> None:
    expansion = expand(master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;COUNT=3"), *WINDOW)
    assert len(expansion.slots) == 3
    assert expansion.last == utc("2025-01-20T09:00")


def test_an_open_ended_series_has_no_last_slot_and_only_slots_in_range() -> None:
    expansion = expand(
        master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY"), utc("2025-02-01T00:00"), utc("2025-02-11T09:00")
    )
    assert expansion.last is None
    assert [s.isoformat() for s in expansion.slots] == ["2025-02-03T09:00:00+00:00", "2025-02-10T09:00:00+00:00"]


def test_the_range_end_is_exclusive() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY")
    assert slots(event, utc("2025-01-06T09:00"), utc("2025-01-13T09:00")) == ["2025-01-06T09:00Z"]


@pytest.mark.parametrize(
    "line",
    [
        "EXDATE:20250113T090000Z",
        "EXDATE;TZID=Europe/Berlin:20250113T100000",
        "EXDATE;VALUE=DATE:20250113",
        "EXDATE;TZID=America/New_York:20250113T040000",
    ],
    ids=["utc", "tzid-local", "date", "other-zone"],
)
def test_exdate_forms_mark_the_slot_excluded_but_keep_it_visible(line: str) -> None:
    expansion = expand(master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;COUNT=3", line), *WINDOW)
    assert utc("2025-01-13T09:00") in expansion.slots
    assert expansion.excluded == {utc("2025-01-13T09:00")}


def test_exdate_with_several_values() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20250113T090000Z,20250127T090000Z")
    assert expand(event, *WINDOW).excluded == {utc("2025-01-13T09:00"), utc("2025-01-27T09:00")}


def test_an_exdate_one_hour_off_excludes_nothing() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE:20250113T100000Z")
    assert expand(event, *WINDOW).excluded == frozenset()


def test_cancelled_occurrences_on_the_master_exactly_or_as_a_local_date() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;COUNT=4", cancelled=("2025-01-13T10:00", "2025-01-27T00:00"))
    assert expand(event, *WINDOW).excluded == {utc("2025-01-13T09:00"), utc("2025-01-27T09:00")}


def test_rdate_adds_slots_in_every_form() -> None:
    event = master(
        "2025-01-06T10:00",
        "RRULE:FREQ=WEEKLY;COUNT=2",
        "RDATE:20250116T150000Z",
        "RDATE;VALUE=DATE:20250117",
        "RDATE;VALUE=PERIOD:20250118T080000Z/20250118T083000Z",
    )
    assert slots(event) == [
        "2025-01-06T09:00Z",
        "2025-01-13T09:00Z",
        "2025-01-16T15:00Z",
        "2025-01-17T09:00Z",
        "2025-01-18T08:00Z",
    ]


def test_exrule_shapes_the_pattern() -> None:
    event = master("2025-01-06T10:00", "RRULE:FREQ=WEEKLY;COUNT=4", "EXRULE:FREQ=WEEKLY;INTERVAL=2")
    assert slots(event) == ["2025-01-13T09:00Z", "2025-01-27T09:00Z"]


def test_the_first_slot_counts_even_off_pattern() -> None:
    event = master("2025-01-07T10:00", "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2")
    assert slots(event)[0] == "2025-01-07T09:00Z"


def test_a_malformed_rule_leaves_the_first_slot_alone() -> None:
    expansion = expand(master("2025-01-06T10:00", "RRULE:FREQ=SOMETIMES", "garbage"), *WINDOW)
    assert expansion.slots == (utc("2025-01-06T09:00"),)
    assert expansion.cadence_days is None


@pytest.mark.parametrize(
    ("rule", "days"),
    [
        ("FREQ=WEEKLY", 7),
        ("FREQ=WEEKLY;INTERVAL=2", 14),
        ("FREQ=MONTHLY", 30),
        ("FREQ=MONTHLY;BYDAY=1MO", 30),
        ("FREQ=WEEKLY;BYDAY=MO,TH", 3),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", 1),
    ],
)
def test_cadence_from_the_rule(rule: str, days: int) -> None:
    assert expand(master("2025-01-06T10:00", f"RRULE:{rule}"), *WINDOW).cadence_days == days


def test_all_day_series_expand_as_dates() -> None:
    event = CalendarEvent(
        provider="google",
        calendar="raj@acme.test",
        event_id="a",
        kind=EventKind.MASTER,
        all_day=True,
        start_date=date(2025, 1, 6),
        end_date=date(2025, 1, 7),
        recurrence=("RRULE:FREQ=WEEKLY;UNTIL=20250203", "EXDATE;VALUE=DATE:20250120"),
    )
    assert expand_dates(event, date(2025, 1, 1), date(2025, 3, 1)) == (
        date(2025, 1, 6),
        date(2025, 1, 13),
        date(2025, 1, 27),
        date(2025, 2, 3),
    )


def test_content_line_and_value_parsing() -> None:
    line = parse_line('EXDATE;TZID="Europe/Berlin";VALUE=DATE-TIME:20250113T100000')
    assert line is not None and line.name == "EXDATE" and line.params["TZID"] == "Europe/Berlin"
    assert parse_line("no colon here") is None
    assert parse_value("20250113", None) == date(2025, 1, 13)
    assert parse_value("20250113T090000Z", None) == utc("2025-01-13T09:00")
    assert parse_value("2025-01-13", None) is None


# --- the weekly fast path agrees with the general (dateutil) expansion -------------------------------

_ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")


@st.composite
def _weekly_masters(draw: st.DrawFn) -> tuple[CalendarEvent, datetime, datetime]:
    from zoneinfo import ZoneInfo

    zone_name = draw(st.sampled_from(_ZONES))
    tz = ZoneInfo(zone_name)
    day = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 900)))
    # Times around the DST changes (02:00–03:00 local) included on purpose.
    moment = datetime.combine(day, time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 15, 30)))), tz)
    first = moment.astimezone(UTC)
    interval = draw(st.integers(1, 3))
    rule = f"RRULE:FREQ=WEEKLY;INTERVAL={interval}"
    if draw(st.booleans()):
        rule += f";BYDAY={('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')[moment.weekday()]}"
    bound = draw(st.sampled_from(("none", "count", "until-utc", "until-date")))
    if bound == "count":
        rule += f";COUNT={draw(st.integers(1, 80))}"
    elif bound != "none":
        limit = first + timedelta(days=draw(st.integers(-3, 500)))
        rule += ";UNTIL=" + (limit.strftime("%Y%m%dT%H%M%SZ") if bound == "until-utc" else limit.strftime("%Y%m%d"))
    lines = [rule]
    for weeks in draw(st.lists(st.integers(0, 60), max_size=3)):
        excluded = (moment.replace(tzinfo=None) + timedelta(weeks=weeks * interval)).replace(tzinfo=tz)
        lines.append("EXDATE:" + excluded.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"))
    master = CalendarEvent(
        "google",
        "m@example.com",
        "s1",
        EventKind.MASTER,
        series_id="s1",
        start=first,
        end=first + timedelta(minutes=30),
        time_zone=zone_name,
        recurrence=tuple(lines),
    )
    window_start = first + timedelta(days=draw(st.integers(-30, 400)))
    return master, window_start, window_start + timedelta(days=draw(st.integers(1, 500)))


@given(_weekly_masters())
def test_the_weekly_fast_path_equals_the_general_expansion(case: tuple[CalendarEvent, datetime, datetime]) -> None:
    master, start, end = case
    assert expand(master, start, end) == expand_general(master, start, end)
