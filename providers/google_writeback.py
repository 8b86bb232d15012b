"""Writing the agenda link onto a Google event (calendar-apis.md §2.5–2.8).

One PATCH on the organizer's copy of the series master (or the one-off): the description with our
block appended, the attachments array with ours added (PATCH replaces arrays wholesale, so the
others are sent back as they were; at most 25), and our key in `extendedProperties.private`
(a map: merged key by key). `sendUpdates=none` so guests get no email, and `If-Match` so a
concurrent edit is never overwritten: a 412 surfaces as `PreconditionFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.agenda_text import with_link
from providers.base import AgendaLink, EventText
from providers.google import GoogleCalendarProvider
from providers.google_mapping import AGENDA_PROPERTY

MAX_ATTACHMENTS = 25


@dataclass
class GoogleAgendaWriter:
    provider: GoogleCalendarProvider
    name: str = "google"

    def read_event(self, calendar: str, event_id: str) -> EventText:
        request = self.provider._events().get(calendarId=calendar, eventId=event_id)
        item = self.provider._execute(calendar, request, f"events.get {event_id}")
        private = (item.get("extendedProperties") or {}).get("private") or {}
        attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)]
        return EventText(
            calendar=calendar,
            event_id=event_id,
            etag=item.get("etag"),
            text=str(item.get("description") or ""),
            marker=private.get(AGENDA_PROPERTY) if isinstance(private, dict) else None,
            attachments=tuple(attachments),
        )

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        body: dict[str, Any] = {
            "description": with_link(current.text, link),
            "extendedProperties": {"private": {AGENDA_PROPERTY: link.marker}},
        }
        attachments = merged_attachments(current.attachments, link)
        if attachments is not None:
            body["attachments"] = attachments
        request = self.provider._events().patch(
            calendarId=current.calendar,
            eventId=current.event_id,
            supportsAttachments=True,
            sendUpdates="none",
            body=body,
        )
        if current.etag:
            request.headers["If-Match"] = current.etag
        result = self.provider._execute(current.calendar, request, f"events.patch {current.event_id}")
        etag = result.get("etag")
        return str(etag) if etag else None


def merged_attachments(existing: Any, link: AgendaLink) -> list[dict[str, Any]] | None:
    """Everyone else's attachments as they were, plus ours; None when nothing needs to change."""
    kept = [dict(a) for a in existing]
    urls = [a.get("fileUrl") for a in kept]
    if link.url in urls:
        return None
    for attachment in kept:
        if attachment.get("fileUrl") in link.replaces:
            attachment["fileUrl"] = link.url
            return kept
    if len(kept) >= MAX_ATTACHMENTS:
        return None  # full: the description carries the link on its own
    return [*kept, {"fileUrl": link.url, "title": link.title, "mimeType": "text/html"}]
