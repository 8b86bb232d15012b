"""The Graph emulator behaves as Microsoft documents Graph v1.0 and the identity platform.

Driven over HTTPS with the real msal and requests, as the daemon will be.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import pytest
import requests
import trustme

from emulators.graph import GraphEmulator
from emulators.http import EmulatorServer, Reply, Request

ALICE = "alice@contoso.com"  # manager, organizer
BOB = "bob@contoso.com"  # report, attendee
SCOPE = ["https://graph.microsoft.com/.default"]
WEEK = {"startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-02-01T00:00:00Z"}


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[GraphEmulator]:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)  # these override verify= (reference §4.4)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with GraphEmulator(ca_dir=tmp_path) as emulator:
        emulator.add_app("daemon-app", "s3cret")
        emulator.add_mailbox(ALICE, "Europe/Berlin", "Alice Manager")
        emulator.add_mailbox(BOB, "W. Europe Standard Time", "Bob Report")
        yield emulator


def _app(
    emu: GraphEmulator, secret: Any = "s3cret", client_id: str = "daemon-app"
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id, client_credential=secret, authority=emu.authority, instance_discovery=False, verify=str(emu.ca_pem)
    )


@pytest.fixture
def graph(emu: GraphEmulator) -> requests.Session:
    token = _app(emu).acquire_token_for_client(SCOPE)["access_token"]
    session = requests.Session()
    session.verify = str(emu.ca_pem)
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def _series(emu: GraphEmulator, **extra: Any) -> dict[str, Any]:
    """Alice's weekly Monday 1:1 with Bob at 10:00 Berlin time, from 2025-01-06."""
    body = {
        "subject": "1:1 Alice / Bob",
        "body": {"contentType": "HTML", "content": "<p>Weekly</p>"},
        "start": {"dateTime": "2025-01-06T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2025-01-06T10:30:00", "timeZone": "W. Europe Standard Time"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
            "range": {"type": "noEnd", "startDate": "2025-01-06", "recurrenceTimeZone": "W. Europe Standard Time"},
        },
        "attendees": [{"emailAddress": {"address": BOB, "name": "Bob Report"}, "type": "required"}],
        **extra,
    }
    return emu.create_event(ALICE, body)


def _single(emu: GraphEmulator, subject: str, day: str, mailbox: str = ALICE) -> dict[str, Any]:
    return emu.create_event(
        mailbox,
        {
            "subject": subject,
            "start": {"dateTime": f"{day}T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": f"{day}T15:00:00", "timeZone": "UTC"},
        },
    )


def _delta_round(
    graph: requests.Session, url: str, params: dict[str, str] | None = None, size: int = 2
) -> tuple[list[dict[str, Any]], str]:
    """Follow nextLinks to the deltaLink; returns every row and the deltaLink."""
    rows: list[dict[str, Any]] = []
    while True:
        reply = graph.get(url, params=params, headers={"Prefer": f"odata.maxpagesize={size}"})
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert len(page["value"]) <= size
        rows += page["value"]
        if "@odata.deltaLink" in page:
            assert "@odata.nextLink" not in page
            return rows, page["@odata.deltaLink"]
        url, params = page["@odata.nextLink"], None


def _users(emu: GraphEmulator, mailbox: str) -> str:
    return f"{emu.graph_endpoint}/users/{mailbox}"


# -- identity --------------------------------------------------------------------------------------
def test_client_credentials_token_and_aad_errors(emu: GraphEmulator) -> None:
    result = _app(emu).acquire_token_for_client(SCOPE)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599 and result["access_token"]

    bad = _app(emu, secret="wrong").acquire_token_for_client(SCOPE)  # 401 is not replayed by msal
    assert bad["error"] == "invalid_client" and bad["error_codes"] == [7000215]
    assert bad["error_description"].startswith("AADSTS7000215:")
    assert {"trace_id", "correlation_id", "timestamp"} <= bad.keys()

    unknown = _app(emu, client_id="nobody").acquire_token_for_client(SCOPE)
    assert unknown["error"] == "unauthorized_client" and unknown["error_codes"] == [700016]

    wrong_scope = _app(emu).acquire_token_for_client(["https://graph.microsoft.com/Calendars.Read"])
    assert wrong_scope["error"] == "invalid_scope"


