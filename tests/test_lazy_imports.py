"""A daemon imports only what its settings configure: a Google-only deployment never loads the Graph
(msal), CalDAV, ICS or Slack libraries. Each costs memory for as long as the daemon runs (caldav
about 14 MB, msal about 7 MB) and start-up time, for calendars nobody watches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from daemon_fixtures import REPO, write_config

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink

UNCONFIGURED = ("msal", "caldav", "icalendar", "recurring_ical_events", "slack_sdk", "providers.outlook")

PROBE = """
import atexit, json, sys
watched = {watched!r}
atexit.register(lambda: print("LOADED " + json.dumps(sorted(m for m in watched if m in sys.modules))))
from sync.cli import main
sys.exit(main(["--config", {config!r}, "sync", "--once"]))
"""


def _loaded_after_one_cycle(config: Path, watched: tuple[str, ...]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "REQUESTS_CA_BUNDLE"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(watched=watched, config=str(config))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED "))
    loaded: list[str] = json.loads(line.removeprefix("LOADED "))
    return loaded


def test_a_google_only_cycle_loads_no_other_vendor_library(tmp_path: Path) -> None:
    emulator, sink = GoogleCalendarEmulator(), MailSink()
    emulator.start()
    _, port = sink.start()
    try:
        emulator.add_calendar("ada@example.com")
        config = write_config(tmp_path, emulator, port, f"sqlite:///{tmp_path / 'db.sqlite'}", ["ada@example.com"])
        assert _loaded_after_one_cycle(config, (*UNCONFIGURED, "googleapiclient")) == ["googleapiclient"]
    finally:
        sink.stop()
        emulator.stop()
