"""The Google Calendar emulator, driven over HTTP by the real googleapiclient.

Each test names one documented Google behaviour and asserts what a client sees. Seeding and
"UI" actions go through the emulator's Python side door; reads and the writes under test go
through the API, as the daemon does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import httplib2
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from emulators.google import GoogleApiError, GoogleCalendarEmulator

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
EXTERNAL = "dan@elsewhere.example"
SCOPES = ["https://www.googleapis.com/auth/calendar.events"]
SERIES = "series0001"
BERLIN = "Europe/Berlin"


class Clock:
    """The emulator's injected clock: aware UTC, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 3, 7, 0, tzinfo=UTC))


@pytest.fixture
def emu(clock: Clock) -> Iterator[GoogleCalendarEmulator]:
    with GoogleCalendarEmulator(clock=clock) as emulator:
        emulator.add_calendar(ALICE, BERLIN)
        emulator.add_calendar(BOB, BERLIN)
        emulator.add_calendar(CAROL, "America/New_York")
        yield emulator


def service(emu: GoogleCalendarEmulator, user: str, scopes: list[str] = SCOPES) -> Any:
    creds = service_account.Credentials.from_service_account_info(emu.service_account_info(), scopes=scopes)
    return build_with(emu, creds.with_subject(user))


def build_with(emu: GoogleCalendarEmulator, creds: Any) -> Any:
    return build(
        "calendar",
        "v3",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emu.api_endpoint},
    )


def zoned(y: int, m: int, d: int, hh: int, mm: int = 0, tz: str = BERLIN) -> dict[str, str]:
    return {"dateTime": datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(tz)).isoformat(), "timeZone": tz}


def weekly(
    emu: GoogleCalendarEmulator,
    event_id: str = SERIES,
    *,
    rule: str = "RRULE:FREQ=WEEKLY;BYDAY=MO",
    guests: tuple[str, ...] = (BOB,),
    hour: int = 10,
) -> dict[str, Any]:
    """Alice's weekly Monday 1:1 from 2025-03-03, Europe/Berlin."""
    return emu.insert_event(
        ALICE,
        {
            "summary": "1:1 Alice / Bob",
            "start": zoned(2025, 3, 3, hour),
            "end": zoned(2025, 3, 3, hour, 30),
            "recurrence": [rule],
            "attendees": [{"email": g} for g in guests],
        },
        event_id=event_id,
    )


def single(emu: GoogleCalendarEmulator, event_id: str, day: int = 5, owner: str = ALICE) -> dict[str, Any]:
    return emu.insert_event(
        owner,
        {"summary": f"one-off {event_id}", "start": zoned(2025, 3, day, 14), "end": zoned(2025, 3, day, 15)},
        event_id=event_id,
    )


def pages_of(svc: Any, **params: Any) -> list[dict[str, Any]]:
    pages, request = [], svc.events().list(calendarId="primary", **params)
    while request is not None:
        response = request.execute()
        pages.append(response)
        request = svc.events().list_next(request, response)
    return pages


def items_of(svc: Any, **params: Any) -> list[dict[str, Any]]:
    return [item for page in pages_of(svc, **params) for item in page["items"]]


def http_error(call: Any) -> HttpError:
    with pytest.raises(HttpError) as info:
        call.execute()
    return info.value


def reason(error: HttpError) -> str:
    return str(error.error_details[0]["reason"])


def iid(master: str, y: int, m: int, d: int, hh: int) -> str:
    """Instance id from the UTC original start."""
    return f"{master}_{datetime(y, m, d, hh, tzinfo=UTC):%Y%m%dT%H%M%SZ}"


# -- identity ---------------------------------------------------------------------------------


def test_token_exchange_binds_the_delegated_user_and_a_request_without_a_token_gets_401(
    emu: GoogleCalendarEmulator,
) -> None:
    assert pages_of(service(emu, ALICE))[0]["summary"] == ALICE
    (grant,) = emu.server.requests_matching("POST", r"^/token$")
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in grant.body

    anonymous = build(  # no credentials at all: a plain transport sends no Authorization header
        "calendar",
        "v3",
        http=httplib2.Http(),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emu.api_endpoint},
    )
    error = http_error(anonymous.events().list(calendarId="primary"))
    assert error.status_code == 401
    assert error.error_details[0] == {
        "domain": "global",
        "reason": "authError",
        "message": "Invalid Credentials",
        "locationType": "header",
        "location": "Authorization",
    }
    assert error.resp["www-authenticate"].startswith("Bearer")

    other = http_error(service(emu, ALICE).events().list(calendarId=BOB))
    assert (other.status_code, reason(other)) == (404, "notFound")