def test_certificate_credential_is_verified(emu: GraphEmulator) -> None:
    leaf = trustme.CA().issue_cert("daemon-app", key_type=trustme.KeyType.RSA)  # msal signs PS256
    key, cert = leaf.private_key_pem.bytes().decode(), leaf.cert_chain_pems[0].bytes().decode()
    emu.add_app("cert-app", certificate=cert)
    good = _app(emu, {"private_key": key, "public_certificate": cert}, "cert-app").acquire_token_for_client(SCOPE)
    assert "access_token" in good, good

    other = trustme.CA().issue_cert("impostor", key_type=trustme.KeyType.RSA)
    forged = {
        "private_key": other.private_key_pem.bytes().decode(),
        "public_certificate": other.cert_chain_pems[0].bytes().decode(),
    }
    refused = _app(emu, forged, "cert-app").acquire_token_for_client(SCOPE)
    assert refused["error"] == "invalid_client" and refused["error_codes"] == [700027]


def test_token_endpoint_fault_is_replayed_by_msal_until_a_new_app(emu: GraphEmulator) -> None:
    emu.fail_token_requests(status=503, retry_after=5)
    app = _app(emu)
    with pytest.raises(msal.exceptions.MsalServiceError):
        app.acquire_token_for_client(SCOPE)
    with pytest.raises(msal.exceptions.MsalServiceError):
        app.acquire_token_for_client(SCOPE)  # replayed from msal's cache: nothing is sent
    assert len(emu.server.requests_matching("POST", r"/oauth2/v2\.0/token$")) == 1
    assert "access_token" in _app(emu).acquire_token_for_client(SCOPE)


def test_application_permissions_are_enforced(emu: GraphEmulator) -> None:
    emu.add_app("read-only", "pw", roles=("Calendars.Read",))
    session = requests.Session()
    session.verify = str(emu.ca_pem)
    session.headers["Authorization"] = (
        "Bearer " + _app(emu, "pw", "read-only").acquire_token_for_client(SCOPE)["access_token"]
    )
    assert session.get(f"{_users(emu, ALICE)}/calendarView", params=WEEK).status_code == 200
    mail = {"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": BOB}}]}}
    denied = session.post(f"{_users(emu, ALICE)}/sendMail", json=mail)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"


def test_graph_requires_a_token_issued_here(emu: GraphEmulator) -> None:
    url = f"{_users(emu, ALICE)}/events"
    none = requests.get(url, verify=str(emu.ca_pem))
    assert none.status_code == 401
    assert none.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "errors" not in none.json()["error"]
    forged = requests.get(url, verify=str(emu.ca_pem), headers={"Authorization": "Bearer eyJ.forged.token"})
    assert forged.status_code == 401


# -- delta -----------------------------------------------------------------------------------------
def test_delta_pages_with_absolute_links_then_reports_only_changes(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu)
    lunch = _single(emu, "Lunch", "2025-01-15")
    _single(emu, "Offsite", "2025-01-22")
    url = f"{_users(emu, ALICE)}/calendarView/delta"

    first = graph.get(url, params=WEEK, headers={"Prefer": "odata.maxpagesize=2"})
    assert "odata.maxpagesize=2" in first.headers["Preference-Applied"]
    assert first.json()["@odata.nextLink"].startswith(f"{emu.graph_endpoint}/users/")
    assert "$skiptoken=" in first.json()["@odata.nextLink"]

    rows, delta_link = _delta_round(graph, url, WEEK)
    assert delta_link.startswith(emu.graph_endpoint) and "$deltatoken=" in delta_link
    assert "startDateTime" not in delta_link  # the window lives in the state token
    assert len(rows) == 4 + 2  # four Mondays in January (from the 6th) plus two singles
    assert all(r["type"] != "seriesMaster" for r in rows)
    occurrence = next(r for r in rows if r["type"] == "occurrence")
    assert occurrence["seriesMasterId"] == master["id"] and occurrence["originalStart"].endswith("Z")
    assert "subject" not in occurrence  # sparse occurrence rows: take content from the master

    emu.update_event(ALICE, lunch["id"], {"subject": "Lunch with Bob"})
    changes, _ = _delta_round(graph, delta_link)
    assert [(r["id"], r["subject"]) for r in changes] == [(lunch["id"], "Lunch with Bob")]


