"""A real SMTP server (aiosmtpd) that keeps what it receives: in memory, and as .eml files.

The demo points people at the folder; tests parse the messages back. `refuse_next` makes the
server answer 451 (try again later) so tests can take the mail server "down" and watch the
outbox retry.
"""

from __future__ import annotations

import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _AnyPortController(Controller):
    """aiosmtpd's controller, able to bind port 0 (it probes its own port after start)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class MailSink:
    def __init__(self, directory: Path | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._refuse = 0
        self._drop = 0
        self._lock = threading.Condition()
        self._controller = _AnyPortController(self, hostname=host, port=port)

    # aiosmtpd handler hook
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._refuse > 0:
                self._refuse -= 1
                return "451 4.3.0 Mail server temporarily unavailable"
            raw = envelope.original_content or envelope.content
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            if self.directory is not None:
                name = f"{len(self.messages):04d}-{int(time.time())}.eml"
                (self.directory / name).write_bytes(raw)
            self._lock.notify_all()
            if self._drop > 0:  # kept the message, then hung up before saying so
                self._drop -= 1
                server.transport.close()
        return "250 Message accepted for delivery"

    def refuse_next(self, count: int) -> None:
        with self._lock:
            self._refuse = count

    def drop_after_data(self, count: int) -> None:
        """The next `count` messages are kept but the connection drops before the `250`: the sender
        cannot know they arrived."""
        with self._lock:
            self._drop = count

    def start(self) -> tuple[str, int]:
        self._controller.start()
        return str(self._controller.hostname), int(self._controller.port)

    def stop(self) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (tests of background senders)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
            return list(self.messages)

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
