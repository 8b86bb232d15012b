"""Held from evidence through Microsoft Graph: Teams attendance reports, read with msal + requests.

The emulator's online-meeting endpoints follow Graph v1.0's documentation (the meeting found by its
join URL, its attendance reports and records, `@odata.nextLink`, 403 `Forbidden`); the last tests run
whole cycles: a Teams 1:1 that Bob never joined is emailed to Alice as `held-without-both`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from outlook_fixtures import ALICE, BERLIN, BOB, CAROL, CLIENT_ID, DAYS, SECRET, make_client, make_provider, when

from emulators.graph import GraphEmulator
from emulators.graph_identity import DEFAULT_ROLES
from emulators.smtp import MailSink
from providers.base import AttendanceDenied
from providers.outlook_mapping import teams_conference
from providers.retry import RetryPolicy
from providers.teams_attendance import TeamsAttendanceReader
from sync.actions.findings import finding_as_dict, finding_rows
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import AttendanceRow

ROLES = (*DEFAULT_ROLES, "OnlineMeetings.Read.All", "OnlineMeetingArtifact.Read.All")
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SLOT = NOW - timedelta(days=NOW.weekday() + (7 if NOW.weekday() < 2 else 0)) + timedelta(hours=9 - NOW.hour)
FIRST = SLOT - timedelta(weeks=3)
ADMIN = "it@contoso.com"


def t(slot: datetime, minutes: int) -> datetime:
    return slot + timedelta(minutes=minutes)


def teams_weekly(emulator: GraphEmulator) -> str:
    """Alice's weekly Teams 1:1 with Bob; returns its join URL."""
    local = FIRST.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    event = emulator.create_event(
        ALICE,
        {
            "subject": "1:1 Alice / Bob",
            "start": when(FIRST),
            "end": when(FIRST + timedelta(minutes=30)),
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [DAYS[local.weekday()]]},
                "range": {"type": "noEnd", "startDate": local.date().isoformat(), "recurrenceTimeZone": BERLIN},
            },
            "attendees": [{"emailAddress": {"address": BOB}, "type": "required"}],
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
        },
    )
    return str(event["onlineMeeting"]["joinUrl"])


def reader(emulator: GraphEmulator) -> TeamsAttendanceReader:
    client, _ = make_client(emulator, retry=RetryPolicy(attempts=1))
    return TeamsAttendanceReader(client)


@pytest.fixture
def teams(graph_emulator: GraphEmulator) -> tuple[GraphEmulator, str]:
    graph_emulator.add_app(CLIENT_ID, SECRET, roles=ROLES)
    return graph_emulator, teams_weekly(graph_emulator)


def test_an_online_teams_event_names_its_join_url(teams: tuple[GraphEmulator, str]) -> None:
    _, url = teams
    assert url.startswith("https://teams.microsoft.com/l/meetup-join/")
    assert teams_conference({"isOnlineMeeting": True, "onlineMeeting": {"joinUrl": url}}) == f"teams:{url}"
    assert teams_conference({"isOnlineMeeting": False, "onlineMeeting": None}) is None
    assert teams_conference({"isOnlineMeeting": True, "onlineMeeting": {"joinUrl": "https://zoom.us/j/1"}}) is None


def test_the_report_of_the_slot_gives_the_two_people_s_intervals_only(teams: tuple[GraphEmulator, str]) -> None:
    emulator, url = teams
    emulator.attendance.add_report(url, ALICE, {ALICE: [(t(SLOT, 0), t(SLOT, 20))], CAROL: [(t(SLOT, 1), t(SLOT, 3))]})
    emulator.attendance.add_report(
        url, ALICE, {ALICE: [(t(FIRST, 0), t(FIRST, 30))], BOB: [(t(FIRST, 0), t(FIRST, 30))]}
    )
    joined = reader(emulator).read(f"teams:{url}", (ALICE, BOB), SLOT, t(SLOT, 30))
    assert joined == {ALICE: [(t(SLOT, 0), t(SLOT, 20))]}


def test_records_on_several_pages_and_two_devices_are_all_read(teams: tuple[GraphEmulator, str]) -> None:
    emulator, url = teams
    emulator.attendance.page_size = 1
    emulator.attendance.add_report(
        url,
        ALICE,
        {
            CAROL: [(t(SLOT, 0), t(SLOT, 2))],
            ALICE: [(t(SLOT, 0), t(SLOT, 30))],
            BOB: [(t(SLOT, 2), t(SLOT, 30)), (t(SLOT, 4), t(SLOT, 28))],
        },
    )
    joined = reader(emulator).read(f"teams:{url}", (ALICE, BOB), SLOT, t(SLOT, 30))
    assert joined == {ALICE: [(t(SLOT, 0), t(SLOT, 30))], BOB: [(t(SLOT, 2), t(SLOT, 30)), (t(SLOT, 4), t(SLOT, 28))]}