def test_delta_refuses_odata_options_and_needs_a_window(emu: GraphEmulator, graph: requests.Session) -> None:
    url = f"{_users(emu, ALICE)}/calendarView/delta"
    assert graph.get(url).status_code == 400
    selected = graph.get(url, params={**WEEK, "$select": "subject"})
    assert selected.status_code == 400 and selected.json()["error"]["code"] == "ErrorInvalidUrlQuery"


def test_delta_removed_for_deleted_and_for_left_window(emu: GraphEmulator, graph: requests.Session) -> None:
    doomed = _single(emu, "Doomed", "2025-01-10")
    moving = _single(emu, "Moving", "2025-01-17")
    _, delta_link = _delta_round(graph, f"{_users(emu, ALICE)}/calendarView/delta", WEEK)

    emu.delete_event(ALICE, doomed["id"])
    emu.update_event(
        ALICE,
        moving["id"],
        {
            "start": {"dateTime": "2025-03-03T14:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-03-03T15:00:00", "timeZone": "UTC"},
        },
    )
    outside = _single(emu, "Created outside the window", "2025-06-01")
    rows, _ = _delta_round(graph, delta_link)

    removed = {r["id"] for r in rows if "@removed" in r}
    assert removed == {doomed["id"], moving["id"], outside["id"]}  # documented: also outside-window changes
    tombstone = next(r for r in rows if r["id"] == doomed["id"])
    assert tombstone == {"@odata.type": "#microsoft.graph.event", "id": doomed["id"], "@removed": {"reason": "deleted"}}


def test_delta_token_invalidated_gives_410(emu: GraphEmulator, graph: requests.Session) -> None:
    _single(emu, "Something", "2025-01-10")
    _, delta_link = _delta_round(graph, f"{_users(emu, ALICE)}/calendarView/delta", WEEK)
    emu.invalidate_delta_tokens(ALICE)
    gone = graph.get(delta_link)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "syncStateNotFound"


def test_delta_round_is_consistent_while_paging(emu: GraphEmulator, graph: requests.Session) -> None:
    singles = [_single(emu, f"Event {n}", f"2025-01-{10 + n}") for n in range(4)]
    url = f"{_users(emu, ALICE)}/calendarView/delta"
    first = graph.get(url, params=WEEK, headers={"Prefer": "odata.maxpagesize=2"}).json()
    emu.update_event(ALICE, singles[3]["id"], {"subject": "Changed mid-round"})
    rest, delta_link = _delta_round(graph, first["@odata.nextLink"])
    assert [r["subject"] for r in first["value"] + rest] == ["Event 0", "Event 1", "Event 2", "Event 3"]
    changes, _ = _delta_round(graph, delta_link)
    assert [r["subject"] for r in changes] == ["Changed mid-round"]


# -- recurrence, cancellations and exceptions -------------------------------------------------------
def test_cancelled_occurrence_in_master_and_cancelled_for_attendee(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu)
    slot = datetime(2025, 1, 20, 9, 0, tzinfo=UTC)  # 10:00 Berlin
    emu.cancel_occurrence(ALICE, emu.occurrence_id(ALICE, master["id"], slot))

    got = graph.get(
        f"{_users(emu, ALICE)}/events/{master['id']}", params={"$select": "subject,cancelledOccurrences"}
    ).json()
    assert got["cancelledOccurrences"] == [f"OID.{master['id']}.2025-01-20"]
    plain = graph.get(f"{_users(emu, ALICE)}/events/{master['id']}").json()
    assert "cancelledOccurrences" not in plain  # only when $select names it

    alice_view = graph.get(f"{_users(emu, ALICE)}/calendarView", params=WEEK).json()["value"]
    assert "2025-01-20" not in {r["start"]["dateTime"][:10] for r in alice_view}
    bob_view = graph.get(f"{_users(emu, BOB)}/calendarView", params=WEEK).json()["value"]
    cancelled = next(r for r in bob_view if r["start"]["dateTime"].startswith("2025-01-20"))
    assert cancelled["isCancelled"] is True and cancelled["type"] == "exception"
    assert cancelled["iCalUId"] != master["iCalUId"] and cancelled["seriesMasterId"] != master["id"]  # Bob's own copy


