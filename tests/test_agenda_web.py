"""The pair's page over HTTP (Flask's test client): access, CSRF, cookies, escaping, carry-over."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from agenda_fixtures import FIRST, NOW, AgendaWorld, client_for, csrf, make_agenda_world, sign_in, weekly_world
from google_fixtures import ALICE, BOB, CAROL, instance_id, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.agenda import auth
from sync.agenda.store import add_item
from sync.store.models import AgendaPairRow, OutboxRow
from sync.web import agenda_deps, create_app


@pytest.fixture
def world(google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str) -> AgendaWorld:
    return weekly_world(google_emulator, sink, database_url)


def outbox(world: AgendaWorld, kind: str) -> list[OutboxRow]:
    with world.runtime.db.session() as session:
        return list(session.query(OutboxRow).filter_by(kind=kind).order_by(OutboxRow.id))


def test_the_page_shows_nothing_without_a_session_and_unknown_ids_look_the_same(world: AgendaWorld) -> None:
    client = client_for(world)
    known = client.get(f"/a/{world.page_id()}")
    unknown = client.get("/a/not-a-real-page-id-at-all-xxxxxxxxxxxxx")
    for response in (known, unknown):
        assert response.status_code == 401
        text = response.get_data(as_text=True)
        assert "Email me a sign-in link" in text and "Talking points" not in text and "Bob" not in text
    assert "/a/" not in client.get("/").get_data(as_text=True)  # without a session, nothing lists pages
    assert known.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in known.headers["Content-Security-Policy"]


def test_a_sign_in_request_only_ever_mails_the_pairs_two_people(world: AgendaWorld) -> None:
    client = client_for(world)
    page = f"/a/{world.page_id()}"
    token = csrf(client.get(page))
    for address in ("mallory@evil.example", CAROL, "BOB@EXAMPLE.COM"):
        answer = client.post(f"{page}/signin", data={"email": address, "csrf": token})
        assert answer.status_code == 200 and "Check your inbox" in answer.get_data(as_text=True)
    client.post("/a/unknown-page-id-xxxxxxxxxxxxxxxxxxxxxxx/signin", data={"email": BOB, "csrf": token})
    assert [row.recipient for row in outbox(world, "agenda-signin")] == [BOB]


def test_forms_without_a_valid_csrf_token_are_refused(world: AgendaWorld) -> None:
    client = client_for(world)
    page = f"/a/{world.page_id()}"
    client.get(page)
    assert client.post(f"{page}/signin", data={"email": BOB}).status_code == 400
    assert client.post(f"{page}/signin", data={"email": BOB, "csrf": "0" * 64}).status_code == 400
    assert outbox(world, "agenda-signin") == []
    sign_in(world, client, BOB)
    assert client.post(f"{page}/items", data={"kind": "topic", "text": "hi"}).status_code == 400
    other = create_app(agenda_deps(world.runtime)).test_client()  # another browser's token does not fit
    sign_in(world, other, BOB)
    stolen = csrf(other.get(page))
    assert client.post(f"{page}/items", data={"kind": "topic", "text": "hi", "csrf": stolen}).status_code == 400


@pytest.mark.parametrize("base_url, secure", [("http://127.0.0.1:8080", False), ("https://agenda.example.com", True)])
def test_the_sign_in_link_is_single_use_short_lived_and_opens_a_strict_cookie(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, sqlite_url: str, base_url: str, secure: bool
) -> None:
    world = make_agenda_world(google_emulator, sink, sqlite_url, base_url=base_url)
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    client = client_for(world)
    page = f"/a/{world.page_id()}"
    client.post(f"{page}/signin", data={"email": BOB, "csrf": csrf(client.get(page))})
    (mail,) = outbox(world, "agenda-signin")
    link = re.search(r"/signin/[A-Za-z0-9_-]+", mail.text_body)
    assert link and mail.text_body.count(base_url) == 1
    confirm = client.get(link.group(0))  # GET only shows a button: link scanners do not burn it
    assert confirm.status_code == 200
    done = client.post(link.group(0), data={"csrf": csrf(confirm)})
    assert done.status_code == 303 and done.headers["Location"] == page
    cookie = next(c for c in done.headers.getlist("Set-Cookie") if c.startswith(auth.SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and ("Secure" in cookie) is secure
    assert client.get(page).status_code == 200
    assert client.post(link.group(0), data={"csrf": csrf(confirm)}).status_code in (400, 303)
    again = create_app(agenda_deps(world.runtime)).test_client()
    assert again.get(link.group(0)).status_code == 400  # used once: dead
    # a fresh link dies after `signin_link_minutes`
    client.post(f"{page}/signin", data={"email": BOB, "csrf": csrf(client.get(page))})
    late = re.search(r"/signin/[A-Za-z0-9_-]+", outbox(world, "agenda-signin")[-1].text_body)
    assert late
    world.now[0] += timedelta(minutes=16)
    assert again.get(late.group(0)).status_code == 400


def test_a_signed_in_person_outside_the_pair_sees_nothing(world: AgendaWorld) -> None:
    client = client_for(world)
    sign_in(world, client, CAROL)
    response = client.get(f"/a/{world.page_id()}")
    assert response.status_code == 401 and "not one of the two people" in response.get_data(as_text=True)


def test_talking_points_are_escaped_recorded_with_their_author_and_the_reports_come_first(world: AgendaWorld) -> None:
    alice, bob = client_for(world), client_for(world)
    sign_in(world, alice, ALICE)
    sign_in(world, bob, BOB)
    page = f"/a/{world.page_id()}"
    alice.post(f"{page}/items", data={"kind": "topic", "text": "Team offsite", "csrf": csrf(alice.get(page))})
    bob.post(f"{page}/items", data={"kind": "topic", "text": "<script>alert(1)</script>", "csrf": csrf(bob.get(page))})
    html = alice.get(page).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    topics = re.findall(r'data-kind="topic">\s*<div class="text">([^<]*)</div>', html)
    assert topics == ["&lt;script&gt;alert(1)&lt;/script&gt;", "Team offsite"]
    with world.runtime.db.session() as session:
        from sync.agenda.store import items_of

        pair = session.query(AgendaPairRow).one()
        authors = {i.text: i.author for i in items_of(session, pair.id)}
    assert authors == {"Team offsite": ALICE, "<script>alert(1)</script>": BOB}


def test_the_first_meeting_of_a_new_pair_gets_the_first_one_on_one_questions(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, sqlite_url: str
) -> None:
    pairs = [
        {"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=60)).date()},  # history at install
        {"manager": ALICE, "report": CAROL, "start": (NOW - timedelta(days=3)).date()},  # just joined
    ]
    world = make_agenda_world(google_emulator, sink, sqlite_url, pairs=pairs)
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    weekly_one_on_one(
        world.emulator,
        NOW + timedelta(days=1),
        attendee=CAROL,
        event_id="carol0001",
        title="1:1 Alice / Carol",
        zone="UTC",
    )
    world.cycle()
    client = client_for(world)
    sign_in(world, client, ALICE)
    new = client.get(f"/a/{world.page_id(ALICE, CAROL)}").get_data(as_text=True)
    old = client.get(f"/a/{world.page_id(ALICE, BOB)}").get_data(as_text=True)
    assert 'id="first-meeting"' in new and "not a project status update" in new
    assert "larahogan.me/blog/first-one-on-one-questions" in new
    assert 'id="first-meeting"' not in old


def test_open_action_items_are_carried_into_the_next_meeting(world: AgendaWorld) -> None:
    client = client_for(world)
    sign_in(world, client, ALICE)
    page = f"/a/{world.page_id()}"
    with world.runtime.db.session() as session:
        pair = session.query(AgendaPairRow).one()
        last = FIRST + timedelta(weeks=3)
        add_item(session, pair.id, "action", "Send the promo doc", author=ALICE, now=NOW, occurrence=last, owner=BOB)
        add_item(session, pair.id, "action", "Book the training", author=ALICE, now=NOW, occurrence=last, owner=BOB)
    html = client.get(page).get_data(as_text=True)
    review = html.split('id="review"')[1].split("</section>")[0]
    assert "Send the promo doc" in review and "Book the training" in review  # every open item is reviewed
    done_form = re.search(
        r'action="(/a/[^"]+/items/\d+/done)"[^>]*>\s*<input type="hidden" name="csrf" value="(\w+)">'
        r'\s*<input type="hidden" name="done" value="1">\s*<button[^>]*Send the promo doc',
        html,
    )
    assert done_form
    client.post(done_form.group(1), data={"csrf": done_form.group(2), "done": "1"})
    world.cycle(timedelta(weeks=1))  # the next 1:1 has started
    html = client.get(page).get_data(as_text=True)
    review = html.split('id="review"')[1].split("</section>")[0]
    assert "Book the training" in review and "Send the promo doc" not in review
    assert 'data-done="yes"' in html.split('id="past"')[1]  # the done item stays with its meeting


def test_the_page_says_what_happened_to_the_slots_around_the_next_1on1(world: AgendaWorld) -> None:
    """ "Next 1:1 Mon 16 Mar" never hides that 09 Mar was cancelled, nor that last week's moved."""
    last_week, next_week = FIRST + timedelta(weeks=3), FIRST + timedelta(weeks=5)
    world.emulator.patch_event(
        ALICE,
        instance_id("weekly0001", last_week),
        {
            "start": {"dateTime": (last_week + timedelta(days=1)).isoformat(), "timeZone": "UTC"},
            "end": {"dateTime": (last_week + timedelta(days=1, minutes=30)).isoformat(), "timeZone": "UTC"},
        },
    )
    world.emulator.delete_event(ALICE, instance_id("weekly0001", next_week))
    world.cycle()
    client = client_for(world)
    sign_in(world, client, BOB)
    html = client.get(f"/a/{world.page_id()}").get_data(as_text=True)
    changes = re.findall(r'<li class="change change-(\w[\w-]*)">(.*?)</li>', html, re.S)
    said = [(kind, " ".join(text.split())) for kind, text in changes]
    assert said == [
        ("moved", "Mon 23 Feb 2026, 11:00: moved to Tue 24 Feb 2026, 11:00"),  # in the 1:1's zone (Berlin)
        ("cancelled", "Mon 09 Mar 2026, 11:00: cancelled, no new date yet"),
    ]


