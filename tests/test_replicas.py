"""Three daemon processes share one PostgreSQL database, both emulators throttle and fail now and then.

Every change is processed, no email goes out twice, no agenda link is attached twice, and no
calendar's cursor ever moves backwards.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from daemon_fixtures import start_daemon
from sqlalchemy import inspect, select

from emulators.google import GoogleCalendarEmulator
from emulators.org import google_instance_id, plan_org, seed_google
from emulators.smtp import MailSink
from sync.cli.demo import _start_graph, demo_config, outlook_managers
from sync.store.db import Database
from sync.store.models import CalendarRow, FindingRow, OutboxRow

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
NOW = datetime.now(UTC)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not os.environ.get("ONEONONE_TEST_DATABASE_URL"):
        pytest.skip("several replicas need PostgreSQL: set ONEONONE_TEST_DATABASE_URL")
    from conftest import _postgres_database

    yield from _postgres_database()


class CursorWatch(threading.Thread):
    """Samples every calendar's (generation, cursor); a generation going down is a regression."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.db = Database(url)
        self.stop = threading.Event()
        self.last: dict[str, tuple[int, str | None]] = {}
        self.regressions: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            if not inspect(self.db.engine).has_table("calendars"):  # the replicas are still migrating
                self.stop.wait(0.2)
                continue
            with self.db.session() as session:
                for row in session.scalars(select(CalendarRow)):
                    before = self.last.get(row.calendar)
                    if before is not None and (
                        row.generation < before[0] or (row.generation == before[0] and row.cursor != before[1])
                    ):
                        self.regressions.append(f"{row.calendar}: {before[0]} -> {row.generation}")
                    self.last[row.calendar] = (row.generation, row.cursor)
            self.stop.wait(0.2)


def _wait(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.5)
    return False


def test_three_replicas_share_the_work_without_duplicates(tmp_path: Path, postgres_url: str) -> None:
    plan = plan_org(NOW, managers=6, reports_per_manager=3, weeks=8, seed=5)
    on_outlook = outlook_managers(plan)
    google = GoogleCalendarEmulator()
    google.start()
    seed_google(google, plan.only(m for m in plan.managers if m not in on_outlook))
    graph = _start_graph(tmp_path, plan, [])
    sink = MailSink()
    sink.start()
    config_data = demo_config(tmp_path, google, sink.port, plan, graph)
    config_data |= {
        "database_url": postgres_url,
        "poll_interval_seconds": 5,
        "web": {"bind": "127.0.0.1:0"},
        "agenda": {"nudges": False},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_data), encoding="utf-8")
    config.chmod(0o600)
    # Both providers throttle and fail now and then.
    google.inject(status=429, reason="rateLimitExceeded", times=6, path=r"/events$", retry_after=1)
    google.inject(status=503, reason="backendError", times=6, path=r"/events$")
    graph.throttle(times=6, retry_after=1)
    graph.throttle(status=503, times=4, retry_after=1)
    watch = CursorWatch(postgres_url)
    watch.start()
    daemons = [start_daemon(config, log=tmp_path / f"replica{n}.log") for n in range(3)]
    db = Database(postgres_url)
    try:
        assert _wait(lambda: all("synced" in (tmp_path / f"replica{n}.log").read_text() for n in range(3)), 120)
        # Changes while they run: a past 1:1 cancelled after the fact on each provider (emailed at once).
        healthy = [s for s in plan.series if plan.stories[(s.organizer, s.attendee)] == "healthy-weekly"]
        changed = []
        for series in healthy:
            slot = series.first_start
            while (slot.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=slot.tzinfo).astimezone(UTC) < NOW:
                slot = (slot.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=slot.tzinfo)
            slot = (slot.replace(tzinfo=None) - timedelta(weeks=1)).replace(tzinfo=slot.tzinfo)
            if series.organizer in on_outlook:
                master = next(e for e in graph.events(series.organizer) if e.get("type") == "seriesMaster")
                graph.cancel_occurrence(series.organizer, graph.occurrence_id(series.organizer, master["id"], slot))
            else:
                google.delete_event(series.organizer, google_instance_id(series.key, slot))
            changed.append((series.organizer, series.attendee, slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
        assert changed

        def all_changes_emailed() -> bool:
            with db.session() as session:
                rows = session.scalars(select(FindingRow).where(FindingRow.rule == "cancelled-without-reschedule"))
                notified = {(r.manager, r.report, r.key) for r in rows if r.notified_at is not None}
            return set(changed) <= notified

        assert _wait(all_changes_emailed, 180), "a change was not processed"
        time.sleep(6)  # one more poll on every replica: nothing new may be sent
    finally:
        for daemon in daemons:
            daemon.send_signal(signal.SIGTERM)
        codes = [daemon.wait(timeout=60) for daemon in daemons]
        watch.stop.set()
        watch.join(timeout=5)
        sink.stop()
        google.stop()
        graph.stop()
    assert codes == [0, 0, 0]
    assert watch.regressions == []
    ids = Counter(m["Message-ID"] for m in sink.messages)
    assert ids and max(ids.values()) == 1, [mid for mid, n in ids.items() if n > 1]
    with db.session() as session:
        sent = session.scalars(select(OutboxRow).where(OutboxRow.status == "sent")).all()
        assert len(sent) == len(ids)
    logs = "".join((tmp_path / f"replica{n}.log").read_text() for n in range(3))
    assert logs.count("synced") >= 6  # all three took part
    # Agenda links: each organizer's series carries at most one link, whichever replica wrote it.
    for manager in plan.managers:
        if manager in on_outlook:
            texts = [str((e.get("body") or {}).get("content", "")) for e in graph.events(manager)]
        else:
            texts = [str(e.get("description", "")) for e in google.events(manager)]
        for text in texts:
            assert text.count("/a/") <= 1, text
    db.dispose()