def test_refresh_token_grant_and_revocation(emu: GoogleCalendarEmulator) -> None:
    consent = emu.mint_refresh_token(BOB)
    creds = user_credentials.Credentials(
        token=None,
        refresh_token=consent["refresh_token"],
        client_id=consent["client_id"],
        client_secret=consent["client_secret"],
        token_uri=consent["token_uri"],
    )
    bob = build_with(emu, creds)
    assert pages_of(bob)[0]["summary"] == BOB

    alice = service(emu, ALICE)
    pages_of(alice)
    emu.revoke(ALICE)
    with pytest.raises(RefreshError, match="invalid_grant"):  # 401, refresh, then the grant is refused
        pages_of(alice)
    with pytest.raises(RefreshError, match="invalid_grant"):
        pages_of(
            build_with(
                emu,
                creds.__class__(
                    token=None,
                    refresh_token="1//bogus",
                    client_id=consent["client_id"],
                    client_secret=consent["client_secret"],
                    token_uri=consent["token_uri"],
                ),
            )
        )


def test_a_read_only_scope_may_list_but_not_write(emu: GoogleCalendarEmulator) -> None:
    reader = service(emu, ALICE, ["https://www.googleapis.com/auth/calendar.readonly"])
    assert pages_of(reader)[0]["items"] == []
    error = http_error(reader.events().insert(calendarId="primary", body={}))
    assert (error.status_code, reason(error)) == (403, "insufficientPermissions")


# -- events.list: paging and sync tokens ----------------------------------------------------


def test_full_sync_pages_end_with_the_sync_token_and_incremental_returns_every_change(
    emu: GoogleCalendarEmulator, clock: Clock
) -> None:
    ids = [f"evt{n:05d}" for n in range(7)]
    for n, event_id in enumerate(ids):
        single(emu, event_id, day=3 + n)
    weekly(emu)
    emu.page_size_override, emu.empty_page_every = 3, 2
    svc = service(emu, ALICE)

    pages = pages_of(svc)
    assert all("nextPageToken" in p and "nextSyncToken" not in p for p in pages[:-1])
    assert "nextSyncToken" in pages[-1] and "nextPageToken" not in pages[-1]
    assert any(p["items"] == [] for p in pages[:-1]), "Google may send empty pages with a nextPageToken"
    assert sorted(i["id"] for p in pages for i in p["items"]) == sorted([*ids, SERIES])
    assert {p["timeZone"] for p in pages} == {BERLIN}

    clock.advance(minutes=5)
    emu.patch_event(ALICE, ids[0], {"summary": "renamed"})
    emu.delete_event(ALICE, ids[1])
    single(emu, "evtnew01", day=20)
    emu.page_size_override = 2
    changes = pages_of(svc, syncToken=pages[-1]["nextSyncToken"])
    by_id = {i["id"]: i for p in changes for i in p["items"]}
    assert set(by_id) == {ids[0], ids[1], "evtnew01"}
    assert by_id[ids[0]]["summary"] == "renamed" and by_id[ids[0]]["updated"] == "2025-03-03T07:05:00.000Z"
    assert by_id[ids[1]] == {
        "kind": "calendar#event",
        "etag": by_id[ids[1]]["etag"],
        "id": ids[1],
        "status": "cancelled",
    }
    paged = emu.server.requests_matching("GET", r"/events$")[-1]
    assert paged.param("syncToken") == pages[-1]["nextSyncToken"] and paged.param("pageToken")

    quiet = pages_of(svc, syncToken=changes[-1]["nextSyncToken"])
    assert [i for p in quiet for i in p["items"]] == [] and "nextSyncToken" in quiet[-1]


def test_a_change_made_while_a_client_pages_arrives_in_the_next_incremental_round(emu: GoogleCalendarEmulator) -> None:
    for n in range(5):
        single(emu, f"page{n:05d}", day=3 + n)
    emu.page_size_override = 2
    svc = service(emu, ALICE)
    request = svc.events().list(calendarId="primary")
    first = request.execute()
    emu.patch_event(ALICE, first["items"][0]["id"], {"summary": "changed after it was served"})
    single(emu, "late00001", day=25)
    rest, nxt = [], svc.events().list_next(request, first)
    while nxt is not None:
        page = nxt.execute()
        rest.append(page)
        nxt = svc.events().list_next(nxt, page)
    listed = [i["id"] for i in first["items"]] + [i["id"] for p in rest for i in p["items"]]
    assert sorted(listed) == [f"page{n:05d}" for n in range(5)], "a run is served from its snapshot"
    changed = items_of(svc, syncToken=rest[-1]["nextSyncToken"])
    assert {i["id"] for i in changed} == {first["items"][0]["id"], "late00001"}


