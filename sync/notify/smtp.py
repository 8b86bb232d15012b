"""Delivery over SMTP (none / STARTTLS / implicit TLS), one connection per message."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

from pydantic import SecretStr

from rules.address import AddressError
from sync.notify.channel import DeliveryError
from sync.notify.inline import images_from_json
from sync.notify.render import build_email
from sync.store.models import OutboxRow


@dataclass
class SmtpMailer:
    host: str
    port: int
    security: str = "none"  # none | starttls | ssl
    sender: str = "oneonone@localhost"
    username: str | None = None
    password: SecretStr | None = None
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        """Made once and kept: loading the system's CA store costs about 20 ms, more than a local send."""
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._context())
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                client.starttls(context=self._context())
        if self.username:
            client.login(self.username, self.password.get_secret_value() if self.password else "")
        return client

    def send(self, row: OutboxRow) -> None:
        try:
            mail = build_email(
                sender=self.sender,
                recipient=row.recipient,
                subject=row.subject,
                text=row.text_body,
                html=row.html_body,
                message_id=row.message_id,
                date=row.created_at or datetime.now(UTC),
                images=images_from_json(row.inline_images),
                cc=row.cc,
                list_unsubscribe=row.list_unsubscribe,
            )
        except AddressError as exc:
            raise DeliveryError(f"not a deliverable address: {exc}", permanent=True) from exc
        try:
            with self._connect() as client:
                _send(client, mail)
        except _MaybeDelivered as exc:
            raise DeliveryError(
                f"SMTP {self.host}:{self.port} hung up after the message, before confirming it (it may have"
                " been delivered; a retry carries the same Message-ID)",
                maybe_delivered=True,
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"recipient refused by {self.host}: {exc.recipients}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login to {self.host} failed (check smtp.username/password_env)") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {exc}") from exc


class _MaybeDelivered(Exception):
    """The connection dropped after the message body was sent, before the server's reply."""


def _send(client: smtplib.SMTP, mail: EmailMessage) -> None:
    """`send_message`, with the one ambiguous moment told apart: a server that hangs up once the body
    is sent may have delivered it, unlike one that hangs up before (then a retry is plainly right)."""
    sender = mail["From"].addresses[0].addr_spec
    recipients = [a.addr_spec for header in ("To", "Cc") if mail[header] for a in mail[header].addresses]
    client.ehlo_or_helo_if_needed()
    code, reply = client.mail(sender)
    if code != 250:
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused = {}
    for recipient in recipients:
        code, reply = client.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = client.docmd("DATA")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    body = smtplib.quotedata(mail.as_bytes(policy=mail.policy.clone(linesep="\r\n")).decode("ascii", "surrogateescape"))
    try:
        client.send((body + ("" if body.endswith("\r\n") else "\r\n") + ".\r\n").encode("ascii", "surrogateescape"))
        code, reply = client.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        raise _MaybeDelivered(str(exc)) from exc
    if code != 250:
        raise smtplib.SMTPDataError(code, reply)
