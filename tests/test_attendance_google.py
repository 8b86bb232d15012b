"""Reading who joined a Google Meet call, through the real googleapiclient against the emulator.

The emulator's Meet endpoints follow the Meet REST API v2 documentation (conference records filtered
by meeting code and start time, participants as `users/{id}`, their sessions, page tokens, 403
`PERMISSION_DENIED`); the reader maps the two people to those ids with the Admin SDK.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google_fixtures import ALICE, BOB, CAROL

from emulators.google import GoogleCalendarEmulator
from providers.base import AttendanceDenied
from providers.google import service_account_info_credentials
from providers.google_mapping import map_event
from providers.google_meet import SCOPES, MeetAttendanceReader
from providers.retry import RetryPolicy
from sync.config import parse_settings
from sync.runtime import attendance_readers

CODE = "abc-mnop-xyz"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)


def t(minutes: int) -> datetime:
    return START + timedelta(minutes=minutes)


@pytest.fixture
def google() -> Iterator[GoogleCalendarEmulator]:
    with GoogleCalendarEmulator(clock=lambda: START + timedelta(days=1)) as emulator:
        for person, name in ((ALICE, "Alice Archer"), (BOB, "Bob Baker"), (CAROL, "Carol Cole")):
            emulator.directory.add_user(person, name)
        yield emulator


def reader(google: GoogleCalendarEmulator, scopes: tuple[str, ...] = SCOPES) -> MeetAttendanceReader:
    return MeetAttendanceReader(
        credentials_for=service_account_info_credentials(google.service_account_info(), scopes),
        api_endpoint=google.base_url + "/",
        retry=RetryPolicy(attempts=1),
        sleeper=lambda _s: None,
        rng=random.Random(1),
    )


def test_an_event_with_a_meet_conference_names_its_meeting_code() -> None:
    item = {
        "id": "e1",
        "start": {"dateTime": "2026-11-30T10:00:00+01:00"},
        "end": {"dateTime": "2026-11-30T10:30:00+01:00"},
        "hangoutLink": f"https://meet.google.com/{CODE}",
        "conferenceData": {
            "conferenceId": CODE,
            "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            "entryPoints": [{"entryPointType": "video", "uri": f"https://meet.google.com/{CODE}"}],
        },
    }
    assert map_event(item, ALICE, "Europe/Berlin").event.conference == f"meet:{CODE}"  # type: ignore[union-attr]
    zoom = {**item, "hangoutLink": None, "conferenceData": {"conferenceSolution": {"key": {"type": "addOn"}}}}
    assert map_event(zoom, ALICE, "Europe/Berlin").event.conference is None  # type: ignore[union-attr]


def test_both_joined_gives_each_person_s_sessions_and_nobody_else_s(google: GoogleCalendarEmulator) -> None:
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(28))], BOB: [(t(1), t(30))], CAROL: [(t(2), t(5))]})
    joined = reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END)
    assert joined == {ALICE: [(t(0), t(28))], BOB: [(t(1), t(30))]}


def test_a_report_who_never_joined_is_absent(google: GoogleCalendarEmulator) -> None:
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(15))]})
    assert reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END) == {ALICE: [(t(0), t(15))]}


def test_no_call_in_that_meeting_around_the_slot_means_nobody_joined(google: GoogleCalendarEmulator) -> None:
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(-7 * 24 * 60), t(-7 * 24 * 60 + 30))]})  # last week's
    google.meet.add_conference("zzz-zzzz-zzz", ALICE, {ALICE: [(t(0), t(30))], BOB: [(t(0), t(30))]})
    assert reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END) == {}


def test_two_devices_are_two_sessions_of_one_participant(google: GoogleCalendarEmulator) -> None:
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(30))], BOB: [(t(2), t(30)), (t(5), t(29))]})
    joined = reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END)
    assert joined[BOB] == [(t(2), t(30)), (t(5), t(29))]


def test_pages_of_records_participants_and_sessions_are_all_read(google: GoogleCalendarEmulator) -> None:
    google.meet.page_size = 1
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(10))], CAROL: [(t(0), t(1))], BOB: [(t(0), t(4))]})
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(12), t(20)), (t(21), t(30))], BOB: [(t(12), t(30))]})
    joined = reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END)
    assert sorted(joined[ALICE]) == [(t(0), t(10)), (t(12), t(20)), (t(21), t(30))]
    assert sorted(joined[BOB]) == [(t(0), t(4)), (t(12), t(30))]


def test_the_report_s_view_is_used_when_the_manager_sees_no_record(google: GoogleCalendarEmulator) -> None:
    """Meet lists only calls the acting user owns or joined: a call Bob owns that Alice never joined."""
    google.meet.add_conference(CODE, BOB, {BOB: [(t(0), t(30))]})
    assert reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END) == {BOB: [(t(0), t(30))]}


def test_without_the_meet_scope_the_reader_is_denied(google: GoogleCalendarEmulator) -> None:
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(15))]})
    denied = reader(google, ("https://www.googleapis.com/auth/calendar.events",))
    with pytest.raises(AttendanceDenied, match="Request had insufficient authentication scopes"):
        denied.read(f"meet:{CODE}", (ALICE, BOB), START, END)


def test_delegation_without_the_meet_scope_is_refused_at_the_token_and_read_as_denied(
    google: GoogleCalendarEmulator,
) -> None:
    """In the Admin console the service account was granted calendar.events only: Google's token endpoint
    answers `unauthorized_client` for a token that asks for more."""
    google.tokens.delegated_scopes = frozenset({"https://www.googleapis.com/auth/calendar.events"})
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(15))]})
    with pytest.raises(AttendanceDenied, match="unauthorized_client"):
        reader(google).read(f"meet:{CODE}", (ALICE, BOB), START, END)


def test_the_daemon_builds_a_meet_reader_only_with_attendance_prefer(
    google: GoogleCalendarEmulator, tmp_path: Path
) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(google.service_account_info()), encoding="utf-8")
    base = {"google": {"service_account_file": str(key), "calendars": [ALICE], "meet_endpoint": google.base_url + "/"}}
    assert attendance_readers(parse_settings(base)) == []
    (meet,) = attendance_readers(parse_settings({**base, "rules": {"attendance": "prefer"}}))
    assert isinstance(meet, MeetAttendanceReader) and meet.api_endpoint == google.base_url + "/"
    google.meet.add_conference(CODE, ALICE, {ALICE: [(t(0), t(15))], BOB: [(t(0), t(15))]})
    assert meet.read(f"meet:{CODE}", (ALICE, BOB), START, END) == {ALICE: [(t(0), t(15))], BOB: [(t(0), t(15))]}
