"""Configuration: YAML in, validated settings out, with errors that name the key path.

Secrets never live in the file itself: the file names an environment variable or a file that
holds them, and the resolved values are `SecretStr`s so they never reach a log line.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
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

from rules.address import AddressError, address_or_none, domain_of, parse_address
from rules.model import Directory, Pair, RuleSettings, normalize_email


class ConfigError(Exception):
    """A configuration problem, phrased for the person editing the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "America" is a directory
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
        return tuple(_email(v) for v in value)

    @model_validator(mode="after")
    def _credentials(self) -> GoogleSettings:
        if self.calendars and not (self.service_account_file or self.oauth_user_file):
            raise ValueError("calendars are listed but neither service_account_file nor oauth_user_file is set")
        return self


class OutlookSettings(_Model):
    """Microsoft 365 through Graph: an Entra ID app with application permissions (see the README)."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None  # name of an environment variable holding the client secret
    certificate_file: Path | None = None  # or a PEM holding the private key and the certificate
    mailboxes: tuple[str, ...] = ()
    authority: str = "https://login.microsoftonline.com"
    graph_endpoint: str = "https://graph.microsoft.com/v1.0"
    ca_bundle: Path | None = None  # a CA bundle for TLS to the authority and Graph (a proxy, an emulator)
    page_size: int = Field(100, ge=1, le=1000)
    timeout_seconds: float = Field(30, gt=0)
    rebase_days: float = Field(3, gt=0)  # start a new delta round (a new window) this often

    @field_validator("mailboxes")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_email(v) for v in value)

    @field_validator("authority", "graph_endpoint")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value!r} must be an https:// URL (msal and Graph accept nothing else)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _app(self) -> OutlookSettings:
        if self.mailboxes and not self.configured:
            raise ValueError("mailboxes are listed but outlook.tenant_id and outlook.client_id are not both set")
        if self.configured and bool(self.client_secret_env) == bool(self.certificate_file):
            raise ValueError("set exactly one of outlook.client_secret_env and outlook.certificate_file")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.tenant_id and self.client_id)

    def client_secret(self) -> SecretStr | None:
        return _read_secret(self.client_secret_env, None, "outlook.client_secret_env")


def _email(value: str) -> str:
    """One address, parsed as every address oneonone takes in (`rules.address`)."""
    try:
        return parse_address(value)
    except AddressError as error:
        raise ValueError(f"{value!r} is not an email address: {error}") from None


class IcsFeedSettings(_Model):
    """One ICS feed: whose calendar it is, and a URL (http, https, webcal, file) or a local path."""

    owner: str
    url: str | None = None
    path: Path | None = None
    name: str | None = None  # how logs name the feed instead of its (often secret) URL

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return _email(value)

    @model_validator(mode="after")
    def _source(self) -> IcsFeedSettings:
        if bool(self.url) == bool(self.path):
            raise ValueError("set exactly one of url and path")
        if self.url and not self.url.lower().startswith(("http://", "https://", "webcal://", "file:")):
            raise ValueError(f"url {self.url.split('?')[0]!r} must be http(s)://, webcal:// or file:")
        return self


class IcsSettings(_Model):
    """Read-only calendars published as ICS feeds (one feed per owner)."""

    feeds: tuple[IcsFeedSettings, ...] = ()
    timeout_seconds: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _one_per_owner(self) -> IcsSettings:
        owners = [feed.owner for feed in self.feeds]
        twice = sorted({owner for owner in owners if owners.count(owner) > 1})
        if twice:
            raise ValueError(f"one feed per owner: {', '.join(twice)} listed more than once")
        return self


class CalDavCalendarSettings(_Model):
    owner: str
    url: str  # the calendar collection, e.g. https://dav.example.com/alice/calendar/

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return _email(value)


class CalDavSettings(_Model):
    """A CalDAV server (read-write: the agenda link is written back into events)."""

    url: str | None = None  # the server's root URL
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    calendars: tuple[CalDavCalendarSettings, ...] = ()
    timeout_seconds: float = Field(30, gt=0)

    @model_validator(mode="after")
    def _server(self) -> CalDavSettings:
        if self.calendars and not self.url:
            raise ValueError("calendars are listed but caldav.url is not set")
        owners = [c.owner for c in self.calendars]
        if len(set(owners)) != len(owners):
            raise ValueError("one CalDAV calendar per owner")
        return self

    def password(self) -> SecretStr | None:
        return _read_secret(self.password_env, self.password_file, "caldav.password")


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

    @field_validator("from_address")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _email(value)

    @property
    def sender_domain(self) -> str:
        """The domain our Message-IDs are minted in: the sender's own."""
        return domain_of(self.from_address)

    def password(self) -> SecretStr | None:
        return _read_secret(self.password_env, self.password_file, "smtp.password")


