"""`oneonone run`: signals, the single-writer guard, readiness and metrics."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon_fixtures import start_daemon, write_config
from flask import Flask
from flask.testing import FlaskClient
from google_fixtures import ALICE, make_provider, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.config import parse_settings
from sync.daemon import Daemon
from sync.metrics import Metrics
from sync.ops import ops_blueprint
from sync.runtime import build_runtime
from sync.store.models import CalendarRow

NOW = datetime.now(UTC).replace(microsecond=0)


def _wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def test_sigterm_stops_the_daemon_cleanly_with_exit_code_0(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path
) -> None:
    weekly_one_on_one(google_emulator, NOW - timedelta(weeks=3), zone="UTC")
    log = tmp_path / "daemon.log"
    config = write_config(tmp_path, google_emulator, sink.port, f"sqlite:///{tmp_path / 'db.sqlite'}", [ALICE])
    process = start_daemon(config, log=log)
    try:
        assert _wait_for(lambda: "synced 1/1 calendars" in log.read_text(errors="replace")), log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "stopped after" in log.read_text()


def test_a_second_daemon_on_the_same_sqlite_file_is_refused(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, tmp_path: Path
) -> None:
    config = write_config(tmp_path, google_emulator, sink.port, f"sqlite:///{tmp_path / 'db.sqlite'}", [ALICE])
    first = start_daemon(config, log=tmp_path / "first.log")
    try:
        assert _wait_for(lambda: "synced" in (tmp_path / "first.log").read_text(errors="replace"))
        second = subprocess.run(
            [*first.args[:-1], "run"], cwd=Path(__file__).resolve().parents[1], capture_output=True, timeout=60
        )
        assert second.returncode == 1
        assert b"SQLite allows one writer" in second.stderr and b"PostgreSQL" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)


def _daemon(google_emulator: GoogleCalendarEmulator, database_url: str, now: list[datetime]) -> Daemon:
    settings = parse_settings({"database_url": database_url, "poll_interval_seconds": 60})
    provider, _ = make_provider(google_emulator)
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=lambda row: None)
    return Daemon(runtime)


def test_ready_after_a_cycle_and_unready_when_cycles_stop(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    now = [NOW]
    daemon = _daemon(google_emulator, database_url, now)
    assert daemon.ready() == (True, [])  # just started: within the grace period
    now[0] += timedelta(minutes=4)
    assert daemon.ready()[0] is False
    daemon.cycle()
    assert daemon.ready() == (True, [])
    now[0] += timedelta(minutes=2)
    assert daemon.ready()[0] is True
    now[0] += timedelta(minutes=2)
    ready, reasons = daemon.ready()
    assert not ready and "last cycle finished" in reasons[0]


def test_one_failing_calendar_shows_in_metrics_but_the_daemon_stays_ready(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    now = [NOW]
    settings = parse_settings({"database_url": database_url, "poll_interval_seconds": 60})
    provider, _ = make_provider(google_emulator, calendars=(ALICE, "carol@example.com"))
    google_emulator.revoke("carol@example.com")
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=lambda row: None)
    daemon = Daemon(runtime)
    daemon.cycle()
    assert daemon.ready() == (True, [])
    assert runtime.metrics is not None
    text = runtime.metrics.render().decode()
    assert 'oneonone_syncs_total{provider="google",result="ok"} 1.0' in text
    assert 'oneonone_syncs_total{provider="google",result="auth"} 1.0' in text
    assert 'oneonone_errors_total{kind="auth"} 1.0' in text
    assert 'oneonone_calendar_consecutive_failures{provider="google"} 1.0' in text
    assert 'oneonone_calendars_failing{provider="google"} 1.0' in text
    assert 'oneonone_sync_lag_seconds{provider="google"} 0.0' in text
    assert "oneonone_api_requests_total" in text
    assert "@" not in text  # no address, no personal data, unless the admin asks for calendar labels
    per_calendar = Metrics(runtime.db, runtime.clock, per_calendar=True).render().decode()
    assert 'oneonone_calendar_consecutive_failures{calendar="carol@example.com",provider="google"} 1.0' in per_calendar


def test_metrics_answer_a_scraper_with_the_token_or_else_only_local_unproxied_requests(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    settings = parse_settings({"database_url": database_url})
    provider, _ = make_provider(google_emulator, calendars=(ALICE,))
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[provider], send=lambda row: None)
    assert runtime.metrics is not None
    daemon = Daemon(runtime)

    def client(token: str | None) -> FlaskClient:
        app = Flask("ops-test")
        app.register_blueprint(ops_blueprint(daemon, runtime.metrics, token))  # type: ignore[arg-type]
        return app.test_client()

    with_token = client("s3cret-token")
    assert with_token.get("/metrics").status_code == 401
    assert with_token.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert with_token.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    local_only = client(None)
    assert local_only.get("/metrics").status_code == 200  # a scraper on this host
    assert local_only.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    assert local_only.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403
    assert local_only.get("/healthz", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_a_push_hint_syncs_just_that_calendar_without_waiting_for_the_poll(
    google_emulator: GoogleCalendarEmulator, database_url: str
) -> None:
    now = [NOW]
    daemon = _daemon(google_emulator, database_url, now)
    daemon.cycle()
    with daemon.runtime.db.session() as session:
        session.query(CalendarRow).filter_by(calendar=ALICE).update({"wanted_at": now[0]})
    assert daemon.wanted_calendars() == {ALICE}
    assert daemon.wanted_calendars() == set()  # taken once
