"""Conformance on real calendars written by others: what oneonone derives equals INDEX.md.

Each test reads one file of ../shared/corpus through the ICS mapping, derives occurrences the way
the daemon does (`corpus_support.occurrences`: `rules/recurrence.py` slots, overrides and EXDATEs
applied by the rules' own `decide`) and asserts the outcomes INDEX.md states for that file,
literally. INDEX.md was written from reading the files; GROUND_TRUTH_computed.md is one library's
listing and only used to look for differences. Where INDEX.md marks a disagreement between a
library and the calendar applications, the test asserts what Google Calendar and Outlook show and
its docstring says so. Times are local to the series, windows half-open, as in INDEX.md.
"""

from __future__ import annotations

from datetime import date, timedelta

from corpus_support import OWNER, Occ, by_state, live, load, masters, moves, occurrences

from providers.ics_mapping import MappedCalendar
from rules.model import CalendarEvent, EventKind, EventStatus, Response

D = date.fromisoformat


def pick(
    relative: str, *, summary: str | None = None, uid: str | None = None, first: str | None = None
) -> tuple[MappedCalendar, CalendarEvent]:
    """The one master of a file matching a title, a UID prefix or its first slot (local time)."""
    mapped = load(relative)
    found = masters(mapped, summary=summary, uid=uid)
    if first is not None:
        day = D(first[:10])
        found = [m for m in found if [o.slot for o in occurrences(mapped, m, day, day + timedelta(days=1))] == [first]]
    assert len(found) == 1, [m.event_id for m in found]
    return mapped, found[0]


# --- recurring-ical-events' own calendars ------------------------------------------------------


def test_issue_62_monthly_last_friday_with_a_moved_instance() -> None:
    mapped, karaoke = pick("pypi-recurring-ical-events/issue_62_moved_event.ics", summary="Karaoke")
    found = occurrences(mapped, karaoke, D("2021-11-01"), D("2022-03-01"))
    assert [o.slot[:10] for o in found] == ["2021-11-26", "2021-12-31", "2022-01-28", "2022-02-25"]
    assert moves(found) == {"2021-12-31 21:30": "2021-12-17 21:30"}
    assert by_state(found, "cancelled") == []


def test_issue_62_sydney_timed_and_all_day_series_each_with_a_move() -> None:
    relative = "pypi-recurring-ical-events/issue_62_moved_event_2.ics"
    mapped, timed = pick(relative, summary="Datetime")
    found = occurrences(mapped, timed, D("2023-08-01"), D("2023-09-05"))
    assert [o.slot for o in found] == ["2023-08-08 14:00", "2023-08-15 14:00", "2023-08-22 14:00"]  # 08-22 is the last
    assert moves(found) == {"2023-08-15 14:00": "2023-08-14 14:00"}
    mapped, all_day = pick(relative, summary="All Day")
    found = occurrences(mapped, all_day, D("2023-08-01"), D("2023-09-05"))
    assert [o.slot for o in found] == ["2023-08-10", "2023-08-17", "2023-08-24"]
    assert moves(found) == {"2023-08-17": "2023-08-16"}


def test_issue_151_yearly_with_exdate_and_a_moved_first_instance() -> None:
    mapped, vespers = pick("pypi-recurring-ical-events/issue_151_macos_linux_difference.ics")
    found = occurrences(mapped, vespers, D("2014-01-01"), D("2019-01-01"))
    assert moves(found) == {"2014-08-01 19:00": "2014-08-01 18:30"}
    assert by_state(found, "cancelled") == ["2016-08-01 19:00"]
    assert [o.start for o in found if o.state == "unchanged"] == [
        "2015-08-01 19:00",
        "2017-08-01 19:00",
        "2018-08-01 19:00",
    ]


