"""The store: migrations match the models; events keep their sighting; times stay aware UTC."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from rules.model import Attendee, CalendarEvent, EventKind, EventStatus, Response
from sync.store.db import Database
from sync.store.events import WriteStats, load_events, mark_deleted, upsert_events
from sync.store.models import Base

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def _event(**changes: object) -> CalendarEvent:
    base = CalendarEvent(
        provider="google",
        calendar="alice@example.com",
        event_id="abc123",
        kind=EventKind.SINGLE,
        start=datetime(2025, 1, 13, 10, 0, tzinfo=timezone(timedelta(hours=1))),
        end=datetime(2025, 1, 13, 10, 30, tzinfo=timezone(timedelta(hours=1))),
        time_zone="Europe/Berlin",
        summary="1:1 Alice / Bob",
        description="<b>agenda</b>",
        organizer="alice@example.com",
        attendees=(
            Attendee("alice@example.com", Response.ACCEPTED, is_organizer=True),
            Attendee("bob@example.com", Response.NEEDS_ACTION),
        ),
        etag='"1"',
    )
    return replace(base, **changes)


def test_migrations_create_exactly_the_models_schema(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    db.migrate()  # idempotent on every start
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_event_round_trip_keeps_aware_utc_times_and_attendees(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with db.session() as s:
        upsert_events(s, "google", "alice@example.com", [_event()], now=T0, full_listing=True, stats=WriteStats())
    with db.session() as s:
        (loaded,) = load_events(s)
    assert loaded.start == datetime(2025, 1, 13, 9, 0, tzinfo=UTC)
    assert loaded.start is not None and loaded.start.tzinfo is not None
    assert loaded.attendees[1] == Attendee("bob@example.com", Response.NEEDS_ACTION)
    assert loaded.sighting is not None
    assert (loaded.sighting.first_seen, loaded.sighting.changed_at, loaded.sighting.by_full_listing) == (T0, T0, True)


def test_a_new_etag_or_description_is_not_a_change_but_a_cancellation_is(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    later, latest = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    with db.session() as s:
        upsert_events(s, "google", "alice@example.com", [_event()], now=T0, full_listing=True, stats=WriteStats())
    with db.session() as s:
        stats = WriteStats()
        upsert_events(
            s,
            "google",
            "alice@example.com",
            [_event(etag='"2"', description="<b>agenda</b> + link")],
            now=later,
            full_listing=False,
            stats=stats,
        )
        assert (stats.changed, stats.unchanged) == (0, 1)
    with db.session() as s:
        (loaded,) = load_events(s)
        assert loaded.description == "<b>agenda</b> + link"
        assert loaded.sighting is not None and loaded.sighting.changed_at == T0
        upsert_events(
            s,
            "google",
            "alice@example.com",
            [_event(status=EventStatus.CANCELLED)],
            now=latest,
            full_listing=False,
            stats=WriteStats(),
        )
    with db.session() as s:
        (loaded,) = load_events(s)
    assert loaded.is_cancelled
    assert loaded.sighting is not None
    assert (loaded.sighting.changed_at, loaded.sighting.by_full_listing) == (latest, False)


def test_a_deleted_event_stays_as_a_cancelled_row(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    with db.session() as s:
        upsert_events(s, "google", "alice@example.com", [_event()], now=T0, full_listing=True, stats=WriteStats())
    with db.session() as s:
        stats = WriteStats()
        mark_deleted(s, "google", "alice@example.com", ["abc123", "unknown"], now=T0, full_listing=False, stats=stats)
        assert stats.deleted == 1
    with db.session() as s:
        (loaded,) = load_events(s)
    assert loaded.is_cancelled and loaded.summary == "1:1 Alice / Bob"
