"""CalDAV against a real Radicale server on loopback: full and incremental sync, agenda write-back."""

from __future__ import annotations

import logging
import random
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import radicale
import requests
from radicale import config as radicale_config

from providers.base import ChangePage, CursorExpired
from providers.caldav import CalDavProvider, DavCursor
from providers.caldav_writeback import MARK_END, MARK_START, CalDavAgendaWriter
from providers.retry import RetryPolicy
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.runtime import build_providers, build_runtime
from sync.store.events import load_events

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)
MARIA, BOB = "maria@acme.test", "bob@acme.test"
COLLECTION = "/maria/calendar/"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Radicale:
    base: str
    puts: list[str]
    before_put: list[Callable[[], None]]  # run once before the next PUT reaches Radicale (a concurrent edit)

    def put(self, name: str, body: str) -> None:
        reply = requests.put(f"{self.base}{COLLECTION}{name}", data=body.encode(), auth=("maria", "x"), timeout=5,
                             headers={"Content-Type": "text/calendar"})  # fmt: skip
        assert reply.status_code in (201, 204), reply.text

    def delete(self, name: str) -> None:
        assert requests.delete(f"{self.base}{COLLECTION}{name}", auth=("maria", "x"), timeout=5).status_code in (
            200,
            204,
        )

    def get(self, name: str) -> str:
        return requests.get(f"{self.base}{COLLECTION}{name}", auth=("maria", "x"), timeout=5).text


@pytest.fixture
def dav() -> Iterator[Radicale]:
    """Radicale 3 on 127.0.0.1, port 0, a temporary storage folder, no authentication."""
    logging.getLogger("radicale").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        configuration = radicale_config.load()
        configuration.update(
            {"storage": {"filesystem_folder": folder}, "auth": {"type": "none"}, "rights": {"type": "owner_only"}},
            "test",
            privileged=True,
        )
        app = radicale.Application(configuration)
        state = Radicale("", [], [])

        def middleware(environ: dict[str, Any], start_response: Any) -> Any:
            if environ["REQUEST_METHOD"] == "PUT" and environ.get("HTTP_USER_AGENT", "").startswith("python-caldav"):
                state.puts.append(environ["PATH_INFO"])
                while state.before_put:
                    state.before_put.pop(0)()
            return app(environ, start_response)

        server = make_server("127.0.0.1", 0, middleware, server_class=_Server, handler_class=_Quiet)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        state.base = f"http://127.0.0.1:{server.server_address[1]}"
        reply = requests.request("MKCALENDAR", state.base + COLLECTION, auth=("maria", "x"), timeout=5)
        assert reply.status_code == 201
        try:
            yield state
        finally:
            server.shutdown()
            server.server_close()