def test_issue_48_school_timetable_across_dst_split_into_a_new_uid() -> None:
    relative = "pypi-recurring-ical-events/issue_48_dst.ics"
    mapped, old = pick(relative, uid="p1lg")
    found = occurrences(mapped, old, D("2020-09-01"), D("2020-12-15"))
    assert by_state(found, "cancelled") == ["2020-09-16 08:15"]
    assert found[-1].slot == "2020-09-22 08:15"  # ended by UNTIL
    (one_off,) = [e for e in mapped.events if e.event_id.startswith("5dru")]
    assert one_off.kind is EventKind.SINGLE and one_off.start is not None
    assert one_off.start.isoformat() == "2020-11-13T14:15:00+00:00"  # 08:15 CST
    mapped, new = pick(relative, uid="c4p6")
    found = occurrences(mapped, new, D("2020-09-01"), D("2020-12-15"))
    assert found[0].slot == "2020-11-16 08:15" and {o.slot[11:] for o in found} == {"08:15"}
    assert by_state(found, "cancelled") == ["2020-11-26 08:15", "2020-11-27 08:15"]
    weekdays = {D(o.slot[:10]).isoweekday() for o in found}
    assert weekdays == {1, 2, 4, 5}  # MO,TU,TH,FR
    mapped, other = pick(relative, uid="m4dpn70")
    found = occurrences(mapped, other, D("2020-09-01"), D("2020-12-15"))
    assert [o.slot[:10] for o in found if o.state == "cancelled"] == ["2020-10-23", "2020-11-06", "2020-11-27"]
    # Local time stays fixed across the DST end on 11-01: the UTC hour moves instead.
    assert {o.slot[11:] for o in found} == {"14:15"}
    utc = _utc_hours(other, found)
    assert (utc["2020-10-30"], utc["2020-11-13"]) == ("19:15", "20:15")  # weekly Fridays


def test_daylight_saving_time_machbar_calendar() -> None:
    relative = "pypi-recurring-ical-events/daylight_saving_time.ics"
    window = (D("2018-01-01"), D("2019-12-31"))
    mapped, old = pick(relative, uid="4m856r43sj4i6g0vat9dn4gtui@")
    chaos = occurrences(mapped, old, *window)
    assert chaos[-1].slot == "2019-01-02 19:00" and all(o.state == "unchanged" for o in chaos)
    mapped, split = pick(relative, uid="4m856r43sj4i6g0vat9dn4gtui_R20190116")
    assert [o.slot for o in occurrences(mapped, split, *window)] == ["2019-01-16 19:00", "2019-01-30 19:00"]
    mapped, weekly = pick(relative, summary="Chaostreff - CCCP", first="2019-02-13 19:00")
    weekly_found = occurrences(mapped, weekly, D("2019-02-13"), D("2019-03-13"))
    assert [o.slot[:10] for o in weekly_found] == ["2019-02-13", "2019-02-20", "2019-02-27", "2019-03-06"]  # weekly now
    mapped, third = pick(relative, uid="ome5r9735mpdoo3n6lpf8oi0c4")
    repair = occurrences(mapped, third, *window)
    assert moves(repair) == {
        "2018-12-15 11:00": "2018-12-08 11:00",
        "2019-01-19 11:00": "2019-01-27 11:00",
        "2019-02-16 11:00": "2019-02-24 11:00",
    }
    assert repair[-1].slot[:10] == "2019-02-16"  # UNTIL 2019-03-15: the 3rd Saturday of March (03-16) is past it
    mapped, last = pick(relative, uid="52uuaoruefesorque1gpjabr6t")
    repair = occurrences(mapped, last, *window)
    assert by_state(repair, "cancelled") == ["2018-07-28 11:00", "2018-08-25 11:00"]
    assert moves(repair) == {"2018-09-29 11:00": "2018-09-22 11:00", "2018-10-27 11:00": "2018-10-20 11:00"}
    mapped, lab = pick(relative, uid="2o60r26f5pq7muep7htdi4r01n")
    assert moves(occurrences(mapped, lab, *window)) == {"2018-05-01 19:00": "2018-05-02 19:00"}
    cancelled = []
    for uid in ("7g6502aejkun96i5fenfu6hvc1", "1djkkpk5edlt8ocfscsd8a52et"):
        mapped, montessori = pick(relative, uid=uid)
        cancelled += by_state(occurrences(mapped, montessori, *window), "cancelled")
    assert sorted(cancelled) == ["2019-03-07 08:30", "2019-03-08 08:30"]