@pytest.mark.parametrize(
    "param",
    [
        {"iCalUID": "x@google.com"},
        {"orderBy": "updated"},
        {"privateExtendedProperty": "a=b"},
        {"q": "1:1"},
        {"sharedExtendedProperty": "a=b"},
        {"timeMin": "2025-03-01T00:00:00Z"},
        {"timeMax": "2025-03-01T00:00:00Z"},
        {"updatedMin": "2025-03-01T00:00:00Z"},
    ],
)
def test_a_sync_token_cannot_be_combined_with_filters(emu: GoogleCalendarEmulator, param: dict[str, str]) -> None:
    svc = service(emu, ALICE)
    token = pages_of(svc)[-1]["nextSyncToken"]
    error = http_error(svc.events().list(calendarId="primary", syncToken=token, **param))
    assert error.status_code == 400 and error.error_details[0]["reason"]


def test_an_invalidated_or_unknown_sync_token_gets_410_full_sync_required(emu: GoogleCalendarEmulator) -> None:
    svc = service(emu, ALICE)
    token = pages_of(svc)[-1]["nextSyncToken"]
    pages_of(svc, syncToken=token)  # still valid
    emu.invalidate_sync_tokens(ALICE)
    for bad in (token, "CPDAlvWDx70CEPDAlvWDx70CGAU="):
        error = http_error(svc.events().list(calendarId="primary", syncToken=bad))
        assert error.status_code == 410
        assert error.error_details[0] == {
            "domain": "calendar",
            "reason": "fullSyncRequired",
            "message": "Sync token is no longer valid, a full sync is required.",
            "locationType": "parameter",
            "location": "syncToken",
        }
    assert "nextSyncToken" in pages_of(svc)[-1]


def test_bad_list_parameter_combinations_are_rejected(emu: GoogleCalendarEmulator) -> None:
    svc = service(emu, ALICE)
    empty = http_error(
        svc.events().list(calendarId="primary", timeMin="2025-03-02T00:00:00Z", timeMax="2025-03-01T00:00:00Z")
    )
    assert (empty.status_code, reason(empty)) == (400, "timeRangeEmpty")
    unordered = http_error(svc.events().list(calendarId="primary", orderBy="startTime"))
    assert unordered.status_code == 400
    no_offset = http_error(svc.events().list(calendarId="primary", timeMin="2025-03-02T00:00:00"))
    assert no_offset.status_code == 400


# -- the singleEvents × showDeleted matrix ------------------------------------------------------


def _matrix_calendar(emu: GoogleCalendarEmulator) -> None:
    weekly(emu, rule="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6")  # 03-03 … 04-07
    emu.delete_event(ALICE, iid(SERIES, 2025, 3, 10, 9))
    emu.patch_event(
        ALICE, iid(SERIES, 2025, 3, 17, 9), {"start": zoned(2025, 3, 18, 11), "end": zoned(2025, 3, 18, 11, 30)}
    )
    single(emu, "live00001", day=12)
    single(emu, "gone00001", day=13)
    emu.delete_event(ALICE, "gone00001")
    weekly(emu, "deadseries", rule="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3", hour=15)
    emu.delete_event(ALICE, "deadseries")


