"""Booking on Google, through the real googleapiclient against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google_fixtures import ALICE, BOB, CAROL, make_provider, weekly_one_on_one, when

from emulators.google import GoogleCalendarEmulator
from providers.base import AuthError
from providers.booking import NewMeeting, event_id_for
from providers.google import SCOPE_EVENTS, SCOPE_FREEBUSY, service_account_info_credentials
from providers.google_booking import GoogleBooker
from rules.slots import Interval

MONDAY = datetime(2025, 12, 8, tzinfo=UTC)


def _booker(emulator: GoogleCalendarEmulator, scopes: tuple[str, ...] = (SCOPE_EVENTS, SCOPE_FREEBUSY)) -> GoogleBooker:
    provider, _ = make_provider(
        emulator, (ALICE,), credentials_for=service_account_info_credentials(emulator.service_account_info(), scopes)
    )
    return GoogleBooker(provider)


def test_free_busy_shows_both_peoples_meetings_merged_and_skips_declined_and_free_ones(
    google_emulator: GoogleCalendarEmulator,
) -> None:
    weekly_one_on_one(google_emulator, MONDAY.replace(hour=9))  # 10:00 Berlin, every Monday
    busy = {"start": when(MONDAY.replace(hour=13)), "end": when(MONDAY.replace(hour=14))}
    google_emulator.insert_event(BOB, {"summary": "Dentist", **busy})
    google_emulator.insert_event(
        BOB,
        {
            "summary": "Overlaps",
            "start": when(MONDAY.replace(hour=13, minute=30)),
            "end": when(MONDAY.replace(hour=15)),
        },
    )
    google_emulator.insert_event(BOB, {"summary": "Free", "transparency": "transparent", **busy})
    window = Interval(MONDAY, MONDAY + timedelta(days=8))
    found = _booker(google_emulator).availability(ALICE, [ALICE, BOB, "nobody@example.com"], window)
    assert found[ALICE].busy == (
        Interval(MONDAY.replace(hour=9), MONDAY.replace(hour=9, minute=30)),
        Interval(MONDAY.replace(hour=9) + timedelta(days=7), MONDAY.replace(hour=9, minute=30) + timedelta(days=7)),
    )
    assert Interval(MONDAY.replace(hour=13), MONDAY.replace(hour=15)) in found[BOB].busy
    assert found["nobody@example.com"].error == "notFound"


def test_free_busy_needs_a_free_busy_scope(google_emulator: GoogleCalendarEmulator) -> None:
    with pytest.raises(AuthError, match="insufficient"):
        _booker(google_emulator, (SCOPE_EVENTS,)).availability(ALICE, [BOB], Interval(MONDAY, MONDAY + timedelta(1)))


def test_many_people_are_asked_fifty_calendars_at_a_time(google_emulator: GoogleCalendarEmulator) -> None:
    booker = _booker(google_emulator)
    before = booker.requests_made
    people = [f"p{n}@example.com" for n in range(120)]
    found = booker.availability(ALICE, people, Interval(MONDAY, MONDAY + timedelta(days=1)))
    assert len(found) == 120 and booker.requests_made - before == 3


def test_booking_invites_the_report_and_a_second_try_books_nothing_more(
    google_emulator: GoogleCalendarEmulator,
) -> None:
    booker = _booker(google_emulator)
    meeting = NewMeeting(
        ALICE,
        BOB,
        MONDAY.replace(hour=10),
        MONDAY.replace(hour=10, minute=30),
        "1:1 Alice / Bob",
        "Agenda: https://oneonone.example/a/x",
        "Europe/Berlin",
        "cancelled-without-reschedule|alice|bob|2025-12-01T09:00:00Z",
    )
    first = booker.create_meeting(meeting)
    again = booker.create_meeting(meeting)
    assert first.event_id == again.event_id == event_id_for(meeting.key)
    assert (first.already, again.already) == (False, True)
    events = [e for e in google_emulator.events(ALICE) if e.get("summary") == "1:1 Alice / Bob"]
    assert len(events) == 1
    assert [a["email"] for a in events[0]["attendees"]] == [BOB]
    assert ("insert", first.event_id, "all") in google_emulator.send_updates
    assert not [e for e in google_emulator.events(CAROL) if e.get("id") == first.event_id]


def _raw_freebusy(emulator: GoogleCalendarEmulator, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    """The wire, through the real client's HTTP (so the errors are as googleapiclient sees them)."""
    import json

    from googleapiclient.errors import HttpError

    booker = _booker(emulator)
    request = booker.provider._service(ALICE).freebusy().query(body=body)
    try:
        return 200, request.execute(http=booker.provider._http(ALICE), num_retries=0)
    except HttpError as exc:
        return exc.status_code, json.loads(exc.content)


def test_the_emulators_free_busy_refuses_what_google_refuses(google_emulator: GoogleCalendarEmulator) -> None:
    start, end = "2025-12-08T00:00:00Z", "2025-12-09T00:00:00Z"
    status, body = _raw_freebusy(
        google_emulator, {"timeMin": start, "timeMax": end, "items": [{"id": f"p{n}@example.com"} for n in range(51)]}
    )
    assert status == 400 and body["error"]["errors"][0]["reason"] == "tooManyCalendarsRequested"  # type: ignore[index]
    status, body = _raw_freebusy(google_emulator, {"timeMin": end, "timeMax": start, "items": [{"id": BOB}]})
    assert status == 400 and body["error"]["errors"][0]["reason"] == "timeRangeEmpty"  # type: ignore[index]
    status, body = _raw_freebusy(google_emulator, {"timeMin": start, "timeMax": end, "items": [{"id": BOB}]})
    assert status == 200 and body["kind"] == "calendar#freeBusy" and body["calendars"] == {BOB: {"busy": []}}