def test_issue_28_exchange_all_day_until_in_utc_follows_outlook() -> None:
    """Ambiguous in INDEX.md: recurring-ical-events drops 09-17 (Refuse) and 09-24 (Recycle).

    Exchange wrote UNTIL as the local midnight of the last day (23:00Z = 00:00 BST); Outlook shows
    those days, so we keep them: 13 Refuse collections (3 moved, 10 unchanged) where the library
    lists 12. RECURRENCE-IDs are `TZID=GMT Standard Time:…T000000` on a DATE series: matched by date.
    """
    relative = "pypi-recurring-ical-events/issue_28_rrule_with_UTC_endinginZ.ics"
    mapped, refuse = pick(relative, summary="Refuse black bin")
    found = occurrences(mapped, refuse, D("2020-01-01"), D("2021-01-01"))
    assert moves(found) == {"2020-04-16": "2020-04-17", "2020-05-28": "2020-05-29", "2020-09-03": "2020-09-04"}
    assert len(by_state(found, "unchanged")) == 10 and found[-1].slot == "2020-09-17"
    # The package's own test: Outlook online shows 15 instances between 05-25 and 09-05.
    shown = [
        o
        for cal in ("Refuse black bin", "Blue Recycle bin")
        for o in occurrences(mapped, pick(relative, summary=cal)[1], D("2020-05-25"), D("2020-09-06"))
    ]
    assert len(shown) == 15
    mapped, recycle = pick(relative, summary="Blue Recycle bin")
    assert occurrences(mapped, recycle, D("2020-01-01"), D("2021-01-01"))[-1].slot == "2020-09-24"


def test_issue_18_status_cancelled_override() -> None:
    mapped, series = pick("pypi-recurring-ical-events/issue_18_cancel_status.ics")
    found = occurrences(mapped, series, D("2020-01-01"), D("2021-01-01"))
    assert [o.slot[:10] for o in found] == ["2020-01-28", "2020-01-29", "2020-01-30"]
    assert by_state(found, "cancelled") == [found[1].slot]


def test_thunderbird_changed_durations_moves_and_an_instance_turned_all_day() -> None:
    relative = "pypi-recurring-ical-events/recurring_events_changed_duration.ics"
    mapped, series = pick(relative, summary="New Event")
    found = {o.slot[:10]: o for o in occurrences(mapped, series, D("2019-03-01"), D("2019-04-01"))}
    assert found["2019-03-07"].state == "unchanged" and found["2019-03-07"].minutes == 60
    assert (found["2019-03-08"].start[11:], found["2019-03-08"].minutes) == ("01:00", 120)
    assert (found["2019-03-09"].start[11:], found["2019-03-09"].minutes) == ("03:00", 30)
    assert found["2019-03-10"].state == "moved" and (found["2019-03-10"].start, found["2019-03-10"].end) == (
        "2019-03-10",
        "2019-03-11",
    )  # became all-day
    mapped, test7 = pick(relative, summary="test7")
    retitled = {o.slot[:10]: o for o in occurrences(mapped, test7, D("2019-03-01"), D("2019-04-01"))}
    assert retitled["2019-03-19"].state == "edited"  # retitled only: not a move


# --- icalendar, khal ----------------------------------------------------------------------------


def test_issue_165_cdo_request_without_uid_custom_tzid_and_spaced_byday() -> None:
    mapped, standup = pick("pypi-icalendar/issue_165_missing_event.ics")
    assert standup.event_id.startswith("nouid-") and mapped.skipped == ()
    found = occurrences(mapped, standup, D("2015-07-01"), D("2015-08-01"))
    assert len(found) == 14 and found[0].slot == "2015-07-03 10:00" and found[-1].slot == "2015-07-22 10:00"
    assert {o.minutes for o in found} == {30} and all(D(o.slot[:10]).isoweekday() <= 5 for o in found)
    assert standup.start is not None and standup.start.isoformat() == "2015-07-03T08:00:00+00:00"  # +02:00


def test_khal_utc_recurrence_ids_against_a_berlin_series() -> None:
    mapped, work = pick("pypi-khal/event_rrule_recuid_cancelled.ics")
    found = occurrences(mapped, work, D("2014-06-01"), D("2014-09-01"))
    assert [o.slot[:10] for o in found] == [
        "2014-06-30",
        "2014-07-07",
        "2014-07-14",
        "2014-07-21",
        "2014-07-28",
        "2014-08-04",
    ]
    assert moves(found) == {"2014-07-07 07:00": "2014-07-07 09:00"}
    assert by_state(found, "cancelled") == ["2014-07-14 07:00"]
    assert {o.minutes for o in found} == {300}


