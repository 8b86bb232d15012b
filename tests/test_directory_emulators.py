"""The directory endpoints of both emulators, driven by the real client libraries, against the vendors' docs."""

from __future__ import annotations

from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from outlook_fixtures import CLIENT_ID, make_client

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator

ADMIN, BOSS, ANA, BEN = "admin@example.com", "boss@example.com", "ana@example.com", "ben@example.com"
READONLY = "https://www.googleapis.com/auth/admin.directory.user.readonly"


def directory(emu: GoogleCalendarEmulator, subject: str = ADMIN, scope: str = READONLY) -> Any:
    creds = service_account.Credentials.from_service_account_info(emu.service_account_info(), scopes=[scope])
    return build_from_document(
        get_static_doc("admin", "directory_v1"),
        credentials=creds.with_subject(subject),
        client_options={"api_endpoint": emu.base_url + "/"},
    )


@pytest.fixture
def google() -> Any:
    with GoogleCalendarEmulator() as emu:
        emu.directory.add_user(ADMIN, "It Admin", admin=True)
        emu.directory.add_user(BOSS, "Big Boss", department="Leadership", org_unit="/Leaders")
        emu.directory.add_user(ANA, "Ana Lima", manager=BOSS, department="Engineering")
        emu.directory.add_user(BEN, "Ben Ito", manager=BOSS)
        yield emu


def test_users_list_pages_and_renders_the_documented_fields(google: GoogleCalendarEmulator) -> None:
    users = directory(google).users()
    request = users.list(customer="my_customer", maxResults=3, projection="full", viewType="admin_view")
    first = request.execute()
    assert first["kind"] == "admin#directory#users" and len(first["users"]) == 3 and first["nextPageToken"]
    second = users.list_next(request, first).execute()
    assert "nextPageToken" not in second and [u["primaryEmail"] for u in second["users"]] == [BOSS]
    ana = next(u for u in first["users"] if u["primaryEmail"] == ANA)
    assert ana["name"]["fullName"] == "Ana Lima" and ana["orgUnitPath"] == "/"
    assert ana["relations"] == [{"value": BOSS, "type": "manager"}]
    assert ana["organizations"][0]["department"] == "Engineering" and ana["suspended"] is False
    google.directory.suspend(BEN)
    google.directory.remove_user(ANA)
    listed = {u["primaryEmail"]: u for u in users.list(customer="my_customer").execute()["users"]}
    assert ANA not in listed and listed[BEN]["suspended"] and listed[BEN]["suspensionReason"] == "ADMIN"
    deleted = users.list(customer="my_customer", showDeleted="true").execute()["users"]
    assert [u["primaryEmail"] for u in deleted] == [ANA]


@pytest.mark.parametrize(
    ("subject", "scope", "params", "status", "reason"),
    [
        (ANA, READONLY, {"customer": "my_customer"}, 403, "forbidden"),  # not an administrator
        (ADMIN, "https://www.googleapis.com/auth/calendar.events", {"customer": "my_customer"}, 403, None),
        (ADMIN, READONLY, {}, 400, "badRequest"),  # neither customer nor domain
        (ADMIN, READONLY, {"customer": "C0nope"}, 400, "badRequest"),
        (ADMIN, READONLY, {"customer": "my_customer", "maxResults": 501}, 400, "invalid"),
        (ADMIN, READONLY, {"customer": "my_customer", "pageToken": "garbage"}, 400, "invalid"),
    ],
)
def test_users_list_refuses_what_google_refuses(
    google: GoogleCalendarEmulator, subject: str, scope: str, params: dict[str, Any], status: int, reason: str | None
) -> None:
    with pytest.raises(HttpError) as error:
        directory(google, subject, scope).users().list(**params).execute()
    assert error.value.status_code == status
    if reason:
        assert error.value.error_details[0]["reason"] == reason  # type: ignore[index]


def test_graph_users_reflect_disabled_removed_and_moved_people(graph_emulator: GraphEmulator) -> None:
    graph_emulator.add_user(BOSS, "Big Boss", department="Leadership")
    graph_emulator.add_user(ANA, "Ana Lima", manager=BOSS, department="Engineering")
    graph_emulator.add_user(BEN, "Ben Ito", manager=ANA)
    graph_emulator.disable_user(BEN)
    graph_emulator.set_manager(ANA, None)
    graph_emulator.remove_user(BOSS)
    client, _ = make_client(graph_emulator)
    reply = client.call(
        CLIENT_ID,
        "GET",
        f"{graph_emulator.graph_endpoint}/users",
        what="users",
        params={"$select": "mail,accountEnabled,department", "$expand": "manager($select=mail)", "$top": "999"},
    )
    users = {u["mail"]: u for u in reply.body["value"]}
    assert BOSS not in users and "manager" not in users[ANA]
    assert users[BEN]["accountEnabled"] is False and users[BEN]["manager"]["mail"] == ANA
