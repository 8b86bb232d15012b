"""The Slack channel: a queued message as a DM from the bot, through the official `slack_sdk` Web API client.

The person is found by their email address (`users.lookupByEmail`), the DM opened (`conversations.open`)
and the message posted (`chat.postMessage`, Block Kit from `slack_blocks`). Each post carries the row's
Message-ID in its `metadata`, so a retry can tell whether the first try got through: when the row has
been tried before (a failure, or a worker that died mid-send, see `outbox._claim`), the DM's recent history
is read first and a message already there is not posted again.

The one window left: Slack took the post, and the history read of the retry does not show it yet
(Slack's history is not guaranteed to be read-your-writes) or shows only the newest 100 messages of a
busy DM. Then the person gets it twice; they never get nothing.

Failures: a 429 is waited out as `Retry-After` asks (with the injected sleeper, never a busy loop) up to
`slack.max_wait_seconds`, longer ones are left to the outbox's back-off (and the third goes by email).
A person Slack does not know, a token Slack refuses or a message Slack will not take falls back to email,
once, at once; a Slack outage (5xx, no connection) is tried once more on Slack after the outbox's back-off,
then falls back: one blip does not move a message to the inbox, a real outage does not hold it for hours.
The retry's history read needs the `im:history` scope; without it a retry posts again (one copy more).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from sync.config import SlackSettings
from sync.notify.channel import EMAIL, DeliveryError
from sync.notify.slack_blocks import render_blocks
from sync.store.models import OutboxRow

log = logging.getLogger(__name__)

SLACK = "slack"
EVENT_TYPE = "oneonone_message"  # the metadata's event_type: a message oneonone posted
HISTORY_LIMIT = 100
OUTAGE_TRIES = 2  # a Slack outage: tries on Slack before the message goes by email
RATE_LIMITED_TRIES = 3  # rate limited for longer than we wait, this many times: email, rather than never

Sleeper = Callable[[float], None]

# Errors no retry mends: the person (users_not_found), the token (revoked, wrong, missing a scope), the message.
_TOKEN = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "no_permission",
        "ekm_access_denied",
    }
)


class RetryAfter(RetryHandler):
    """Slack's 429: wait exactly as long as `Retry-After` says, through the injected sleeper, at most `limit`
    seconds; a longer wait is not taken here (the outbox backs the row off instead)."""

    def __init__(self, sleep: Sleeper, limit: float, tries: int = 3) -> None:
        super().__init__(max_retry_count=tries)
        self.sleep = sleep
        self.limit = limit

    @staticmethod
    def _wait(response: HttpResponse) -> float:
        for key, values in response.headers.items():
            if key.lower() == "retry-after" and values:
                try:
                    return max(0.0, float(values[0]))
                except ValueError:
                    break
        return 1.0  # no header (Slack always sends one): a second, as the SDK does

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429 and self._wait(response) <= self.limit

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None
        state.next_attempt_requested = True
        self.sleep(self._wait(response))
        state.increment_current_attempt()


def slack_client(settings: SlackSettings, sleep: Sleeper = time.sleep) -> WebClient:
    token = settings.bot_token()
    assert token is not None, "slack: no bot token (checked with the settings)"
    return WebClient(
        token=token.get_secret_value(),
        base_url=settings.api_url,
        timeout=int(settings.timeout_seconds),
        retry_handlers=[RetryAfter(sleep, settings.max_wait_seconds)],  # the rest is the outbox's back-off
    )


class SlackChannel:
    """Delivers `slack` rows as DMs (see the module's docstring for what happens on a retry or a failure)."""

    name = SLACK

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def send(self, row: OutboxRow) -> None:
        try:
            user = self.client.users_lookupByEmail(email=row.recipient)["user"]["id"]
            channel = self.client.conversations_open(users=[user])["channel"]["id"]
            if row.attempts > 0 and self._already_posted(channel, row):
                log.info(
                    "slack: %s to %s was posted before (%s); not posting it again",
                    row.kind,
                    row.recipient,
                    row.message_id,
                )
                return
            text, blocks = render_blocks(row)
            self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"message_id": row.message_id, "kind": row.kind}},
            )
        except SlackApiError as exc:
            raise _refusal(exc, row) from exc
        except (URLError, OSError) as exc:  # Slack cannot be reached (timeouts are OSErrors)
            raise DeliveryError(f"slack: cannot reach the Web API ({exc})", fallback=_after_outage(row)) from exc

    def _already_posted(self, channel: str, row: OutboxRow) -> bool:
        """Whether the DM holds a message of ours with this row's Message-ID (posted since the row was queued).

        Needs the `im:history` scope; without it the retry cannot look and posts again (at most one copy more,
        in the same DM), which is said in the log."""
        try:
            history = self.client.conversations_history(
                channel=channel,
                oldest=f"{row.created_at.timestamp() - 60:.6f}",
                include_all_metadata=True,
                limit=HISTORY_LIMIT,
            )
        except SlackApiError as exc:
            if exc.response.get("error") != "missing_scope":
                raise
            log.warning("slack: cannot check whether %s was posted before (the app lacks im:history)", row.message_id)
            return False
        for message in history.get("messages") or []:
            metadata: dict[str, Any] = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == EVENT_TYPE and payload.get("message_id") == row.message_id:
                return True
        return False


def _refusal(exc: SlackApiError, row: OutboxRow) -> DeliveryError:
    status = exc.response.status_code
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or error == "ratelimited":  # a longer wait than we take here: try again later, on Slack
        wait = exc.response.headers.get("Retry-After", "?")
        fallback = EMAIL if row.attempts + 1 >= RATE_LIMITED_TRIES else None
        return DeliveryError(f"slack: rate limited (Retry-After {wait}s)", fallback=fallback)
    if error == "users_not_found":
        return DeliveryError(f"slack: no Slack user has the address {row.recipient}", fallback=EMAIL)
    if error in _TOKEN:
        log.error("slack: the bot token is refused (%s); messages go by email until it is replaced", error)
        return DeliveryError(f"slack: the bot token is refused ({error})", fallback=EMAIL)
    if status >= 500:
        return DeliveryError(f"slack: Slack is failing (HTTP {status}, {error})", fallback=_after_outage(row))
    return DeliveryError(f"slack: Slack refused the message ({error})", fallback=EMAIL)


def _after_outage(row: OutboxRow) -> str | None:
    """Email, once Slack has failed this row `OUTAGE_TRIES` times; until then, Slack again after the back-off."""
    return EMAIL if row.attempts + 1 >= OUTAGE_TRIES else None