# --- icalevents (Exchange and Google exports) ---------------------------------------------------


def test_recurrenceid_ms_all_day_until_and_midnight_recurrence_id_follow_outlook() -> None:
    """Ambiguous in INDEX.md (all-day UNTIL): icalevents expects 42 instances in 2021 with Fri 07-02,
    recurring-ical-events returns 41. UNTIL=20210701T220000Z is local midnight of 07-02 in W. Europe
    time; Outlook shows 07-02, so do we. The RECURRENCE-ID (W. Europe 00:00 on a DATE series)
    matches by date."""
    mapped, away = pick("icalevents/recurrenceid_ms.ics")
    found = occurrences(mapped, away, D("2021-01-01"), D("2022-01-01"))
    assert len(found) == 42 and found[-1].slot == "2021-07-02"
    assert moves(found) == {"2021-04-09": "2021-04-10"}


def test_teams_meeting_overrides_before_master_across_dst() -> None:
    mapped, series = pick("icalevents/recurr_id_dtstart_missmatch.ics")
    found = occurrences(mapped, series, D("2022-01-01"), D("2023-01-01"))
    assert [o.slot[:10] for o in found] == [
        "2022-03-09", "2022-04-13", "2022-05-11", "2022-06-08", "2022-07-13", "2022-08-10", "2022-09-14"
    ]  # fmt: skip
    assert found[0].state == "edited" and found[0].start == "2022-03-09 13:00"  # retitled, same time
    assert moves(found) == {"2022-04-13 13:00": "2022-04-13 10:30"}
    assert all(o.state == "unchanged" for o in found[2:])


def test_one_exdate_line_with_three_folded_values() -> None:
    mapped, series = pick("icalevents/multi_exdate_same_line_ms.ics")
    found = occurrences(mapped, series, D("2022-01-01"), D("2023-01-01"))
    assert [o.slot[:10] for o in live(found)] == ["2022-03-11", "2022-03-25", "2022-04-15", "2022-04-22", "2022-04-29"]
    assert by_state(found, "cancelled") == ["2022-03-18 11:00", "2022-04-01 11:00", "2022-04-08 11:00"]


def test_daily_series_with_a_comma_separated_exdate() -> None:
    mapped, series = pick("icalevents/cest_with_deleted.ics")
    found = occurrences(mapped, series, D("2021-01-01"), D("2022-01-01"))
    assert [o.slot for o in live(found)] == ["2021-11-11 08:00", "2021-11-13 08:00", "2021-11-15 08:00"]
    assert by_state(found, "cancelled") == ["2021-11-12 08:00", "2021-11-14 08:00"]


def test_all_day_two_day_blocks_with_a_date_time_exdate() -> None:
    mapped, series = pick("icalevents/rrule_until_all_day_ms.ics")
    found = occurrences(mapped, series, D("2021-01-01"), D("2022-01-01"))
    assert [o.slot for o in live(found)] == [
        "2021-03-19",
        "2021-03-26",
        "2021-04-02",
        "2021-04-09",
        "2021-04-16",
        "2021-04-23",
    ]
    assert by_state(found, "cancelled") == ["2021-04-30"]
    assert {(D(o.end) - D(o.start)).days for o in found} == {2}


