"""The Google adapter, driving the real googleapiclient over HTTP against the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google_fixtures import (
    ALICE,
    BOB,
    drain,
    instance_id,
    make_provider,
    weekly_one_on_one,
)

from emulators.google import GoogleCalendarEmulator
from emulators.http import Fault, Reply
from providers.base import AuthError, CursorExpired
from rules.model import EventKind, EventStatus, Response

NOW = datetime.now(UTC).replace(microsecond=0)
FIRST = (NOW - timedelta(weeks=4)).replace(hour=9, minute=0, second=0)


def test_full_listing_returns_the_series_master_unexpanded_with_a_cursor_on_the_last_page(
    google_emulator: GoogleCalendarEmulator,
) -> None:
    weekly_one_on_one(google_emulator, FIRST)
    provider, _ = make_provider(google_emulator)
    pages = drain(provider.list_changes(ALICE, None, NOW))
    assert [p.cursor is not None for p in pages] == [False] * (len(pages) - 1) + [True]
    (master,) = [e for p in pages for e in p.events]
    assert master.kind is EventKind.MASTER and master.series_id == "weekly0001"
    assert master.recurrence == ("RRULE:FREQ=WEEKLY",)
    assert master.time_zone == "Europe/Berlin" and master.start == FIRST
    assert {a.email for a in master.attendees} == {ALICE, BOB}
    assert pages[-1].full and pages[-1].time_zone == "Europe/Berlin"
    assert pages[-1].window_start == NOW - timedelta(days=provider.history_days)


def test_incremental_listing_reports_a_cancelled_and_a_moved_instance(google_emulator: GoogleCalendarEmulator) -> None:
    weekly_one_on_one(google_emulator, FIRST)
    provider, _ = make_provider(google_emulator)
    cursor = drain(provider.list_changes(ALICE, None, NOW))[-1].cursor
    cancelled_slot, moved_slot = FIRST + timedelta(weeks=1), FIRST + timedelta(weeks=2)
    google_emulator.delete_event(ALICE, instance_id("weekly0001", cancelled_slot))
    google_emulator.patch_event(
        ALICE,
        instance_id("weekly0001", moved_slot),
        {
            "start": {"dateTime": (moved_slot + timedelta(days=1)).isoformat(), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": (moved_slot + timedelta(days=1, minutes=30)).isoformat(), "timeZone": "Europe/Berlin"},
        },
    )
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    assert not any(p.full for p in pages)
    by_slot = {e.original_start: e for p in pages for e in p.events if e.kind is EventKind.EXCEPTION}
    assert by_slot[cancelled_slot].status is EventStatus.CANCELLED
    assert by_slot[moved_slot].status is EventStatus.CONFIRMED
    assert by_slot[moved_slot].start == moved_slot + timedelta(days=1)
    assert pages[-1].cursor not in (None, cursor)


def test_pages_are_followed_to_the_sync_token(google_emulator: GoogleCalendarEmulator) -> None:
    for n in range(7):
        weekly_one_on_one(google_emulator, FIRST + timedelta(hours=n), event_id=f"series{n:04d}")
    provider, _ = make_provider(google_emulator, page_size=3)
    pages = drain(provider.list_changes(ALICE, None, NOW))
    assert len(pages) >= 3
    assert sorted(e.event_id for p in pages for e in p.events) == [f"series{n:04d}" for n in range(7)]
    assert google_emulator.server.requests_matching("GET", r"/events$")[-1].param("maxResults") == "3"


def test_a_deleted_series_is_reported_as_a_deletion(google_emulator: GoogleCalendarEmulator) -> None:
    weekly_one_on_one(google_emulator, FIRST)
    provider, _ = make_provider(google_emulator)
    cursor = drain(provider.list_changes(ALICE, None, NOW))[-1].cursor
    google_emulator.delete_event(ALICE, "weekly0001")
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    deleted = [i for p in pages for i in p.deleted_ids]
    cancelled = [e.event_id for p in pages for e in p.events if e.status is EventStatus.CANCELLED]
    assert "weekly0001" in deleted + cancelled


def test_an_invalidated_sync_token_raises_cursor_expired(google_emulator: GoogleCalendarEmulator) -> None:
    weekly_one_on_one(google_emulator, FIRST)
    provider, _ = make_provider(google_emulator)
    cursor = drain(provider.list_changes(ALICE, None, NOW))[-1].cursor
    google_emulator.invalidate_sync_tokens(ALICE)
    with pytest.raises(CursorExpired):
        drain(provider.list_changes(ALICE, cursor, NOW))


def test_rate_limits_are_retried_after_the_wait_the_server_asked_for(google_emulator: GoogleCalendarEmulator) -> None:
    weekly_one_on_one(google_emulator, FIRST)
    provider, sleeper = make_provider(google_emulator)
    google_emulator.inject(status=429, reason="rateLimitExceeded", times=1, path=r"/events$", retry_after=3)
    google_emulator.inject(status=403, reason="userRateLimitExceeded", times=1, path=r"/events$")
    google_emulator.inject(status=503, reason="backendError", times=1, path=r"/events$")
    pages = drain(provider.list_changes(ALICE, None, NOW))
    assert pages[-1].cursor
    assert sleeper.waits[0] == 3.0  # Retry-After honoured exactly
    assert len(sleeper.waits) == 3 and all(0 <= w <= 4 for w in sleeper.waits[1:])  # jittered backoff
    assert len(google_emulator.server.requests_matching("GET", r"/events$")) == 4


def test_a_malformed_event_is_skipped_and_named_while_the_rest_is_kept(google_emulator: GoogleCalendarEmulator) -> None:
    provider, _ = make_provider(google_emulator)
    good = {
        "kind": "calendar#event",
        "id": "good00001",
        "status": "confirmed",
        "summary": "1:1",
        "start": {"dateTime": "2025-01-06T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2025-01-06T10:30:00+01:00", "timeZone": "Europe/Berlin"},
    }
    bad = {**good, "id": "bad000001", "start": {"dateTime": "next tuesday"}}
    page = {"kind": "calendar#events", "timeZone": "Europe/Berlin", "items": [bad, good], "nextSyncToken": "tok"}
    google_emulator.server.faults.add(Fault(Reply.json(200, page), path=r"/events$"))
    (result,) = drain(provider.list_changes(ALICE, None, NOW))
    assert [e.event_id for e in result.events] == ["good00001"]
    (skipped,) = result.skipped
    assert skipped.event_id == "bad000001" and "start.dateTime" in skipped.reason


def test_revoked_credentials_fail_with_an_actionable_auth_error(google_emulator: GoogleCalendarEmulator) -> None:
    provider, sleeper = make_provider(google_emulator)
    google_emulator.revoke(ALICE)
    with pytest.raises(AuthError) as error:
        drain(provider.list_changes(ALICE, None, NOW))
    assert "invalid_grant" in error.value.message
    assert sleeper.waits == []  # not retried: an admin must act


def test_responses_are_read_from_each_copy(google_emulator: GoogleCalendarEmulator) -> None:
    weekly_one_on_one(google_emulator, FIRST)
    google_emulator.respond(BOB, instance_id("weekly0001", FIRST + timedelta(weeks=1)), "declined")
    provider, _ = make_provider(google_emulator, calendars=(ALICE, BOB))
    events = [e for p in drain(provider.list_changes(ALICE, None, NOW)) for e in p.events]
    declined = [e for e in events if e.kind is EventKind.EXCEPTION]
    assert declined and {a.email: a.response for a in declined[0].attendees}[BOB] is Response.DECLINED
