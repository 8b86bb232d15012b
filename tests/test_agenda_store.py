"""Agenda storage: retention, `forget`, rotation, and the Markdown backend's `- [ ]` round trip."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from agenda_fixtures import FIRST, NOW, AgendaWorld, make_agenda_world
from google_fixtures import ALICE, BOB, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.agenda import auth
from sync.agenda.markdown_backend import file_for, import_tasks, parse_tasks
from sync.agenda.store import add_item, apply_retention, items_of, pair_by_page
from sync.cli import main
from sync.store.models import AgendaPairRow, AgendaSessionRow

LAST = FIRST + timedelta(weeks=3)  # the latest held 1:1 at NOW


def world_with_items(emulator: GoogleCalendarEmulator, sink: MailSink, url: str, **agenda: object) -> AgendaWorld:
    world = make_agenda_world(emulator, sink, url, agenda=dict(agenda))
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    return world


def markdown_world(emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path) -> tuple[AgendaWorld, Path]:
    """A world with `agenda.backend: markdown`, and the folder its files go to."""
    folder = tmp_path / "notes"
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    return world_with_items(emulator, sink, url, backend="markdown", markdown_dir=str(folder)), folder


def test_items_older_than_the_retention_period_are_deleted(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = world_with_items(google_emulator, sink, database_url, retention_days=30)
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "note", "old", author=ALICE, now=NOW - timedelta(days=40), occurrence=None)
        add_item(session, pair.id, "note", "recent", author=ALICE, now=NOW - timedelta(days=2), occurrence=None)
    world.cycle()
    with world.runtime.db.session() as session:
        assert [i.text for i in items_of(session, pair.id)] == ["recent"]
        assert apply_retention(session, NOW + timedelta(days=29), 30) == 1


def test_forget_removes_a_persons_notes_and_sessions(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    world = world_with_items(google_emulator, sink, url)
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        add_item(session, pair.id, "topic", "my raise", author=BOB, now=NOW, occurrence=None)
        auth.open_session(session, BOB, NOW, 30)
        old_page = pair.page_id
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database_url": url}), encoding="utf-8")
    config.chmod(0o600)
    assert main(["--config", str(config), "forget", BOB, "--yes"]) == 0
    assert "1 item(s), 1 session(s), 1 page(s)" in capsys.readouterr().out
    with world.runtime.db.session() as session:
        assert pair_by_page(session, old_page) is None
        assert session.query(AgendaSessionRow).count() == 0
    world.cycle()  # they still meet: a fresh, empty page, and the event's link follows it
    with world.runtime.db.session() as session:
        fresh = session.query(AgendaPairRow).one()
        assert fresh.page_id != old_page and items_of(session, fresh.id) == []
    assert fresh.page_id in world.emulator.get_event(ALICE, "weekly0001")["description"]


def test_markdown_backend_writes_the_page_and_reads_ticked_and_new_action_items_back(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path
) -> None:
    world, folder = markdown_world(google_emulator, sink, tmp_path)
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        first = add_item(session, pair.id, "action", "Send the doc", author=ALICE, now=NOW, occurrence=LAST, owner=BOB)
        add_item(session, pair.id, "topic", "Career | growth", author=BOB, now=NOW, occurrence=None)
    world.cycle()
    path = file_for(folder, ALICE, BOB)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# 1:1 — Alice / Bob")
    assert f"- [ ] Send the doc _(owner: Bob)_ <!-- item:{first.id} -->" in text
    assert "Career | growth" in text
    # someone ticks the box in git and adds an item of their own
    edited = (
        text.replace("- [ ] Send the doc", "- [x] Send the doc")
        + "- [ ] Book the offsite _(owner: Alice, due 2026-03-20)_\n"
    )
    path.write_text(edited, encoding="utf-8")
    world.cycle()
    with world.runtime.db.session() as session:
        actions = {i.text: i for i in items_of(session, pair.id) if i.kind == "action"}
    assert actions["Send the doc"].done and actions["Send the doc"].done_by == "markdown"
    new = actions["Book the offsite"]
    assert new.owner == ALICE and new.due is not None and new.due.isoformat() == "2026-03-20" and not new.done
    reread = {t.text: t for t in parse_tasks(path.read_text(encoding="utf-8"))}
    assert reread["Send the doc"].done and reread["Book the offsite"].item_id == new.id  # ids written back
    world.cycle()
    with world.runtime.db.session() as session:
        assert len([i for i in items_of(session, pair.id) if i.kind == "action"]) == 2  # nothing imported twice


def test_markdown_text_that_looks_like_a_task_or_an_item_id_stays_what_it_was_across_cycles(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path
) -> None:
    world, _ = markdown_world(google_emulator, sink, tmp_path)
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        done = add_item(session, pair.id, "action", "Ship it", author=ALICE, now=NOW, occurrence=LAST, owner=BOB)
        hostile = f"[x] Pay me <!-- item:{done.id} -->"
        add_item(session, pair.id, "topic", hostile, author=BOB, now=NOW, occurrence=None)
    for _ in range(3):  # each cycle re-judges the pair, re-reads the file and rewrites it
        world.cycle()
    with world.runtime.db.session() as session:
        items = items_of(session, pair.id)
    assert [(i.kind, i.text, i.done) for i in items if i.kind == "action"] == [("action", "Ship it", False)]
    assert [i.text for i in items if i.kind == "topic"] == [hostile]


def test_a_new_markdown_line_read_twice_before_the_rewrite_makes_one_item(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path
) -> None:
    world, folder = markdown_world(google_emulator, sink, tmp_path)
    path = file_for(folder, ALICE, BOB)
    path.write_text(path.read_text(encoding="utf-8") + "- [ ] Book the offsite\n", encoding="utf-8")
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        assert import_tasks(session, pair, path, NOW, LAST) == 1
        assert import_tasks(session, pair, path, NOW, LAST) == 0  # e.g. a crash before the file was rewritten
        assert [i.text for i in items_of(session, pair.id) if i.kind == "action"] == ["Book the offsite"]


def test_two_pairs_whose_addresses_join_alike_never_share_a_markdown_file(tmp_path: Path) -> None:
    one = file_for(tmp_path, "a@x.com__b", "c@y.com")
    other = file_for(tmp_path, "a@x.com", "b__c@y.com")
    assert one != other and one.parent == other.parent == tmp_path
    assert file_for(tmp_path, "a!b@x.com", "c@y.com") != file_for(tmp_path, "a#b@x.com", "c@y.com")


def test_a_markdown_file_under_the_old_name_is_moved_with_what_people_wrote(tmp_path: Path) -> None:
    legacy = tmp_path / "alice@example.com__bob@example.com.md"
    legacy.write_text("- [ ] kept\n", encoding="utf-8")
    path = file_for(tmp_path, "alice@example.com", "bob@example.com")
    assert path.read_text(encoding="utf-8") == "- [ ] kept\n" and not legacy.exists()


def test_page_ids_are_long_random_and_rotation_kills_the_old_one(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, sqlite_url: str
) -> None:
    from sync.agenda.admin import rotate_pages

    world = world_with_items(google_emulator, sink, sqlite_url)
    old = world.page_id()
    assert len(old) >= 32  # 192 bits, URL-safe base64
    rotate_pages(world.runtime, [old], everything=False, now=NOW)
    with world.runtime.db.session() as session:
        assert pair_by_page(session, old) is None and pair_by_page(session, world.page_id()) is not None