def test_no_report_for_the_slot_means_nobody_joined(teams: tuple[GraphEmulator, str]) -> None:
    emulator, url = teams
    assert reader(emulator).read(f"teams:{url}", (ALICE, BOB), SLOT, t(SLOT, 30)) == {}


def test_a_meeting_neither_organized_is_not_visible_so_unknown(teams: tuple[GraphEmulator, str]) -> None:
    emulator, _ = teams
    assert (
        reader(emulator).read("teams:https://teams.microsoft.com/l/meetup-join/other", (ALICE, BOB), SLOT, SLOT) is None
    )


def test_without_the_permission_or_the_access_policy_the_reader_is_denied(teams: tuple[GraphEmulator, str]) -> None:
    emulator, url = teams
    emulator.attendance.add_report(url, ALICE, {ALICE: [(t(SLOT, 0), t(SLOT, 20))]})
    emulator.attendance.deny_policy(ALICE)
    with pytest.raises(AttendanceDenied, match="No application access policy found for this app"):
        reader(emulator).read(f"teams:{url}", (ALICE, BOB), SLOT, t(SLOT, 30))
    emulator.attendance.denied_policy.clear()
    emulator.add_app(CLIENT_ID, SECRET, roles=(*DEFAULT_ROLES, "OnlineMeetings.Read.All"))
    with pytest.raises(AttendanceDenied, match="403 Forbidden"):
        reader(emulator).read(f"teams:{url}", (ALICE, BOB), SLOT, t(SLOT, 30))


# -- whole cycles ---------------------------------------------------------------------------------------------


class World:
    def __init__(self, emulator: GraphEmulator, sink: MailSink, runtime: Runtime, now: list[datetime]) -> None:
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
            rows = list(session.query(AttendanceRow))
            session.expunge_all()
            return rows

    def mails(self, to: str) -> list[Any]:
        return [m for m in self.sink.messages if m["To"] == to]


def make_world(emulator: GraphEmulator, sink: MailSink, database_url: str) -> World:
    settings = parse_settings(
        {
            "database_url": database_url,
            "poll_interval_seconds": 300,
            "concurrency": 1,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@contoso.com"},
            "notify": {"admin_email": ADMIN},
            "directory": {"pairs": [{"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=1)).date()}]},
            "agenda": {"nudges": False},
            "rules": {"attendance": "prefer"},
        }
    )
    now = [SLOT + timedelta(hours=2)]
    provider, _ = make_provider(emulator, (ALICE,))
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@contoso.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    runtime.attendance = [reader(emulator)]
    return World(emulator, sink, runtime, now)


def test_a_teams_1_1_bob_never_joined_is_emailed_to_alice(
    teams: tuple[GraphEmulator, str], sink: MailSink, database_url: str
) -> None:
    emulator, url = teams
    emulator.attendance.add_report(url, ALICE, {ALICE: [(t(SLOT, 0), t(SLOT, 12))]})
    world = make_world(emulator, sink, database_url)
    assert world.cycle(timedelta(0)).attendance.read == 1
    (row,) = [r for r in world.stored() if r.start == SLOT]
    assert row.source == "teams" and row.report_intervals == []
    world.cycle()
    (finding,) = world.open("held-without-both")
    assert f"{BOB} did not join" in finding["message"]
    world.cycle(timedelta(hours=24))
    (mail,) = world.mails(ALICE)
    assert "did not join" in mail.get_body(("plain",)).get_content()


def test_a_teams_1_1_both_joined_is_held(teams: tuple[GraphEmulator, str], sink: MailSink, database_url: str) -> None:
    emulator, url = teams
    emulator.attendance.add_report(url, ALICE, {ALICE: [(t(SLOT, 0), t(SLOT, 30))], BOB: [(t(SLOT, 2), t(SLOT, 30))]})
    world = make_world(emulator, sink, database_url)
    world.cycle(timedelta(0))
    world.cycle()
    assert [r.start for r in world.stored()] == [SLOT] and world.open("held-without-both") == []


def test_without_an_access_policy_the_calendar_decides_and_the_admin_is_told(
    teams: tuple[GraphEmulator, str], sink: MailSink, database_url: str
) -> None:
    emulator, url = teams
    emulator.attendance.add_report(url, ALICE, {ALICE: [(t(SLOT, 0), t(SLOT, 12))]})
    emulator.attendance.deny_policy(ALICE)
    world = make_world(emulator, sink, database_url)
    assert "teams" in world.cycle(timedelta(0)).attendance.denied
    world.cycle(timedelta(hours=1))
    assert world.stored() == [] and world.open("held-without-both") == []
    (alert,) = world.mails(ADMIN)
    assert "Microsoft Teams" in alert["Subject"]
    assert "OnlineMeetingArtifact.Read.All" in alert.get_body(("plain",)).get_content()