def test_the_front_page_lists_the_viewers_own_1on1s_and_only_them(world: AgendaWorld) -> None:
    client = client_for(world)
    signed_out = client.get("/")
    assert signed_out.status_code == 200 and "Open the link in a oneonone email" in signed_out.get_data(as_text=True)
    assert "/a/" not in signed_out.get_data(as_text=True)
    sign_in(world, client, BOB)
    html = client.get("/").get_data(as_text=True)
    assert f'href="/a/{world.page_id()}"' in html and "Alice" in html and "your manager" in html
    sign_in(world, client, CAROL)  # in no pair here
    html = client.get("/").get_data(as_text=True)
    assert "/a/" not in html and "No 1:1 page is yours yet" in html


def test_a_deleted_item_can_be_brought_back_for_a_day(world: AgendaWorld) -> None:
    client = client_for(world)
    sign_in(world, client, BOB)
    page = f"/a/{world.page_id()}"
    client.post(f"{page}/items", data={"kind": "topic", "text": "My promotion case", "csrf": csrf(client.get(page))})
    item = re.search(r'id="item-(\d+)"', client.get(page).get_data(as_text=True))
    assert item is not None
    gone = client.post(f"{page}/items/{item[1]}/delete", data={"csrf": csrf(client.get(page))})
    assert gone.status_code == 303 and gone.headers["Location"].endswith(f"{page}?undo={item[1]}#undo")
    html = client.get(gone.headers["Location"]).get_data(as_text=True)
    assert "Deleted: “My promotion case”." in html and f'id="item-{item[1]}"' not in html  # gone at once
    client.post(f"{page}/items/{item[1]}/restore", data={"csrf": csrf(client.get(page))})
    assert f'id="item-{item[1]}"' in client.get(page).get_data(as_text=True)  # back, where it was

    client.post(f"{page}/items/{item[1]}/delete", data={"csrf": csrf(client.get(page))})
    world.now[0] += timedelta(days=1, minutes=1)  # past the undo window: the offer is gone, and so is the item
    assert "Deleted:" not in client.get(f"{page}?undo={item[1]}").get_data(as_text=True)
    late = client.post(f"{page}/items/{item[1]}/restore", data={"csrf": csrf(client.get(page))})
    assert "error=gone" in late.headers["Location"]
