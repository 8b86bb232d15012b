"""The web server, the agenda pages (and their sign-in) and the org page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from rules.model import normalize_email
from sync.config.base import ConfigError, Section, email_address, read_secret


class WebSettings(Section):
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
        return read_secret(self.metrics_token_env, None, "web.metrics_token")

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
        return read_secret(self.session_secret_env, self.session_secret_file, "web.session_secret")


# Entra ID's multi-tenant authorities: any organization's (or any personal) account could sign in.
_BROAD_TENANTS = ("common", "organizations", "consumers")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class OidcSettings(Section):
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
        return read_secret(self.client_secret_env, self.client_secret_file, "agenda.oidc.client_secret")


class AgendaSettings(Section):
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


class OrgPageSettings(Section):
    """/org: per-manager aggregates for the people who coach managers (never notes or agenda text)."""

    admin_token_env: str | None = None  # an environment variable holding the admin token
    admin_token_file: Path | None = None  # or a file holding it
    allow: tuple[str, ...] = ()  # people who may open it once signed in to the agenda pages

    @field_validator("allow")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(email_address(v) for v in value)

    @property
    def configured(self) -> bool:
        return bool(self.admin_token_env or self.admin_token_file or self.allow)

    def admin_token(self) -> SecretStr | None:
        token = read_secret(self.admin_token_env, self.admin_token_file, "org_page.admin_token")
        if token is not None and len(token.get_secret_value()) < 16:
            raise ConfigError("org_page.admin_token: use a random token of at least 16 characters")
        return token
