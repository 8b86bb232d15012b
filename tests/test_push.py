"""Push: a change in the emulator reaches a finding within seconds, without waiting for the poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask
from google_fixtures import ALICE, BOB, instance_id, make_provider, weekly_one_on_one
from outlook_fixtures import ALICE as OUTLOOK_ALICE
from outlook_fixtures import make_provider as make_outlook_provider
from outlook_fixtures import weekly_series
from sqlalchemy import event
from waitress.server import create_server

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from sync.config import parse_settings
from sync.daemon import Daemon
from sync.ingest.push import channel_token, client_state, ensure_google_channels, ensure_push, push_blueprint
from sync.runtime import Runtime, build_runtime
from sync.store.models import FindingRow, PushChannelRow

SECRET = b"test-push-secret"
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FIRST = START - timedelta(weeks=3, days=START.weekday()) + timedelta(hours=9 - START.hour)


@pytest.fixture
def runtime(google_emulator: GoogleCalendarEmulator, database_url: str) -> Runtime:
    settings = parse_settings(
        {
            "database_url": database_url,
            "poll_interval_seconds": 3600,
            "directory": {"pairs": [{"manager": ALICE, "report": BOB, "start": (FIRST - timedelta(days=1)).date()}]},
        }
    )
    provider, _ = make_provider(google_emulator)
    return build_runtime(settings, providers=[provider], send=lambda row: None)


@pytest.fixture
def webhook(runtime: Runtime) -> Iterator[tuple[str, threading.Event]]:
    wake = threading.Event()
    app = Flask("push-test")
    app.register_blueprint(push_blueprint(runtime.db, SECRET, runtime.clock, wake))
    server = create_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", wake
    server.close()


def _wait(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_a_cancellation_reaches_a_finding_through_push_without_the_poll(
    google_emulator: GoogleCalendarEmulator, runtime: Runtime, webhook: tuple[str, threading.Event]
) -> None:
    url, wake = webhook
    weekly_one_on_one(google_emulator, FIRST, zone="UTC")
    daemon = Daemon(runtime, wake=wake)
    daemon.cycle()
    provider = runtime.providers[0]
    assert ensure_google_channels(runtime.db, provider, url, SECRET, runtime.clock()) == 1  # type: ignore[arg-type]
    loop = threading.Thread(target=daemon.run, daemon=True)
    loop.start()  # its next poll is an hour away
    try:
        upcoming = FIRST + timedelta(weeks=4)
        google_emulator.delete_event(ALICE, instance_id("weekly0001", upcoming))

        def cancellation_found() -> bool:
            with runtime.db.session() as session:
                return session.query(FindingRow).filter_by(rule="cancelled-without-reschedule").count() == 1

        assert _wait(cancellation_found), "the push did not lead to a sync"
        assert _wait(lambda: daemon.state.cycles >= 2)  # the push cycle, not the (hour-away) poll
    finally:
        daemon.stop.set()
        daemon.wake.set()
        loop.join(timeout=30)


def test_a_forged_notification_is_refused_and_syncs_nothing(
    google_emulator: GoogleCalendarEmulator, runtime: Runtime, webhook: tuple[str, threading.Event]
) -> None:
    url, wake = webhook
    Daemon(runtime).cycle()
    ensure_google_channels(runtime.db, runtime.providers[0], url, SECRET, runtime.clock())  # type: ignore[arg-type]
    with runtime.db.session() as session:
        channel_id = session.query(PushChannelRow).one().channel_id
    headers = {"X-Goog-Channel-ID": channel_id, "X-Goog-Resource-State": "exists", "X-Goog-Channel-Token": "guess"}
    assert requests.post(f"{url}/webhooks/google", headers=headers, timeout=5).status_code == 401
    headers["X-Goog-Channel-ID"] = "made-up"
    headers["X-Goog-Channel-Token"] = channel_token(SECRET, "made-up")  # a valid token for a channel we never opened
    assert requests.post(f"{url}/webhooks/google", headers=headers, timeout=5).status_code == 404
    wake.clear()
    assert Daemon(runtime).wanted_calendars() == set()


def test_a_channel_is_replaced_before_it_expires_and_the_old_one_stopped(
    google_emulator: GoogleCalendarEmulator, runtime: Runtime, webhook: tuple[str, threading.Event]
) -> None:
    url, _ = webhook
    Daemon(runtime).cycle()
    provider = runtime.providers[0]
    now = runtime.clock()
    assert ensure_google_channels(runtime.db, provider, url, SECRET, now) == 1  # type: ignore[arg-type]
    assert ensure_google_channels(runtime.db, provider, url, SECRET, now + timedelta(days=1)) == 0  # type: ignore[arg-type]
    assert ensure_google_channels(runtime.db, provider, url, SECRET, now + timedelta(days=6, hours=1)) == 1  # type: ignore[arg-type]
    with runtime.db.session() as session:
        statuses = sorted(row.status for row in session.query(PushChannelRow))
    assert statuses == ["active", "stopped"]
    assert len(google_emulator.server.requests_matching("POST", r"/channels/stop$")) == 1


# --- Microsoft Graph subscriptions -----------------------------------------------------------------


def test_a_graph_subscription_passes_the_handshake_and_its_notifications_wake_a_sync(
    graph_emulator: GraphEmulator, database_url: str
) -> None:
    settings = parse_settings({"database_url": database_url, "poll_interval_seconds": 3600})
    provider, _ = make_outlook_provider(graph_emulator, (OUTLOOK_ALICE,))
    runtime = build_runtime(settings, providers=[provider], send=lambda row: None)
    wake = threading.Event()
    app = Flask("graph-push-test")
    app.register_blueprint(push_blueprint(runtime.db, SECRET, runtime.clock, wake))
    server = create_server(app, host="127.0.0.1", port=0)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}"
    try:
        Daemon(runtime).cycle()
        assert ensure_push([provider], runtime.db, url, SECRET, runtime.clock()) == 1
        with runtime.db.session() as session:
            (row,) = session.query(PushChannelRow).all()
            assert (row.provider, row.calendar, row.status) == ("outlook", OUTLOOK_ALICE, "active")
            subscription_id = row.channel_id
        wake.clear()
        weekly_series(graph_emulator, START + timedelta(days=1))
        assert wake.wait(timeout=10), "no notification reached the webhook"
        assert Daemon(runtime).wanted_calendars() == {OUTLOOK_ALICE}
        # A notification with the wrong clientState is refused and wakes nothing.
        forged = {"value": [{"subscriptionId": subscription_id, "clientState": "guess", "changeType": "updated"}]}
        assert requests.post(f"{url}/webhooks/graph", json=forged, timeout=5).status_code == 401
        assert Daemon(runtime).wanted_calendars() == set()
        # Lifecycle: "missed" means changes may be lost — sync now.
        assert graph_emulator.emit_lifecycle(subscription_id, "missed") in (200, 202)
        assert Daemon(runtime).wanted_calendars() == {OUTLOOK_ALICE}
        # Renewal: a subscription a day from expiry is PATCHed, not re-created.
        later = runtime.clock() + timedelta(days=2, hours=1)
        assert ensure_push([provider], runtime.db, url, SECRET, later) == 1
        with runtime.db.session() as session:
            assert session.query(PushChannelRow).count() == 1
        assert graph_emulator.server.requests_matching("PATCH", r"/subscriptions/")
        _a_stuffed_graph_body_is_refused_before_any_lookup(runtime, url, subscription_id)
    finally:
        server.close()


def _a_stuffed_graph_body_is_refused_before_any_lookup(runtime: Runtime, url: str, subscription_id: str) -> None:
    """A 56 KB body of 700 made-up subscriptions once cost 700 lookups: now it is refused unread, and a
    real batch costs one lookup however many notifications it carries."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        made_up = [{"subscriptionId": f"{n:08d}-0000-4000-8000-000000000000", "clientState": "x"} for n in range(700)]
        stuffed = requests.post(f"{url}/webhooks/graph", json={"value": made_up}, timeout=5)
        assert stuffed.status_code == 413 and statements == []
        assert Daemon(runtime).wanted_calendars() == set()
        statements.clear()
        real = {"subscriptionId": subscription_id, "clientState": client_state(SECRET, OUTLOOK_ALICE)}
        batch = requests.post(f"{url}/webhooks/graph", json={"value": [*made_up[:20], real]}, timeout=5)
        assert batch.status_code == 202
        assert len([s for s in statements if "push_channels" in s and s.lstrip().upper().startswith("SELECT")]) == 1
        assert Daemon(runtime).wanted_calendars() == {OUTLOOK_ALICE}
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)
