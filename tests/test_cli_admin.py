"""The admin's commands refuse what cannot be right, with a sentence that says why and a non-zero exit."""

from __future__ import annotations

import io
import json
import os
import socket
from pathlib import Path

import pytest
import yaml
from agenda_fixtures import FIRST, make_agenda_world
from google_fixtures import ALICE, BOB, weekly_one_on_one

from emulators.google import GoogleCalendarEmulator
from emulators.ics_feed import IcsFeedServer
from emulators.smtp import MailSink
from sync.cli import main
from sync.store.models import AgendaPairRow, PauseRow


@pytest.fixture
def config(google_emulator: GoogleCalendarEmulator, tmp_path: Path) -> Path:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with MailSink() as sink:
        world = make_agenda_world(google_emulator, sink, url)
        weekly_one_on_one(world.emulator, FIRST, zone="UTC")
        world.cycle()
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database_url": url}), encoding="utf-8")
    path.chmod(0o600)
    return path


def _count(config: Path, model: type) -> int:  # type: ignore[type-arg]
    from sync.store.db import Database

    db = Database(yaml.safe_load(config.read_text())["database_url"])
    with db.session() as session:
        return session.query(model).count()


def test_forget_of_an_unknown_address_deletes_nothing_and_says_so(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "forget", "bbo@example.com", "--yes"]) == 1
    assert "nobody called bbo@example.com is known here" in capsys.readouterr().err
    assert _count(config, AgendaPairRow) == 1


def test_forget_without_yes_and_without_a_terminal_asks_for_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "forget", BOB]) == 2
    assert "--yes" in capsys.readouterr().err
    assert _count(config, AgendaPairRow) == 1


def test_pause_of_a_pair_that_does_not_exist_is_refused_with_the_pairs_that_do(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "pause", BOB, ALICE, "--until", "2026-12-24"]) == 1  # the wrong way round
    err = capsys.readouterr().err
    assert f"no 1:1 pair {BOB} / {ALICE} is known" in err and f"{ALICE} / {BOB}" in err
    assert _count(config, PauseRow) == 0
    assert main(["--config", str(config), "pause", ALICE, BOB, "--until", "2026-12-24"]) == 0
    assert _count(config, PauseRow) == 1


def test_a_pause_date_that_is_not_a_date_says_how_to_write_one(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["--config", str(config), "pause", ALICE, BOB, "--until", "next-month"])
    assert exit_code.value.code == 2
    assert "'next-month' is not a date: write it as YYYY-MM-DD, e.g. 2026-12-24" in capsys.readouterr().err


def test_commands_do_not_print_the_migration_tool_s_chatter(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "findings", "--format", "json"]) == 0
    assert "alembic" not in capsys.readouterr().err


def test_a_folder_given_as_the_key_file_is_named_as_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    path = tmp_path / "config.yaml"
    settings = {"google": {"service_account_file": str(folder), "calendars": [ALICE]}}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    path.chmod(0o600)
    assert main(["--config", str(path), "check-config"]) == 2
    assert f"google.service_account_file: {folder} is a folder; give the path of the key file inside it" in (
        capsys.readouterr().err
    )


def test_check_config_connect_tries_each_part_and_names_the_one_that_fails(
    google_emulator: GoogleCalendarEmulator,
    sink: MailSink,
    ics_server: IcsFeedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(google_emulator.service_account_info()), encoding="utf-8")
    ics_server.publish("maria.ics", b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nEND:VCALENDAR\r\n")
    settings = {
        "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "google": {
            "api_endpoint": google_emulator.api_endpoint,
            "service_account_file": "key.json",
            "calendars": [ALICE],
        },
        "ics": {"feeds": [{"owner": "maria@example.com", "url": ics_server.url("maria.ics")}]},
        "smtp": {"host": "127.0.0.1", "port": sink.port},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    config.chmod(0o600)
    assert main(["--config", str(config), "check-config", "--connect"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "ok database: connected" in out and f"ok smtp: 127.0.0.1:{sink.port} answered (EHLO)" in out
    assert f"ok calendars (google): read {ALICE}" in out and "ok calendars (ics): read maria@example.com" in out

    settings["ics"] = {"feeds": [{"owner": "maria@example.com", "url": ics_server.url("moved-away.ics")}]}
    settings["smtp"] = {"host": "127.0.0.1", "port": _closed_port()}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert main(["--config", str(config), "check-config", "--connect"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "failed smtp: ConnectionRefusedError" in out and "failed calendars (ics): maria@example.com" in out
    assert f"ok calendars (google): read {ALICE}" in out  # the rest is still tried and reported


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_first_full_sync_of_many_calendars_on_a_terminal_shows_progress(tmp_path: Path) -> None:
    from rich.console import Console

    from sync.cli.report import PROGRESS_FROM, wants_progress
    from sync.config import parse_settings
    from sync.runtime import build_runtime

    calendars = [f"person{n}@example.com" for n in range(PROGRESS_FROM)]

    class Watched:
        def calendars(self) -> list[str]:
            return calendars

    runtime = build_runtime(parse_settings({"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"}), providers=[])
    runtime.providers = [Watched()]  # type: ignore[list-item]
    terminal, pipe = Console(force_terminal=True), Console(file=io.StringIO())
    assert wants_progress(runtime, terminal) and not wants_progress(runtime, pipe)  # a script sees no bar
    calendars.pop()
    assert not wants_progress(runtime, terminal)  # a handful of calendars: over before a bar would help


def test_an_unreadable_key_file_is_named_with_exit_2_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "key.json"
    key.write_text("{}", encoding="utf-8")
    key.chmod(0o000)
    # CI runs as root, which reads any file: the OS is asked the question a daemon's own user would get answered.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == key else real_access(p, mode))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"google": {"service_account_file": str(key), "calendars": [ALICE]}}), "utf-8")
    path.chmod(0o600)
    for command in (["check-config"], ["sync", "--once"]):
        assert main(["--config", str(path), *command]) == 2
        err = capsys.readouterr().err
        assert f"google.service_account_file: cannot read {key}: permission denied" in err and "Traceback" not in err
