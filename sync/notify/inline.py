"""Pictures shown inside an email's HTML (`<img src="cid:...">`), as an outbox row stores them.

Gmail and Outlook show `cid:` images sent as parts of a `multipart/related` body (or, through Graph,
as inline file attachments with a content id); both block `data:` URIs. The row keeps them as JSON
(base64) so the email is rebuilt byte for byte on every retry.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InlineImage:
    cid: str  # without angle brackets; the HTML refers to it as cid:<cid>
    filename: str
    data: bytes
    content_type: str = "image/png"

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2] or "png"


def images_to_json(images: Iterable[InlineImage]) -> list[dict[str, str]] | None:
    rows = [
        {
            "cid": i.cid,
            "filename": i.filename,
            "content_type": i.content_type,
            "data": base64.b64encode(i.data).decode(),
        }
        for i in images
    ]
    return rows or None


def images_from_json(rows: Sequence[Any] | None) -> list[InlineImage]:
    return [
        InlineImage(
            cid=str(r["cid"]),
            filename=str(r["filename"]),
            data=base64.b64decode(r["data"]),
            content_type=str(r.get("content_type") or "image/png"),
        )
        for r in rows or ()
    ]