def vcalendar(*components: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//acme//EN", *components, "END:VCALENDAR"]) + "\r\n"


def series(uid: str = "weekly", description: str = "Bring your topics.", *extra: str) -> str:
    return vcalendar(
        "\r\n".join(
            [
                "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", "DTSTART;TZID=Europe/Berlin:20250407T110000",
                "DTEND;TZID=Europe/Berlin:20250407T113000", "RRULE:FREQ=WEEKLY", "SUMMARY:Maria / Bob 1:1",
                f"DESCRIPTION:{description}", f"ORGANIZER:mailto:{MARIA}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{BOB}",
                "END:VEVENT", *extra,
            ]
        )
    )  # fmt: skip


def moved(uid: str = "weekly") -> str:
    return "\r\n".join(
        [
            "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z",
            "RECURRENCE-ID;TZID=Europe/Berlin:20250526T110000",
            "DTSTART;TZID=Europe/Berlin:20250527T150000", "DTEND;TZID=Europe/Berlin:20250527T153000",
            "SUMMARY:Maria / Bob 1:1", "END:VEVENT",
        ]
    )  # fmt: skip


def one_off(uid: str, day: int) -> str:
    return vcalendar(
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:202506{day:02d}T090000Z\r\n"
        f"DTEND:202506{day:02d}T093000Z\r\nSUMMARY:Maria / Bob 1:1 extra\r\nEND:VEVENT"
    )


def provider(dav: Radicale, *, sync: bool = True) -> CalDavProvider:
    return CalDavProvider(
        url=dav.base,
        calendars_by_owner={MARIA: COLLECTION},
        username="maria",
        password="x",
        use_sync_collection=sync,
        retry=RetryPolicy(attempts=2),
        sleeper=lambda _: None,
        rng=random.Random(1),
    )


def listing(caldav: CalDavProvider, cursor: str | None) -> tuple[list[ChangePage], str]:
    pages = list(caldav.list_changes(MARIA, cursor, NOW))
    assert pages[-1].cursor is not None
    return pages, pages[-1].cursor


@pytest.mark.parametrize("sync", [True, False], ids=["sync-collection", "ctag-etag"])
def test_full_then_incremental_sync(dav: Radicale, sync: bool) -> None:
    dav.put("weekly.ics", series("weekly", "Bring your topics.", moved()))
    dav.put("extra.ics", one_off("extra", 4))
    caldav = provider(dav, sync=sync)
    pages, cursor = listing(caldav, None)
    assert DavCursor.load(cursor).mode == ("sync" if sync else "etag")  # type: ignore[union-attr]
    events = {e.event_id: e for p in pages for e in p.events}
    assert all(p.full for p in pages) and set(events) == {"weekly", "weekly#20250526T090000Z", "extra"}
    assert events["weekly"].etag and events["weekly#20250526T090000Z"].original_start == datetime(
        2025, 5, 26, 9, tzinfo=UTC
    )
    # Nothing changed: nothing listed (ctag: one PROPFIND).
    before = caldav.requests_made
    pages, cursor = listing(caldav, cursor)
    assert [(p.full, list(p.events), list(p.deleted_ids)) for p in pages] == [(False, [], [])]
    assert caldav.requests_made - before == 1
    # The override is removed from the series, the one-off deleted, a new one added.
    dav.put("weekly.ics", series("weekly", "Bring your topics."))
    dav.delete("extra.ics")
    dav.put("new.ics", one_off("new", 9))
    pages, cursor = listing(caldav, cursor)
    changed = {e.event_id for p in pages for e in p.events}
    deleted = {i for p in pages for i in p.deleted_ids}
    assert not any(p.full for p in pages)
    assert changed == {"weekly", "new"} and deleted == {"weekly#20250526T090000Z", "extra"}


def test_a_dead_sync_token_is_cursor_expired(dav: Radicale) -> None:
    caldav = provider(dav)
    dead = DavCursor("sync", token="http://radicale.org/ns/sync/0000").dump()
    with pytest.raises(CursorExpired):
        list(caldav.list_changes(MARIA, dead, NOW))


def test_sync_cycle_through_the_store(dav: Radicale, database_url: str) -> None:
    dav.put("weekly.ics", series())
    settings = parse_settings(
        {
            "database_url": database_url,
            "caldav": {"url": dav.base, "username": "maria", "calendars": [{"owner": MARIA, "url": COLLECTION}]},
            "directory": {"pairs": [{"manager": MARIA, "report": BOB}]},
        }
    )
    (built,) = build_providers(settings)
    assert isinstance(built, CalDavProvider) and built.calendars() == (MARIA,)
    clock = [NOW]
    runtime = build_runtime(settings, clock=lambda: clock[0], providers=[provider(dav)], send=None)
    assert run_cycle(runtime).calendars[0].full
    dav.delete("weekly.ics")
    clock[0] += timedelta(minutes=5)
    result = run_cycle(runtime).calendars[0]
    assert result.ok and not result.full and result.stats.deleted == 1
    with runtime.db.session() as session:
        (master,) = load_events(session)
        assert master.is_cancelled and master.provider == "caldav"


def test_agenda_write_back_keeps_the_users_text_and_is_idempotent(dav: Radicale) -> None:
    dav.put("weekly.ics", series("weekly", "Bring your topics.", moved()))
    writer = CalDavAgendaWriter(provider(dav))
    url = "https://oneonone.example/agenda/p-123"
    assert writer.attach(MARIA, "weekly", url, "1:1 agenda — Maria / Bob") is True
    stored = dav.get("weekly.ics")
    current = writer.read_event(MARIA, "weekly")
    assert current.text.startswith("Bring your topics.\n\n" + MARK_START) and current.text.endswith(MARK_END)
    assert f"1:1 agenda — Maria / Bob: {url}" in current.text
    assert f"ATTACH;VALUE=URI:{url}" in stored.replace("\r\n ", "")
    assert current.marker == url
    # The override kept its own text; the second call changes nothing.
    assert "RECURRENCE-ID" in stored and writer.read_event(MARIA, "weekly#20250526T090000Z").text == ""
    puts = len(dav.puts)
    assert writer.attach(MARIA, "weekly", url, "1:1 agenda — Maria / Bob") is False
    assert len(dav.puts) == puts


def test_a_concurrent_edit_gives_412_and_the_write_is_retried_on_the_new_text(dav: Radicale) -> None:
    dav.put("weekly.ics", series("weekly", "Old notes."))
    writer = CalDavAgendaWriter(provider(dav))
    # Between our read and our PUT, Maria edits the description in her client.
    dav.before_put.append(lambda: dav.put("weekly.ics", series("weekly", "Maria's new notes.")))
    assert writer.attach(MARIA, "weekly", "https://oneonone.example/agenda/p-9", "1:1 agenda") is True
    assert len(dav.puts) == 2  # the first PUT lost the race (If-Match), the second won
    text = writer.read_event(MARIA, "weekly").text
    assert text.startswith("Maria's new notes.\n\n" + MARK_START) and "p-9" in text


def test_the_daemon_attaches_the_agenda_link_to_a_caldav_1on1_once(dav: Radicale, database_url: str) -> None:
    """The runtime builds the CalDAV writer like Google's and Outlook's: a cycle writes the pair's link into
    the series, keeping Maria's own text, and the next cycles write nothing more."""
    dav.put("weekly.ics", series())
    settings = parse_settings(
        {
            "database_url": database_url,
            "caldav": {"url": dav.base, "username": "maria", "calendars": [{"owner": MARIA, "url": COLLECTION}]},
            "directory": {"pairs": [{"manager": MARIA, "report": BOB}]},
            "web": {"base_url": "https://agenda.acme.test"},
            "agenda": {"nudges": False},
        }
    )
    clock = [NOW]
    runtime = build_runtime(settings, clock=lambda: clock[0], providers=[provider(dav)], send=None)
    assert set(runtime.writers) == {"caldav"}
    report = run_cycle(runtime)
    assert report.agenda.written == 1, report.agenda
    text = dav.get("weekly.ics").replace("\r\n ", "")
    assert "Bring your topics." in text and "https://agenda.acme.test/a/" in text
    puts = len(dav.puts)
    for _ in range(2):
        clock[0] += timedelta(minutes=5)
        run_cycle(runtime)
    assert len(dav.puts) == puts
