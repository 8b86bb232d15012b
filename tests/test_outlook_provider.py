"""The Outlook adapter, driving the real msal and requests over HTTPS against the Graph emulator."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import trustme
from google_fixtures import SleepRecorder
from outlook_fixtures import (
    ALICE,
    BOB,
    CAROL,
    CLIENT_ID,
    drain,
    events_of,
    make_client,
    make_provider,
    single,
    weekly_series,
)

from emulators.graph import GraphEmulator
from emulators.http import Fault, Reply
from providers.base import AuthError, CursorExpired, RateLimited
from providers.outlook import OutlookProvider, parse_cursor
from providers.outlook_http import certificate_credential
from providers.outlook_mapping import MalformedEvent, map_master, recurrence_lines
from rules.model import EventKind, EventStatus, Response
from rules.recurrence import expand

NOW = datetime.now(UTC).replace(microsecond=0)
FIRST = (NOW - timedelta(weeks=4)).replace(hour=9, minute=0, second=0)


def _by_kind(pages: list[Any], kind: EventKind) -> list[Any]:
    return [e for e in events_of(pages) if e.kind is kind]


def _full_then(emulator: GraphEmulator, provider: OutlookProvider, mailbox: str = ALICE) -> str:
    cursor = drain(provider.list_changes(mailbox, None, NOW))[-1].cursor
    assert cursor is not None
    return cursor


# -- tokens ------------------------------------------------------------------------------------------
def test_a_token_is_acquired_once_and_reused_across_mailboxes(graph_emulator: GraphEmulator) -> None:
    provider, sleeper = make_provider(graph_emulator, (ALICE, BOB))
    for mailbox in (ALICE, BOB):
        drain(provider.list_changes(mailbox, None, NOW))
    assert len(graph_emulator.server.requests_matching("POST", r"/oauth2/v2\.0/token$")) == 1
    assert sleeper.waits == []


def test_a_wrong_secret_is_an_auth_error_naming_the_aadsts_code(graph_emulator: GraphEmulator) -> None:
    provider, sleeper = make_provider(graph_emulator, secret="not-the-secret")
    with pytest.raises(AuthError) as error:
        drain(provider.list_changes(ALICE, None, NOW))
    assert "invalid_client" in error.value.message and "AADSTS7000215" in error.value.message
    assert "outlook.client_id" in error.value.message  # says what to fix
    assert sleeper.waits == []  # not retried: an admin must act


def test_a_certificate_credential_is_accepted(graph_emulator: GraphEmulator, tmp_path: Path) -> None:
    leaf = trustme.CA().issue_cert("oneonone", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "oneonone.pem"
    pem.write_bytes(leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    graph_emulator.add_app("cert-app", certificate=leaf.cert_chain_pems[0].bytes().decode())
    client, _ = make_client(graph_emulator)
    client.client_id, client.credential = "cert-app", lambda: certificate_credential(pem)
    assert client.token(ALICE)
    assert len(certificate_credential(pem)["thumbprint"]) == 40


# -- full and incremental rounds ------------------------------------------------------------------------
def test_a_full_round_pages_through_delta_reads_each_master_once_and_sets_the_window(
    graph_emulator: GraphEmulator,
) -> None:
    masters = [weekly_series(graph_emulator, FIRST + timedelta(hours=n), subject=f"1:1 #{n}") for n in range(3)]
    single(graph_emulator, NOW + timedelta(days=2))
    provider, _ = make_provider(graph_emulator, page_size=4)
    pages = drain(provider.list_changes(ALICE, None, NOW))
    assert len(pages) >= 4 and [p.cursor is not None for p in pages] == [False] * (len(pages) - 1) + [True]
    assert all(p.full for p in pages)
    assert pages[-1].window_start == NOW - timedelta(weeks=13) and pages[-1].window_end == NOW + timedelta(weeks=8)
    assert pages[-1].time_zone == "Europe/Berlin"  # mailboxSettings: "W. Europe Standard Time"
    assert sorted(m.event_id for m in _by_kind(pages, EventKind.MASTER)) == sorted(m["id"] for m in masters)
    master_reads = graph_emulator.server.requests_matching("GET", r"/events/[^/]+$")
    assert len(master_reads) == 3  # once each, though every page names them
    delta = graph_emulator.server.requests_matching("GET", r"/calendarView/delta$")
    assert delta[0].header("prefer") == "odata.maxpagesize=4"
    assert all(r.param("startDateTime") is None for r in delta[1:])  # nextLinks used as given
    occurrences = _by_kind(pages, EventKind.EXCEPTION)
    assert occurrences and all(o.summary.startswith("1:1 #") for o in occurrences)  # sparse rows: master content
    cursor = json.loads(pages[-1].cursor or "")
    assert cursor["v"] == 1 and set(cursor["masters"]) == {m["id"] for m in masters}
    assert cursor["delta"].startswith(graph_emulator.graph_endpoint) and "$deltatoken=" in cursor["delta"]


def test_an_idle_incremental_round_costs_one_request(graph_emulator: GraphEmulator) -> None:
    weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    before = provider.client.requests_made
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    assert provider.client.requests_made - before == 1
    assert events_of(pages) == [] and not pages[-1].full and pages[-1].window_start is None
    assert json.loads(pages[-1].cursor or "")["masters"] == json.loads(cursor)["masters"]


def test_an_organizer_cancelled_occurrence_is_found_through_the_master(graph_emulator: GraphEmulator) -> None:
    master = weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    slot = FIRST + timedelta(weeks=2)
    occurrence = graph_emulator.occurrence_id(ALICE, master["id"], slot)
    graph_emulator.cancel_occurrence(ALICE, occurrence)
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    (read,) = _by_kind(pages, EventKind.MASTER)
    assert read.cancelled_occurrences == (slot,)
    assert occurrence in pages[-1].deleted_ids  # the `@removed` id was checked: 404
    cancelled = [e for e in events_of(pages) if e.is_cancelled]
    assert [(e.kind, e.original_start) for e in cancelled] == [(EventKind.EXCEPTION, slot)]


def test_a_cancellation_graph_never_reports_in_delta_is_still_found(graph_emulator: GraphEmulator) -> None:
    graph_emulator.removed_for_cancelled_occurrence = False  # the occurrence just vanishes
    master = weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    slot = FIRST + timedelta(weeks=1)
    graph_emulator.cancel_occurrence(ALICE, graph_emulator.occurrence_id(ALICE, master["id"], slot))
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    assert pages[-1].deleted_ids == []
    (read,) = _by_kind(pages, EventKind.MASTER)
    assert read.cancelled_occurrences == (slot,)
    # A cancelled copy of the slot outranks the stored occurrence row Graph never removed.
    (oid,) = [e for e in events_of(pages) if e.is_cancelled]
    assert oid.event_id.startswith(f"OID.{master['id']}.") and oid.original_start == slot


def test_an_attendee_sees_the_cancelled_occurrence_as_is_cancelled(graph_emulator: GraphEmulator) -> None:
    master = weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator, (BOB,))
    cursor = _full_then(graph_emulator, provider, BOB)
    slot = FIRST + timedelta(weeks=3)
    graph_emulator.cancel_occurrence(ALICE, graph_emulator.occurrence_id(ALICE, master["id"], slot))
    pages = drain(provider.list_changes(BOB, cursor, NOW))
    cancelled = [e for e in events_of(pages) if e.is_cancelled]
    assert [(e.kind, e.original_start, e.calendar) for e in cancelled] == [(EventKind.EXCEPTION, slot, BOB)]
    assert cancelled[0].organizer == ALICE and cancelled[0].series_id != master["id"]  # Bob's own copy


def test_a_moved_occurrence_is_an_exception_keeping_its_original_slot(graph_emulator: GraphEmulator) -> None:
    master = weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    slot = FIRST + timedelta(weeks=1)
    moved = slot + timedelta(days=1, hours=3)
    graph_emulator.update_event(
        ALICE,
        graph_emulator.occurrence_id(ALICE, master["id"], slot),
        {
            "start": {"dateTime": moved.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (moved + timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
        },
    )
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    by_slot = {e.original_start: e for e in _by_kind(pages, EventKind.EXCEPTION)}
    assert by_slot[slot].start == moved and by_slot[slot].status is EventStatus.CONFIRMED
    assert by_slot[slot].series_id == master["id"]
    assert pages[-1].deleted_ids == []


def test_a_deleted_series_is_reported_on_its_master(graph_emulator: GraphEmulator) -> None:
    master = weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator, (ALICE, BOB))
    alice, bob = _full_then(graph_emulator, provider), _full_then(graph_emulator, provider, BOB)
    graph_emulator.delete_event(ALICE, master["id"])
    pages = drain(provider.list_changes(ALICE, alice, NOW))
    assert pages[-1].deleted_ids[0] == master["id"]  # the master first: the store keeps its slots as they were
    assert master["id"] not in json.loads(pages[-1].cursor or "")["masters"]
    # The attendee's copy: the master is cancelled, its occurrences are not cancellations of their own.
    bob_pages = drain(provider.list_changes(BOB, bob, NOW))
    assert [e.kind for e in events_of(bob_pages) if e.is_cancelled] == [EventKind.MASTER]


def test_an_event_that_only_left_the_window_is_not_deleted(graph_emulator: GraphEmulator) -> None:
    meeting = single(graph_emulator, NOW + timedelta(days=3))
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    later = NOW + timedelta(weeks=20)
    graph_emulator.update_event(
        ALICE,
        meeting["id"],
        {
            "start": {"dateTime": later.isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (later + timedelta(minutes=30)).isoformat(), "timeZone": "UTC"},
        },
    )
    pages = drain(provider.list_changes(ALICE, cursor, NOW))
    assert pages[-1].deleted_ids == [] and list(pages[-1].left_window_ids) == [meeting["id"]]
    (moved,) = events_of(pages)
    assert moved.event_id == meeting["id"] and moved.start == later and not moved.is_cancelled


def test_a_deleted_single_event_is_a_deletion(graph_emulator: GraphEmulator) -> None:
    meeting = single(graph_emulator, NOW + timedelta(days=3))
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    graph_emulator.delete_event(ALICE, meeting["id"])
    assert drain(provider.list_changes(ALICE, cursor, NOW))[-1].deleted_ids == [meeting["id"]]


def test_responses_come_from_each_copy(graph_emulator: GraphEmulator) -> None:
    master = weekly_series(graph_emulator, FIRST)
    bob_master = next(e for e in graph_emulator.events(BOB) if e["type"] == "seriesMaster")
    slot = FIRST + timedelta(weeks=1)
    graph_emulator.respond(BOB, graph_emulator.occurrence_id(BOB, bob_master["id"], slot), "declined")
    provider, _ = make_provider(graph_emulator, (ALICE, BOB))
    for mailbox in (ALICE, BOB):
        pages = drain(provider.list_changes(mailbox, None, NOW))
        (declined,) = [e for e in _by_kind(pages, EventKind.EXCEPTION) if e.original_start == slot]
        assert {a.email: a.response for a in declined.attendees}[BOB] is Response.DECLINED, mailbox
    assert master["id"] != bob_master["id"]


# -- dead cursors and errors ------------------------------------------------------------------------------
def test_an_invalidated_delta_token_raises_cursor_expired(graph_emulator: GraphEmulator) -> None:
    weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator)
    cursor = _full_then(graph_emulator, provider)
    graph_emulator.invalidate_delta_tokens(ALICE)
    with pytest.raises(CursorExpired, match="syncStateNotFound"):
        drain(provider.list_changes(ALICE, cursor, NOW))


def test_a_series_master_row_in_delta_breaks_the_round(graph_emulator: GraphEmulator) -> None:
    provider, _ = make_provider(graph_emulator)
    page = {"value": [{"id": "AAMkAmaster", "type": "seriesMaster"}], "@odata.deltaLink": "https://x/delta"}
    graph_emulator.server.faults.add(Fault(Reply.json(200, page), path=r"/calendarView/delta$"))
    with pytest.raises(CursorExpired, match="series master"):
        drain(provider.list_changes(ALICE, None, NOW))


def test_an_unknown_or_old_cursor_starts_a_full_round(graph_emulator: GraphEmulator) -> None:
    weekly_series(graph_emulator, FIRST)
    provider, _ = make_provider(graph_emulator)
    cursor = json.loads(_full_then(graph_emulator, provider))
    assert parse_cursor(json.dumps({**cursor, "v": 99})) is None
    assert drain(provider.list_changes(ALICE, json.dumps({**cursor, "v": 99}), NOW))[-1].full
    stale = {**cursor, "based": (NOW - timedelta(days=5)).isoformat()}  # past 3 days + at most 24 h of jitter
    assert drain(provider.list_changes(ALICE, json.dumps(stale), NOW))[-1].full
    fresh = {**cursor, "based": (NOW - timedelta(days=2)).isoformat()}
    assert not drain(provider.list_changes(ALICE, json.dumps(fresh), NOW))[-1].full


def test_a_429_waits_exactly_the_retry_after_asked_for(graph_emulator: GraphEmulator) -> None:
    weekly_series(graph_emulator, FIRST)
    provider, sleeper = make_provider(graph_emulator)
    graph_emulator.throttle(times=1, retry_after=3, mailbox=ALICE)
    graph_emulator.throttle(times=1, retry_after=2, status=503, mailbox=ALICE)
    pages = drain(provider.list_changes(ALICE, None, NOW))
    assert pages[-1].cursor
    assert sleeper.waits == [3.0, 2.0]


def test_a_fifth_concurrent_request_to_a_mailbox_is_never_sent(graph_emulator: GraphEmulator) -> None:
    graph_emulator.request_delay = 0.2  # each request holds its slot at the emulator
    statuses: dict[int, list[int]] = {}
    waits: dict[int, list[float]] = {}
    for cap in (4, 8):  # the provider's cap, then none to speak of: the emulator throttles the 5th
        client, sleeper = make_client(graph_emulator, concurrency=cap)
        client.token(ALICE)
        barrier = threading.Barrier(8)
        done: list[int] = []

        def call(client: Any = client, barrier: threading.Barrier = barrier, done: list[int] = done) -> None:
            barrier.wait()
            url = client.user_url(ALICE, "mailboxSettings", "timeZone")
            try:
                done.append(client.call(ALICE, "GET", url, what="zone").status)
            except RateLimited:
                done.append(429)  # still throttled after the client's retries

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        statuses[cap], waits[cap] = done, sleeper.waits
    assert statuses[4] == [200] * 8 and waits[4] == []  # capped at 4: no 429, nothing to wait out
    assert waits[8] and set(waits[8]) == {1.0}  # uncapped: the emulator refused some (Retry-After: 1)


def test_a_missing_mailbox_is_a_permanent_error(graph_emulator: GraphEmulator) -> None:
    provider, _ = make_provider(graph_emulator, ("nobody@contoso.com",))
    with pytest.raises(Exception) as error:
        drain(provider.list_changes("nobody@contoso.com", None, NOW))
    assert getattr(error.value, "kind", "") == "permanent" and "ErrorInvalidUser" in str(error.value)


# -- zones and recurrence ---------------------------------------------------------------------------------
def test_a_weekly_windows_zone_series_keeps_its_local_time_across_dst(graph_emulator: GraphEmulator) -> None:
    first = datetime(2025, 3, 17, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # DST starts on 30 March
    master_json = weekly_series(graph_emulator, first, zone="W. Europe Standard Time")
    now = datetime(2025, 4, 10, 12, 0, tzinfo=UTC)
    provider, _ = make_provider(graph_emulator)
    pages = drain(provider.list_changes(ALICE, None, now))
    (master,) = _by_kind(pages, EventKind.MASTER)
    assert master.event_id == master_json["id"] and master.time_zone == "Europe/Berlin"
    assert master.recurrence == ("RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU",)
    assert master.start == datetime(2025, 3, 17, 9, 0, tzinfo=UTC)
    slots = expand(master, datetime(2025, 3, 17, tzinfo=UTC), datetime(2025, 4, 8, tzinfo=UTC)).slots
    assert [s.astimezone(ZoneInfo("Europe/Berlin")).hour for s in slots] == [10, 10, 10, 10]
    assert [s.hour for s in slots] == [9, 9, 8, 8]
    rows = {e.original_start: e.start for e in _by_kind(pages, EventKind.EXCEPTION)}
    assert set(slots) <= set(rows) and all(rows[s] == s for s in slots)


def test_an_unknown_zone_skips_that_series_and_names_it(graph_emulator: GraphEmulator) -> None:
    odd = weekly_series(graph_emulator, FIRST)
    single(graph_emulator, NOW + timedelta(days=1), subject="Kept")
    provider, _ = make_provider(graph_emulator)
    got = graph_emulator.get_event(ALICE, odd["id"])
    got["recurrence"]["range"]["recurrenceTimeZone"] = "Mars Standard Time"
    got["originalStartTimeZone"] = "Mars Standard Time"
    graph_emulator.server.faults.add(Fault(Reply.json(200, got), times=5, path=re.escape(odd["id"]) + "$"))
    pages = drain(provider.list_changes(ALICE, None, NOW))
    skipped = [s for p in pages for s in p.skipped]
    assert skipped and all(s.event_id != "" for s in skipped)
    assert any(s.event_id == odd["id"] and "Mars Standard Time" in s.reason for s in skipped)
    assert [e.summary for e in events_of(pages)] == ["Kept"]


@pytest.mark.parametrize(
    ("pattern", "range_", "expected"),
    [
        (
            {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "monday"},
            {"type": "noEnd"},
            "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=MO",
        ),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
            {"type": "numbered", "numberOfOccurrences": 6},
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;COUNT=6",
        ),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            {"type": "noEnd"},
            "RRULE:FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["wednesday"], "index": "second"},
            {"type": "noEnd"},
            "RRULE:FREQ=MONTHLY;BYDAY=2WE",
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"},
            {"type": "noEnd"},
            "RRULE:FREQ=MONTHLY;BYDAY=-1FR",
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 4},
            {"type": "noEnd"},
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=4",
        ),
        (
            {"type": "relativeYearly", "interval": 1, "month": 11, "daysOfWeek": ["thursday"], "index": "fourth"},
            {"type": "noEnd"},
            "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        ),
        (
            {"type": "daily", "interval": 3},
            {"type": "endDate", "endDate": "2025-07-01"},
            "RRULE:FREQ=DAILY;INTERVAL=3;UNTIL=20250701T215959Z",
        ),
    ],
)
def test_graph_recurrence_patterns_become_rrules(
    pattern: dict[str, Any], range_: dict[str, Any], expected: str
) -> None:
    # endDate: the end of that local day in the series zone (Berlin, summer time) as UTC.
    assert recurrence_lines({"pattern": pattern, "range": range_}, "e1", "Europe/Berlin") == (expected,)


def test_cancelled_occurrences_are_the_masters_local_start_on_that_date() -> None:
    item = {
        "id": "M1",
        "type": "seriesMaster",
        "subject": "1:1",
        "start": {"dateTime": "2025-03-17T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-17T09:30:00.0000000", "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": "2025-03-17", "recurrenceTimeZone": "W. Europe Standard Time"},
        },
        "cancelledOccurrences": ["OID.M1.2025-03-24", "OID.M1.2025-04-07"],
        "organizer": {"emailAddress": {"address": "Alice@Contoso.com"}},
    }
    master = map_master(item, ALICE)
    assert master.cancelled_occurrences == (
        datetime(2025, 3, 24, 9, 0, tzinfo=UTC),
        datetime(2025, 4, 7, 8, 0, tzinfo=UTC),  # 10:00 local, summer time
    )
    assert master.organizer == ALICE and master.provider == "outlook"
    with pytest.raises(MalformedEvent, match="Mars"):
        map_master(
            {**item, "recurrence": {**item["recurrence"], "range": {"type": "noEnd", "recurrenceTimeZone": "Mars"}}},
            ALICE,
        )


def test_client_secret_and_sleeper_are_injected_not_global(graph_emulator: GraphEmulator) -> None:
    client, sleeper = make_client(graph_emulator)
    assert (
        isinstance(sleeper, SleepRecorder)
        and client.client_id == CLIENT_ID
        and client.verify == str(graph_emulator.ca_pem)
    )
    assert CAROL  # the fixture's other mailboxes exist for the cycle tests
