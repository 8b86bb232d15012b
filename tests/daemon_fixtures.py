"""Running `oneonone run` as a real process against the emulators (crash and replica tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from emulators.google import GoogleCalendarEmulator

REPO = Path(__file__).resolve().parents[1]


def write_config(
    folder: Path,
    emulator: GoogleCalendarEmulator,
    smtp_port: int,
    database_url: str,
    calendars: list[str],
    **extra: Any,
) -> Path:
    key = folder / "key.json"
    key.write_text(json.dumps(emulator.service_account_info()), encoding="utf-8")
    config = folder / "config.yaml"
    data: dict[str, Any] = {
        "database_url": database_url,
        "poll_interval_seconds": 5,
        "google": {"api_endpoint": emulator.api_endpoint, "service_account_file": str(key), "calendars": calendars},
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "oneonone@example.com"},
        "agenda": {"nudges": False},  # nudges follow the wall clock here; tested on their own
        "web": {"bind": "127.0.0.1:0"},  # several daemons run at once: any free port
        **extra,
    }
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    config.chmod(0o600)
    return config


def start_daemon(
    config: Path, *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    environment = {**os.environ, **(env or {})}
    environment.pop("REQUESTS_CA_BUNDLE", None)
    output = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "sync.cli", "--config", str(config), "run"],
        cwd=REPO,
        env=environment,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