@pytest.mark.parametrize(
    ("single_events", "show_deleted", "expected"),
    [
        (False, False, {SERIES, iid(SERIES, 2025, 3, 10, 9), iid(SERIES, 2025, 3, 17, 9), "live00001"}),
        (
            False,
            True,
            {SERIES, iid(SERIES, 2025, 3, 10, 9), iid(SERIES, 2025, 3, 17, 9), "live00001", "gone00001", "deadseries"},
        ),
        (
            True,
            False,
            {
                iid(SERIES, 2025, 3, 3, 9),
                iid(SERIES, 2025, 3, 17, 9),
                iid(SERIES, 2025, 3, 24, 9),
                iid(SERIES, 2025, 3, 31, 8),
                iid(SERIES, 2025, 4, 7, 8),
                "live00001",
            },
        ),
        (
            True,
            True,
            {
                iid(SERIES, 2025, 3, 3, 9),
                iid(SERIES, 2025, 3, 10, 9),
                iid(SERIES, 2025, 3, 17, 9),
                iid(SERIES, 2025, 3, 24, 9),
                iid(SERIES, 2025, 3, 31, 8),
                iid(SERIES, 2025, 4, 7, 8),
                "live00001",
                "gone00001",
                iid("deadseries", 2025, 3, 3, 14),
                iid("deadseries", 2025, 3, 10, 14),
                iid("deadseries", 2025, 3, 17, 14),
            },
        ),
    ],
)
def test_single_events_by_show_deleted_matrix(
    emu: GoogleCalendarEmulator, single_events: bool, show_deleted: bool, expected: set[str]
) -> None:
    _matrix_calendar(emu)
    items = items_of(
        service(emu, ALICE),
        singleEvents=single_events,
        showDeleted=show_deleted,
        timeMin="2025-03-01T00:00:00Z",
        timeMax="2025-04-30T00:00:00Z",
    )
    assert {i["id"] for i in items} == expected
    assert len(items) == len(expected)
    if single_events:
        assert not any("recurrence" in i for i in items), "never a master with singleEvents=true"
        assert all(i["status"] == "cancelled" for i in items if i["id"].startswith("deadseries"))


def test_a_cancelled_instance_of_a_live_series_has_the_minimal_shape(emu: GoogleCalendarEmulator) -> None:
    weekly(emu)
    emu.delete_event(ALICE, iid(SERIES, 2025, 3, 10, 9))
    for owner in (ALICE, BOB):
        items = {i["id"]: i for i in items_of(service(emu, owner))}
        cancelled = items[iid(SERIES, 2025, 3, 10, 9)]
        assert set(cancelled) == {"kind", "etag", "id", "status", "recurringEventId", "originalStartTime"}
        assert cancelled["status"] == "cancelled" and cancelled["recurringEventId"] == SERIES
        assert cancelled["originalStartTime"] == {"dateTime": "2025-03-10T10:00:00+01:00", "timeZone": BERLIN}
        assert items[SERIES]["status"] == "confirmed"


def test_a_moved_instance_keeps_its_id_and_original_start(emu: GoogleCalendarEmulator) -> None:
    weekly(emu)
    svc = service(emu, ALICE)
    moved_id = iid(SERIES, 2025, 3, 17, 9)
    moved = (
        svc.events()
        .patch(
            calendarId="primary",
            eventId=moved_id,
            sendUpdates="none",
            body={"start": zoned(2025, 3, 18, 15), "end": zoned(2025, 3, 18, 15, 30)},
        )
        .execute()
    )
    assert moved["id"] == moved_id and moved["status"] == "confirmed"
    assert moved["recurringEventId"] == SERIES and moved["iCalUID"] == f"{SERIES}@google.com"
    assert moved["originalStartTime"] == {"dateTime": "2025-03-17T10:00:00+01:00", "timeZone": BERLIN}
    assert moved["start"] == {"dateTime": "2025-03-18T15:00:00+01:00", "timeZone": BERLIN}
    assert moved["sequence"] == 1 and "recurrence" not in moved
    assert emu.send_updates[-1] == ("patch", moved_id, "none")

    instances = (
        svc.events()
        .instances(calendarId="primary", eventId=SERIES, timeMin="2025-03-16T00:00:00Z", timeMax="2025-03-25T00:00:00Z")
        .execute()["items"]
    )
    assert [(i["id"], i["start"]["dateTime"]) for i in instances] == [
        (moved_id, "2025-03-18T15:00:00+01:00"),
        (iid(SERIES, 2025, 3, 24, 9), "2025-03-24T10:00:00+01:00"),
    ]
    bob_copy = service(emu, BOB).events().get(calendarId="primary", eventId=moved_id).execute()
    assert bob_copy["start"] == moved["start"] and bob_copy["organizer"] == {"email": ALICE}


def test_a_deleted_series_is_gone_from_every_copy_and_item_calls_answer_as_documented(
    emu: GoogleCalendarEmulator,
) -> None:
    weekly(emu)
    emu.patch_event(ALICE, iid(SERIES, 2025, 3, 17, 9), {"summary": "special"})
    svc = service(emu, ALICE)
    token = pages_of(svc)[-1]["nextSyncToken"]
    svc.events().delete(calendarId="primary", eventId=SERIES, sendUpdates="none").execute()

    changes = {i["id"]: i for i in items_of(svc, syncToken=token)}
    assert set(changes[SERIES]) == {"kind", "etag", "id", "status"} and changes[SERIES]["status"] == "cancelled"
    assert changes[iid(SERIES, 2025, 3, 17, 9)]["status"] == "cancelled", "exceptions go with their series"
    assert items_of(svc) == []
    assert all(i["status"] == "cancelled" for i in items_of(service(emu, BOB), showDeleted=True))

    kept = svc.events().get(calendarId="primary", eventId=SERIES).execute()  # "get always returns them"
    assert kept["status"] == "cancelled" and kept["summary"] == "1:1 Alice / Bob"
    for call in (
        svc.events().delete(calendarId="primary", eventId=SERIES),
        svc.events().patch(calendarId="primary", eventId=SERIES, body={"summary": "x"}),
    ):
        error = http_error(call)
        assert (error.status_code, reason(error)) == (410, "deleted")


