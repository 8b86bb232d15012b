"""What goes out and how: SMTP, notification policy, the weekly digest and skip-level escalation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)

from rules.address import domain_of
from sync.config.base import Section, email_address, read_secret


class SmtpSettings(Section):
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
        return email_address(value)

    @property
    def sender_domain(self) -> str:
        """The domain our Message-IDs are minted in: the sender's own."""
        return domain_of(self.from_address)

    def password(self) -> SecretStr | None:
        return read_secret(self.password_env, self.password_file, "smtp.password")


class NotifySettings(Section):
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
        return tuple(email_address(v) for v in value)

    @field_validator("admin_email", "graph_sender")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        return email_address(value) if value else None


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class DigestSettings(Section):
    """The weekly digest email per manager, sent on `weekday` at `hour` in the manager's own zone."""

    enabled: bool = True
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    hour: int = Field(8, ge=0, le=23)
    weeks: int = Field(12, ge=4, le=26)  # how many weeks the table and the timelines cover
    opt_out: tuple[str, ...] = ()  # managers who get no digest

    @field_validator("opt_out")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(email_address(v) for v in value)


class EscalationSettings(Section):
    """Opt-in: the Nth violation within a window copies the manager's own manager, once."""

    enabled: bool = False
    threshold: int = Field(3, ge=1)
    window_days: int = Field(30, ge=1)
