"""The iCalendar mapping: zones from every kind of TZID, people, skipped events, and the calendars
that ship inside the recurring-ical-events and icalendar packages (always installed, so these run
everywhere, corpus or not)."""

from __future__ import annotations

import importlib.resources
from datetime import UTC, datetime
from pathlib import Path

import pytest

from providers.ics_mapping import MalformedCalendar, parse_calendar
from providers.ics_zones import ZoneResolver
from rules.model import EventKind, EventStatus, EventType, Response
from rules.recurrence import expand


def ics(*events: str, head: str = "") -> bytes:
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *head.splitlines(), *events])
    return (body + "\r\nEND:VCALENDAR\r\n").encode()


def vevent(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", "DTSTAMP:20250101T000000Z", *lines, "END:VEVENT"])


def mapped(data: bytes, default_zone: str | None = None):  # type: ignore[no-untyped-def]
    return parse_calendar(data, provider="ics", owner="Maria@Acme.test", default_zone=default_zone)


@pytest.mark.parametrize(
    ("tzid", "zone"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("/freeassociation.sourceforge.net/Tzfile/Europe/Berlin", "Europe/Berlin"),
        ("/mozilla.org/20070129_1/America/New_York", "America/New_York"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("GMT Standard Time", "Europe/London"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
        ('"(GMT+10:00) Canberra, Melbourne, Sydney"', "Australia/Sydney"),
        ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
        ("(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", "Asia/Kolkata"),
        ("(UTC+03:00) Nowhere Special", "Etc/GMT-3"),
        ("Not A Zone", None),
    ],
)
def test_tzids_of_every_kind_resolve_to_iana(tzid: str, zone: str | None) -> None:
    assert ZoneResolver({}).resolve(tzid) == zone


CUSTOM = """BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE"""


def test_a_custom_vtimezone_becomes_the_zone_that_behaves_like_it() -> None:
    result = mapped(
        ics(vevent("UID:c", "DTSTART;TZID=Customized Time Zone:20250324T100000", "DURATION:PT30M"), head=CUSTOM)
    )
    (event,) = result.events
    assert event.time_zone == "Europe/Berlin" and result.time_zone == "Europe/Berlin"  # its only VTIMEZONE
    assert event.start == datetime(2025, 3, 24, 9, tzinfo=UTC) and event.end == datetime(2025, 3, 24, 9, 30, tzinfo=UTC)


def test_floating_times_use_x_wr_timezone_else_the_configured_zone() -> None:
    event = vevent("UID:f", "DTSTART:20250106T100000", "DTEND:20250106T103000", "RRULE:FREQ=WEEKLY;COUNT=2")
    (with_header,) = mapped(ics(event, head="X-WR-TIMEZONE:America/New_York")).events
    assert with_header.time_zone == "America/New_York" and with_header.start == datetime(2025, 1, 6, 15, tzinfo=UTC)
    (configured,) = mapped(ics(event), default_zone="Asia/Kolkata").events
    assert configured.time_zone == "Asia/Kolkata" and configured.start == datetime(2025, 1, 6, 4, 30, tzinfo=UTC)
    (bare,) = mapped(ics(event)).events
    assert bare.time_zone == "UTC"


def test_a_utc_series_in_a_calendar_with_x_wr_timezone_expands_in_that_zone() -> None:
    """Google's convention (the x-wr-timezone package's too): UTC times mean the calendar's zone."""
    event = vevent("UID:u", "DTSTART:20250324T090000Z", "DURATION:PT30M", "RRULE:FREQ=WEEKLY;COUNT=2")
    (master,) = mapped(ics(event, head="X-WR-TIMEZONE:Europe/Berlin")).events
    slots = expand(master, datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)).slots
    assert [s.hour for s in slots] == [9, 8]  # 10:00 local before and after the change on 03-30


def test_recurrence_values_are_rendered_in_forms_the_rules_expand() -> None:
    event = vevent(
        "UID:r",
        "DTSTART;TZID=Europe/Berlin:20250106T100000",
        "DTEND;TZID=Europe/Berlin:20250106T103000",
        "RRULE:FREQ=WEEKLY;UNTIL=20250203T090000Z",
        "EXDATE;TZID=W. Europe Standard Time:20250113T100000",
        "EXDATE;VALUE=DATE:20250120",
        "EXDATE;TZID=Europe/Berlin:20250127T000000",  # Exchange's local midnight: that day's slot
        "RDATE;TZID=Europe/Berlin:20250108T140000",
    )
    (master,) = mapped(ics(event)).events
    assert master.recurrence == (
        "RRULE:FREQ=WEEKLY;UNTIL=20250203T090000Z",
        "RDATE:20250108T130000Z",
        "EXDATE:20250113T090000Z",
        "EXDATE;VALUE=DATE:20250120",
        "EXDATE:20250127T090000Z",
    )
    expansion = expand(master, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC))
    assert [s.strftime("%m-%d %H:%M") for s in expansion.slots] == [
        "01-06 09:00", "01-08 13:00", "01-13 09:00", "01-20 09:00", "01-27 09:00", "02-03 09:00"
    ]  # fmt: skip
    assert sorted(s.strftime("%m-%d") for s in expansion.excluded) == ["01-13", "01-20", "01-27"]


def test_an_icloud_invitation_names_people_by_their_email_parameter_and_each_person_once() -> None:
    """iCloud writes an opaque `…@imip.me.com` CAL-ADDRESS with the real address in EMAIL (RFC 7986), and lists
    the organizer again as an attendee: still two people, so the 1:1 is found."""
    event = vevent(
        "UID:icloud-1",
        "DTSTART:20250106T100000Z",
        "DTEND:20250106T103000Z",
        "SUMMARY:1:1 Maria / Bob",
        "ORGANIZER;CN=Maria;EMAIL=maria@acme.test:mailto:2_GQ3TMOJUGY3DCMZRGU3DKMJ3@imip.me.com",
        "ATTENDEE;CN=Maria;PARTSTAT=ACCEPTED;EMAIL=maria@acme.test:mailto:2_GQ3TMOJUGY3DCMZRGU3DKMJ3@imip.me.com",
        "ATTENDEE;CN=Maria;PARTSTAT=NEEDS-ACTION:mailto:maria@acme.test",
        "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@acme.test",
    )
    (single,) = mapped(ics(event)).events
    assert single.organizer == "maria@acme.test"
    assert {a.email: (a.response, a.is_organizer) for a in single.attendees} == {
        "maria@acme.test": (Response.ACCEPTED, True),
        "bob@acme.test": (Response.ACCEPTED, False),
    }


def test_people_statuses_and_types() -> None:
    event = vevent(
        "UID:p",
        "DTSTART:20250106T100000Z",
        "DTEND:20250106T103000Z",
        "STATUS:TENTATIVE",
        "ORGANIZER;CN=Maria:MAILTO:Maria@Acme.test",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:maria@acme.test",
        "ATTENDEE;PARTSTAT=DECLINED;CN=Bob:mailto:BOB@acme.test",
        "ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:room-1@acme.test",
        "ATTENDEE;EMAIL=carol@acme.test:urn:uuid:1234",
        "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
    )
    (single,) = mapped(ics(event)).events
    assert single.kind is EventKind.SINGLE and single.status is EventStatus.TENTATIVE
    assert single.organizer == "maria@acme.test" and single.calendar == "maria@acme.test"
    people = {a.email: (a.response, a.is_resource, a.is_organizer) for a in single.attendees}
    assert people == {
        "maria@acme.test": (Response.ACCEPTED, False, True),
        "bob@acme.test": (Response.DECLINED, False, False),
        "room-1@acme.test": (Response.ACCEPTED, True, False),
        "carol@acme.test": (Response.NEEDS_ACTION, False, False),
    }
    assert single.event_type is EventType.OUT_OF_OFFICE


def test_a_feed_without_people_makes_its_owner_the_organizer() -> None:
    (event,) = mapped(ics(vevent("UID:n", "DTSTART:20250106T100000Z", "SUMMARY:Maria / Bob 1:1"))).events
    assert event.organizer == "maria@acme.test" and event.attendees == ()


def test_sequence_settles_duplicates_and_overrides_get_stable_ids() -> None:
    master = vevent("UID:s", "SEQUENCE:1", "DTSTART:20250106T100000Z", "DURATION:PT30M", "RRULE:FREQ=DAILY;COUNT=3")
    older = vevent("UID:s", "SEQUENCE:0", "DTSTART:20250106T110000Z", "DURATION:PT30M", "RRULE:FREQ=DAILY;COUNT=3")
    moved = vevent("UID:s", "RECURRENCE-ID:20250107T100000Z", "DTSTART:20250107T150000Z", "DURATION:PT45M")
    gone = vevent("UID:s", "RECURRENCE-ID:20250108T100000Z", "DTSTART:20250108T100000Z", "STATUS:CANCELLED")
    events = {e.event_id: e for e in mapped(ics(moved, master, older, gone)).events}
    assert set(events) == {"s", "s#20250107T100000Z", "s#20250108T100000Z"}
    assert events["s"].start == datetime(2025, 1, 6, 10, tzinfo=UTC)
    exception = events["s#20250107T100000Z"]
    assert exception.kind is EventKind.EXCEPTION and exception.series_id == "s"
    assert exception.original_start == datetime(2025, 1, 7, 10, tzinfo=UTC)
    assert (exception.start, exception.end) == (
        datetime(2025, 1, 7, 15, tzinfo=UTC),
        datetime(2025, 1, 7, 15, 45, tzinfo=UTC),
    )
    cancelled = events["s#20250108T100000Z"]
    assert cancelled.status is EventStatus.CANCELLED and cancelled.end == datetime(2025, 1, 8, 10, 30, tzinfo=UTC)


def test_an_unreadable_event_is_skipped_by_name_and_the_rest_is_kept() -> None:
    good = vevent("UID:good", "DTSTART:20250106T100000Z")
    bad = vevent("UID:bad", "DTSTART;TZID=Mars/Olympus:20250106T100000")
    broken = vevent("UID:rule", "DTSTART:20250106T100000Z", "RRULE:FREQ=SOMETIMES")
    result = mapped(ics(good, bad, broken))
    assert [e.event_id for e in result.events] == ["good"]
    assert {s.event_id: s.reason for s in result.skipped} == {
        "bad": "unknown time zone 'Mars/Olympus'",
        "rule": "RRULE unreadable: 'FREQ=SOMETIMES'",
    }


def test_something_that_is_not_icalendar_is_refused_whole() -> None:
    with pytest.raises(MalformedCalendar):
        mapped(b"<html><body>Please sign in</body></html>")


def _package_calendars() -> list[Path]:
    roots = [Path(str(importlib.resources.files("recurring_ical_events"))) / "test" / "calendars"]
    icalendar_tests = Path(str(importlib.resources.files("icalendar"))) / "tests"
    roots += [icalendar_tests / name for name in ("calendars", "events", "timezones")]
    return sorted(path for root in roots for path in root.glob("*.ics"))


def test_every_calendar_shipped_in_the_packages_maps_or_is_refused_with_a_reason() -> None:
    """~250 real and hostile files: none may crash the mapping; unreadable events are named."""
    files = _package_calendars()
    assert len(files) > 200
    refused = []
    for path in files:
        try:
            result = mapped(path.read_bytes())
        except MalformedCalendar:
            refused.append(path.name)
            continue
        assert all(s.event_id and s.reason for s in result.skipped), path.name
    assert len(refused) < 10, refused  # fuzzed and deliberately broken files only


def test_googles_only_modifications_calendar_links_every_override_to_its_series() -> None:
    """recurring-ical-events issue 173: 186 RECURRENCE-IDs and 66 EXDATEs from Google."""
    path = Path(str(importlib.resources.files("recurring_ical_events"))) / "test" / "calendars"
    result = mapped((path / "issue_173_only_modifications_error.ics").read_bytes())
    masters = {e.event_id: e for e in result.events if e.kind is EventKind.MASTER}
    exceptions = [e for e in result.events if e.kind is EventKind.EXCEPTION]
    assert (
        result.skipped == ()
        and len(exceptions) + sum(1 for e in result.events if "#" in e.event_id and e.kind is EventKind.SINGLE) == 186
    )
    low, high = datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
    slots = {key: set(expand(m, low, high).slots) for key, m in masters.items()}
    for exception in exceptions:
        assert exception.series_id is not None and exception.original_start in slots[exception.series_id], (
            exception.event_id
        )
    exdates = sum(1 for m in masters.values() for line in m.recurrence if line.startswith("EXDATE"))
    excluded = sum(len(expand(m, low, high).excluded) for m in masters.values())
    assert exdates >= 66 and excluded == exdates  # every EXDATE is one of its series' slots


FIXED = """BEGIN:VTIMEZONE
TZID:Custom Offset
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0537
TZOFFSETTO:+0537
TZNAME:Custom
END:STANDARD
END:VTIMEZONE"""


def test_a_custom_fixed_offset_zone_no_iana_zone_has_is_read_with_its_own_offset() -> None:
    """A tool's own VTIMEZONE at +05:37: no IANA zone matches, so its times are read with that offset (they used
    to be dropped as "unknown time zone"); a 02:00 Monday 1:1 stays on Mondays though it is Sunday in UTC."""
    morning = vevent(
        "UID:morning",
        "DTSTART;TZID=Custom Offset:20250106T100000",
        "DTEND;TZID=Custom Offset:20250106T103000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        "EXDATE;TZID=Custom Offset:20250113T100000",
    )
    night = vevent(
        "UID:night",
        "DTSTART;TZID=Custom Offset:20250106T020000",
        "DTEND;TZID=Custom Offset:20250106T023000",
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2",
    )
    once = vevent("UID:once", "DTSTART;TZID=Custom Offset:20250107T093700", "DURATION:PT30M")
    result = mapped(ics(morning, night, once, head=FIXED))
    assert result.skipped == ()
    events = {e.event_id: e for e in result.events}
    assert events["once"].start == datetime(2025, 1, 7, 4, 0, tzinfo=UTC)
    low, high = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    morning_slots = expand(events["morning"], low, high)
    assert [s.strftime("%a %d %H:%M") for s in morning_slots.slots] == ["Mon 06 04:23", "Mon 13 04:23", "Mon 20 04:23"]
    assert [s.strftime("%d %H:%M") for s in morning_slots.excluded] == ["13 04:23"]
    night_slots = expand(events["night"], low, high).slots
    assert [s.strftime("%a %d %H:%M") for s in night_slots] == ["Sun 05 20:23", "Sun 12 20:23"]  # Monday there
