"""Configuration: bad input is refused with the key path named; the example documents every key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from sync.cli import main
from sync.config import ConfigError, Settings, load_settings, parse_settings, permission_warnings
from sync.directory.sources import config_directory

REPO = Path(__file__).resolve().parents[1]


def test_empty_config_gives_the_house_rules_defaults() -> None:
    settings = parse_settings({})
    rules = settings.rule_settings()
    assert (rules.cadence_days, rules.max_gap_days, rules.reschedule_window_days) == (7, 14, 7)
    assert settings.notify.mode == "send" and settings.notify.lookback_days == 7


@pytest.mark.parametrize(
    ("data", "path", "hint"),
    [
        ({"smtp": {"port": "abc"}}, "smtp.port", "'abc'"),
        ({"smtp": {"security": "tls"}}, "smtp.security", "'none', 'starttls' or 'ssl'"),
        ({"rules": {"max_gap_dayz": 3}}, "rules.max_gap_dayz", "unknown key"),
        ({"google": {"calendars": ["not-an-address"]}}, "google.calendars", "not an email address"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "unknown time zone"),
        ({"poll_interval_seconds": 1}, "poll_interval_seconds", "greater than or equal to 5"),
        (
            {"google": {"calendars": ["a@example.com"]}},
            "google",
            "neither service_account_file nor oauth_user_file",
        ),
    ],
)
def test_bad_values_are_reported_with_their_key_path(data: dict[str, object], path: str, hint: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(data)
    message = str(error.value)
    assert f"{path}:" in message
    assert hint in message


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("smtp:\n  host: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_settings(config)


def test_check_config_exits_2_with_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("smtp:\n  port: seventy\n", encoding="utf-8")
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "smtp.port" in err and "seventy" in err


def test_a_missing_secret_env_var_is_named_but_its_value_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("smtp:\n  username: bot\n  password_env: ONEONONE_TEST_SMTP_PW\n", encoding="utf-8")
    config.chmod(0o600)
    monkeypatch.delenv("ONEONONE_TEST_SMTP_PW", raising=False)
    assert main(["--config", str(config), "check-config"]) == 2
    assert "smtp.password_env: environment variable ONEONONE_TEST_SMTP_PW is not set" in capsys.readouterr().err
    monkeypatch.setenv("ONEONONE_TEST_SMTP_PW", "hunter2-secret")
    assert main(["--config", str(config), "check-config"]) == 0
    out = capsys.readouterr()
    assert "hunter2-secret" not in out.out + out.err
    assert "hunter2-secret" not in repr(load_settings(config).smtp.password())


def test_check_config_masks_the_database_password_wherever_the_url_carries_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    url = "postgresql://oneonone:pw-in-userinfo@db.internal:5432/oneonone?password=pw-in-query&sslmode=require"
    config.write_text(f"database_url: '{url}'\n", encoding="utf-8")
    config.chmod(0o600)
    assert main(["--config", str(config), "check-config"]) == 0
    out = capsys.readouterr().out.replace("\n", "")  # the console wraps long lines
    assert "pw-in-userinfo" not in out and "pw-in-query" not in out
    assert "db.internal:5432/oneonone" in out and "sslmode=require" in out


def test_a_new_sqlite_store_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    from sync.store.db import Database

    path = tmp_path / "state" / "oneonone.db"
    Database(f"sqlite:///{path}").migrate()
    assert path.stat().st_mode & 0o777 == 0o600


def test_world_readable_config_is_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("{}\n", encoding="utf-8")
    config.chmod(0o644)
    assert permission_warnings(config)
    config.chmod(0o600)
    assert permission_warnings(config) == []


def test_directory_csv_is_loaded_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "team.csv").write_text(
        "manager,report,start_date\nAlice@Example.com,bob@example.com,2025-01-06\nalice@example.com,carol@example.com\n",
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text("directory:\n  file: team.csv\n", encoding="utf-8")
    directory = config_directory(load_settings(config))
    assert {(p.manager, p.report, p.start and p.start.isoformat()) for p in directory.pairs} == {
        ("alice@example.com", "bob@example.com", "2025-01-06"),
        ("alice@example.com", "carol@example.com", None),
    }


def test_a_bad_directory_csv_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "team.csv").write_text("alice@example.com;bob@example.com\n", encoding="utf-8")
    settings = parse_settings({"directory": {"file": str(tmp_path / "team.csv")}})
    with pytest.raises(ConfigError, match="line 1: expected manager,report"):
        config_directory(settings)


def _documented_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        keys.append(prefix + key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_documented_keys(annotation, prefix + key + "."))
    return keys


def test_config_example_loads_and_documents_every_key() -> None:
    example = REPO / "config.example.yaml"
    load_settings(example)
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    missing = []
    for dotted in _documented_keys(Settings):
        node: object = data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(dotted)
                break
            node = node[part]
    assert missing == []


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"rules": {"max_gap_dayz": 3}}, "rules.max_gap_dayz: unknown key (did you mean max_gap_days?)"),
        ({"databse_url": "sqlite://"}, "databse_url: unknown key (did you mean database_url?)"),
        ({"google": {"calendars": "a@acme.test"}}, "google.calendars: expected a list (one `- item` per line)"),
        ({"notify": {"max_attempts": "eight"}}, "notify.max_attempts: expected a whole number (got 'eight')"),
        ({"web": {"metrics_per_calendar": "maybe"}}, "web.metrics_per_calendar: expected true or false"),
    ],
)
def test_config_errors_are_sentences_with_a_did_you_mean(data: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(data)
    assert said in str(error.value)


def test_a_schema_error_names_the_yaml_line_of_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "time_zone: Europe/Berlin\nrules:\n  cadence_days: 7\n  max_gap_dayz: 14\n"
        "smtp:\n  host: mail\n  port: seventy\n",
        encoding="utf-8",
    )
    config.chmod(0o600)
    assert main(["--config", str(config), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "rules.max_gap_dayz (line 4): unknown key (did you mean max_gap_days?)" in err
    assert "smtp.port (line 7): expected a whole number (got 'seventy')" in err


def test_a_missing_secret_is_named_before_the_database_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "never.sqlite"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database_url: sqlite:///{database}\nslack:\n  bot_token_env: ONEONONE_TEST_NO_TOKEN\n", encoding="utf-8"
    )
    config.chmod(0o600)
    monkeypatch.delenv("ONEONONE_TEST_NO_TOKEN", raising=False)
    assert main(["--config", str(config), "sync", "--once"]) == 2
    assert "slack.bot_token_env: environment variable ONEONONE_TEST_NO_TOKEN is not set" in capsys.readouterr().err
    assert not database.exists()  # no migration ran, no file was made