def test_recurring_override_full_exchange_calendar() -> None:
    """The 'Tentative' override's RECURRENCE-ID is 04-14 00:00 against an 08:00 series:
    recurring-ical-events emits 04-14 twice; Outlook shows one instance, and so do we.

    INDEX.md labels the 11:45 Tuesday series "…303110"; that string is in another series' UID
    (a monthly one), so the series is picked by its first slot instead."""
    relative = "icalevents/recurring_override.ics"
    window = (D("2020-06-01"), D("2023-01-01"))
    mapped, tue_thu = pick(relative, uid="040000008200E00074C5B7101A82E00800000000104F55")
    found = {o.slot: o for o in occurrences(mapped, tue_thu, *window)}
    assert found["2021-05-11 10:00"].start == "2021-05-11 09:30"
    assert found["2021-05-20 10:00"].start == "2021-05-20 11:00"
    assert found["2021-01-21 10:00"].minutes == found["2021-07-13 10:00"].minutes == 60
    assert by_state(list(found.values()), "cancelled") == ["2021-03-25 10:00"]
    mapped, tuesdays = pick(relative, summary="Busy", first="2021-10-12 11:45")
    assert by_state(occurrences(mapped, tuesdays, *window), "cancelled") == ["2021-10-26 11:45", "2021-11-02 11:45"]
    mapped, away = pick(relative, summary="Away")
    assert moves(occurrences(mapped, away, *window)) == {"2020-12-17": "2020-12-16"}
    mapped, tentative = pick(relative, summary="Tentative")
    april = occurrences(mapped, tentative, D("2021-04-14"), D("2021-04-15"))
    assert [(o.slot, o.start, o.state) for o in april] == [("2021-04-14 08:00", "2021-04-14 08:00", "edited")]


def test_a_declined_reply_is_read_as_a_decline() -> None:
    (meeting,) = load("icalevents/multi_attendee_response.ics").events
    assert meeting.kind is EventKind.SINGLE and meeting.time_zone == "Europe/Zurich"
    assert meeting.start is not None and meeting.end is not None
    assert (meeting.start.isoformat(), meeting.end.isoformat()) == (
        "2021-06-07T11:30:00+00:00",
        "2021-06-07T12:30:00+00:00",
    )
    responses = {a.email: a.response for a in meeting.attendees}
    assert responses == {"calendar@gmail.com": Response.DECLINED, "calendar@microsoft.com": Response.NEEDS_ACTION}


def test_overrides_without_master_are_meetings_not_a_deleted_series() -> None:
    mapped = load("icalevents/recurrenceid_google.ics")
    assert all(e.kind is EventKind.SINGLE and e.status is EventStatus.CONFIRMED for e in mapped.events)
    assert sorted((e.start.isoformat(), e.end.isoformat()) for e in mapped.events if e.start and e.end) == [
        (f"2021-03-{day}T11:00:00+00:00", f"2021-03-{day}T12:00:00+00:00") for day in (24, 25, 26, 27)
    ]
    blocks = load("icalevents/rrule_until_all_day_google.ics")
    assert sorted((str(e.start_date), str(e.end_date)) for e in blocks.events) == [
        ("2021-03-24", "2021-03-27"), ("2021-03-31", "2021-04-03"), ("2021-04-07", "2021-04-10")
    ]  # fmt: skip


def test_date_until_on_a_timed_series_follows_google() -> None:
    """Ambiguous in INDEX.md: `UNTIL=20211020` (a DATE) on a 13:00 America/Boise series.
    recurring-ical-events reads it as 00:00 and drops Wed 10-20; Google Calendar writes such
    UNTILs meaning "through that day" and shows 10-20, and so do we."""
    mapped, lunch = pick("icalevents/rrule_until_only_date.ics")
    found = occurrences(mapped, lunch, D("2021-09-01"), D("2021-11-01"))
    assert [o.slot[5:10] for o in live(found)] == [
        "09-29", "09-30", "10-04", "10-06", "10-07", "10-11", "10-14", "10-18", "10-20"
    ]  # fmt: skip
    assert by_state(found, "cancelled") == ["2021-10-13 13:00"]


def test_google_daily_count_across_the_spring_dst_change() -> None:
    mapped, daily = pick("icalevents/google_2024.ics")
    found = occurrences(mapped, daily, D("2024-01-01"), D("2025-01-01"))
    assert len(found) == 30 and (found[0].slot, found[-1].slot) == ("2024-03-25 07:00", "2024-04-23 07:00")
    slots = _utc_slots(daily)  # 06:00Z before the change on 03-31, 05:00Z from it on
    assert slots[0] == "2024-03-25T06:00" and slots[6] == "2024-03-31T05:00" and slots[-1] == "2024-04-23T05:00"
    singles = [e for e in mapped.events if e.kind is EventKind.SINGLE]
    assert sorted((e.end_date - e.start_date).days for e in singles if e.start_date and e.end_date) == [1, 2]


