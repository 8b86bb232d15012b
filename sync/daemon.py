"""`oneonone run`: the long-running service.

A `schedule` scheduler drives the jobs (a cycle every poll interval with jitter, push-channel
renewal); push hints wake the loop early for just the calendars that changed. SIGTERM/SIGINT
stop new work; calendars already being synced finish (each is bounded by HTTP timeouts), nothing
half-written is committed, and the process exits 0.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO

import schedule
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from sync.cycle import CycleReport, run_cycle
from sync.runtime import Runtime
from sync.store.models import CalendarRow

log = logging.getLogger(__name__)


class AlreadyRunning(Exception):
    """A second daemon on one SQLite file: refused, because SQLite has one writer."""


def sqlite_single_writer_lock(database_url: str) -> IO[str] | None:
    """Hold an exclusive lock next to the SQLite file for the daemon's lifetime (None for PostgreSQL)."""
    if not database_url.startswith("sqlite:///"):
        return None
    path = Path(database_url.removeprefix("sqlite:///") + ".lock")
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyRunning(
            f"another oneonone daemon ({holder}) is already running against {path.with_suffix('')}; SQLite allows "
            "one writer. Stop it, or use PostgreSQL (database_url: postgresql://...) to run several replicas."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


@dataclass
class DaemonState:
    """What /readyz and the logs need to know about the loop."""

    started: datetime
    last_cycle_at: datetime | None = None
    last_report: CycleReport | None = None
    cycles: int = 0
    stopping: bool = False


@dataclass
class Daemon:
    runtime: Runtime
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    rng: random.Random = field(default_factory=random.Random)
    jobs: list[tuple[int, Callable[[], object]]] = field(default_factory=list)  # (every seconds, job)
    on_cycle: Callable[[CycleReport], None] | None = None
    before_first_cycle: list[Callable[[], object]] = field(default_factory=list)
    state: DaemonState = field(init=False)

    def __post_init__(self) -> None:
        self.state = DaemonState(started=self.runtime.clock())

    def install_signal_handlers(self) -> None:
        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("received signal %d: finishing in-flight work, then stopping", signum)
            self.state.stopping = True
            self.stop.set()
            self.wake.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def cycle(self, only: set[str] | None = None) -> CycleReport | None:
        if self.stop.is_set():
            return None
        try:
            # Replicas share the poll: a calendar another one synced in the last half interval is skipped
            # (push-wanted calendars never are).
            half = timedelta(seconds=self.runtime.settings.poll_interval_seconds / 2)
            fresh = None if only is not None else half
            report = run_cycle(self.runtime, only=only, stop=self.stop, fresh_within=fresh)
        except OperationalError as exc:  # the database went away: keep the process, retry next tick
            log.error("database unavailable, cycle skipped (will retry): %s", str(exc).splitlines()[0])
            if self.runtime.metrics is not None:
                self.runtime.metrics.errors.labels("database").inc()
            return None
        except Exception:  # never let one bad cycle end the service; the next one starts clean
            log.exception("cycle failed; retrying on the next tick")
            if self.runtime.metrics is not None:
                self.runtime.metrics.errors.labels("cycle").inc()
            return None
        self.state.last_cycle_at = self.runtime.clock()
        self.state.last_report = report
        self.state.cycles += 1
        if self.on_cycle is not None:
            self.on_cycle(report)
        return report

    def wanted_calendars(self) -> set[str]:
        """Calendars a push notification asked us to sync now (set by any replica's webhook)."""
        with self.runtime.db.session() as session:
            wanted = set(session.scalars(select(CalendarRow.calendar).where(CalendarRow.wanted_at.is_not(None))))
            if wanted:
                session.execute(update(CalendarRow).where(CalendarRow.calendar.in_(wanted)).values(wanted_at=None))
        return wanted

    def database_ok(self) -> bool:
        try:
            with self.runtime.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # any failure means not ready; the reason is logged by the caller
            return False

    def ready(self) -> tuple[bool, list[str]]:
        """Ready = the database answers and a cycle completed recently (one bad calendar is not unready)."""
        reasons = []
        if not self.database_ok():
            reasons.append("database unreachable")
        poll = timedelta(seconds=self.runtime.settings.poll_interval_seconds)
        now = self.runtime.clock()
        if self.state.last_cycle_at is None:
            if now - self.state.started > 3 * poll:
                reasons.append("no cycle has completed since start")
        elif now - self.state.last_cycle_at > 3 * poll:
            reasons.append(f"last cycle finished at {self.state.last_cycle_at.isoformat()}")
        if self.state.stopping:
            reasons.append("stopping")
        return (not reasons, reasons)

    def warnings(self) -> list[str]:
        """What needs an admin but leaves the daemon serving: calendar data the last cycle could not use."""
        report = self.state.last_report
        return [f"calendar data not used: {bad.describe()}" for bad in (report.bad_data if report else ())]

    def run(self) -> int:
        poll = self.runtime.settings.poll_interval_seconds
        scheduler = schedule.Scheduler()
        # Jitter: replicas (and many installs polling one API) don't all fire at the same second.
        scheduler.every(max(1, int(poll * 0.9))).to(max(2, int(poll * 1.1))).seconds.do(self.cycle)
        for every, job in self.jobs:
            scheduler.every(every).seconds.do(_guarded(job))
        for job in self.before_first_cycle:
            _guarded(job)()
        self.cycle()
        while not self.stop.is_set():
            scheduler.run_pending()
            wanted = self.wanted_calendars()
            if wanted and not self.stop.is_set():
                log.info("push: syncing %d calendar(s) now", len(wanted))
                self.cycle(only=wanted)
            idle = scheduler.idle_seconds
            self.wake.wait(timeout=min(1.0, max(idle if idle is not None else 1.0, 0.05)))
            self.wake.clear()
        log.info("stopped after %d cycles", self.state.cycles)
        return 0


def _guarded(job: Callable[[], object]) -> Callable[[], None]:
    """A failing side job (push renewal, digest) is logged; it never stops the daemon."""

    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("background job %s failed; it will run again on schedule", getattr(job, "__name__", job))

    return run
