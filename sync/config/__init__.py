"""Configuration: YAML in, validated settings out, with errors that name the key path.

Secrets never live in the file itself: the file names an environment variable or a file that
holds them, and the resolved values are `SecretStr`s so they never reach a log line.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from rules.model import RuleSettings
from sync.config.base import ConfigError, Section, check_zone
from sync.config.booking import BookingSettings
from sync.config.calendars import (
    CalDavCalendarSettings,
    CalDavSettings,
    GoogleSettings,
    IcsFeedSettings,
    IcsSettings,
    OutlookSettings,
)
from sync.config.directory import (
    DirectoryEntraSettings,
    DirectoryGoogleSettings,
    DirectoryScopeRule,
    DirectorySettings,
    PairEntry,
)
from sync.config.mail import WEEKDAYS, DigestSettings, EscalationSettings, NotifySettings, SmtpSettings
from sync.config.rules import AttendanceSettings, RulesSettings
from sync.config.slack import SlackSettings
from sync.config.web import AgendaSettings, OidcSettings, OrgPageSettings, WebSettings

__all__ = [
    "WEEKDAYS",
    "AgendaSettings",
    "AttendanceSettings",
    "CalDavCalendarSettings",
    "CalDavSettings",
    "ConfigError",
    "DigestSettings",
    "DirectoryEntraSettings",
    "DirectoryGoogleSettings",
    "DirectoryScopeRule",
    "DirectorySettings",
    "EscalationSettings",
    "GoogleSettings",
    "IcsFeedSettings",
    "IcsSettings",
    "NotifySettings",
    "OidcSettings",
    "OrgPageSettings",
    "OutlookSettings",
    "PairEntry",
    "RulesSettings",
    "Settings",
    "SlackSettings",
    "SmtpSettings",
    "WebSettings",
    "load_settings",
    "parse_settings",
    "permission_warnings",
]


class Settings(Section):
    database_url: str | None = None
    poll_interval_seconds: int = Field(300, ge=5)
    concurrency: int = Field(8, ge=1, le=64)
    lease_seconds: int = Field(120, ge=10)
    time_zone: str = "UTC"
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    outlook: OutlookSettings = Field(default_factory=lambda: OutlookSettings())
    ics: IcsSettings = Field(default_factory=lambda: IcsSettings())
    caldav: CalDavSettings = Field(default_factory=lambda: CalDavSettings())
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    notify: NotifySettings = Field(default_factory=lambda: NotifySettings())
    directory: DirectorySettings = Field(default_factory=DirectorySettings)
    rules: RulesSettings = Field(default_factory=lambda: RulesSettings())
    attendance: AttendanceSettings = Field(default_factory=lambda: AttendanceSettings())
    web: WebSettings = Field(default_factory=lambda: WebSettings())
    agenda: AgendaSettings = Field(default_factory=lambda: AgendaSettings())
    digest: DigestSettings = Field(default_factory=lambda: DigestSettings())
    org_page: OrgPageSettings = Field(default_factory=lambda: OrgPageSettings())
    escalation: EscalationSettings = Field(default_factory=lambda: EscalationSettings())
    slack: SlackSettings = Field(default_factory=lambda: SlackSettings())
    booking: BookingSettings = Field(default_factory=lambda: BookingSettings())

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @model_validator(mode="after")
    def _graph_mail(self) -> Settings:
        if self.notify.via == "graph":
            if not self.notify.graph_sender:
                raise ValueError("notify.via is graph but notify.graph_sender (the sending mailbox) is not set")
            if not self.outlook.configured:
                raise ValueError("notify.via is graph but outlook.tenant_id and outlook.client_id are not set")
        return self

    @model_validator(mode="after")
    def _chat_channels(self) -> Settings:
        for kind, channel in sorted(self.notify.channels.items()):
            if channel == "slack" and not self.slack.configured:
                raise ValueError(
                    f"notify.channels.{kind} is slack but the slack section has no bot token"
                    " (set slack.bot_token_env or slack.bot_token_file)"
                )
        return self

    @model_validator(mode="after")
    def _directory_source(self) -> Settings:
        source = self.directory.resolved_source
        if source == "google":
            if not self.google.service_account_file:
                raise ValueError("directory.source is google but google.service_account_file is not set")
            if not self.directory.google.admin_subject:
                raise ValueError("directory.source is google but directory.google.admin_subject (an admin) is not set")
        if source == "entra" and not self.outlook.configured:
            raise ValueError("directory.source is entra but outlook.tenant_id and outlook.client_id are not set")
        return self

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "oneonone"
        state.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{state / 'oneonone.db'}"

    def read_secrets(self) -> None:
        """Read every secret the config names, now: a missing variable or unreadable file is reported (exit 2,
        naming its key) before the database is touched, not after the migrations ran."""
        for read in (
            self.smtp.password,
            self.outlook.client_secret,
            self.caldav.password,
            self.slack.bot_token,
            self.slack.signing_secret,
            self.web.session_secret,
            self.web.metrics_token,
            self.agenda.oidc.client_secret,
            self.org_page.admin_token,
        ):
            read()

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
            pair_title_patterns=tuple(_pair_pattern(key, pattern) for key, pattern in r.pair_title_patterns.items()),
            attendance=r.attendance,
            min_attended_minutes=r.min_attended_minutes,
            **extra,
        )


def _pair_pattern(key: str, pattern: str) -> tuple[str, str, str]:
    manager, _, report = key.partition(",")
    return manager, report, pattern


# Pydantic's words for a wrong type, in the words of someone writing YAML.
_TYPE_WORDS = {
    "tuple_type": "expected a list (one `- item` per line)",
    "list_type": "expected a list (one `- item` per line)",
    "dict_type": "expected a section of `key: value` lines",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_parsing": "expected a number",
    "string_type": "expected text",
}


def _section_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the section at `loc` (the unknown key's parent) accepts, for a "did you mean"."""
    model: Any = Settings
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return [f.alias or name for name, f in model.model_fields.items()]