def _utc_slots(master: CalendarEvent) -> list[str]:
    from datetime import UTC, datetime

    from rules.recurrence import expand

    low, high = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    return [s.strftime("%Y-%m-%dT%H:%M") for s in expand(master, low, high).slots]


# --- node-ical, allenporter/ical, emacs, ical4j, ics-parser -------------------------------------


def test_google_override_before_its_master() -> None:
    mapped, daily = pick("node-ical/google-recurrence-order.ics")
    found = occurrences(mapped, daily, D("2026-01-01"), D("2027-01-01"))
    assert [o.start for o in found] == ["2026-02-10 10:00", "2026-02-11 10:30", "2026-02-12 10:00"]
    assert moves(found) == {"2026-02-11 10:00": "2026-02-11 10:30"}


def test_whole_day_instance_moved_over_the_dst_end() -> None:
    mapped, series = pick("node-ical/whole_day_moved_over_dst_change_berlin.ics")
    found = occurrences(mapped, series, D("2024-10-01"), D("2024-11-01"))
    assert sorted(o.start for o in live(found)) == ["2024-10-27", "2024-10-29", "2024-10-30"]
    assert moves(found) == {"2024-10-28": "2024-10-30"}


def test_windows_zones_with_an_unparsable_event_skipped() -> None:
    mapped, series = pick("node-ical/ms_timezones.ics", uid="040000008200E00074C5B7101A82E00800000000C8CF296B9654D6")
    assert [s.reason[:19] for s in mapped.skipped] == ["DTSTART unreadable:"]
    assert series.time_zone == "America/Los_Angeles"
    found = occurrences(mapped, series, D("2020-06-01"), D("2021-03-15"))
    assert len(live(found)) == 135 and (found[0].slot, found[-1].slot) == ("2020-07-07 12:00", "2021-03-09 12:00")
    assert [o.slot[:10] for o in found if o.state == "cancelled"] == [
        "2020-07-21", "2020-07-23", "2020-07-28", "2020-08-13", "2020-08-25", "2020-09-03"
    ]  # fmt: skip


def test_owa_display_name_tzids_without_uids_or_vtimezones() -> None:
    """RFC 5545 (and the rules' documented decision: DTSTART is always a slot) counts Mon 11-02
    before the TH,FR pattern: 87 slots, 11-02 and 43 Thursdays and 43 Fridays until 08-27.
    INDEX.md's "Outlook would probably start on 11-05" is unverified; recurring-ical-events' 88 comes
    from merging the UID-less single "TEST 3" at the same time into the series."""
    mapped, series = pick("node-ical/Office-2012-owa.ics")
    assert series.time_zone == "America/New_York" and series.event_id.startswith("nouid-")
    found = occurrences(mapped, series, D("2020-10-25"), D("2021-09-01"))
    assert len(found) == 87 and found[0].slot == "2020-11-02 13:30" and found[-1].slot == "2021-08-27 13:30"
    assert {D(o.slot[:10]).isoweekday() for o in found[1:]} == {4, 5} and {o.minutes for o in found} == {90}
    singles = sorted((e.summary, e.time_zone, str(e.start)) for e in mapped.events if e.kind is EventKind.SINGLE)
    assert singles == [
        ("TEST", "America/New_York", "2020-10-28 17:30:00+00:00"),
        ("TEST 3", "America/New_York", "2020-11-02 18:30:00+00:00"),
        ("TEST Syd", "Australia/Sydney", "2020-10-28 02:30:00+00:00"),
    ]
    assert len({e.event_id for e in mapped.events}) == 4


def test_office_365_custom_timezone_and_exdates() -> None:
    relative = "allenporter-ical/office_356_custom_timezone.ics"
    mapped, series = pick(relative, summary="Wstępna akceptacja")
    found = occurrences(mapped, series, D("2024-04-25"), D("2026-05-10"))
    assert len(live(found)) == 50 and (found[0].slot, found[-1].slot) == ("2024-05-21 15:00", "2026-05-05 15:00")
    assert by_state(found, "cancelled") == ["2024-12-31 15:00", "2025-02-25 15:00"]
    mapped, ended = pick(relative, summary="Zajęty")
    assert [o.slot for o in occurrences(mapped, ended, D("2024-04-25"), D("2026-05-10"))] == ["2024-05-02 11:00"]


