"""The calendar sources: Google, Outlook (Microsoft Graph), ICS feeds and CalDAV."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from sync.config.base import Section, email_address, read_secret


class GoogleSettings(Section):
    api_endpoint: str | None = Field(None, description="None = Google's own endpoint")
    service_account_file: Path | None = None
    oauth_user_file: Path | None = None  # an authorized-user JSON (refresh token) instead of a service account
    calendars: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ("https://www.googleapis.com/auth/calendar.events",)
    page_size: int = Field(2500, ge=1, le=2500)
    timeout_seconds: float = Field(30, gt=0)
    # Meet REST API and Admin SDK (who joined a 1:1's call); None = Google's own endpoints.
    meet_endpoint: str | None = None

    @field_validator("calendars")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(email_address(v) for v in value)

    @model_validator(mode="after")
    def _credentials(self) -> GoogleSettings:
        if self.calendars and not (self.service_account_file or self.oauth_user_file):
            raise ValueError("calendars are listed but neither service_account_file nor oauth_user_file is set")
        return self


class OutlookSettings(Section):
    """Microsoft 365 through Graph: an Entra ID app with application permissions (see the README)."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None  # name of an environment variable holding the client secret
    client_secret_file: Path | None = None  # or a file holding it (readable by the daemon only)
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
        return tuple(email_address(v) for v in value)

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
        given = [bool(self.client_secret_env), bool(self.client_secret_file), bool(self.certificate_file)]
        if self.configured and sum(given) != 1:
            raise ValueError(
                "set exactly one of outlook.client_secret_env, outlook.client_secret_file and outlook.certificate_file"
            )
        return self

    @property
    def configured(self) -> bool:
        return bool(self.tenant_id and self.client_id)

    def client_secret(self) -> SecretStr | None:
        return read_secret(self.client_secret_env, self.client_secret_file, "outlook.client_secret")


class IcsFeedSettings(Section):
    """One ICS feed: whose calendar it is, and a URL (http, https, webcal, file) or a local path."""

    owner: str
    url: str | None = None
    path: Path | None = None
    name: str | None = None  # how logs name the feed instead of its (often secret) URL

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return email_address(value)

    @model_validator(mode="after")
    def _source(self) -> IcsFeedSettings:
        if bool(self.url) == bool(self.path):
            raise ValueError("set exactly one of url and path")
        if self.url and not self.url.lower().startswith(("http://", "https://", "webcal://", "file:")):
            raise ValueError(f"url {self.url.split('?')[0]!r} must be http(s)://, webcal:// or file:")
        return self


class IcsSettings(Section):
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


class CalDavCalendarSettings(Section):
    owner: str
    url: str  # the calendar collection, e.g. https://dav.example.com/alice/calendar/

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        return email_address(value)


class CalDavSettings(Section):
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
        return read_secret(self.password_env, self.password_file, "caldav.password")