def test_a_weekly_berlin_series_stays_at_ten_local_across_the_dst_change(emu: GoogleCalendarEmulator) -> None:
    weekly(emu)
    items = items_of(
        service(emu, ALICE),
        singleEvents=True,
        orderBy="startTime",
        timeMin="2025-03-20T00:00:00Z",
        timeMax="2025-04-10T00:00:00Z",
    )
    assert [(i["id"], i["start"]["dateTime"]) for i in items] == [
        (iid(SERIES, 2025, 3, 24, 9), "2025-03-24T10:00:00+01:00"),
        (iid(SERIES, 2025, 3, 31, 8), "2025-03-31T10:00:00+02:00"),
        (iid(SERIES, 2025, 4, 7, 8), "2025-04-07T10:00:00+02:00"),
    ]
    carol = emu.insert_event(
        CAROL,
        {
            "summary": "all day",
            "start": {"date": "2025-03-10"},
            "end": {"date": "2025-03-11"},
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"],
        },
        event_id="allday001",
    )
    days = items_of(service(emu, CAROL), singleEvents=True)
    assert [(i["id"], i["start"]) for i in days] == [
        ("allday001_20250310", {"date": "2025-03-10"}),
        ("allday001_20250311", {"date": "2025-03-11"}),
    ]
    assert carol["end"] == {"date": "2025-03-11"}


def test_instances_lists_occurrences_and_cancelled_ones_only_when_asked(emu: GoogleCalendarEmulator) -> None:
    weekly(emu, rule="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4")
    emu.delete_event(ALICE, iid(SERIES, 2025, 3, 10, 9))
    svc = service(emu, ALICE)
    visible = svc.events().instances(calendarId="primary", eventId=SERIES).execute()
    assert [i["id"] for i in visible["items"]] == [iid(SERIES, 2025, 3, d, 9) for d in (3, 17, 24)]
    assert "nextSyncToken" not in visible and all(i["recurringEventId"] == SERIES for i in visible["items"])
    emu.page_size_override = 2
    request, seen = svc.events().instances(calendarId="primary", eventId=SERIES, showDeleted=True), []
    while request is not None:
        page = request.execute()
        seen += [(i["id"][-16:-6], i["status"]) for i in page["items"]]
        request = svc.events().instances_next(request, page)
    assert seen == [
        ("20250303T0", "confirmed"),
        ("20250310T0", "cancelled"),
        ("20250317T0", "confirmed"),
        ("20250324T0", "confirmed"),
    ]
    single(emu, "notrecur1")
    assert http_error(svc.events().instances(calendarId="primary", eventId="nosuchseries")).status_code == 404


# -- copies, organizers and guests ----------------------------------------------------------------


