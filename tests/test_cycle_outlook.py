"""End to end through the Graph emulator: sync → store → rules → email over real SMTP (or Graph)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from outlook_fixtures import ALICE, BOB, CAROL, CLIENT_ID, DAN, SECRET, make_provider, single, weekly_series

from emulators.graph import GraphEmulator
from emulators.smtp import MailSink
from sync.actions.findings import finding_as_dict, finding_rows
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.graph_mail import MESSAGE_ID_HEADER
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import CalendarRow

START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FIRST = START - timedelta(weeks=6, days=START.weekday()) + timedelta(hours=9 - START.hour)  # a Monday, 09:00 UTC


def last_slot_before(moment: datetime) -> datetime:
    slot = FIRST
    while slot + timedelta(weeks=1) <= moment:
        slot += timedelta(weeks=1)
    return slot


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class World:
    emulator: GraphEmulator
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

    def cancel(self, slot: datetime) -> None:
        (master,) = [e for e in self.emulator.events(ALICE) if e["type"] == "seriesMaster"]
        self.emulator.cancel_occurrence(ALICE, self.emulator.occurrence_id(ALICE, master["id"], slot))


def _settings(database_url: str, sink: MailSink, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "poll_interval_seconds": 300,
        "concurrency": 1,
        "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@contoso.com"},
        "directory": {"pairs": [{"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=1)).date()}]},
        "agenda": {"nudges": False},  # nudges are timed to the 1:1s: tested on their own (test_agenda_nudges)
        **extra,
    }


def make_world(
    emulator: GraphEmulator, sink: MailSink, database_url: str, mailboxes: tuple[str, ...] = (ALICE,)
) -> World:
    settings = parse_settings(_settings(database_url, sink))
    now = [START]
    provider, _ = make_provider(emulator, mailboxes)
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@contoso.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)
    return World(emulator, sink, runtime, now)


@pytest.fixture
def world(graph_emulator: GraphEmulator, sink: MailSink, database_url: str) -> World:
    return make_world(graph_emulator, sink, database_url)


def test_first_install_emails_a_recent_cancellation_and_only_records_old_history(world: World) -> None:
    weekly_series(world.emulator, FIRST, zone="UTC")
    recent = last_slot_before(START - timedelta(days=1))
    old = FIRST + timedelta(weeks=1)
    for slot in (recent, old):
        world.cancel(slot)
    report = world.cycle()
    assert [(c.ok, c.full) for c in report.calendars] == [(True, True)]
    cancelled = {f["occurrence"]: f for f in world.open("cancelled-without-reschedule")}
    assert set(cancelled) == {iso(recent), iso(old)}
    assert cancelled[iso(recent)]["notified_at"] is not None
    assert cancelled[iso(old)]["notify_at"] is None and cancelled[iso(old)]["notified_at"] is None
    (mail,) = world.sink.messages
    assert mail["To"] == ALICE and "Bob" in mail["Subject"]
    # A second run (incremental) finds the same things and sends nothing new.
    report = world.cycle()
    assert not report.calendars[0].full and report.calendars[0].ok
    assert len(world.sink.messages) == 1


def test_a_cancellation_seen_incrementally_is_emailed_once_after_the_grace_period(world: World) -> None:
    weekly_series(world.emulator, FIRST, zone="UTC")
    world.cycle()
    assert world.sink.messages == []
    upcoming = last_slot_before(START) + timedelta(weeks=1)
    world.cancel(upcoming)
    world.cycle()
    (finding,) = world.open("cancelled-without-reschedule")
    assert finding["notified_at"] is None and finding["notify_at"] is not None
    assert world.sink.messages == []  # still within the 24 h to reschedule
    world.cycle(timedelta(hours=25))
    assert len(world.sink.messages) == 1
    world.cycle()
    assert len(world.sink.messages) == 1


def test_a_cancellation_graph_leaves_out_of_delta_is_still_emailed(world: World) -> None:
    world.emulator.removed_for_cancelled_occurrence = False
    weekly_series(world.emulator, FIRST, zone="UTC")
    world.cycle()
    world.cancel(last_slot_before(START) + timedelta(weeks=1))
    world.cycle()
    assert len(world.open("cancelled-without-reschedule")) == 1
    world.cycle(timedelta(hours=25))
    assert len(world.sink.messages) == 1


def test_a_replacement_booked_within_the_window_resolves_the_cancellation(world: World) -> None:
    weekly_series(world.emulator, FIRST, zone="UTC")
    world.cycle()
    upcoming = last_slot_before(START) + timedelta(weeks=1)
    world.cancel(upcoming)
    world.cycle()
    assert len(world.open("cancelled-without-reschedule")) == 1
    single(world.emulator, upcoming + timedelta(days=2), subject="1:1 Alice / Bob (moved)", zone="UTC")
    world.cycle()
    assert world.open("cancelled-without-reschedule") == []
    world.cycle(timedelta(hours=25))
    assert world.sink.messages == []


def test_a_deleted_series_leaves_a_gap_ahead_and_no_cancellation_per_slot(world: World) -> None:
    master = weekly_series(world.emulator, FIRST, zone="UTC")
    world.cycle()
    world.emulator.delete_event(ALICE, master["id"])
    world.cycle()
    assert world.open("cancelled-without-reschedule") == []
    assert len(world.open("cadence-gap-ahead")) == 1
    # A later full round (a re-base) does not turn the series' past slots into cancellations either.
    world.emulator.invalidate_delta_tokens()
    report = world.cycle()
    assert report.calendars[0].full and world.open("cancelled-without-reschedule") == []


def test_a_dead_delta_token_resyncs_without_renotifying(world: World) -> None:
    weekly_series(world.emulator, FIRST, zone="UTC")
    world.cancel(last_slot_before(START - timedelta(days=1)))
    world.cycle()
    assert len(world.sink.messages) == 1
    before = world.findings()
    world.emulator.invalidate_delta_tokens()
    report = world.cycle()
    assert report.calendars[0].ok and report.calendars[0].full
    assert len(world.sink.messages) == 1
    strip = lambda rows: [{k: v for k, v in r.items() if k != "last_seen"} for r in rows]  # noqa: E731
    assert strip(world.findings()) == strip(before)


def test_a_mailbox_whose_token_request_fails_is_reported_while_the_others_sync(
    graph_emulator: GraphEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_world(graph_emulator, sink, database_url, mailboxes=(CAROL, ALICE))
    weekly_series(graph_emulator, FIRST, zone="UTC")
    graph_emulator.fail_token_requests(times=1, status=400)  # the first token request is refused
    report = world.cycle()
    by_calendar = {c.calendar: c for c in report.calendars}
    assert by_calendar[ALICE].ok
    assert not by_calendar[CAROL].ok and by_calendar[CAROL].error_kind == "auth"
    assert "AADSTS90014" in (by_calendar[CAROL].error or "") and "outlook.tenant_id" in (by_calendar[CAROL].error or "")
    with world.runtime.db.session() as session:
        row = session.query(CalendarRow).filter_by(calendar=CAROL).one()
        assert row.last_error_kind == "auth" and row.consecutive_failures == 1
    assert world.cycle().calendars[0].ok  # the next cycle builds a fresh msal app and recovers


def test_warnings_can_be_sent_through_graph_send_mail(
    graph_emulator: GraphEmulator, sink: MailSink, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEONONE_TEST_GRAPH_SECRET", SECRET)
    outlook = {
        "tenant_id": graph_emulator.tenant_id,
        "client_id": CLIENT_ID,
        "client_secret_env": "ONEONONE_TEST_GRAPH_SECRET",
        "mailboxes": [ALICE],
        "authority": graph_emulator.base_url,
        "graph_endpoint": graph_emulator.graph_endpoint,
        "ca_bundle": str(graph_emulator.ca_pem),
    }
    config = _settings(database_url, sink, outlook=outlook, notify={"via": "graph", "graph_sender": DAN})
    now = [START]
    runtime = build_runtime(parse_settings(config), clock=lambda: now[0])  # providers and sender from the config
    weekly_series(graph_emulator, FIRST, zone="UTC")
    master = graph_emulator.events(ALICE)[0]
    graph_emulator.cancel_occurrence(
        ALICE, graph_emulator.occurrence_id(ALICE, master["id"], last_slot_before(START - timedelta(days=1)))
    )
    report = run_cycle(runtime)
    assert report.delivery.sent == 1 and sink.messages == []
    (sent,) = graph_emulator.sent_mail
    message = sent["message"]
    assert sent["mailbox"] == DAN
    assert message["toRecipients"] == [{"emailAddress": {"address": ALICE}}]
    assert "Bob" in message["subject"] and message["body"]["contentType"] == "HTML"
    (header,) = message["internetMessageHeaders"]
    assert header["name"] == MESSAGE_ID_HEADER and header["value"].startswith("<") and header["value"].endswith(">")
    now[0] += timedelta(minutes=5)
    assert run_cycle(runtime).delivery.sent == 0 and len(graph_emulator.sent_mail) == 1
