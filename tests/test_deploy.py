"""deploy/: the systemd unit runs a real command, is sandboxed, and agrees with what the daemon does."""

from __future__ import annotations

import configparser
import logging
import re
import shlex
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync import cli
from sync.config import Settings
from sync.metrics import Metrics
from sync.store.db import Database

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "oneonone.service"
ENV_EXAMPLE = ROOT / "deploy" / "oneonone.env.example"


class _Repeated(dict[str, Any]):
    """A directive given on several lines (`SystemCallFilter=`, `Environment=`) keeps every line."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and key in self and isinstance(self[key], list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, dict_type=_Repeated, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # directives are case-sensitive
    parser.read(UNIT, encoding="utf-8")
    return parser


def lines(section: str, key: str) -> list[str]:
    """Every value given for a directive, in order ("" for an empty assignment, which resets it)."""
    return unit().get(section, key).split("\n")


def words(section: str, key: str) -> set[str]:
    return {word for line in lines(section, key) for word in line.split()}


def service(key: str) -> str:
    return unit().get("Service", key)


def environment() -> dict[str, str]:
    pairs = (item.split("=", 1) for line in lines("Service", "Environment") for item in shlex.split(line))
    return {name: value for name, value in pairs}


def test_the_unit_has_its_three_sections_and_runs_as_a_simple_service() -> None:
    parsed = unit()
    assert parsed.sections() == ["Unit", "Service", "Install"]
    assert service("Type") == "simple"
    assert parsed.get("Install", "WantedBy") == "multi-user.target"
    assert "network-online.target" in parsed.get("Unit", "Wants")


def test_execstart_is_the_installed_cli_with_flags_its_parser_accepts() -> None:
    program, *args = shlex.split(service("ExecStart"))
    assert Path(program).is_absolute() and Path(program).name == "oneonone"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["oneonone"] == "sync.cli:main"
    parsed = cli.parser().parse_args(args)
    assert parsed.command == "run" and parsed.func is cli.cmd_run
    assert parsed.config == "/etc/oneonone/config.yaml"
    assert parsed.log_format == "json"


def test_it_runs_as_its_own_unprivileged_user_with_secrets_from_the_environment_file() -> None:
    assert service("User") == service("Group") == "oneonone"
    assert service("EnvironmentFile") == "/etc/oneonone/oneonone.env"
    assert service("NoNewPrivileges") == "yes"
    assert service("CapabilityBoundingSet") == "" and service("AmbientCapabilities") == ""
    assert service("RestrictSUIDSGID") == "yes"


def test_the_file_system_is_read_only_but_for_the_state_directory() -> None:
    assert service("ProtectSystem") == "strict"
    assert service("ProtectHome") == "yes"
    assert service("PrivateTmp") == "yes" and service("PrivateDevices") == "yes"
    assert service("StateDirectory") == "oneonone"
    assert service("ReadWritePaths").split() == ["/var/lib/oneonone"]
    assert service("WorkingDirectory") == "/var/lib/oneonone"
    assert service("UMask") == "0077"


def test_the_default_sqlite_database_lands_in_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`XDG_STATE_HOME` in the unit + `StateDirectory=` is exactly where `resolved_database_url` puts SQLite."""
    state_home = environment()["XDG_STATE_HOME"]
    assert f"{state_home}/{service('StateDirectory')}" == service("ReadWritePaths")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # the same rule, without touching /var/lib here
    url = Settings().resolved_database_url()
    assert url == f"sqlite:///{tmp_path / service('StateDirectory') / 'oneonone.db'}"


def test_kernel_network_and_system_call_sandboxing() -> None:
    for key in (
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RestrictNamespaces",
        "RestrictRealtime",
        "LockPersonality",
    ):
        assert service(key) == "yes", key
    assert words("Service", "RestrictAddressFamilies") == {"AF_INET", "AF_INET6", "AF_UNIX"}
    filters = lines("Service", "SystemCallFilter")
    assert filters[0] == "@system-service"
    assert all(f.startswith("~") for f in filters[1:]) and "@privileged" in filters[1]
    assert service("SystemCallArchitectures") == "native"


def test_restarts_on_failure_but_not_on_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert service("Restart") == "on-failure"
    prevented = service("RestartPreventExitStatus").split()
    config = tmp_path / "config.yaml"
    config.write_text("poll_interval_seconds: [not, a, number]\n", encoding="utf-8")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # main() installs its own handler
    monkeypatch.setattr(root, "level", root.level)
    code = cli.main(["--config", str(config), "check-config"])
    assert code == 2 and str(code) in prevented  # a broken config exits 2, and systemd does not loop on it


def _seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60}
    total = 0.0
    for number, unit_name in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit_name]
    return total


def test_the_stop_timeout_covers_the_daemons_bounded_shutdown() -> None:
    """On SIGTERM in-flight requests finish, each bounded by its `timeout_seconds`: a sync request, then an email
    being sent, then the web server's join (5 s). The unit waits at least that long before SIGKILL."""
    defaults = Settings()
    slowest = max(
        defaults.google.timeout_seconds,
        defaults.outlook.timeout_seconds,
        defaults.ics.timeout_seconds,
        defaults.caldav.timeout_seconds,
    )
    needed = slowest + defaults.smtp.timeout_seconds + 5
    assert needed <= _seconds(service("TimeoutStopSec")) <= 300
    assert service("KillSignal") == "SIGTERM"


def test_the_example_environment_file_holds_only_placeholder_secrets_the_config_names() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assignments = re.findall(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE)
    names = {name for name, _ in assignments}
    assert {"ONEONONE_SMTP_PASSWORD", "ONEONONE_GRAPH_SECRET", "ONEONONE_SESSION_SECRET"} <= names
    assert all(value == "CHANGE-ME" for _, value in assignments), assignments
    assert all(re.search(r"(PASSWORD|SECRET|TOKEN)$", name) for name in names), names
    example = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    for name in names:  # each is the example value of a `*_env` key, so the config can name it
        assert re.search(rf"_env:.*\b{name}\b", example), name


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """The real verifier, where systemd is installed; the program path is pointed at a stand-in executable."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed here")
    program = shlex.split(service("ExecStart"))[0]
    stand_in = tmp_path / "oneonone"
    stand_in.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stand_in.chmod(0o755)
    copy = tmp_path / "oneonone.service"
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(program, str(stand_in)), encoding="utf-8")
    result = subprocess.run([verify, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_metric_names_the_docs_mention_are_the_ones_served(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'oneonone.db'}")
    db.migrate()
    metrics = Metrics(db, lambda: datetime.now(UTC))
    metrics.syncs.labels("google", "ok").inc()
    metrics.errors.labels("cycle").inc()
    metrics.api_requests.labels("google").inc()
    metrics.emails.labels("sent").inc()
    metrics.skipped_items.labels("google").inc()
    metrics.cycles.inc()
    served = set(re.findall(r"^# TYPE (\w+) ", metrics.render().decode(), flags=re.MULTILINE))
    db.dispose()
    for doc in (ROOT / "README.md", ROOT / "deploy" / "README.md"):
        mentioned = set(re.findall(r"\b(oneonone_[a-z_]+)\b", doc.read_text(encoding="utf-8")))
        assert mentioned <= served, (doc.name, mentioned - served)