class NotifySettings(_Model):
    mode: Literal["send", "observe"] = "send"
    via: Literal["smtp", "graph"] = "smtp"
    graph_sender: str | None = None  # via graph: the mailbox that sends (needs Mail.Send), e.g. oneonone@example.com
    opt_out: tuple[str, ...] = ()
    lookback_days: int = Field(7, ge=0)
    max_attempts: int = Field(8, ge=1)
    # Told (at most once a day per calendar) when a calendar cannot be read: revoked delegation, missing consent.
    admin_email: str | None = None

    @field_validator("opt_out")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_email(v) for v in value)

    @field_validator("admin_email", "graph_sender")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        return _email(value) if value else None


class PairEntry(_Model):
    manager: str
    report: str
    start: date | None = None

    @field_validator("manager", "report")
    @classmethod
    def _person(cls, value: str) -> str:
        return _email(value)


class DirectoryScopeRule(_Model):
    """One `directory.include`/`exclude` entry: a department, a manager's whole subtree, or one person."""

    department: str | None = None
    manager_subtree: str | None = None
    address: str | None = None

    @field_validator("manager_subtree", "address")
    @classmethod
    def _person(cls, value: str | None) -> str | None:
        return _email(value) if value is not None else None

    @model_validator(mode="after")
    def _one(self) -> DirectoryScopeRule:
        if sum(v is not None for v in (self.department, self.manager_subtree, self.address)) != 1:
            raise ValueError("set exactly one of department, manager_subtree and address")
        return self


class DirectoryGoogleSettings(_Model):
    """Google Workspace's Admin SDK Directory API, with google.service_account_file (domain-wide delegation)."""

    admin_subject: str | None = None  # an administrator the service account acts as (users are read as them)
    customer: str = "my_customer"  # the Workspace account: my_customer, or its customer id (C0...)
    api_endpoint: str | None = None  # None = Google's own (https://admin.googleapis.com/)
    page_size: int = Field(500, ge=1, le=500)

    @field_validator("admin_subject")
    @classmethod
    def _admin(cls, value: str | None) -> str | None:
        return _email(value) if value is not None else None


class DirectoryEntraSettings(_Model):
    """Entra ID users through Microsoft Graph, with the outlook.* app (application permission User.Read.All)."""

    page_size: int = Field(999, ge=1, le=999)


class DirectorySettings(_Model):
    # config: only `pairs` below; file: `file`; google / entra: read from the company directory every day.
    source: Literal["config", "file", "google", "entra"] | None = None  # default: file when `file` is set
    pairs: tuple[PairEntry, ...] = ()  # always in force, added to what the source says
    file: Path | None = None  # CSV (manager,report[,start_date]) or YAML (.yaml/.yml)
    domains: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)
    google: DirectoryGoogleSettings = Field(default_factory=DirectoryGoogleSettings)
    entra: DirectoryEntraSettings = Field(default_factory=DirectoryEntraSettings)
    include: tuple[DirectoryScopeRule, ...] = ()  # empty: everyone; else only pairs matching one of these
    exclude: tuple[DirectoryScopeRule, ...] = ()  # pairs matching one of these are never judged
    refresh_hours: int = Field(24, ge=1)
    allow_large_changes: bool = False  # accept a refresh that ends more than half of the pairs in force

    @property
    def resolved_source(self) -> str:
        return self.source or ("file" if self.file else "config")

    @model_validator(mode="after")
    def _file(self) -> DirectorySettings:
        if self.resolved_source == "file" and self.file is None:
            raise ValueError("source is file but directory.file is not set")
        return self


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
    # Between full evaluations, a cycle re-judges only the pairs whose calendars changed; a full one
    # (every pair, for what time alone changes: gaps opening, nudges coming due) runs this often.
    full_evaluation_minutes: int = Field(30, ge=1)
    # "manager,report": regex. A title matching it is a 1:1 of that pair even without attendee lines (ICS feeds).
    pair_title_patterns: dict[str, str] = Field(default_factory=dict)

    @field_validator("pair_title_patterns")
    @classmethod
    def _pair_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for key, pattern in value.items():
            manager, sep, report = key.partition(",")
            if not sep or address_or_none(manager) is None or address_or_none(report) is None:
                raise ValueError(f"key {key!r} must be 'manager@example.com,report@example.com'")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern for {key!r} is not a valid regular expression: {exc}") from None
        pairs = ((k.partition(",")[0], k.partition(",")[2], v) for k, v in value.items())
        return {f"{_email(manager)},{_email(report)}": v for manager, report, v in pairs}


