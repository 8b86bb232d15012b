"""End to end through the Google emulator: sync → store → rules → email over real SMTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from google_fixtures import ALICE, BOB, CAROL, instance_id, make_provider, weekly_one_on_one, when

from emulators.google import GoogleCalendarEmulator
from emulators.http import Fault, Reply
from emulators.smtp import MailSink
from sync.actions.findings import finding_as_dict, finding_rows
from sync.cli import main
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.events import load_events
from sync.store.models import AgendaPairRow, CalendarRow

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FIRST = START - timedelta(weeks=6, days=START.weekday()) + timedelta(hours=9 - START.hour)  # a Monday, 09:00 UTC


def last_slot_before(moment: datetime) -> datetime:
    slot = FIRST
    while slot + timedelta(weeks=1) <= moment:
        slot += timedelta(weeks=1)
    return slot


@dataclass
class World:
    emulator: GoogleCalendarEmulator
    sink: MailSink
    runtime: Runtime
    now: list[datetime]

    def cycle(self, advance: timedelta = timedelta(minutes=5)) -> CycleReport:
        self.now[0] += advance
        return run_cycle(self.runtime)

    def findings(self) -> list[dict[str, object]]:
        with self.runtime.db.session() as session:
            return [finding_as_dict(r) for r in finding_rows(session)]

    def open(self, rule: str) -> list[dict[str, object]]:
        return [f for f in self.findings() if f["rule"] == rule and f["status"] == "open"]


def make_world(
    emulator: GoogleCalendarEmulator,
    sink: MailSink,
    database_url: str,
    calendars: tuple[str, ...] = (ALICE,),
    rules: dict[str, object] | None = None,
) -> World:
    settings = parse_settings(
        {
            "rules": rules or {},
            "database_url": database_url,
            "poll_interval_seconds": 300,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@example.com"},
            "directory": {"pairs": [{"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=1)).date()}]},
            "agenda": {"nudges": False},  # nudges are timed to the 1:1s: tested on their own (test_agenda_nudges)
        }
    )
    now = [START]
    provider, _ = make_provider(emulator, calendars)
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    return World(emulator, sink, runtime, now)


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> World:
    return make_world(google_emulator, sink, database_url)


def test_first_install_emails_a_recent_cancellation_and_only_records_old_history(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    recent = last_slot_before(START - timedelta(days=1))
    old = FIRST + timedelta(weeks=1)
    for slot in (recent, old):
        world.emulator.delete_event(ALICE, instance_id("weekly0001", slot))
    report = world.cycle()
    assert [c.ok for c in report.calendars] == [True]
    cancelled = {f["occurrence"]: f for f in world.open("cancelled-without-reschedule")}
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    assert set(cancelled) == {iso(recent), iso(old)}
    assert cancelled[iso(recent)]["notified_at"] is not None
    assert cancelled[iso(old)]["notify_at"] is None and cancelled[iso(old)]["notified_at"] is None
    (mail,) = world.sink.messages
    assert mail["To"] == ALICE and "Bob" in mail["Subject"]
    assert "reschedule" in mail.get_body(("plain",)).get_content().lower()
    # A second run finds the same things and sends nothing new.
    world.cycle()
    assert len(world.sink.messages) == 1


def test_a_cancellation_seen_incrementally_is_emailed_once_after_the_grace_period(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    assert world.sink.messages == []
    upcoming = last_slot_before(START) + timedelta(weeks=1)
    world.emulator.delete_event(ALICE, instance_id("weekly0001", upcoming))
    world.cycle()
    (finding,) = world.open("cancelled-without-reschedule")
    assert finding["notified_at"] is None and finding["notify_at"] is not None
    assert world.sink.messages == []  # still within the 24 h to reschedule
    world.cycle(timedelta(hours=25))
    assert len(world.sink.messages) == 1
    world.cycle()
    assert len(world.sink.messages) == 1


def test_a_replacement_booked_within_the_window_resolves_the_cancellation(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    upcoming = last_slot_before(START) + timedelta(weeks=1)
    world.emulator.delete_event(ALICE, instance_id("weekly0001", upcoming))
    world.cycle()
    assert len(world.open("cancelled-without-reschedule")) == 1
    replacement = upcoming + timedelta(days=2)
    world.emulator.insert_event(
        ALICE,
        {
            "summary": "1:1 Alice / Bob (moved)",
            "start": when(replacement, "UTC"),
            "end": when(replacement + timedelta(minutes=30), "UTC"),
            "attendees": [{"email": BOB, "responseStatus": "accepted"}],
        },
    )
    world.cycle()
    assert world.open("cancelled-without-reschedule") == []
    world.cycle(timedelta(hours=25))
    assert world.sink.messages == []


def test_a_moved_instance_is_not_a_cancellation(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    slot = last_slot_before(START - timedelta(days=2))
    world.emulator.patch_event(
        ALICE,
        instance_id("weekly0001", slot),
        {"start": when(slot + timedelta(days=1)), "end": when(slot + timedelta(days=1, minutes=30))},
    )
    world.cycle()
    world.cycle(timedelta(hours=25))
    assert world.open("cancelled-without-reschedule") == []
    assert world.sink.messages == []


def test_a_deleted_series_leaves_a_gap_ahead_and_no_cancellation_per_slot(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    world.emulator.delete_event(ALICE, "weekly0001")
    world.cycle()
    assert world.open("cancelled-without-reschedule") == []
    assert len(world.open("cadence-gap-ahead")) == 1


def test_a_dead_sync_token_resyncs_without_renotifying(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.emulator.delete_event(ALICE, instance_id("weekly0001", last_slot_before(START - timedelta(days=1))))
    world.cycle()
    assert len(world.sink.messages) == 1
    before = world.findings()
    world.emulator.invalidate_sync_tokens()
    report = world.cycle()
    assert report.calendars[0].ok and report.calendars[0].full
    assert len(world.sink.messages) == 1
    strip = lambda rows: [{k: v for k, v in r.items() if k != "last_seen"} for r in rows]  # noqa: E731
    assert strip(world.findings()) == strip(before)


def test_one_failing_calendar_does_not_stop_the_others(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_world(google_emulator, sink, database_url, calendars=(CAROL, ALICE))
    weekly_one_on_one(google_emulator, FIRST, zone="UTC")
    google_emulator.revoke(CAROL)
    report = world.cycle()
    by_calendar = {c.calendar: c for c in report.calendars}
    assert by_calendar[ALICE].ok
    assert not by_calendar[CAROL].ok and by_calendar[CAROL].error_kind == "auth"
    assert "invalid_grant" in (by_calendar[CAROL].error or "")
    with world.runtime.db.session() as session:
        row = session.query(CalendarRow).filter_by(calendar=CAROL).one()
        assert row.last_error_kind == "auth" and row.consecutive_failures == 1


def test_a_listing_that_suddenly_comes_back_empty_is_held(world: World) -> None:
    for n in range(6):
        weekly_one_on_one(
            world.emulator, FIRST + timedelta(hours=n), event_id=f"series{n:04d}", attendee=f"r{n}@example.com"
        )
    world.cycle()
    # The token dies and the full listing that follows comes back empty by mistake: hold, do not mass-cancel.
    world.emulator.inject(status=410, reason="fullSyncRequired", times=1, path=r"/events$")
    empty = {"kind": "calendar#events", "items": [], "nextSyncToken": "empty"}
    world.emulator.server.faults.add(Fault(Reply.json(200, empty), path=r"/events$"))
    report = world.cycle()
    assert not report.calendars[0].ok and report.calendars[0].error_kind == "empty_listing"
    with world.runtime.db.session() as session:
        assert load_events(session) and not any(e.is_cancelled for e in load_events(session))
    # The next cycle lists normally again and nothing was lost.
    report = world.cycle()
    assert report.calendars[0].ok
    assert world.open("cancelled-without-reschedule") == []


def test_cli_sync_once_twice_sends_nothing_new_and_findings_print_as_json(
    google_emulator: GoogleCalendarEmulator,
    sink: MailSink,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    weekly_one_on_one(google_emulator, FIRST, zone="UTC")
    google_emulator.delete_event(ALICE, instance_id("weekly0001", last_slot_before(START - timedelta(days=1))))
    key = tmp_path / "key.json"
    key.write_text(json.dumps(google_emulator.service_account_info()), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
                "google": {
                    "api_endpoint": google_emulator.api_endpoint,
                    "service_account_file": "key.json",
                    "calendars": [ALICE],
                },
                "smtp": {"host": "127.0.0.1", "port": sink.port},
                "directory": {"pairs": [{"manager": ALICE, "report": BOB}]},
                "agenda": {"nudges": False},
            }
        ),
        encoding="utf-8",
    )
    config.chmod(0o600)
    capsys.readouterr()
    # A dry run first: it says what it would send, and keeps and sends nothing of it.
    assert main(["--config", str(config), "sync", "--once", "--dry-run"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "It would have sent 1 message:" in said and f"warning to {ALICE} (email)" in said
    assert sink.wait_for(1, timeout=0.5) == [] and len(sink.messages) == 0
    assert main(["--config", str(config), "findings", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []  # no finding recorded by the dry run
    assert main(["--config", str(config), "sync", "--dry-run"]) == 2  # a dry run is one cycle
    assert "--dry-run needs --once" in capsys.readouterr().err
    assert main(["--config", str(config), "sync", "--once"]) == 0
    assert main(["--config", str(config), "sync", "--once"]) == 0
    assert len(sink.messages) == 1
    capsys.readouterr()
    assert main(["--config", str(config), "findings", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    cancelled = [r for r in rows if r["rule"] == "cancelled-without-reschedule"]
    assert cancelled and set(cancelled[0]) >= {
        "rule", "manager", "report", "occurrence", "status", "first_seen", "notified_at", "message"
    }  # fmt: skip
    assert cancelled[0]["status"] == "open" and cancelled[0]["notified_at"]


# --- rules scenarios, end to end through the Google emulator -----------------------------------------


def test_a_standing_decline_by_the_report_is_a_cancellation_naming_who_declined(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    slot = last_slot_before(START - timedelta(days=1))
    world.emulator.respond(BOB, instance_id("weekly0001", slot), "declined")
    world.cycle()
    (finding,) = world.open("cancelled-without-reschedule")
    assert finding["occurrence"] == slot.isoformat().replace("+00:00", "Z")
    assert BOB in str(finding["message"]) + str(finding["explanation"]) + str(finding["details"])
    assert "declin" in str(finding["message"]) + str(finding["explanation"])


def test_a_this_and_following_split_keeps_the_cadence(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.emulator.split_series(
        ALICE, "weekly0001", FIRST + timedelta(weeks=3), {"summary": "1:1 Alice / Bob (new slot)"}
    )
    world.cycle()
    world.cycle(timedelta(days=1))
    assert world.open("cancelled-without-reschedule") == []
    assert world.open("cadence-gap") == [] and world.open("cadence-gap-ahead") == []


def test_across_a_dst_change_a_moved_instance_still_matches_its_slot(world: World) -> None:
    """Weekly 10:00 Europe/Berlin across the October change: slots are 08:00Z before, 09:00Z after."""
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    first_local = datetime(2026, 10, 5, 10, 0, tzinfo=berlin)  # a Monday, summer time
    world.now[0] = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    weekly_one_on_one(world.emulator, first_local.astimezone(UTC), zone="Europe/Berlin")
    after_change = datetime(2026, 11, 9, 10, 0, tzinfo=berlin)  # winter time: 09:00Z
    moved_to = after_change + timedelta(days=1)
    world.emulator.patch_event(
        ALICE,
        instance_id("weekly0001", after_change),
        {"start": when(moved_to), "end": when(moved_to + timedelta(minutes=30))},
    )
    cancelled = datetime(2026, 11, 16, 10, 0, tzinfo=berlin)
    world.emulator.delete_event(ALICE, instance_id("weekly0001", cancelled))
    world.cycle()
    keys = {f["key"] for f in world.open("cancelled-without-reschedule")}
    assert keys == {"2026-11-16T09:00:00Z"}  # the cancelled one, at its winter-time UTC slot; the move is fine


def test_a_cycle_that_judges_only_what_changed_still_reports_every_open_finding(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.emulator.delete_event(ALICE, instance_id("weekly0001", last_slot_before(START - timedelta(days=1))))
    first = world.cycle()
    open_now = [f for f in world.findings() if f["status"] == "open"]
    assert open_now and first.open_findings == len(open_now)
    quiet = world.cycle()  # nothing changed: no pair is re-judged
    assert quiet.evaluated != "all" and quiet.open_findings == len(open_now)


def test_a_warning_links_to_the_pairs_page_and_speaks_in_numbers_not_setting_names(world: World) -> None:
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.emulator.delete_event(ALICE, instance_id("weekly0001", last_slot_before(START - timedelta(days=1))))
    world.cycle()
    (mail,) = world.sink.messages
    with world.runtime.db.session() as session:
        page = session.query(AgendaPairRow).filter_by(manager=ALICE, report=BOB).one().page_id
    link = f"{world.runtime.settings.web.base_url}/a/{page}"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert link in text and f'href="{link}"' in html
    for body in (text, html):
        assert "rules." not in body and "_days" not in body and "_hours" not in body  # no setting names
        assert "Book a replacement by " in body  # what to do, with the day to do it by
