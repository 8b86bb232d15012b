"""Held from evidence, end to end through the Google emulator: calendar sync → Meet attendance → rules → email.

Alice's weekly 1:1 with Bob carries a Google Meet link. With `rules.attendance: prefer`, the cycle
reads who joined each past call once it settled, and a call Bob never joined becomes a
`held-without-both` warning, emailed to Alice like a cancellation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google_fixtures import ALICE, BOB, make_provider, when

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from providers.google import service_account_info_credentials
from providers.google_meet import SCOPES, MeetAttendanceReader
from providers.retry import RetryPolicy
from sync.actions.digest import compose
from sync.actions.findings import finding_as_dict, finding_rows
from sync.agenda import auth
from sync.agenda.page import build_page
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import AgendaPairRow, AttendanceRow
from sync.views.report import build_report, local_day
from sync.web import agenda_deps, create_app

CODE = "abc-mnop-xyz"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# The last Monday 09:00 UTC at least two days ago: the slot whose call is read.
SLOT = NOW - timedelta(days=NOW.weekday() + (7 if NOW.weekday() < 2 else 0)) + timedelta(hours=9 - NOW.hour)
FIRST = SLOT - timedelta(weeks=3)
ADMIN = "it@example.com"


class World:
    def __init__(self, emulator: GoogleCalendarEmulator, sink: MailSink, runtime: Runtime, now: list[datetime]) -> None:
        self.emulator, self.sink, self.runtime, self.now = emulator, sink, runtime, now

    def cycle(self, advance: timedelta = timedelta(minutes=5)) -> CycleReport:
        self.now[0] += advance
        return run_cycle(self.runtime)

    def open(self, rule: str) -> list[dict[str, Any]]:
        with self.runtime.db.session() as session:
            rows = [finding_as_dict(r) for r in finding_rows(session)]
        return [f for f in rows if f["rule"] == rule and f["status"] == "open"]

    def stored(self) -> list[AttendanceRow]:
        with self.runtime.db.session() as session:
            rows = list(session.query(AttendanceRow).order_by(AttendanceRow.start))
            session.expunge_all()
            return rows

    def mails(self, to: str) -> list[Any]:
        return [m for m in self.sink.messages if m["To"] == to]


def make_world(emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str, scopes: tuple[str, ...]) -> World:
    settings = parse_settings(
        {
            "database_url": database_url,
            "poll_interval_seconds": 300,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@example.com"},
            "notify": {"admin_email": ADMIN},
            "directory": {"pairs": [{"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=1)).date()}]},
            "agenda": {"nudges": False},
            "rules": {"attendance": "prefer"},
        }
    )
    now = [NOW]
    provider, _ = make_provider(emulator, (ALICE,))
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    runtime.attendance = [
        MeetAttendanceReader(
            credentials_for=service_account_info_credentials(emulator.service_account_info(), scopes),
            api_endpoint=emulator.base_url + "/",
            retry=RetryPolicy(attempts=1),
            sleeper=lambda _s: None,
        )
    ]
    return World(emulator, sink, runtime, now)


def meet_weekly(emulator: GoogleCalendarEmulator) -> None:
    emulator.directory.add_user(ALICE, "Alice Archer")
    emulator.directory.add_user(BOB, "Bob Baker")
    emulator.insert_event(
        ALICE,
        {
            "summary": "1:1 Alice / Bob",
            "start": when(FIRST, "UTC"),
            "end": when(FIRST + timedelta(minutes=30), "UTC"),
            "recurrence": ["RRULE:FREQ=WEEKLY"],
            "attendees": [
                {"email": ALICE, "organizer": True, "responseStatus": "accepted"},
                {"email": BOB, "responseStatus": "accepted"},
            ],
            "hangoutLink": f"https://meet.google.com/{CODE}",
            "conferenceData": {
                "conferenceId": CODE,
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                "entryPoints": [{"entryPointType": "video", "uri": f"https://meet.google.com/{CODE}"}],
            },
        },
        event_id="meetweekly01",
    )


def at(slot: datetime, minutes: int) -> datetime:
    return slot + timedelta(minutes=minutes)


def both_joined_every_week_but(emulator: GoogleCalendarEmulator, missed: datetime) -> None:
    slot = FIRST
    while slot <= SLOT:
        sessions = {ALICE: [(at(slot, 0), at(slot, 15))]}
        if slot != missed:
            sessions[BOB] = [(at(slot, 1), at(slot, 29))]
            sessions[ALICE] = [(at(slot, 0), at(slot, 29))]
        emulator.meet.add_conference(CODE, ALICE, sessions)
        slot += timedelta(weeks=1)


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> World:
    meet_weekly(google_emulator)
    return make_world(google_emulator, sink, database_url, SCOPES)


def test_a_call_bob_never_joined_is_a_no_show_emailed_to_alice_with_the_join_times(world: World) -> None:
    both_joined_every_week_but(world.emulator, missed=SLOT)
    world.now[0] = SLOT + timedelta(minutes=45)  # the call ended 15 minutes ago: not settled yet
    world.cycle(timedelta(0))
    assert all(row.start != SLOT for row in world.stored())
    report = world.cycle(timedelta(minutes=30))  # settled, and a cycle that judges every pair: read once
    assert report.attendance.read >= 1
    (row,) = [r for r in world.stored() if r.start == SLOT]
    assert row.source == "google-meet" and row.report_intervals == [] and len(row.manager_intervals) == 1
    world.cycle()  # judged on the stored evidence
    (finding,) = world.open("held-without-both")
    assert finding["occurrence"] == SLOT.isoformat().replace("+00:00", "Z")
    assert f"{BOB} did not join" in finding["message"]
    berlin = ZoneInfo("Europe/Berlin")  # Alice's zone
    joined, left = (at(SLOT, m).astimezone(berlin).strftime("%H:%M") for m in (0, 15))
    assert f"you joined at {joined} and left at {left}; {BOB} never joined" in finding["explanation"]
    assert world.mails(ALICE) == []  # the grace of a cancellation: 24 h from the slot's start
    world.cycle(timedelta(hours=24))
    (mail,) = world.mails(ALICE)
    body = mail.get_body(("plain",)).get_content()
    assert "Bob" in mail["Subject"] and "did not join" in body
    reads = world.emulator.meet.requests
    world.cycle()
    assert world.emulator.meet.requests == reads  # read once, never again
    assert len(world.mails(ALICE)) == 1
    # The 1:1 page and the digest say it in words.
    settings, now = world.runtime.settings, world.now[0]
    with world.runtime.db.session() as session:
        rows, histories = build_report(session, settings, now, weeks=4)
    page = build_page(ALICE, BOB, histories[0], [], now, is_new=False)
    assert page.notes_target.start == SLOT and page.notes_target.attendance == "no-show: Bob did not join"
    assert page.past[0].attendance == ""  # the week before: older than the 7 days read back, the calendar decided
    digest = compose(
        ALICE, rows, histories, {}, now=now, time_zone="UTC", week="2026-W01", settings=settings, sender_domain="x.test"
    )
    assert f"Last call: {local_day(SLOT, 'UTC')}: no-show: Bob did not join" in digest.text
    assert "Last call:" in digest.html
    # ... and what Bob sees when he opens the page in a browser.
    deps = agenda_deps(world.runtime)
    deps.deliver = None
    browser = create_app(deps).test_client()
    with world.runtime.db.session() as session:
        browser.set_cookie(auth.SESSION_COOKIE, auth.open_session(session, BOB, now, 30))
        page_id = session.query(AgendaPairRow).filter_by(manager=ALICE, report=BOB).one().page_id
    html = browser.get(f"/a/{page_id}").get_data(as_text=True)
    assert '<small class="attendance">no-show: Bob did not join</small>' in html


def test_calls_both_joined_are_held_and_raise_nothing(world: World) -> None:
    both_joined_every_week_but(world.emulator, missed=FIRST - timedelta(weeks=1))
    world.now[0] = SLOT + timedelta(hours=2)
    world.cycle(timedelta(0))
    world.cycle()
    assert {r.start for r in world.stored()} >= {SLOT}
    assert world.open("held-without-both") == []
    with world.runtime.db.session() as session:
        _, histories = build_report(session, world.runtime.settings, world.now[0], weeks=4)
    page = build_page(ALICE, BOB, histories[0], [], world.now[0], is_new=False)
    assert page.notes_target.attendance == "held (both joined, 28 min)"


def test_without_the_meet_scope_the_calendar_decides_and_the_admin_is_told_once(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    meet_weekly(google_emulator)
    world = make_world(google_emulator, sink, database_url, ("https://www.googleapis.com/auth/calendar.events",))
    both_joined_every_week_but(world.emulator, missed=SLOT)
    world.now[0] = SLOT + timedelta(hours=2)
    report = world.cycle(timedelta(0))
    assert "google-meet" in report.attendance.denied
    assert world.stored() == []
    world.cycle(timedelta(hours=1))
    assert world.open("held-without-both") == []
    (alert,) = world.mails(ADMIN)
    assert "Google Meet" in alert["Subject"]
    assert "meetings.space.readonly" in alert.get_body(("plain",)).get_content()
