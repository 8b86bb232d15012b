"""Faults a daemon meets in years of running, injected through real parts, and what a user sees."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from google_fixtures import ALICE, CAROL, make_provider, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from providers.retry import RetryPolicy
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.daemon import Daemon
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime

NOW = datetime.now(UTC).replace(microsecond=0)


def _runtime(emulator: GoogleCalendarEmulator, sink: MailSink, url: str, now: list[datetime], **kw: object) -> Runtime:
    settings = parse_settings(
        {
            "database_url": url,
            "poll_interval_seconds": 300,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@example.com"},
            "notify": {"admin_email": "it@example.com"},
            "agenda": {"nudges": False},
        }
    )
    provider, _ = make_provider(emulator, (ALICE, CAROL), **kw)
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")
    return build_runtime(settings, clock=lambda: now[0], providers=[provider], send=mailer.send)


def _admin_mail(sink: MailSink) -> list[str]:
    return [m["Subject"] for m in sink.messages if m["To"] == "it@example.com"]


def test_revoked_credentials_alert_the_admin_at_most_once_a_day_and_the_calendar_rests(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    now = [NOW]
    runtime = _runtime(google_emulator, sink, database_url, now)
    google_emulator.revoke(CAROL)
    for _ in range(3):
        now[0] += timedelta(minutes=5)
        report = run_cycle(runtime)
        assert {c.calendar: c.ok for c in report.calendars} == {ALICE: True, CAROL: False}
    now[0] += timedelta(minutes=1)
    subjects = _admin_mail(sink)
    assert subjects == [f"oneonone cannot read the calendar of {CAROL} (google)"]
    body = sink.messages[0].get_body(("plain",)).get_content()
    assert "invalid_grant" in body and "domain-wide delegation" in body
    # Three failures in a row: the calendar rests instead of being hammered every poll.
    token_calls = len(google_emulator.server.requests_matching("POST", r"/token$"))
    report = run_cycle(runtime)
    (carol,) = [c for c in report.calendars if c.calendar == CAROL]
    assert carol.error_kind == "circuit_open" and "resting" in (carol.error or "")
    # Nothing was asked for carol (alice's access token is still good, so no token request at all).
    assert len(google_emulator.server.requests_matching("POST", r"/token$")) == token_calls
    # A day later it is tried again, still broken: one more alert, not one per poll.
    now[0] += timedelta(days=1, minutes=1)
    run_cycle(runtime)
    assert len(_admin_mail(sink)) == 2
    # Access restored: the calendar recovers on its next trial.
    google_emulator.restore(CAROL)
    now[0] += timedelta(hours=2)
    report = run_cycle(runtime)
    assert all(c.ok for c in report.calendars)


def test_a_slow_api_times_out_and_is_retried(google_emulator: GoogleCalendarEmulator, database_url: str) -> None:
    weekly_one_on_one(google_emulator, NOW - timedelta(weeks=2), zone="UTC")
    provider, sleeper = make_provider(google_emulator, timeout=0.5, retry=RetryPolicy(attempts=3, base_delay=1.0))
    google_emulator.inject(status=200, times=1, path=r"/events$", delay=1.5)  # answers, but too late
    pages = list(provider.list_changes(ALICE, None, NOW))
    assert pages[-1].cursor and len(sleeper.waits) == 1


class TcpProxy:
    """A TCP proxy in front of PostgreSQL that can cut every connection, as a network blip or failover does."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.links: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self.links += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 0.5)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            a.close()
            b.close()

    def cut(self) -> None:
        self.up.clear()
        with self._lock:
            for sock in self.links:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.links.clear()

    def restore(self) -> None:
        self.up.set()


@pytest.mark.postgres
def test_the_database_going_away_skips_cycles_without_killing_the_daemon(
    google_emulator: GoogleCalendarEmulator, sink: MailSink
) -> None:
    if not os.environ.get("ONEONONE_TEST_DATABASE_URL"):
        pytest.skip("needs ONEONONE_TEST_DATABASE_URL (PostgreSQL)")
    from conftest import _postgres_database
    from sqlalchemy.engine import make_url

    databases = _postgres_database()
    url = next(databases)
    real = make_url(url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    try:
        now = [NOW]
        runtime = _runtime(google_emulator, sink, real.set(port=proxy.port).render_as_string(hide_password=False), now)
        daemon = Daemon(runtime)
        assert daemon.cycle() is not None
        proxy.cut()
        assert daemon.cycle() is None  # logged and skipped, not raised
        assert daemon.ready()[0] is False
        proxy.restore()
        now[0] += timedelta(minutes=5)
        assert daemon.cycle() is not None
        assert daemon.ready() == (True, [])
        assert runtime.metrics is not None
        assert 'oneonone_errors_total{kind="database"} 1.0' in runtime.metrics.render().decode()
        runtime.db.dispose()
    finally:
        proxy.cut()
        proxy.listener.close()
        next(databases, None)
