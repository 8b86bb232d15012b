"""What every settings section shares: the error, the model base, the zone, secret and address checks."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
)

from rules.address import AddressError, parse_address


class ConfigError(Exception):
    """A configuration problem, phrased for the person editing the file."""


class Section(BaseModel):
    """A settings section: unknown keys are errors (a typo never passes silently), values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "America" is a directory
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from exc
    return value


def read_secret(env: str | None, file: Path | None, what: str) -> SecretStr | None:
    """The secret `what` (a key prefix such as `smtp.password`) from its `_env` variable or `_file`; an error
    names the key the admin wrote (`smtp.password_env`), never a key that does not exist."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{what}_env: environment variable {env} is not set")
        return SecretStr(value)
    if file:
        try:
            return SecretStr(file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"{what}_file: cannot read {file}: {exc.strerror}") from exc
    return None


def email_address(value: str) -> str:
    """One address, parsed as every address oneonone takes in (`rules.address`)."""
    try:
        return parse_address(value)
    except AddressError as error:
        raise ValueError(f"{value!r} is not an email address: {error}") from None
