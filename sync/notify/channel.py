"""The port every delivery channel implements: email over SMTP, email through Graph, and the next ones.

A channel receives one queued row and delivers it, or raises `DeliveryError` (then the outbox backs the
row off and retries it; `permanent` fails it at once). Rows name their channel (`outbox.channel`), and
delivery hands each row to the channel of that name only, so adding a channel is one module that
implements `send`, its settings, and one line in `runtime`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sync.store.models import OutboxRow

Send = Callable[[OutboxRow], None]
EMAIL = "email"


class DeliveryError(Exception):
    """The mail server refused or could not be reached; the row is retried later, unless `permanent`
    (an address no server can take): then it fails at once, never waits in the queue forever."""

    def __init__(
        self, message: str, *, permanent: bool = False, maybe_delivered: bool = False, fallback: str | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        # This channel cannot deliver it (a person Slack does not know, a revoked token, an outage): the
        # outbox hands the row, once and for good, to the `fallback` channel (email), same Message-ID.
        self.fallback = fallback
        # The server took the message and hung up before saying so: it may have delivered it. Such a
        # message is tried at most `MAYBE_DELIVERED_TRIES` times in all, each copy with the same
        # Message-ID (so mail clients show one): a lost warning is worse than a duplicate, but not 8.
        self.maybe_delivered = maybe_delivered


class Channel(Protocol):
    name: str

    def send(self, row: OutboxRow) -> None: ...


def senders(channels: Mapping[str, Send] | Send) -> dict[str, Send]:
    """Delivery by channel name; a single sender is the email channel."""
    return dict(channels) if isinstance(channels, Mapping) else {EMAIL: channels}


@dataclass
class FakeChannel:
    """A channel for tests that keeps what it is given (and can refuse the next few)."""

    name: str = "fake"
    sent: list[OutboxRow] = field(default_factory=list)
    refuse: int = 0

    def send(self, row: OutboxRow) -> None:
        if self.refuse > 0:
            self.refuse -= 1
            raise DeliveryError(f"{self.name}: refused")
        self.sent.append(row)
