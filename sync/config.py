"""Configuration: YAML in, validated settings out, with errors that name the key path.

Secrets never live in the file itself: the file names an environment variable or a file that
holds them, and the resolved values are `SecretStr`s so they never reach a log line.
"""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from rules.model import Directory, Pair, RuleSettings, normalize_email


class ConfigError(Exception):
    """A configuration problem, phrased for the person editing the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
    return value


def _read_secret(env: str | None, file: Path | None, what: str) -> SecretStr | None:
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return SecretStr(value)
    if file:
        try:
            return SecretStr(file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {file}: {exc.strerror}") from exc
    return None


class GoogleSettings(_Model):
    api_endpoint: str | None = Field(None, description="None = Google's own endpoint")
    service_account_file: Path | None = None
    oauth_user_file: Path | None = None  # an authorized-user JSON (refresh token) instead of a service account
    calendars: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ("https://www.googleapis.com/auth/calendar.events",)
    page_size: int = Field(2500, ge=1, le=2500)
    timeout_seconds: float = Field(30, gt=0)

    @field_validator("calendars")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if "@" not in item:
                raise ValueError(f"{item!r} is not an email address")
        return tuple(normalize_email(v) for v in value)

    @model_validator(mode="after")
    def _credentials(self) -> GoogleSettings:
        if self.calendars and not (self.service_account_file or self.oauth_user_file):
            raise ValueError("calendars are listed but neither service_account_file nor oauth_user_file is set")
        return self


class SmtpSettings(_Model):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    security: Literal["none", "starttls", "ssl"] = "none"
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    from_address: str = Field("oneonone@localhost", alias="from")
    timeout_seconds: float = Field(30, gt=0)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def password(self) -> SecretStr | None:
        return _read_secret(self.password_env, self.password_file, "smtp.password")


class NotifySettings(_Model):
    mode: Literal["send", "observe"] = "send"
    via: Literal["smtp", "graph"] = "smtp"
    opt_out: tuple[str, ...] = ()
    lookback_days: int = Field(7, ge=0)
    max_attempts: int = Field(8, ge=1)

    @field_validator("opt_out")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_email(v) for v in value)


class PairEntry(_Model):
    manager: str
    report: str
    start: date | None = None


class DirectorySettings(_Model):
    pairs: tuple[PairEntry, ...] = ()
    file: Path | None = None  # CSV: manager,report[,start_date]
    domains: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)


class RulesSettings(_Model):
    title_patterns: tuple[str, ...] | None = None
    unknown_pairs: Literal["organizer", "ignore"] = "organizer"
    cadence_days: int = Field(7, ge=1)
    max_gap_days: int = Field(14, ge=1)
    reschedule_window_days: int = Field(7, ge=0)
    reschedule_grace_hours: int = Field(24, ge=0)
    late_cancellation_hours: int = Field(24, ge=0)
    min_duration_minutes: int = Field(25, ge=0)
    churn_moves: int = Field(3, ge=1)
    churn_window: int = Field(5, ge=1)
    history_days: int = Field(120, ge=14)
    horizon_days: int = Field(35, ge=1)


class Settings(_Model):
    database_url: str | None = None
    poll_interval_seconds: int = Field(300, ge=5)
    time_zone: str = "UTC"
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    notify: NotifySettings = Field(default_factory=lambda: NotifySettings())
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    rules: RulesSettings = Field(default_factory=lambda: RulesSettings())

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "oneonone"
        state.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{state / 'oneonone.db'}"

    def rule_settings(self) -> RuleSettings:
        r = self.rules
        extra: dict[str, Any] = {}
        if r.title_patterns is not None:
            extra["title_patterns"] = r.title_patterns
        return RuleSettings(
            unknown_pairs=r.unknown_pairs,
            cadence_days=r.cadence_days,
            max_gap_days=r.max_gap_days,
            reschedule_window_days=r.reschedule_window_days,
            reschedule_grace_hours=r.reschedule_grace_hours,
            late_cancellation_hours=r.late_cancellation_hours,
            min_duration_minutes=r.min_duration_minutes,
            churn_moves=r.churn_moves,
            churn_window=r.churn_window,
            notify_lookback_days=self.notify.lookback_days,
            history_days=r.history_days,
            horizon_days=r.horizon_days,
            **extra,
        )

    def directory_model(self) -> Directory:
        entries = list(self.directory.pairs)
        if self.directory.file:
            entries.extend(load_directory_csv(self.directory.file))
        aliases = {normalize_email(k): normalize_email(v) for k, v in self.directory.aliases.items()}
        pairs = {
            (normalize_email(e.manager), normalize_email(e.report)): Pair(
                manager=normalize_email(e.manager),
                report=normalize_email(e.report),
                start=e.start,
                source="config",
            )
            for e in entries
        }
        manager_of = {p.report: p.manager for p in pairs.values()}
        return Directory(
            pairs=tuple(pairs.values()),
            domains=tuple(d.lower() for d in self.directory.domains),
            aliases=aliases,
            manager_of=manager_of,
        )


def load_directory_csv(path: Path) -> list[PairEntry]:
    """`manager,report[,start_date]` per line; a header line is allowed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"directory.file: cannot read {path}: {exc.strerror}") from exc
    entries: list[PairEntry] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "manager":
            continue
        if len(cells) < 2 or "@" not in cells[0] or "@" not in cells[1]:
            raise ConfigError(f"directory.file {path} line {number}: expected manager,report[,start_date]")
        try:
            start = date.fromisoformat(cells[2]) if len(cells) > 2 and cells[2] else None
        except ValueError as exc:
            raise ConfigError(f"directory.file {path} line {number}: start_date must be YYYY-MM-DD") from exc
        entries.append(PairEntry(manager=cells[0], report=cells[1], start=start))
    return entries


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against config.example.yaml)"
        elif "input" in item and item["type"] not in ("missing",) and not isinstance(item["input"], dict):
            message = f"{message} (got {item['input']!r})"
        lines.append(f"  {path}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


def parse_settings(data: Mapping[str, Any] | None, *, origin: str = "config") -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys, got {type(data).__name__}")
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_format_errors(exc)}") from None


def load_settings(path: Path) -> Settings:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    settings = parse_settings(data, origin=str(path))
    base = path.parent
    return _resolve_paths(settings, base)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative file paths in the config are relative to the config file."""

    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p)

    google = settings.google.model_copy(
        update={
            "service_account_file": fix(settings.google.service_account_file),
            "oauth_user_file": fix(settings.google.oauth_user_file),
        }
    )
    directory = settings.directory.model_copy(update={"file": fix(settings.directory.file)})
    smtp = settings.smtp.model_copy(update={"password_file": fix(settings.smtp.password_file)})
    return settings.model_copy(update={"google": google, "directory": directory, "smtp": smtp})


def permission_warnings(path: Path) -> list[str]:
    """A config that names secret files should not be readable by everyone."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} is readable by group/others (mode {stat.filemode(mode)}); consider chmod 600"]
    return []