class WebSettings(_Model):
    """The daemon's small web server: the 1:1 agenda pages (and, later, health endpoints)."""

    bind: str = "127.0.0.1:8080"  # host:port to listen on; port 0 picks a free one
    base_url: str = "http://127.0.0.1:8080"  # how people reach it (behind a proxy: the public https URL)
    # Where Google and Microsoft can reach the webhooks (https, valid certificate). Unset: no push, polling only.
    public_url: str | None = None
    session_secret_env: str | None = None
    session_secret_file: Path | None = None  # unset: a secret is generated once and kept in the database
    # /metrics: with a token (read from this environment variable) a scraper sends `Authorization: Bearer
    # <token>`; without one, only local, unproxied requests are answered.
    metrics_token_env: str | None = None
    metrics_per_calendar: bool = False  # label sync lag and failures by calendar address (personal data)

    def metrics_token(self) -> SecretStr | None:
        return _read_secret(self.metrics_token_env, None, "web.metrics_token_env")

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with https:// (or http:// for local tests)")
        return value.rstrip("/") if value else None

    @field_validator("base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with http:// or https://")
        return value.rstrip("/")

    def session_secret(self) -> SecretStr | None:
        return _read_secret(self.session_secret_env, self.session_secret_file, "web.session_secret")


# Entra ID's multi-tenant authorities: any organization's (or any personal) account could sign in.
_BROAD_TENANTS = ("common", "organizations", "consumers")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class OidcSettings(_Model):
    """Sign-in through the company's identity provider (OpenID Connect) instead of emailed links."""

    provider: Literal["google", "entra"] | None = None  # null: emailed sign-in links
    client_id: str | None = None
    client_secret_env: str | None = None  # an environment variable holding the client secret
    client_secret_file: Path | None = None  # or a file holding it
    tenant: str | None = None  # entra: the tenant id (a GUID) or one of its verified domains
    # Where discovery starts ({issuer}/.well-known/openid-configuration). Default: https://accounts.google.com,
    # or https://login.microsoftonline.com/{tenant}/v2.0. Set only for a sovereign cloud or an emulator.
    issuer: str | None = None
    ca_bundle: Path | None = None  # a CA bundle for TLS to the identity provider (a proxy, an emulator)
    timeout_seconds: float = Field(10, gt=0)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        local = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if not parts.hostname or (parts.scheme != "https" and not local):
            raise ValueError(f"{value!r} must be an https:// URL (http:// only on this machine, for an emulator)")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r} must not have a query or a fragment")
        return value.rstrip("/")

    @field_validator("tenant")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if value.casefold() in _BROAD_TENANTS:
            raise ValueError(
                f"{value!r} would let accounts of any organization sign in: set your own tenant id "
                "(a GUID, Entra admin center → Overview) or one of its verified domains"
            )
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", value):
            raise ValueError(f"{value!r} is not a tenant id (a GUID) or a domain")
        return value

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.provider is None:
            return self
        if not self.client_id:
            raise ValueError(f"provider is {self.provider} but agenda.oidc.client_id is not set")
        if bool(self.client_secret_env) == bool(self.client_secret_file):
            raise ValueError("set exactly one of agenda.oidc.client_secret_env and agenda.oidc.client_secret_file")
        if self.provider == "entra" and not self.tenant:
            raise ValueError("provider is entra but agenda.oidc.tenant (your tenant id) is not set")
        if self.provider == "google" and self.tenant:
            raise ValueError("agenda.oidc.tenant is for provider entra only")
        return self

    @property
    def resolved_issuer(self) -> str | None:
        if self.issuer:
            return self.issuer
        if self.provider == "google":
            return "https://accounts.google.com"
        if self.provider == "entra":
            return f"https://login.microsoftonline.com/{self.tenant}/v2.0"
        return None

    def client_secret(self) -> SecretStr | None:
        return _read_secret(self.client_secret_env, self.client_secret_file, "agenda.oidc.client_secret")