def test_cancelled_occurrence_removed_from_organizer_delta_is_a_switch(
    emu: GraphEmulator, graph: requests.Session
) -> None:
    master = _series(emu)
    url = f"{_users(emu, ALICE)}/calendarView/delta"
    _, with_switch = _delta_round(graph, url, WEEK, size=50)
    emu.removed_for_cancelled_occurrence = False
    _, without_switch = _delta_round(graph, url, WEEK, size=50)
    occurrence = emu.occurrence_id(ALICE, master["id"], datetime(2025, 1, 27, 9, 0, tzinfo=UTC))
    emu.cancel_occurrence(ALICE, occurrence)

    silent, _ = _delta_round(graph, without_switch, size=50)
    assert occurrence not in {r["id"] for r in silent if "@removed" in r}
    emu.removed_for_cancelled_occurrence = True
    loud, _ = _delta_round(graph, with_switch, size=50)
    assert occurrence in {r["id"] for r in loud if "@removed" in r}


def test_deleted_series_is_cancelled_on_the_attendee_side(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu)
    assert graph.delete(f"{_users(emu, ALICE)}/events/{master['id']}").status_code == 204
    assert graph.get(f"{_users(emu, ALICE)}/events/{master['id']}").json()["error"]["code"] == "ErrorItemNotFound"
    assert graph.get(f"{_users(emu, ALICE)}/calendarView", params=WEEK).json()["value"] == []
    bob_rows = graph.get(f"{_users(emu, BOB)}/calendarView", params=WEEK).json()["value"]
    assert bob_rows and all(r["isCancelled"] for r in bob_rows)


def test_moved_occurrence_is_an_exception_with_original_start(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu)
    occurrence = emu.occurrence_id(ALICE, master["id"], datetime(2025, 1, 13, 9, 0, tzinfo=UTC))
    moved = graph.patch(
        f"{_users(emu, ALICE)}/events/{occurrence}",
        json={
            "start": {"dateTime": "2025-01-14T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-01-14T15:30:00", "timeZone": "UTC"},
        },
    )
    assert moved.status_code == 200, moved.text
    instances = graph.get(f"{_users(emu, ALICE)}/events/{master['id']}/instances", params=WEEK).json()["value"]
    exception = next(r for r in instances if r["id"] == occurrence)
    assert exception["type"] == "exception" and exception["originalStart"] == "2025-01-13T09:00:00Z"
    assert exception["start"] == {"dateTime": "2025-01-14T15:00:00.0000000", "timeZone": "UTC"}
    expanded = graph.get(
        f"{_users(emu, ALICE)}/events/{master['id']}",
        params={"$select": "subject,exceptionOccurrences", "$expand": "exceptionOccurrences"},
    ).json()
    assert [e["id"] for e in expanded["exceptionOccurrences"]] == [occurrence]
    crossing = graph.patch(
        f"{_users(emu, ALICE)}/events/{occurrence}",
        json={
            "start": {"dateTime": "2025-01-21T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2025-01-21T15:30:00", "timeZone": "UTC"},
        },
    )
    assert crossing.status_code == 400 and crossing.json()["error"]["code"] == "ErrorOccurrenceCrossingBoundary"


def test_weekly_series_keeps_local_time_across_dst(emu: GraphEmulator, graph: requests.Session) -> None:
    _series(emu)
    window = {"startDateTime": "2025-03-17T00:00:00Z", "endDateTime": "2025-04-08T00:00:00Z"}
    utc = graph.get(f"{_users(emu, ALICE)}/calendarView", params=window).json()["value"]
    assert [r["start"]["dateTime"] for r in utc] == [
        "2025-03-17T09:00:00.0000000",
        "2025-03-24T09:00:00.0000000",
        "2025-03-31T08:00:00.0000000",  # Berlin moved to summer time on 30 March
        "2025-04-07T08:00:00.0000000",
    ]
    local = graph.get(
        f"{_users(emu, ALICE)}/calendarView",
        params=window,
        headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'},
    )
    assert local.headers["Preference-Applied"] == 'outlook.timezone="W. Europe Standard Time"'
    assert {r["start"]["dateTime"][11:] for r in local.json()["value"]} == {"10:00:00.0000000"}
    assert graph.get(f"{_users(emu, ALICE)}/mailboxSettings").json()["timeZone"] == "W. Europe Standard Time"