def test_guests_get_copies_and_only_the_organizer_changes_shared_fields(emu: GoogleCalendarEmulator) -> None:
    weekly(emu, guests=(BOB, EXTERNAL))
    alice, bob = service(emu, ALICE), service(emu, BOB)
    bob_token = pages_of(bob)[-1]["nextSyncToken"]
    copy = bob.events().get(calendarId=BOB, eventId=SERIES).execute()
    assert copy["organizer"] == {"email": ALICE} and "self" not in copy["creator"]
    assert {a["email"]: a.get("self", False) for a in copy["attendees"]} == {ALICE: False, BOB: True, EXTERNAL: False}

    for call in (
        bob.events().patch(calendarId="primary", eventId=SERIES, body={"summary": "mine now"}),
        bob.events().update(calendarId="primary", eventId=SERIES, body={**copy, "description": "hi"}),
        bob.events().delete(calendarId="primary", eventId=SERIES),
    ):
        error = http_error(call)
        assert (error.status_code, reason(error)) == (403, "forbiddenForNonOrganizer")

    mine = (
        bob.events()
        .patch(calendarId="primary", eventId=SERIES, body={"extendedProperties": {"private": {"seen": "yes"}}})
        .execute()
    )
    assert mine["extendedProperties"] == {"private": {"seen": "yes"}}
    answer = [dict(a, responseStatus="accepted") if a["email"] == BOB else a for a in copy["attendees"]]
    bob.events().patch(calendarId="primary", eventId=SERIES, body={"attendees": answer}).execute()
    organizer_copy = alice.events().get(calendarId="primary", eventId=SERIES).execute()
    assert "extendedProperties" not in organizer_copy, "private properties stay on their copy"
    assert {a["email"]: a["responseStatus"] for a in organizer_copy["attendees"]}[BOB] == "accepted"

    alice.events().patch(calendarId="primary", eventId=SERIES, body={"summary": "1:1 renamed"}).execute()
    changed = {i["id"]: i for i in items_of(bob, syncToken=bob_token)}
    assert changed[SERIES]["summary"] == "1:1 renamed"
    assert changed[SERIES]["extendedProperties"] == {"private": {"seen": "yes"}}

    emu.respond(BOB, iid(SERIES, 2025, 3, 10, 9), "declined")
    declined = alice.events().get(calendarId="primary", eventId=iid(SERIES, 2025, 3, 10, 9)).execute()
    assert {a["email"]: a["responseStatus"] for a in declined["attendees"]}[BOB] == "declined"
    assert declined["status"] == "confirmed", "a decline changes only the guest's answer"

    alice.events().patch(calendarId="primary", eventId=SERIES, body={"attendees": [{"email": EXTERNAL}]}).execute()
    assert bob.events().get(calendarId="primary", eventId=SERIES).execute()["status"] == "cancelled"
    assert [i["status"] for i in items_of(bob, showDeleted=True) if i["id"] == SERIES] == ["cancelled"]


def test_patch_replaces_arrays_and_merges_extended_properties(emu: GoogleCalendarEmulator) -> None:
    svc = service(emu, ALICE)
    created = (
        svc.events()
        .insert(
            calendarId="primary",
            body={
                "id": "patched001",
                "summary": "Sync",
                "start": zoned(2025, 3, 5, 9),
                "end": zoned(2025, 3, 5, 10),
                "attendees": [{"email": BOB}, {"email": CAROL}],
                "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
                "extendedProperties": {"private": {"a": "1", "b": "2"}, "shared": {"s": "1"}},
                "reminders": {
                    "useDefault": False,
                    "overrides": [{"method": "email", "minutes": 30}, {"method": "popup", "minutes": 10}],
                },
            },
        )
        .execute()
    )
    assert [a["email"] for a in created["attendees"]] == [BOB, CAROL], "the API does not add the organizer"
    patched = (
        svc.events()
        .patch(
            calendarId="primary",
            eventId="patched001",
            sendUpdates="none",
            body={
                "attendees": [{"email": BOB}],
                "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=2"],
                "reminders": {"overrides": [{"method": "popup", "minutes": 5}]},
                "extendedProperties": {"private": {"b": None, "c": "3", "k" * 45: "dropped", "long": "v" * 2000}},
            },
        )
        .execute()
    )
    assert [a["email"] for a in patched["attendees"]] == [BOB]
    assert patched["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=2"] and patched["sequence"] == 1
    assert patched["reminders"] == {"useDefault": False, "overrides": [{"method": "popup", "minutes": 5}]}
    assert patched["extendedProperties"] == {"private": {"a": "1", "c": "3", "long": "v" * 1024}, "shared": {"s": "1"}}
    assert patched["summary"] == "Sync" and patched["etag"] != created["etag"]
    assert emu.get_event(CAROL, "patched001")["status"] == "cancelled", "a removed guest loses their copy"


def test_if_match_with_a_stale_etag_gets_412(emu: GoogleCalendarEmulator) -> None:
    single(emu, "etag00001")
    svc = service(emu, ALICE)
    current = svc.events().get(calendarId="primary", eventId="etag00001").execute()
    assert current["etag"].startswith('"') and current["etag"].endswith('"')
    request = svc.events().patch(calendarId="primary", eventId="etag00001", body={"description": "v2"})
    request.headers["If-Match"] = current["etag"]
    fresh = request.execute()
    stale = svc.events().patch(calendarId="primary", eventId="etag00001", body={"description": "v3"})
    stale.headers["If-Match"] = current["etag"]
    error = http_error(stale)
    assert error.status_code == 412
    assert error.error_details[0] == {
        "domain": "global",
        "reason": "conditionNotMet",
        "message": "Precondition Failed",
        "locationType": "header",
        "location": "If-Match",
    }
    assert svc.events().get(calendarId="primary", eventId="etag00001").execute()["etag"] == fresh["etag"]