class AgendaSettings(_Model):
    """The living 1:1 page per pair, the link on every 1:1 and the nudges."""

    # Write the link into 1:1 events: true | false, or per provider, e.g. {google: true, outlook: false}.
    attach: bool | dict[str, bool] = True
    opt_out_calendars: tuple[str, ...] = ()  # organizers whose events are never written to
    readd_removed: bool = False  # re-add a link that a person deleted from the event
    retention_days: int | None = Field(730, ge=1)  # notes older than this are deleted; null keeps them
    backend: Literal["database", "markdown"] = "database"
    markdown_dir: Path | None = None  # backend markdown: one file per pair, written here
    new_pair_days: int = Field(30, ge=0)  # a directory start date this recent makes a pair new
    nudges: bool = True  # false: no nudge emails and no agenda-not-prepared findings
    agenda_nudge_hours: int = Field(24, ge=0)  # remind the report this long before, with no talking point
    notes_nudge_hours: int = Field(2, ge=0)  # remind the manager this long after, with no notes
    signin_link_minutes: int = Field(15, ge=1, le=24 * 60)
    session_days: int = Field(30, ge=1)
    oidc: OidcSettings = Field(default_factory=lambda: OidcSettings())

    @field_validator("opt_out_calendars")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(normalize_email(v) for v in value)

    @model_validator(mode="after")
    def _markdown(self) -> AgendaSettings:
        if self.backend == "markdown" and self.markdown_dir is None:
            raise ValueError("backend markdown needs markdown_dir")
        return self

    def attach_for(self, provider: str) -> bool:
        if isinstance(self.attach, bool):
            return self.attach
        return self.attach.get(provider, False)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DigestSettings(_Model):
    """The weekly digest email per manager, sent on `weekday` at `hour` in the manager's own zone."""

    enabled: bool = True
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    hour: int = Field(8, ge=0, le=23)
    weeks: int = Field(12, ge=4, le=26)  # how many weeks the table and the timelines cover
    opt_out: tuple[str, ...] = ()  # managers who get no digest

    @field_validator("opt_out")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_email(v) for v in value)


class OrgPageSettings(_Model):
    """/org: per-manager aggregates for the people who coach managers (never notes or agenda text)."""

    admin_token_env: str | None = None  # an environment variable holding the admin token
    admin_token_file: Path | None = None  # or a file holding it
    allow: tuple[str, ...] = ()  # people who may open it once signed in to the agenda pages

    @field_validator("allow")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_email(v) for v in value)

    @property
    def configured(self) -> bool:
        return bool(self.admin_token_env or self.admin_token_file or self.allow)

    def admin_token(self) -> SecretStr | None:
        token = _read_secret(self.admin_token_env, self.admin_token_file, "org_page.admin_token")
        if token is not None and len(token.get_secret_value()) < 16:
            raise ConfigError("org_page.admin_token: use a random token of at least 16 characters")
        return token


class EscalationSettings(_Model):
    """Opt-in: the Nth violation within a window copies the manager's own manager, once."""

    enabled: bool = False
    threshold: int = Field(3, ge=1)
    window_days: int = Field(30, ge=1)


class Settings(_Model):
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
    web: WebSettings = Field(default_factory=lambda: WebSettings())
    agenda: AgendaSettings = Field(default_factory=lambda: AgendaSettings())
    digest: DigestSettings = Field(default_factory=lambda: DigestSettings())
    org_page: OrgPageSettings = Field(default_factory=lambda: OrgPageSettings())
    escalation: EscalationSettings = Field(default_factory=lambda: EscalationSettings())

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    @model_validator(mode="after")
    def _graph_mail(self) -> Settings:
        if self.notify.via == "graph":
            if not self.notify.graph_sender:
                raise ValueError("notify.via is graph but notify.graph_sender (the sending mailbox) is not set")
            if not self.outlook.configured:
                raise ValueError("notify.via is graph but outlook.tenant_id and outlook.client_id are not set")
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
            **extra,
        )

    def directory_model(self) -> Directory:
        """The directory from the config alone (`pairs`, and `file` for source file); the daemon uses the
        stored one (sync/directory) once a refresh has succeeded."""
        entries = list(self.directory.pairs)
        if self.directory.file and self.directory.resolved_source == "file":
            from sync.directory.sources import load_directory_file

            entries.extend(load_directory_file(self.directory.file).entries)
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
            configured=self.directory.resolved_source != "config",
        )


def _pair_pattern(key: str, pattern: str) -> tuple[str, str, str]:
    manager, _, report = key.partition(",")
    return manager, report, pattern


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
        if len(cells) < 2 or address_or_none(cells[0]) is None or address_or_none(cells[1]) is None:
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
    outlook = settings.outlook.model_copy(
        update={
            "certificate_file": fix(settings.outlook.certificate_file),
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
    settings = settings.model_copy(update={"org_page": org_page})
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
