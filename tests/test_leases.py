"""Several workers on one store: leases keep them apart, fencing stops a stale one committing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google_fixtures import ALICE, make_provider, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from sync.crash import CrashPlan
from sync.ingest.calendars import CalendarResult, Fenced, _apply, sync_calendar
from sync.ingest.leases import Claim, acquire, release
from sync.store.db import Database
from sync.store.models import CalendarRow

NOW = datetime.now(UTC).replace(microsecond=0)
FIRST = NOW - timedelta(weeks=3)


def _db(url: str) -> Database:
    db = Database(url)
    db.migrate()
    return db


def _cursor(db: Database) -> tuple[str | None, int]:
    with db.session() as s:
        row = s.query(CalendarRow).filter_by(calendar=ALICE).one()
        return row.cursor, row.generation


def test_a_calendar_leased_by_a_live_worker_is_left_alone(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    db = _db(database_url)
    provider, _ = make_provider(google_emulator)
    assert acquire(db, "google", ALICE, "replica-a", NOW, timedelta(minutes=2)) is not None
    before = len(google_emulator.server.requests)
    result = sync_calendar(db, provider, ALICE, NOW, worker="replica-b")
    assert result.ok and result.error_kind == "leased_elsewhere"
    assert len(google_emulator.server.requests) == before  # nothing fetched twice
    # Once the holder's lease expires (it crashed), another worker takes over.
    result = sync_calendar(db, provider, ALICE, NOW + timedelta(minutes=3), worker="replica-b")
    assert result.ok and result.error_kind is None and result.pages >= 1


def test_after_the_clock_moves_back_hours_a_restarted_daemon_syncs_every_calendar_again(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    """A host whose clock ran 6 h fast, then NTP stepped it back: the leases and the last success the old
    process left look hours ahead. They are not taken as "leased elsewhere" or "just synced"."""
    db = _db(database_url)
    provider, _ = make_provider(google_emulator)
    weekly_one_on_one(google_emulator, FIRST, zone="UTC")
    ahead = NOW + timedelta(hours=6)
    assert sync_calendar(db, provider, ALICE, ahead, worker="old-process").ok
    assert acquire(db, "google", ALICE, "old-process", ahead, timedelta(minutes=10)) is not None
    result = sync_calendar(db, provider, ALICE, NOW, worker="new-process", fresh_within=timedelta(minutes=5))
    assert result.ok and result.error_kind is None and result.pages >= 1
    with db.session() as session:
        assert session.query(CalendarRow).filter_by(calendar=ALICE).one().last_success_at == NOW


def test_a_stale_worker_cannot_commit_an_old_cursor(google_emulator: GoogleCalendarEmulator, database_url: str) -> None:
    db = _db(database_url)
    weekly_one_on_one(google_emulator, FIRST, zone="UTC")
    provider, _ = make_provider(google_emulator)
    assert sync_calendar(db, provider, ALICE, NOW, worker="a").ok
    cursor_1, generation_1 = _cursor(db)
    # Worker "slow" claims the calendar, then stalls past its lease ...
    stale = acquire(db, "google", ALICE, "slow", NOW, timedelta(seconds=30))
    assert stale is not None
    assert stale == Claim(cursor=cursor_1, generation=generation_1)
    # ... while worker "fast" takes over and commits a newer cursor.
    google_emulator.delete_event(ALICE, "weekly0001")
    assert sync_calendar(db, provider, ALICE, NOW + timedelta(minutes=1), worker="fast").error_kind is None
    cursor_2, generation_2 = _cursor(db)
    assert generation_2 == generation_1 + 1 and cursor_2 != cursor_1
    # The slow worker wakes up and tries to apply what it fetched with its old claim: refused.
    pages = list(provider.list_changes(ALICE, stale.cursor, NOW))
    with pytest.raises(Fenced):
        _apply(db, "google", ALICE, pages, stale, NOW, CalendarResult("google", ALICE, ok=False), CrashPlan())
    assert _cursor(db) == (cursor_2, generation_2)  # no regression
    release(db, "google", ALICE, "slow")
