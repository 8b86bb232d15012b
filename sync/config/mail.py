"""What goes out and how: SMTP, notification policy, the weekly digest and skip-level escalation."""

from __future__ import annotations

import re
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
    # Which channel carries each kind of message (email unless said otherwise; email is also the fallback).
    channels: dict[Literal["warning", "nudge", "digest"], Literal["email", "slack"]] = Field(default_factory=dict)
    # Chat messages due in these hours (the recipient's zone) wait for the morning; "" or "off": none.
    quiet_hours: str = "20:00-08:00"

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _quiet(cls, value: object) -> object:
        if value is False or value is None:  # YAML reads a bare `off` as false
            return ""
        if not isinstance(value, str):
            return value  # the type check says what is wrong
        value = value.strip()
        if value.lower() in ("", "off", "none"):
            return ""
        quiet_hours(value)  # raises with the words below
        return value

    @field_validator("opt_out")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(email_address(v) for v in value)

    @field_validator("admin_email", "graph_sender")
    @classmethod
    def _mailbox(cls, value: str | None) -> str | None:
        return email_address(value) if value else None


_HOURS = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)$")


def quiet_hours(value: str) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The quiet hours ("20:00-08:00") as ((20, 0), (8, 0)); "" is none."""
    if not value:
        return None
    match = _HOURS.match(value.strip())
    if match is None:
        raise ValueError(f"expected two times such as 20:00-08:00 (got {value!r})")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if (start_h, start_m) == (end_h, end_m):
        raise ValueError(f'the quiet hours start and end at the same time (got {value!r}); use "off" for none')
    return (start_h, start_m), (end_h, end_m)


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