def yaml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """The line (1-based) each key and list item of a YAML document starts on, by its path: where an
    error about `rules.max_gap_days` points the admin to."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    found: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, key.value)
                found[here] = key.start_mark.line + 1
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for index, value in enumerate(node.value):
                found[(*path, index)] = value.start_mark.line + 1
                walk(value, (*path, index))

    if root is not None:
        walk(root, ())
    return found


def _line_of(loc: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    """The line of the deepest part of `loc` the file has (a missing key points at its section)."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _format_errors(error: ValidationError, lines: Mapping[tuple[Any, ...], int] | None = None) -> str:
    out = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "(top level)"
        line = _line_of(tuple(item["loc"]), lines or {})
        if line is not None:
            path = f"{path} (line {line})"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            key = str(item["loc"][-1])
            close = difflib.get_close_matches(key, _section_keys(tuple(item["loc"][:-1])), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "check the spelling against config.example.yaml"
            message = f"unknown key ({hint})"
        elif item["type"] in _TYPE_WORDS:
            message = f"{_TYPE_WORDS[item['type']]} (got {item.get('input')!r})"
        elif "input" in item and item["type"] not in ("missing",) and not isinstance(item["input"], dict):
            message = f"{message} (got {item['input']!r})"
        out.append(f"  {path}: {message}")
    return "invalid configuration:\n" + "\n".join(out)


def parse_settings(
    data: Mapping[str, Any] | None, *, origin: str = "config", lines: Mapping[tuple[Any, ...], int] | None = None
) -> Settings:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys, got {type(data).__name__}")
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_format_errors(exc, lines)}") from None


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
    settings = parse_settings(data, origin=str(path), lines=yaml_lines(text))
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
    outlook = settings.outlook.model_copy(
        update={
            "certificate_file": fix(settings.outlook.certificate_file),
            "client_secret_file": fix(settings.outlook.client_secret_file),
            "ca_bundle": fix(settings.outlook.ca_bundle),
        }
    )
    settings = settings.model_copy(update={"outlook": outlook})
    feeds = tuple(feed.model_copy(update={"path": fix(feed.path)}) for feed in settings.ics.feeds)
    caldav = settings.caldav.model_copy(update={"password_file": fix(settings.caldav.password_file)})
    settings = settings.model_copy(update={"ics": settings.ics.model_copy(update={"feeds": feeds}), "caldav": caldav})
    web = settings.web.model_copy(update={"session_secret_file": fix(settings.web.session_secret_file)})
    oidc = settings.agenda.oidc.model_copy(
        update={
            "client_secret_file": fix(settings.agenda.oidc.client_secret_file),
            "ca_bundle": fix(settings.agenda.oidc.ca_bundle),
        }
    )
    agenda = settings.agenda.model_copy(update={"markdown_dir": fix(settings.agenda.markdown_dir), "oidc": oidc})
    org_page = settings.org_page.model_copy(update={"admin_token_file": fix(settings.org_page.admin_token_file)})
    slack = settings.slack.model_copy(
        update={
            "bot_token_file": fix(settings.slack.bot_token_file),
            "signing_secret_file": fix(settings.slack.signing_secret_file),
        }
    )
    settings = settings.model_copy(update={"org_page": org_page, "slack": slack})
    return settings.model_copy(
        update={"google": google, "directory": directory, "smtp": smtp, "web": web, "agenda": agenda}
    )


def permission_warnings(path: Path) -> list[str]:
    """A config that names secret files should not be readable by everyone."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return [f"{path} is readable by group/others (mode {stat.filemode(mode)}); consider chmod 600"]
    return []
