"""The slot search: what it proposes is always bookable and always fixes the rule."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.slots import Interval, Person, SlotQuery, WorkingHours, rule_window, search

PROFILE = settings(
    derandomize=bool(os.environ.get("CI")),
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "America/Los_Angeles", "Australia/Sydney"]
# Weeks that contain a DST change in some of the zones above, and one that contains none.
WEEK_STARTS = [date(2025, 3, 24), date(2025, 3, 3), date(2025, 10, 20), date(2025, 10, 27), date(2025, 6, 2)]
MINUTE = timedelta(minutes=1)


def _utc(day: date, hour: int, zone: str = "UTC", minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@st.composite
def people(draw: st.DrawFn, week: date) -> Person:
    tz = draw(st.sampled_from(ZONES))
    start = draw(st.integers(6, 11))
    hours = WorkingHours(tz, time(start), time(draw(st.integers(start + 2, 20))))
    busy = []
    for _ in range(draw(st.integers(0, 12))):
        begin = _utc(week, 0) + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 10)))
        busy.append(Interval(begin, begin + timedelta(minutes=15 * draw(st.integers(1, 16)))))
    away = frozenset(week + timedelta(days=d) for d in draw(st.sets(st.integers(0, 9), max_size=4)))
    return Person(draw(st.sampled_from(["m@x.test", "r@x.test"])), hours, tuple(busy), away)


@st.composite
def queries(draw: st.DrawFn) -> SlotQuery:
    week = draw(st.sampled_from(WEEK_STARTS))
    pair = (draw(people(week)), draw(people(week)))
    first = draw(st.integers(0, 4))
    length = draw(st.integers(1, 7))
    window = Interval(_utc(week, 0) + timedelta(days=first), _utc(week, 0) + timedelta(days=first + length))
    return SlotQuery(
        people=pair,
        window=window,
        duration=timedelta(minutes=draw(st.sampled_from([25, 30, 45, 60]))),
        now=window.start - timedelta(hours=draw(st.integers(0, 30))),
        display_zone=pair[0].hours.zone,
        usual_time=draw(st.none() | st.builds(time, st.integers(7, 17))),
        step=timedelta(minutes=draw(st.sampled_from([15, 30, 60]))),
        count=draw(st.integers(1, 4)),
    )


@PROFILE
@given(queries())
def test_a_proposed_slot_is_free_for_both_in_working_hours_and_not_away(query: SlotQuery) -> None:
    result = search(query)
    assert len(result.slots) <= query.count
    assert len(set(result.slots)) == len(result.slots)
    for slot in result.slots:
        assert slot.end - slot.start == query.duration
        assert slot.start >= query.now
        for person in query.people:
            assert not any(slot.overlaps(b) for b in person.busy), (slot, person.email)
            tz = ZoneInfo(person.hours.zone)
            local_start, local_end = slot.start.astimezone(tz), slot.end.astimezone(tz)
            assert local_start.date() == local_end.date()
            assert person.hours.start <= local_start.time() and local_end.time() <= person.hours.end
            assert local_start.weekday() < 5
            assert local_start.date() not in person.away_days


@PROFILE
@given(queries())
def test_slots_satisfy_the_rule_or_say_they_come_after_the_window(query: SlotQuery) -> None:
    result = search(query)
    for slot in result.slots:
        if result.in_window:
            assert query.window.start <= slot.start and slot.end <= query.window.end
        else:
            assert slot.start >= query.window.end
    if not result.in_window:
        # Nothing in the window was free: the search looked at every grid step.
        step_query = replace(query, count=10_000)
        assert search(step_query).in_window is False


def _pair(zone_m: str = "Europe/Berlin", zone_r: str = "Europe/Berlin", **kw: object) -> tuple[Person, Person]:
    return (Person("m@x.test", WorkingHours(zone_m), **kw), Person("r@x.test", WorkingHours(zone_r)))  # type: ignore[arg-type]


def test_three_slots_on_three_days_at_the_usual_time() -> None:
    week = date(2025, 12, 8)  # Monday 8 Dec
    query = SlotQuery(
        people=_pair(busy=(Interval(_utc(week, 10, "Europe/Berlin"), _utc(week, 11, "Europe/Berlin")),)),
        window=Interval(_utc(week, 0, "Europe/Berlin"), _utc(week + timedelta(days=7), 0, "Europe/Berlin")),
        duration=timedelta(minutes=30),
        now=_utc(week, 0),
        display_zone="Europe/Berlin",
        usual_time=time(10),
    )
    local = [s.start.astimezone(ZoneInfo("Europe/Berlin")) for s in search(query).slots]
    assert [(d.strftime("%a"), d.strftime("%H:%M")) for d in local] == [
        ("Mon", "09:30"),
        ("Tue", "10:00"),
        ("Wed", "10:00"),
    ]


def test_out_of_office_all_week_gets_no_slot_that_week() -> None:
    week = date(2025, 12, 8)
    away = frozenset(week + timedelta(days=d) for d in range(7))
    query = SlotQuery(
        people=_pair(away_days=away),
        window=Interval(_utc(week, 0), _utc(week + timedelta(days=5), 0)),
        duration=timedelta(minutes=30),
        now=_utc(week, 0),
    )
    result = search(query)
    assert result.in_window is False
    assert result.slots and all(s.start.date() >= week + timedelta(days=7) for s in result.slots)


def test_zones_nine_hours_apart_share_the_edge_of_the_day_or_nothing() -> None:
    week = date(2025, 12, 8)
    window = Interval(_utc(week, 0), _utc(week + timedelta(days=5), 0))
    # Berlin 08:00-17:00 and Los Angeles 08:00-17:00 (9 hours behind) share 17:00 Berlin = 08:00 LA: nothing.
    late_la = (
        Person("m@x.test", WorkingHours("Europe/Berlin", time(8), time(17))),
        Person("r@x.test", WorkingHours("America/Los_Angeles", time(8), time(17))),
    )
    none = search(SlotQuery(late_la, window, timedelta(minutes=30), _utc(week, 0), after_days=14))
    assert none.slots == () and none.in_window is False
    # With the manager staying until 18:00 they share 17:00-18:00 Berlin = 08:00-09:00 LA.
    overlap = (
        Person("m@x.test", WorkingHours("Europe/Berlin", time(8), time(18))),
        Person("r@x.test", WorkingHours("America/Los_Angeles", time(8), time(17))),
    )
    found = search(SlotQuery(overlap, window, timedelta(minutes=30), _utc(week, 0)))
    assert found.in_window and len(found.slots) == 3
    assert {s.start.astimezone(ZoneInfo("America/Los_Angeles")).hour for s in found.slots} == {8}


def test_the_usual_time_holds_across_a_dst_change() -> None:
    week = date(2025, 3, 24)  # Berlin moves to summer time on Sunday 30 March
    query = SlotQuery(
        people=_pair(),
        window=Interval(_utc(week, 0), _utc(week + timedelta(days=14), 0)),
        duration=timedelta(minutes=30),
        now=_utc(week, 0),
        display_zone="Europe/Berlin",
        usual_time=time(10),
        count=10,
    )
    local = {s.start.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") for s in search(query).slots}
    assert local == {"10:00"}


def test_the_rule_windows() -> None:
    now = datetime(2025, 12, 4, 12, tzinfo=UTC)
    cancelled = rule_window(
        "cancelled-without-reschedule", {"replacement_looked_for": "2025-12-01/2025-12-15"}, "Europe/Berlin", now
    )
    berlin = "Europe/Berlin"
    assert cancelled == Interval(_utc(date(2025, 12, 1), 0, berlin), _utc(date(2025, 12, 16), 0, berlin))
    ahead = rule_window("cadence-gap-ahead", {"book_by": "2025-12-10"}, "UTC", now)
    assert ahead == Interval(now, datetime(2025, 12, 11, tzinfo=UTC))
    gap = rule_window("cadence-gap", {}, "UTC", now)
    assert gap == Interval(now, now + timedelta(days=7))
    assert rule_window("missing-agenda", {}, "UTC", now) is None
