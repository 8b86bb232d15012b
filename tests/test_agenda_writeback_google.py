"""The agenda link written into Google events: once, through the organizer, keeping what people wrote."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from agenda_fixtures import (
    BASE_URL,
    FIRST,
    LINK,
    NOW,
    AgendaWorld,
    CrashingWriter,
    SimulatedCrash,
    make_agenda_world,
)
from google_fixtures import ALICE, BOB, CAROL, instance_id, weekly_one_on_one, when

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from providers.base import AgendaLink, AgendaWriter, EventText
from sync.agenda.admin import rotate_pages
from sync.cli import main

USER_TEXT = 'Our agenda:\n<b>Q3 numbers</b> &amp; "ideas" — bring them\n<a href="https://docs.example.com/x">doc</a>'
THEIR_ATTACHMENT = {"fileUrl": "https://drive.google.com/file/d/abc123/view", "title": "Q3 plan"}


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> AgendaWorld:
    return make_agenda_world(google_emulator, sink, database_url)


def series(world: AgendaWorld) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC", description=USER_TEXT)
    world.emulator.patch_event(ALICE, "weekly0001", {"attachments": [THEIR_ATTACHMENT]})


def links(text: str) -> list[str]:
    return LINK.findall(text)


def test_a_series_gets_the_link_once_keeping_the_description_and_attachments_and_emailing_nobody(
    world: AgendaWorld,
) -> None:
    series(world)
    world.cycle()
    world.cycle()
    world.cycle(timedelta(hours=1))
    event = world.emulator.get_event(ALICE, "weekly0001")
    url = f"{BASE_URL}/a/{world.page_id()}"
    assert event["description"].startswith(USER_TEXT + "\n\n")  # the user's text byte for byte, then ours
    assert links(event["description"]) == [url]
    assert "1:1 agenda — Alice / Bob" in event["description"]
    assert event["attachments"][0] == THEIR_ATTACHMENT
    assert [a["fileUrl"] for a in event["attachments"]] == [THEIR_ATTACHMENT["fileUrl"], url]
    assert event["extendedProperties"]["private"]["oneonone"] == world.page_id()
    assert world.patches("weekly0001") == [("patch", "weekly0001", "none")]  # once, and no email to guests
    bob_copy = world.emulator.get_event(BOB, "weekly0001")
    assert links(bob_copy["description"]) == [url]  # the attendee sees it through the organizer's event
    assert [w.state for w in world.writes()] == ["done"]


def test_a_one_off_replacement_gets_the_link_too(world: AgendaWorld) -> None:
    series(world)
    world.cycle()
    upcoming = FIRST + timedelta(weeks=4)
    world.emulator.delete_event(ALICE, instance_id("weekly0001", upcoming))
    replacement = world.emulator.insert_event(
        ALICE,
        {
            "summary": "1:1 Alice / Bob (moved)",
            "description": "moved to Wednesday",
            "start": when(upcoming + timedelta(days=2), "UTC"),
            "end": when(upcoming + timedelta(days=2, minutes=30), "UTC"),
            "attendees": [{"email": BOB, "responseStatus": "accepted"}],
        },
    )
    world.cycle()
    world.cycle()
    event = world.emulator.get_event(ALICE, replacement["id"])
    assert event["description"].startswith("moved to Wednesday\n\n")
    assert links(event["description"]) == [f"{BASE_URL}/a/{world.page_id()}"]
    assert world.patches(replacement["id"]) == [("patch", replacement["id"], "none")]
    assert len(world.patches("weekly0001")) == 1


@dataclass
class RacingWriter:
    """A person edits the event in the Calendar UI between our read and our write."""

    inner: AgendaWriter
    emulator: GoogleCalendarEmulator
    name: str = "google"
    raced: bool = False

    def read_event(self, calendar: str, event_id: str) -> EventText:
        current = self.inner.read_event(calendar, event_id)
        if not self.raced:
            self.raced = True
            self.emulator.patch_event(calendar, event_id, {"description": current.text + "\nAlso: offsite plans"})
        return current

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        return self.inner.attach_agenda(current, link)


def test_a_concurrent_edit_makes_the_write_fail_with_412_and_it_is_retried_on_the_new_text(
    world: AgendaWorld,
) -> None:
    series(world)
    world.runtime.writers["google"] = RacingWriter(world.runtime.writers["google"], world.emulator)
    report = world.cycle()
    assert report.agenda.written == 1
    event = world.emulator.get_event(ALICE, "weekly0001")
    assert event["description"].startswith(USER_TEXT + "\nAlso: offsite plans\n\n")  # their edit survived
    assert len(links(event["description"])) == 1
    assert len(world.patches("weekly0001")) == 2  # the first answered 412, the second landed


@dataclass
class MeetingWriter:
    """Each read waits (at most 10 s) until `width` writes are in flight at once: one at a time never gets there."""

    inner: AgendaWriter
    width: int
    name: str = "google"

    def __post_init__(self) -> None:
        self.together = threading.Barrier(self.width, timeout=10)
        self.met = 0

    def read_event(self, calendar: str, event_id: str) -> EventText:
        if self.met < self.width:
            try:
                self.together.wait()
                self.met = self.width
            except threading.BrokenBarrierError:
                pass
        return self.inner.read_event(calendar, event_id)

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        return self.inner.attach_agenda(current, link)


def test_a_fresh_install_writes_several_links_at_once(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    pairs = [{"manager": ALICE, "report": r, "start": (FIRST - timedelta(days=30)).date()} for r in (BOB, CAROL)]
    world = make_agenda_world(google_emulator, sink, database_url, pairs=pairs, more={"concurrency": 2})
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    weekly_one_on_one(
        world.emulator, FIRST, zone="UTC", attendee=CAROL, event_id="weekly0002", title="1:1 Alice / Carol"
    )
    writer = MeetingWriter(world.runtime.writers["google"], width=2)
    world.runtime.writers["google"] = writer
    report = world.cycle()
    assert writer.met == 2, "the two writes never were in flight at the same time"
    assert report.agenda.written == 2
    assert [w.state for w in world.writes()] == ["done", "done"]
    for event_id in ("weekly0001", "weekly0002"):
        assert len(links(world.emulator.get_event(ALICE, event_id)["description"])) == 1


@pytest.mark.parametrize("moment", ["before", "after"])
def test_a_crash_around_the_write_never_attaches_twice(world: AgendaWorld, moment: str) -> None:
    series(world)
    real = world.runtime.writers["google"]
    world.runtime.writers["google"] = CrashingWriter(real, moment)
    with pytest.raises(SimulatedCrash):
        world.cycle()
    assert [w.state for w in world.writes()] == ["intended"]  # the intent was committed before the call
    world.runtime.writers["google"] = real  # the daemon restarts
    world.cycle()
    world.cycle()
    event = world.emulator.get_event(ALICE, "weekly0001")
    assert len(links(event["description"])) == 1
    assert [a["fileUrl"] for a in event["attachments"]].count(f"{BASE_URL}/a/{world.page_id()}") == 1
    assert len(world.patches("weekly0001")) == 1  # before: made after the restart; after: found there
    assert [w.state for w in world.writes()] == ["done"]


def test_a_link_a_person_removed_is_not_added_again_unless_configured(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_agenda_world(google_emulator, sink, database_url)
    series(world)
    world.cycle()
    world.emulator.patch_event(ALICE, "weekly0001", {"description": USER_TEXT})  # they delete our paragraph
    world.cycle()
    world.cycle(timedelta(days=1))
    assert world.emulator.get_event(ALICE, "weekly0001")["description"] == USER_TEXT
    assert len(world.patches("weekly0001")) == 1
    assert [w.state for w in world.writes()] == ["user_removed"]
    readd = make_agenda_world(google_emulator, sink, database_url, agenda={"readd_removed": True})
    readd.now[0] = world.now[0]
    readd.cycle()
    assert len(links(world.emulator.get_event(ALICE, "weekly0001")["description"])) == 1


def test_nothing_is_written_when_the_organizers_calendar_is_not_watched(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_agenda_world(google_emulator, sink, database_url, calendars=(ALICE,))
    weekly_one_on_one(world.emulator, FIRST, organizer=BOB, attendee=ALICE, zone="UTC", description=USER_TEXT)
    world.cycle()
    assert world.emulator.send_updates == []
    assert world.writes() == []
    from sync.agenda.admin import attach_now

    result = attach_now(world.runtime, dry_run=True)
    assert [s.reason for s in result.skipped] == [f"the organizer's calendar ({BOB}) is not watched"]


def test_attach_off_per_provider_and_opted_out_calendars_write_nothing(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    for agenda in ({"attach": {"google": False, "outlook": True}}, {"opt_out_calendars": [ALICE]}):
        world = make_agenda_world(google_emulator, sink, database_url, agenda=agenda)
        if not google_emulator.events(ALICE):
            series(world)
        world.cycle()
        assert world.emulator.get_event(ALICE, "weekly0001")["description"] == USER_TEXT
        assert world.writes() == []


def test_a_rotated_page_id_replaces_the_old_link_in_place(world: AgendaWorld) -> None:
    series(world)
    world.cycle()
    old = f"{BASE_URL}/a/{world.page_id()}"
    ((_, _, new),) = rotate_pages(world.runtime, [ALICE, BOB], everything=False, now=world.now[0])
    world.cycle()
    event = world.emulator.get_event(ALICE, "weekly0001")
    assert links(event["description"]) == [new] and old not in event["description"]
    assert [a["fileUrl"] for a in event["attachments"]] == [THEIR_ATTACHMENT["fileUrl"], new]


def test_dry_run_shows_what_would_be_written_and_writes_nothing(
    google_emulator: GoogleCalendarEmulator,
    sink: MailSink,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    series_world = make_agenda_world(google_emulator, sink, f"sqlite:///{tmp_path}/db.sqlite")
    series(series_world)
    key = tmp_path / "key.json"
    key.write_text(json.dumps(google_emulator.service_account_info()), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{tmp_path}/db.sqlite",
                "google": {
                    "api_endpoint": google_emulator.api_endpoint,
                    "service_account_file": str(key),
                    "calendars": [ALICE],
                },
                "directory": {"pairs": [{"manager": ALICE, "report": BOB}]},
                "web": {"base_url": BASE_URL},
                "agenda": {"nudges": False},
            }
        ),
        encoding="utf-8",
    )
    config.chmod(0o600)
    # events are in the store (as after a sync) but no page exists yet
    from sync.cycle import sync_all

    sync_all(series_world.runtime, NOW)
    capsys.readouterr()
    assert main(["--config", str(config), "agenda", "attach", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would write" in out and "weekly0001" in out and "1:1 agenda — Alice / Bob" in out
    assert google_emulator.send_updates == []
    assert main(["--config", str(config), "agenda", "attach"]) == 0
    assert len(links(google_emulator.get_event(ALICE, "weekly0001")["description"])) == 1
