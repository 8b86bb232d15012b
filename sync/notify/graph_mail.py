"""Delivery through Microsoft Graph `sendMail`, for orgs without an SMTP relay (calendar-apis.md §3.8).

Graph answers 202 with no message id, and only lets custom `x-` headers through, so the outbox
row's deterministic Message-ID travels as `X-OneOnOne-Message-Id`. A POST is never retried here:
a failure raises `DeliveryError` and the outbox backs the row off and tries again later.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from providers.base import ProviderError
from providers.outlook_http import GraphClient
from rules.address import AddressError, parse_address
from sync.notify.channel import DeliveryError
from sync.notify.inline import images_from_json
from sync.store.models import OutboxRow

MESSAGE_ID_HEADER = "X-OneOnOne-Message-Id"


def message_payload(row: OutboxRow) -> dict[str, Any]:
    """The sendMail body; recipients are parsed addresses only (`AddressError` otherwise)."""
    message: dict[str, Any] = {
        "subject": row.subject,
        "body": {"contentType": "HTML", "content": row.html_body},
        "toRecipients": [{"emailAddress": {"address": parse_address(row.recipient)}}],
        "internetMessageHeaders": [{"name": MESSAGE_ID_HEADER, "value": row.message_id}],
    }
    if row.cc:
        message["ccRecipients"] = [{"emailAddress": {"address": parse_address(row.cc)}}]
    images = images_from_json(row.inline_images)
    if images:  # `cid:` pictures: inline file attachments whose contentId the HTML names
        message["attachments"] = [
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": image.filename,
                "contentType": image.content_type,
                "contentBytes": base64.b64encode(image.data).decode(),
                "contentId": image.cid,
                "isInline": True,
            }
            for image in images
        ]
    return {"message": message, "saveToSentItems": True}


@dataclass
class GraphMailer:
    """Sends each outbox row from one mailbox (the app needs Mail.Send for it)."""

    client: GraphClient
    sender: str

    def send(self, row: OutboxRow) -> None:
        url = self.client.user_url(self.sender, "sendMail")
        try:
            payload = message_payload(row)
        except AddressError as exc:
            raise DeliveryError(f"not a deliverable address: {exc}", permanent=True) from exc
        try:
            reply = self.client.call(self.sender, "POST", url, json=payload, what="sendMail", idempotent=False)
        except ProviderError as exc:
            raise DeliveryError(f"Graph sendMail from {self.sender} failed [{exc.kind}]: {exc.message}") from exc
        if reply.status != 202:
            raise DeliveryError(f"Graph sendMail from {self.sender} answered {reply.status}, not 202 Accepted")