def test_attachments_change_only_with_supports_attachments(emu: GoogleCalendarEmulator) -> None:
    single(emu, "attach001")
    svc = service(emu, ALICE)
    link = [{"fileUrl": "https://agenda.example/1", "title": "Agenda"}]
    ignored = svc.events().patch(calendarId="primary", eventId="attach001", body={"attachments": link}).execute()
    assert "attachments" not in ignored
    kept = (
        svc.events()
        .patch(calendarId="primary", eventId="attach001", supportsAttachments=True, body={"attachments": link})
        .execute()
    )
    assert kept["attachments"] == link
    too_many = [{"fileUrl": f"https://agenda.example/{n}"} for n in range(26)]
    error = http_error(
        svc.events().patch(
            calendarId="primary", eventId="attach001", supportsAttachments=True, body={"attachments": too_many}
        )
    )
    assert error.status_code == 400


def test_client_chosen_ids_are_base32hex_and_unique(emu: GoogleCalendarEmulator) -> None:
    svc = service(emu, ALICE)
    body = {"id": "abc0123v", "start": zoned(2025, 3, 5, 9), "end": zoned(2025, 3, 5, 10)}
    assert svc.events().insert(calendarId="primary", body=body).execute()["id"] == "abc0123v"
    duplicate = http_error(svc.events().insert(calendarId="primary", body=body))
    assert (duplicate.status_code, reason(duplicate)) == (409, "duplicate")
    for bad in ("abcw1234", "ab12", "ABC01234"):
        assert http_error(svc.events().insert(calendarId="primary", body={**body, "id": bad})).status_code == 400


def test_a_split_series_gets_an_r_suffixed_id_and_the_old_rule_ends_with_until(emu: GoogleCalendarEmulator) -> None:
    weekly(emu)
    tail = emu.split_series(ALICE, SERIES, datetime(2025, 3, 24, 9, tzinfo=UTC), {"summary": "1:1 (new)"})
    assert tail["id"] == f"{SERIES}_R20250324T090000" and tail["iCalUID"] == f"{SERIES}_R20250324T090000@google.com"
    assert tail["start"] == {"dateTime": "2025-03-24T10:00:00+01:00", "timeZone": BERLIN}
    assert tail["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO"] and tail["summary"] == "1:1 (new)"
    head = service(emu, BOB).events().get(calendarId="primary", eventId=SERIES).execute()
    assert head["recurrence"] == ["RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250323T225959Z"]
    starts = [
        (i["recurringEventId"], i["start"]["dateTime"][:10])
        for i in items_of(
            service(emu, BOB),
            singleEvents=True,
            orderBy="startTime",
            timeMin="2025-03-10T00:00:00Z",
            timeMax="2025-04-01T00:00:00Z",
        )
    ]
    assert starts == [
        (SERIES, "2025-03-10"),
        (SERIES, "2025-03-17"),
        (tail["id"], "2025-03-24"),
        (tail["id"], "2025-03-31"),
    ]


# -- faults and push ------------------------------------------------------------------------------


def test_an_injected_fault_is_google_shaped_and_the_next_call_recovers(emu: GoogleCalendarEmulator) -> None:
    svc = service(emu, ALICE)
    emu.inject(status=429, reason="rateLimitExceeded", times=1, path=r"/events$", retry_after=3)
    emu.inject(status=403, reason="userRateLimitExceeded", times=1, path=r"/events$")
    emu.inject(status=503, times=1, path=r"/events$")
    limited = http_error(svc.events().list(calendarId="primary"))
    assert (limited.status_code, reason(limited), limited.resp["retry-after"]) == (429, "rateLimitExceeded", "3")
    assert limited.error_details[0]["domain"] == "usageLimits"
    user_limited = http_error(svc.events().list(calendarId="primary"))
    assert (user_limited.status_code, reason(user_limited)) == (403, "userRateLimitExceeded")
    backend = http_error(svc.events().list(calendarId="primary"))
    assert (backend.status_code, reason(backend)) == (503, "backendError")
    assert "nextSyncToken" in svc.events().list(calendarId="primary").execute()


