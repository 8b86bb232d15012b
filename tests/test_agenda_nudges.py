"""Nudges arrive over SMTP once, to the right person, at the right time (the clock is injected)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from agenda_fixtures import BASE_URL, FIRST, NOW, AgendaWorld, make_agenda_world
from google_fixtures import ALICE, BOB, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.actions.findings import finding_as_dict, finding_rows
from sync.agenda.store import add_item, forget_person
from sync.store.models import AgendaPairRow, OutboxRow
from sync.web import agenda_deps, create_app

MEETING = NOW + timedelta(hours=2)  # Monday 10:00 UTC, the next slot of the weekly series


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> AgendaWorld:
    world = make_agenda_world(
        google_emulator, sink, database_url, agenda={"nudges": True}, start=NOW - timedelta(days=2)
    )
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    return world


def agenda_findings(world: AgendaWorld) -> list[dict[str, object]]:
    with world.runtime.db.session() as session:
        rows = [finding_as_dict(r) for r in finding_rows(session)]
    return [r for r in rows if r["rule"] == "agenda-not-prepared"]


def test_the_report_is_reminded_once_a_day_before_a_1on1_without_their_talking_points(world: AgendaWorld) -> None:
    world.cycle()
    world.now[0] = MEETING - timedelta(hours=24, minutes=15)
    world.cycle()  # (each cycle advances the clock 5 minutes)
    assert world.sink.messages == []  # not yet: more than 24 h before
    world.cycle(timedelta(minutes=15))
    (mail,) = world.sink.messages
    assert mail["To"] == BOB and "Alice" in mail["Subject"] and "talking points" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert f"{BASE_URL}/a/{world.page_id()}" in body
    # Bob's own calendar is not watched: he reads the time of the 1:1 on Alice's calendar (Berlin), not UTC.
    assert "Mon 02 Mar 2026, 11:00 CET" in body
    (finding,) = agenda_findings(world)
    assert finding["status"] == "open" and finding["manager"] == ALICE and finding["report"] == BOB
    world.cycle(timedelta(hours=1))
    world.cycle(timedelta(hours=6))
    assert len(world.sink.messages) == 1  # once per occurrence
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "topic", "My promotion case", author=BOB, now=world.now[0], occurrence=MEETING)
    world.cycle()
    assert [f["status"] for f in agenda_findings(world)] == ["resolved"]
    assert len(world.sink.messages) == 1


def test_a_report_who_prepared_gets_no_reminder(world: AgendaWorld) -> None:
    world.cycle()
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "topic", "Hiring plans", author=BOB, now=world.now[0], occurrence=MEETING)
    world.now[0] = MEETING - timedelta(hours=3)
    world.cycle()
    assert world.sink.messages == [] and agenda_findings(world) == []


def test_the_manager_is_reminded_once_after_a_held_1on1_with_no_notes(world: AgendaWorld) -> None:
    world.cycle()
    with world.runtime.db.session() as session:  # the report prepared: no agenda nudge in this story
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "topic", "Hiring plans", author=BOB, now=world.now[0], occurrence=MEETING)
    world.now[0] = MEETING + timedelta(minutes=30 + 2 * 60 - 15)  # ended 10:30; nudge due at 12:30
    world.cycle()
    assert world.sink.messages == []
    world.cycle(timedelta(minutes=15))
    (mail,) = world.sink.messages
    assert mail["To"] == ALICE and "Bob" in mail["Subject"] and "notes" in mail["Subject"]
    world.cycle(timedelta(hours=2))
    assert len(world.sink.messages) == 1


def test_no_notes_reminder_when_notes_were_taken(world: AgendaWorld) -> None:
    world.cycle()
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "topic", "Hiring plans", author=BOB, now=world.now[0], occurrence=MEETING)
        add_item(session, pair.id, "note", "Agreed: two hires", author=ALICE, now=world.now[0], occurrence=MEETING)
    world.now[0] = MEETING + timedelta(hours=3)
    world.cycle()
    assert world.sink.messages == []


def test_forget_of_someone_still_in_the_directory_with_mail_pending_never_stops_the_next_cycles(
    world: AgendaWorld,
) -> None:
    """`forget` deletes the pair's page and its nudge records; the next cycle re-creates the page and decides
    the same nudge again. It finds that mail already queued (same identity, same Message-ID) instead of
    failing every later cycle on the outbox's unique Message-ID, and Bob is not reminded twice."""

    world.cycle()
    world.now[0] = MEETING - timedelta(hours=23)
    send, world.runtime.send = world.runtime.send, None  # the mail server is down: the nudge waits, pending
    world.cycle()
    with world.runtime.db.session() as session:
        (pending,) = session.query(OutboxRow).filter_by(recipient=BOB).all()
        assert pending.status == "pending"
        forget_person(session, BOB)
    world.runtime.send = send
    for _ in range(2):
        report = world.cycle()
        assert all(c.ok for c in report.calendars)
    assert [m["To"] for m in world.sink.messages] == [BOB]  # the one nudge, sent once
    with world.runtime.db.session() as session:
        assert session.query(OutboxRow).filter_by(recipient=BOB).count() == 1
        assert session.query(AgendaPairRow).count() == 1  # a fresh page for the pair that still meets


def test_a_report_who_clicked_unsubscribe_in_a_nudge_gets_no_more_nudges_but_the_finding_stays(
    world: AgendaWorld,
) -> None:
    world.cycle()
    world.now[0] = MEETING - timedelta(hours=24, minutes=15)
    world.cycle(timedelta(minutes=15))
    (mail,) = world.sink.messages
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = "/" + str(mail["List-Unsubscribe"]).strip("<>").split("/", 3)[3]
    client = create_app(agenda_deps(world.runtime)).test_client()
    assert client.post(path, data="List-Unsubscribe=One-Click").status_code == 200
    world.now[0] = MEETING + timedelta(weeks=1) - timedelta(hours=24)  # the next 1:1 is a day away
    world.cycle()
    assert len(world.sink.messages) == 1  # no second nudge
    assert [f["status"] for f in agenda_findings(world)].count("open") >= 1  # still shown to the manager