def test_new_zealand_southern_hemisphere_dst() -> None:
    mapped, series = pick("allenporter-ical/office_360_nz_tz.ics")
    assert series.time_zone == "Pacific/Auckland"
    found = occurrences(mapped, series, D("2025-09-30"), D("2026-06-05"))
    assert len(found) == 51 and found[0].slot == "2025-12-08 15:00" and found[-1].slot == "2026-06-01 15:00"
    from zoneinfo import ZoneInfo

    def offset(slot: str) -> float:
        from datetime import datetime

        moment = datetime.strptime(slot, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo("Pacific/Auckland"))
        return moment.utcoffset().total_seconds() / 3600  # type: ignore[union-attr]

    assert {offset(o.slot) for o in found if o.slot < "2026-04-05"} == {13}
    assert {offset(o.slot) for o in found if o.slot > "2026-04-05"} == {12}


def test_override_with_same_time_and_new_title_is_not_a_move() -> None:
    mapped, series = pick("allenporter-ical/recurring_with_single_change.ics")
    found = occurrences(mapped, series, D("2026-01-30"), D("2026-02-05"))
    assert [(o.slot, o.state) for o in found] == [
        ("2026-02-01 10:00", "unchanged"), ("2026-02-02 10:00", "edited"), ("2026-02-03 10:00", "unchanged")
    ]  # fmt: skip


def test_exchange_2007_single_instance_update_without_its_master() -> None:
    """A one-instance REQUEST: the master is not in the message, so the instance is a meeting of its
    own (SINGLE), at its new time 15:00-15:30 +02:00; its id keeps the slot it came from (17:00)."""
    (instance,) = load("emacs/import-bug-11473.ics").events
    assert instance.kind is EventKind.SINGLE and instance.time_zone == "Europe/Berlin"
    assert instance.start is not None and instance.end is not None
    assert (instance.start.isoformat(), instance.end.isoformat()) == (
        "2012-05-15T13:00:00+00:00",
        "2012-05-15T13:30:00+00:00",
    )
    assert instance.event_id.endswith("#20120515T150000Z")  # RECURRENCE-ID 17:00 +02:00
    assert instance.organizer == "a.luser@foo.com"


def test_outlook_2003_display_name_zone_standup() -> None:
    mapped, standup = pick("ical4j/Standup.ics")
    assert standup.time_zone in ("Australia/Sydney", "Australia/Melbourne", "Australia/Canberra")
    found = occurrences(mapped, standup, D("2009-03-09"), D("2009-04-15"))
    assert len(found) == 26 and found[0].slot == "2009-03-10 09:30"
    utc = _utc_hours(standup, found)
    assert utc["2009-04-03"] == "22:30" and utc["2009-04-06"] == "23:30"  # DST ends 04-05


def _utc_hours(master: CalendarEvent, found: list[Occ]) -> dict[str, str]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(master.time_zone or "UTC")
    result = {}
    for o in found:
        local = datetime.strptime(o.slot, "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        result[o.slot[:10]] = local.astimezone(ZoneInfo("UTC")).strftime("%H:%M")
    return result


def test_redacted_exchange_request_read_in_its_only_time_zone() -> None:
    """DTSTART is floating (the redactor removed its TZID); the file's only VTIMEZONE is W. Europe,
    so floating times are read there, which gives INDEX.md's 09-23 and 10-07 (read as UTC, 10-07
    10:00 would fall after UNTIL 08:00Z). The trailing stub without DTSTART is skipped, named."""
    mapped, meeting = pick("ics-parser/issue-343.ics")
    assert [(s.event_id, s.reason) for s in mapped.skipped] == [("UniqueIDValueHere", "no DTSTART")]
    found = occurrences(mapped, meeting, D("2024-09-20"), D("2024-10-15"))
    assert [o.slot for o in found] == ["2024-09-23 10:00", "2024-10-07 10:00"] and {o.minutes for o in found} == {30}
    assert meeting.organizer == "organizer@example.com" and meeting.organizer != OWNER