def test_responses_show_on_both_sides(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu)
    bob_master = next(e for e in emu.events(BOB) if e["type"] == "seriesMaster")
    assert bob_master["iCalUId"] == master["iCalUId"] and bob_master["id"] != master["id"]
    reply = graph.post(f"{_users(emu, BOB)}/events/{bob_master['id']}/tentativelyAccept", json={"sendResponse": True})
    assert reply.status_code == 202 and reply.content == b""
    bob_view = graph.get(f"{_users(emu, BOB)}/events/{bob_master['id']}").json()
    assert bob_view["responseStatus"]["response"] == "tentativelyAccepted"
    alice_view = graph.get(f"{_users(emu, ALICE)}/events/{master['id']}").json()
    assert alice_view["attendees"][0]["status"]["response"] == "tentativelyAccepted"
    assert alice_view["responseStatus"]["response"] == "organizer"


# -- writes ----------------------------------------------------------------------------------------
def test_if_match_with_stale_etag_gives_412(emu: GraphEmulator, graph: requests.Session) -> None:
    event = _single(emu, "Review", "2025-01-10")
    url = f"{_users(emu, ALICE)}/events/{event['id']}"
    stale = graph.get(url).json()["@odata.etag"]
    emu.update_event(ALICE, event["id"], {"subject": "Review (moved)"})
    refused = graph.patch(url, json={"subject": "mine"}, headers={"If-Match": stale})
    assert refused.status_code == 412
    assert refused.json()["error"]["code"] == "ErrorIrresolvableConflict"
    fresh = graph.get(url).json()["@odata.etag"]
    accepted = graph.patch(url, json={"subject": "mine"}, headers={"If-Match": fresh})
    assert accepted.status_code == 200 and accepted.json()["@odata.etag"] != fresh


def test_body_patch_replaces_body_and_keeps_teams_blob(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu, isOnlineMeeting=True)
    url = f"{_users(emu, ALICE)}/events/{master['id']}"
    before = graph.get(url).json()
    assert "Microsoft Teams meeting" in before["body"]["content"]
    join_url = before["onlineMeeting"]["joinUrl"]
    new_html = before["body"]["content"].replace(
        "<p>Weekly</p>", '<p>Weekly</p><p><a href="https://agenda/1">Agenda</a></p>'
    )
    patched = graph.patch(url, json={"body": {"contentType": "HTML", "content": new_html}})
    assert patched.status_code == 200
    after = graph.get(url).json()
    assert after["body"] == {"contentType": "html", "content": new_html}  # byte for byte
    assert after["onlineMeeting"]["joinUrl"] == join_url
    assert len(emu.meeting_updates) == 1  # the organizer's body edit is sent to Bob


def test_extended_property_written_by_patch_and_read_by_expand(emu: GraphEmulator, graph: requests.Session) -> None:
    master = _series(emu)
    prop = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name OneOnOneBot"
    url = f"{_users(emu, ALICE)}/events/{master['id']}"
    assert graph.patch(url, json={"singleValueExtendedProperties": [{"id": prop, "value": "v1"}]}).status_code == 200
    assert "singleValueExtendedProperties" not in graph.get(url).json()
    expanded = graph.get(url, params={"$expand": f"singleValueExtendedProperties($filter=id eq '{prop}')"}).json()
    assert expanded["singleValueExtendedProperties"] == [{"id": prop, "value": "v1"}]
    assert emu.meeting_updates == []  # a private property is not a meeting update


