"""The Slack section: a bot token and a signing secret (from `*_env` / `*_file`, like every secret), and
where the Web API is (Slack's own, or the emulator in tests and the demo)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from sync.config.base import Section, read_secret

SLACK_API = "https://slack.com/api/"


class SlackSettings(Section):
    """A Slack app with the bot scopes `chat:write`, `users:read.email` and `im:write` (README, "Slack")."""

    bot_token_env: str | None = None
    bot_token_file: Path | None = None
    # For the request URL (`/slack/interactions`): Slack signs every interactive request with it.
    signing_secret_env: str | None = None
    signing_secret_file: Path | None = None
    api_url: str = SLACK_API
    timeout_seconds: float = Field(10, gt=0)
    # The longest `Retry-After` waited out inside one delivery; a longer one leaves the message for the
    # next cycle (the outbox backs it off) rather than holding every other message up.
    max_wait_seconds: int = Field(60, ge=0, le=900)

    @field_validator("api_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL such as {SLACK_API} (got {value!r})")
        return value if value.endswith("/") else value + "/"

    @property
    def configured(self) -> bool:
        return bool(self.bot_token_env or self.bot_token_file)

    def bot_token(self) -> SecretStr | None:
        return read_secret(self.bot_token_env, self.bot_token_file, "slack.bot_token")

    def signing_secret(self) -> SecretStr | None:
        return read_secret(self.signing_secret_env, self.signing_secret_file, "slack.signing_secret")
