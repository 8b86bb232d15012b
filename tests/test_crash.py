"""Kill the daemon at every named crash point and at seeded random moments: nothing lost, nothing twice.

Two worlds are built from the same org and the same script of calendar changes: a clean one,
synced round by round, and a crash one, where each round is interrupted by SIGKILLs (named
points via ONEONONE_CRASH_AT, and plain SIGKILLs at seeded random delays) before it is allowed
to complete. At the end both have the same findings, the crash world's SMTP server holds every
email the clean one sent, and any second copy of an email comes only from a kill that landed
between the SMTP server's acceptance and our commit — with the same Message-ID.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from daemon_fixtures import REPO, write_config
from sqlalchemy import select

from emulators.google import GoogleCalendarEmulator
from emulators.org import OrgPlan, google_instance_id, plan_org, seed_google
from emulators.smtp import MailSink
from sync.crash import CRASH_EXIT_CODE
from sync.store.db import Database
from sync.store.models import FindingRow, OutboxRow

pytestmark = pytest.mark.slow

NAMED_POINTS = (
    "after_fetch",
    "mid_commit",
    "after_commit",
    "after_findings",
    "mid_writeback",
    "after_writeback",
    "after_smtp",
)
RANDOM_KILLS_PER_ROUND = 6  # landed kills (a process that finished first does not count)
NOW = datetime.now(UTC)


@dataclass
class World:
    folder: Path
    emulator: GoogleCalendarEmulator
    sink: MailSink
    config: Path
    database_url: str
    duplicates_allowed: set[str] = field(default_factory=set)
    kills: Counter[str] = field(default_factory=Counter)

    def run_once(self, crash_at: str | None = None) -> int:
        env = {**os.environ, "ONEONONE_CRASH_AT": crash_at or ""}
        env.pop("REQUESTS_CA_BUNDLE", None)
        done = subprocess.run(
            [sys.executable, "-m", "sync.cli", "--config", str(self.config), "sync", "--once"],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=180,
        )
        assert done.returncode in (0, CRASH_EXIT_CODE), done.stderr.decode(errors="replace")[-2000:]
        return done.returncode

    def kill_at_random(self, delay: float) -> bool:
        env = {**os.environ}
        env.pop("REQUESTS_CA_BUNDLE", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "sync.cli", "--config", str(self.config), "sync", "--once"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        landed = process.poll() is None
        if landed:
            process.send_signal(signal.SIGKILL)
            self.kills["random"] += 1
        process.wait(timeout=60)
        self._note_smtp_window()
        return landed

    def _note_smtp_window(self) -> None:
        """A kill between acceptance and commit leaves a pending row whose email already arrived."""
        received = {m["Message-ID"] for m in self.sink.messages}
        db = Database(self.database_url)
        try:
            with db.session() as session:
                pending = session.scalars(select(OutboxRow.message_id).where(OutboxRow.status == "pending"))
                self.duplicates_allowed.update(mid for mid in pending if mid in received)
        finally:
            db.dispose()

    def findings(self) -> set[tuple[str, str, str, str, str]]:
        db = Database(self.database_url)
        try:
            with db.session() as session:
                return {(f.rule, f.manager, f.report, f.key, f.status) for f in session.scalars(select(FindingRow))}
        finally:
            db.dispose()


def _world(folder: Path, plan: OrgPlan) -> World:
    folder.mkdir()
    emulator = GoogleCalendarEmulator()
    emulator.start()
    seed_google(emulator, plan)
    sink = MailSink()
    sink.start()
    url = f"sqlite:///{folder / 'db.sqlite'}"
    config = write_config(folder, emulator, sink.port, url, list(plan.managers))
    return World(folder, emulator, sink, config, url)


def _links(world: World, plan: OrgPlan) -> dict[tuple[str, str], int]:
    """(calendar, event id) -> how many agenda links its description carries."""
    counts = {}
    for manager in plan.managers:
        for event in world.emulator.events(manager):
            text = str(event.get("description") or "")
            if "/a/" in text:
                counts[(manager, str(event["id"]))] = text.count("1:1 agenda")
    return counts


def _script(plan: OrgPlan) -> list[Callable[[GoogleCalendarEmulator], None]]:
    """The calendar changes made between rounds, the same in both worlds."""
    weekly = ("healthy-weekly", "cancelled-replaced", "moved", "declined-by-report")
    healthy = sorted(
        (s for s in plan.series if plan.stories[(s.organizer, s.attendee)] in weekly),
        key=lambda s: weekly.index(plan.stories[(s.organizer, s.attendee)]),
    )

    assert len(healthy) == 4, [plan.stories[(s.organizer, s.attendee)] for s in healthy]

    def next_slot(series_index: int, weeks_ahead: int) -> tuple[str, str]:
        series = healthy[series_index % len(healthy)]
        slot = series.first_start
        while slot.astimezone(UTC) < NOW:
            slot = (slot.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=slot.tzinfo)
        slot = (slot.replace(tzinfo=None) + timedelta(weeks=weeks_ahead)).replace(tzinfo=slot.tzinfo)
        return series.organizer, google_instance_id(series.key, slot)

    def cancel(index: int, weeks: int) -> Callable[[GoogleCalendarEmulator], None]:
        return lambda emulator: emulator.delete_event(*next_slot(index, weeks))

    def delete_series(index: int) -> Callable[[GoogleCalendarEmulator], None]:
        series = healthy[index % len(healthy)]
        return lambda emulator: emulator.delete_event(series.organizer, series.key)

    # Past slots cancelled after the fact are emailed at once (their grace ran out), so most rounds send mail.
    # (-1 is the last past slot; the org already cancelled, replaced or declined the one before it.)
    return [lambda emulator: None, cancel(0, -2), cancel(1, -3), delete_series(2), cancel(3, -3), cancel(0, 1)]


def test_fifty_kills_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    plan = plan_org(NOW, managers=2, reports_per_manager=4, weeks=8, seed=11)
    clean, crashy = _world(tmp_path / "clean", plan), _world(tmp_path / "crash", plan)
    rng = random.Random(20261125)
    try:
        for step in _script(plan):
            step(clean.emulator)
            assert clean.run_once() == 0
            step(crashy.emulator)
            for point in NAMED_POINTS:
                before = {m["Message-ID"] for m in crashy.sink.messages}
                if crashy.run_once(crash_at=f"{point}:1") == CRASH_EXIT_CODE:
                    crashy.kills[point] += 1
                    if point == "after_smtp":  # killed between acceptance and commit: its copy may come again
                        crashy.duplicates_allowed.update({m["Message-ID"] for m in crashy.sink.messages} - before)
            landed = attempts = 0
            while landed < RANDOM_KILLS_PER_ROUND and attempts < 4 * RANDOM_KILLS_PER_ROUND:
                attempts += 1
                landed += crashy.kill_at_random(rng.uniform(0.2, 2.0))
            assert crashy.run_once() == 0  # the round completes
        total_kills = sum(crashy.kills.values())
        assert total_kills >= 50, crashy.kills
        assert crashy.findings() == clean.findings()
        clean_ids = Counter(m["Message-ID"] for m in clean.sink.messages)
        crash_ids = Counter(m["Message-ID"] for m in crashy.sink.messages)
        assert set(crash_ids) == set(clean_ids), "an email was lost or an unexpected one was sent"
        assert all(n == 1 for n in clean_ids.values())
        twice = {mid for mid, n in crash_ids.items() if n > 1}
        assert twice <= crashy.duplicates_allowed, f"sent twice outside the acceptance window: {twice}"
        assert clean_ids, "the scenario should send at least one email"
        assert crashy.kills["mid_writeback"] and crashy.kills["after_writeback"]
        # Agenda links: the same events carry one, and none carries two, however often we were killed.
        assert _links(clean, plan), "the scenario should attach agenda links"
        assert _links(crashy, plan) == _links(clean, plan)
        assert all(count == 1 for count in _links(crashy, plan).values())
    finally:
        for world in (clean, crashy):
            world.sink.stop()
            world.emulator.stop()