def test_attendee_cannot_rewrite_the_organizers_meeting(emu: GraphEmulator, graph: requests.Session) -> None:
    _series(emu)
    bob_master = next(e for e in emu.events(BOB) if e["type"] == "seriesMaster")
    refused = graph.patch(f"{_users(emu, BOB)}/events/{bob_master['id']}", json={"subject": "Hijacked"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"


def test_series_patch_counts_one_update_per_edited_instance(emu: GraphEmulator) -> None:
    master = _series(emu)
    for day in (13, 20):
        occurrence = emu.occurrence_id(ALICE, master["id"], datetime(2025, 1, day, 9, 0, tzinfo=UTC))
        emu.update_event(ALICE, occurrence, {"subject": f"Special {day}"})
    emu.meeting_updates.clear()
    emu.update_event(ALICE, master["id"], {"location": {"displayName": "Room 1"}})
    assert len(emu.meeting_updates) == 3  # the master plus two edited instances


# -- throttling --------------------------------------------------------------------------------------
def test_throttled_with_retry_after_then_success(emu: GraphEmulator, graph: requests.Session) -> None:
    emu.throttle(times=1, retry_after=7, mailbox=ALICE)
    url = f"{_users(emu, ALICE)}/calendarView"
    throttled = graph.get(url, params=WEEK)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    error = throttled.json()["error"]
    assert error["code"] == "ApplicationThrottled" and "request-id" in error["innerError"]
    assert graph.get(url, params=WEEK).status_code == 200
    emu.throttle(status=503, retry_after=3)
    unavailable = graph.get(url, params=WEEK)
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "3"
    assert graph.get(url, params=WEEK).status_code == 200


def test_fifth_concurrent_request_to_a_mailbox_gets_429(emu: GraphEmulator, graph: requests.Session) -> None:
    emu.request_delay = 1.0
    barrier = threading.Barrier(5)
    statuses: list[int] = []

    def call() -> None:
        session = requests.Session()
        session.verify, session.headers = graph.verify, graph.headers
        barrier.wait()
        statuses.append(session.get(f"{_users(emu, ALICE)}/mailboxSettings").status_code)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(statuses) == [200, 200, 200, 200, 429]


# -- subscriptions -------------------------------------------------------------------------------------
class Receiver:
    """A webhook endpoint on 127.0.0.1 that validates as told and records notifications."""

    def __init__(self, mode: str = "echo") -> None:
        self.mode = mode
        self.validations: list[Request] = []
        self.notifications: list[dict[str, Any]] = []
        self.got = threading.Event()
        self.server = EmulatorServer(self.handle)
        self.url = self.server.start() + "/graph/notify"

    def handle(self, request: Request) -> Reply:
        token = request.param("validationToken")
        if token is not None:
            self.validations.append(request)
            body = token if self.mode == "echo" else "not the token"
            return Reply(200, body.encode(), {"Content-Type": "text/plain"})
        self.notifications.append(request.json())
        self.got.set()
        return Reply.empty(202)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.server.stop()


def _subscription(emu: GraphEmulator, url: str, minutes: int = 60) -> dict[str, Any]:
    expiry = datetime.now(UTC) + timedelta(minutes=minutes)
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": url,
        "lifecycleNotificationUrl": url,
        "resource": f"users/{ALICE}/events",
        "expirationDateTime": expiry.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
        "clientState": "secret-state",
    }


def test_subscription_handshake_then_notification(
    emu: GraphEmulator, graph: requests.Session, receiver: Receiver
) -> None:
    created = graph.post(f"{emu.graph_endpoint}/subscriptions", json=_subscription(emu, receiver.url))
    assert created.status_code == 201, created.text
    assert len(receiver.validations) == 2  # notification and lifecycle URLs are both validated
    validation = receiver.validations[0]
    assert validation.method == "POST" and validation.header("content-type", "").startswith("text/plain")
    assert " " in validation.param("validationToken", "")  # opaque; must be URL-decoded before echoing

    event = _single(emu, "Notify me", "2025-01-10")
    assert receiver.got.wait(5)
    note = receiver.notifications[0]["value"][0]
    assert note["subscriptionId"] == created.json()["id"] and note["clientState"] == "secret-state"
    assert note["changeType"] == "created" and note["resourceData"]["id"] == event["id"]
    assert note["resource"].startswith("Users/") and note["tenantId"] == emu.identity.tenant_guid

    sub_url = f"{emu.graph_endpoint}/subscriptions/{created.json()['id']}"
    renewed = graph.patch(sub_url, json={"expirationDateTime": (datetime.now(UTC) + timedelta(days=2)).isoformat()})
    assert renewed.status_code == 200
    assert emu.emit_lifecycle(created.json()["id"], "reauthorizationRequired") == 202
    assert receiver.notifications[-1]["value"][0]["lifecycleEvent"] == "reauthorizationRequired"
    assert graph.delete(sub_url).status_code == 204
    assert graph.get(sub_url).status_code == 404


def test_subscription_failed_handshake_creates_nothing(emu: GraphEmulator, graph: requests.Session) -> None:
    liar = Receiver(mode="wrong")
    try:
        refused = graph.post(f"{emu.graph_endpoint}/subscriptions", json=_subscription(emu, liar.url))
    finally:
        liar.server.stop()
    assert refused.status_code == 400
    assert graph.get(f"{emu.graph_endpoint}/subscriptions").json()["value"] == []
    too_long = graph.post(f"{emu.graph_endpoint}/subscriptions", json=_subscription(emu, liar.url, minutes=10081))
    assert too_long.status_code == 400


def test_expired_subscription_stops_delivering(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, receiver: Receiver
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    now = [datetime(2025, 1, 10, 12, 0, tzinfo=UTC)]
    with GraphEmulator(clock=lambda: now[0], ca_dir=tmp_path) as emu:
        emu.add_app("daemon-app", "s3cret")
        emu.add_mailbox(ALICE)
        session = requests.Session()
        session.verify = str(emu.ca_pem)
        session.headers["Authorization"] = "Bearer " + _app(emu).acquire_token_for_client(SCOPE)["access_token"]
        body = {**_subscription(emu, receiver.url), "expirationDateTime": "2025-01-10T13:00:00Z"}
        created = session.post(f"{emu.graph_endpoint}/subscriptions", json=body)
        assert created.status_code == 201, created.text
        now[0] += timedelta(minutes=61)
        _single(emu, "After expiry", "2025-01-10")
        assert emu.wait_for_notifications(5)
        assert receiver.notifications == [] and emu.deliveries == []
        assert session.get(f"{emu.graph_endpoint}/subscriptions/{created.json()['id']}").status_code == 404


# -- mail and directory ---------------------------------------------------------------------------------
def test_send_mail_is_accepted_and_recorded(emu: GraphEmulator, graph: requests.Session) -> None:
    message = {
        "subject": "Your 1:1 was cancelled",
        "body": {"contentType": "HTML", "content": "<p>Hi</p>"},
        "toRecipients": [{"emailAddress": {"address": ALICE}}],
    }
    sent = graph.post(f"{_users(emu, ALICE)}/sendMail", json={"message": message, "saveToSentItems": False})
    assert sent.status_code == 202 and sent.content == b""
    assert emu.sent_mail == [{"mailbox": ALICE, "message": message, "saveToSentItems": False}]
    empty = graph.post(f"{_users(emu, ALICE)}/sendMail", json={"message": {"subject": "x"}})
    assert empty.status_code == 400


def test_directory_pages_and_expands_manager(emu: GraphEmulator, graph: requests.Session) -> None:
    emu.add_user(ALICE, "Alice Manager", department="Eng")
    emu.add_user(BOB, "Bob Report", manager=ALICE, department="Eng")
    emu.add_user("carol@contoso.com", "Carol Report", manager=ALICE)
    page = graph.get(
        f"{emu.graph_endpoint}/users",
        params={"$select": "id,mail,displayName", "$expand": "manager($select=id,mail,userPrincipalName)", "$top": "2"},
    ).json()
    assert len(page["value"]) == 2 and page["@odata.nextLink"].startswith(emu.graph_endpoint)
    rest = graph.get(page["@odata.nextLink"]).json()
    users = {u["mail"]: u for u in page["value"] + rest["value"]}
    assert users[BOB]["manager"]["mail"] == ALICE and "manager" not in users[ALICE]
    reports = graph.get(f"{_users(emu, ALICE)}/directReports").json()["value"]
    assert {u["mail"] for u in reports} == {BOB, "carol@contoso.com"}
    no_mailbox = graph.get(f"{_users(emu, 'carol@contoso.com')}/calendarView", params=WEEK)
    assert no_mailbox.status_code == 404
