"""The agenda link written into Outlook events through Graph: once per series, body and Teams blob kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from agenda_fixtures import CrashingWriter, SimulatedCrash
from outlook_fixtures import ALICE, BOB, make_provider, single, when

from emulators.graph import GraphEmulator
from emulators.graph_meeting import TEAMS_BLOB
from emulators.smtp import MailSink
from providers.base import AgendaLink, AgendaWriter, EventText
from providers.outlook_writeback import AGENDA_PROPERTY_ID
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import AgendaPairRow, AgendaWriteRow

BASE_URL = "https://agenda.contoso.com"
LINK = re.compile(r'href="(https://agenda\.contoso\.com/a/[A-Za-z0-9_-]+)"')
USER_BODY = '<html><head><meta charset="utf-8"></head><body><p>Agenda: <b>Q3</b> &amp; hiring</p>\r\n</body></html>'


@dataclass
class GraphWorld:
    emulator: GraphEmulator
    runtime: Runtime
    now: list[Any]

    def cycle(self, advance: timedelta = timedelta(minutes=5)) -> CycleReport:
        self.now[0] += advance
        return run_cycle(self.runtime)

    def body(self, event_id: str) -> str:
        return str(self.emulator.get_event(ALICE, event_id)["body"]["content"])

    def url(self) -> str:
        with self.runtime.db.session() as session:
            return f"{BASE_URL}/a/{session.query(AgendaPairRow).one().page_id}"

    def states(self) -> list[str]:
        with self.runtime.db.session() as session:
            return [w.state for w in session.query(AgendaWriteRow).order_by(AgendaWriteRow.id)]

    def updates(self, event_id: str) -> int:
        return sum(1 for u in self.emulator.meeting_updates if u.event_id == event_id)


def make_world(emulator: GraphEmulator, sink: MailSink, database_url: str, **agenda: Any) -> GraphWorld:
    from datetime import UTC, datetime

    settings = parse_settings(
        {
            "database_url": database_url,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@contoso.com"},
            "directory": {"pairs": [{"manager": ALICE, "report": BOB}]},
            "web": {"base_url": BASE_URL},
            "agenda": {"nudges": False, **agenda},
        }
    )
    now = [datetime.now(UTC).replace(microsecond=0)]
    provider, _ = make_provider(emulator, (ALICE,))
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@contoso.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    return GraphWorld(emulator, runtime, now)


@pytest.fixture
def world(graph_emulator: GraphEmulator, sink: MailSink, database_url: str) -> GraphWorld:
    return make_world(graph_emulator, sink, database_url)


def teams_series(world: GraphWorld) -> str:
    from datetime import UTC, datetime

    first = (datetime.now(UTC) - timedelta(weeks=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    created = world.emulator.create_event(
        ALICE,
        {
            "subject": "1:1 Alice / Bob",
            "body": {"contentType": "HTML", "content": USER_BODY},
            "isOnlineMeeting": True,
            "onlineMeetingProvider": "teamsForBusiness",
            "start": when(first, "UTC"),
            "end": when(first + timedelta(minutes=30), "UTC"),
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [first.strftime("%A").lower()]},
                "range": {"type": "noEnd", "startDate": first.date().isoformat(), "recurrenceTimeZone": "UTC"},
            },
            "attendees": [{"emailAddress": {"address": BOB}, "type": "required"}],
        },
    )
    return str(created["id"])


def expected(original: str, url: str) -> str:
    at = original.rfind("</body>")
    return original[:at] + f'<p><a href="{url}">1:1 agenda — Alice / Bob</a></p>' + original[at:]


def test_a_series_gets_the_link_once_with_its_body_and_teams_blob_kept_byte_for_byte(world: GraphWorld) -> None:
    master = teams_series(world)
    original = world.body(master)
    assert "Microsoft Teams meeting" in original and TEAMS_BLOB.split("{join_url}")[0] in original
    world.cycle()
    world.cycle()
    world.cycle(timedelta(hours=1))
    assert world.body(master) == expected(original, world.url())  # every other byte, Teams blob included
    assert world.updates(master) == 1  # one write to the series, one meeting update
    assert world.states() == ["done"]
    tagged = world.emulator.events(ALICE)
    assert tagged  # the tag is readable with $expand
    props = world.runtime.writers["outlook"].read_event(ALICE, master).marker
    assert props is not None and props in world.url()
    assert AGENDA_PROPERTY_ID.startswith("String {")


def test_a_one_off_gets_the_link_once(world: GraphWorld) -> None:
    from datetime import UTC, datetime

    event = single(world.emulator, datetime.now(UTC) + timedelta(days=2), zone="UTC")
    world.cycle()
    world.cycle()
    assert LINK.findall(world.body(event["id"])) == [world.url()]
    assert world.updates(event["id"]) == 1


@dataclass
class RacingWriter:
    inner: AgendaWriter
    emulator: GraphEmulator
    name: str = "outlook"
    raced: bool = False

    def read_event(self, calendar: str, event_id: str) -> EventText:
        current = self.inner.read_event(calendar, event_id)
        if not self.raced:
            self.raced = True
            edited = current.text.replace("hiring</p>", "hiring</p><p>and the offsite</p>")
            self.emulator.update_event(calendar, event_id, {"body": {"contentType": "HTML", "content": edited}})
        return current

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        return self.inner.attach_agenda(current, link)


def test_a_concurrent_edit_gets_412_and_the_retry_keeps_both_edits(world: GraphWorld) -> None:
    master = teams_series(world)
    world.runtime.writers["outlook"] = RacingWriter(world.runtime.writers["outlook"], world.emulator)
    report = world.cycle()
    assert report.agenda.written == 1
    body = world.body(master)
    assert "<p>and the offsite</p>" in body and LINK.findall(body) == [world.url()]
    assert "Microsoft Teams meeting" in body


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_crash_around_the_write_never_attaches_twice(world: GraphWorld, moment: str) -> None:
    master = teams_series(world)
    real = world.runtime.writers["outlook"]
    world.runtime.writers["outlook"] = CrashingWriter(real, moment, name="outlook")
    with pytest.raises(SimulatedCrash):
        world.cycle()
    assert world.states() == ["intended"]
    world.runtime.writers["outlook"] = real
    world.cycle()
    world.cycle()
    assert LINK.findall(world.body(master)) == [world.url()]
    assert world.updates(master) == 1
    assert world.states() == ["done"]


def test_a_link_a_person_removed_is_not_added_again(world: GraphWorld) -> None:
    master = teams_series(world)
    world.cycle()
    without = world.body(master).replace(f'<p><a href="{world.url()}">1:1 agenda — Alice / Bob</a></p>', "")
    world.emulator.update_event(ALICE, master, {"body": {"contentType": "HTML", "content": without}})
    world.cycle()
    world.cycle(timedelta(days=1))
    assert LINK.findall(world.body(master)) == []
    assert world.states() == ["user_removed"]
    assert world.updates(master) == 2  # ours and the person's, nothing after


def test_attach_can_be_switched_off_for_outlook_alone(
    graph_emulator: GraphEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_world(graph_emulator, sink, database_url, attach={"google": True, "outlook": False})
    master = teams_series(world)
    original = world.body(master)
    world.cycle()
    assert world.body(master) == original and world.updates(master) == 0 and world.states() == []