class Receiver:
    """A local web-hook endpoint that records notifications and answers with scripted statuses."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.hits: list[dict[str, str]] = []
        self.cond = threading.Condition()
        self.statuses = list(statuses)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.cond:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    if status == 200:
                        outer.hits.append({**{k.lower(): v for k, v in self.headers.items()}, "body": body.decode()})
                        outer.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.hits) < count and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            assert len(self.hits) >= count, f"expected {count} notifications, got {self.hits}"
            return list(self.hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_watch_channel_delivers_sync_then_exists_until_stopped_or_expired(
    emu: GoogleCalendarEmulator, clock: Clock
) -> None:
    emu.push.retry_backoff = 0.01
    alice_hook, bob_hook, carol_hook = Receiver(statuses=(503,)), Receiver(), Receiver()
    try:
        svc = service(emu, ALICE)
        channel = (
            svc.events()
            .watch(
                calendarId="primary",
                body={
                    "id": "chan-1",
                    "type": "web_hook",
                    "address": alice_hook.url,
                    "token": "target=alice",
                },
            )
            .execute()
        )
        assert channel["kind"] == "api#channel" and channel["id"] == "chan-1" and channel["token"] == "target=alice"
        assert channel["resourceUri"].endswith("/calendars/primary/events?alt=json")
        (sync,) = alice_hook.wait_for(1)
        assert sync["x-goog-resource-state"] == "sync" and sync["x-goog-message-number"] == "1"
        assert sync["x-goog-channel-id"] == "chan-1" and sync["x-goog-channel-token"] == "target=alice"
        assert sync["x-goog-resource-id"] == channel["resourceId"] and sync["body"] == ""
        assert sync["x-goog-channel-expiration"].endswith("GMT")

        weekly(emu)  # reaches Alice's and Bob's calendars
        exists = alice_hook.wait_for(2)[1]
        assert exists["x-goog-resource-state"] == "exists"
        assert int(exists["x-goog-message-number"]) > 1

        svc.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}).execute()
        bob = service(emu, BOB)
        bob.events().watch(
            calendarId="primary",
            body={"id": "chan-2", "type": "web_hook", "address": bob_hook.url, "params": {"ttl": "60"}},
        ).execute()
        bob_hook.wait_for(1)
        emu.patch_event(ALICE, SERIES, {"summary": "after stop"})
        bob_hook.wait_for(2)  # deliveries are in order: Alice's would have come first
        assert len(alice_hook.hits) == 2, "a stopped channel delivers nothing"
        assert [d.attempts for d in emu.deliveries if d.channel_id == "chan-1"] == [2, 1], "a 503 is retried"

        carol = service(emu, CAROL)
        carol.events().watch(
            calendarId=CAROL, body={"id": "chan-3", "type": "webhook", "address": carol_hook.url}
        ).execute()
        carol_hook.wait_for(1)
        clock.advance(minutes=2)
        emu.patch_event(ALICE, SERIES, {"summary": "after expiry"})
        single(emu, "poke00001", owner=CAROL)
        carol_hook.wait_for(2)
        assert len(bob_hook.hits) == 2, "an expired channel delivers nothing"
        error = http_error(svc.channels().stop(body={"id": "chan-1", "resourceId": channel["resourceId"]}))
        assert error.status_code == 404
    finally:
        for hook in (alice_hook, bob_hook, carol_hook):
            hook.close()


# -- scale and the side door --------------------------------------------------------------------


def test_seeding_thousands_of_series_through_the_side_door_is_fast(emu: GoogleCalendarEmulator) -> None:
    began = time.perf_counter()
    for n in range(8000):
        emu.insert_event(
            ALICE,
            {
                "summary": f"1:1 #{n}",
                "start": zoned(2025, 1, 6 + n % 5, 9 + n % 8),
                "end": zoned(2025, 1, 6 + n % 5, 10 + n % 8),
                "recurrence": ["RRULE:FREQ=WEEKLY"],
                "attendees": [{"email": BOB if n % 2 else CAROL}],
            },
            event_id=f"seed{n:06d}",
        )
    assert time.perf_counter() - began < 10
    assert len(emu.events(BOB)) == 4000 and len(emu.events(CAROL)) == 4000


def test_side_door_errors_are_google_errors(emu: GoogleCalendarEmulator) -> None:
    with pytest.raises(GoogleApiError) as info:
        emu.patch_event(ALICE, "nosuchevent", {"summary": "x"})
    assert (info.value.status, info.value.reason) == (404, "notFound")
    weekly(emu)
    with pytest.raises(GoogleApiError) as forbidden:
        emu.patch_event(BOB, SERIES, {"summary": "not mine"})
    assert forbidden.value.reason == "forbiddenForNonOrganizer"
