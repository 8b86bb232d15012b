"""Writing the agenda link onto an Outlook event through Microsoft Graph (calendar-apis.md §3.4–3.5).

A body PATCH replaces the whole body, so the body is read as HTML, our block is inserted before
`</body>` (every other byte kept: a Teams meeting blob must survive, or the meeting stops
working), and the full result is written back with `If-Match` (412 → `PreconditionFailed`). The
event is tagged with a single-value extended property. Only series masters and one-offs are ever
written: a body change to a master can send attendees an update (one per separately edited
occurrence), so the write happens once per series, never per occurrence.

Authentication, retries and the per-mailbox concurrency cap are the Outlook adapter's
`GraphClient`'s; this module only shapes the two requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from providers.agenda_text import with_link_html
from providers.base import AgendaLink, EventText, PreconditionFailed

if TYPE_CHECKING:
    from providers.outlook_http import GraphClient

# Our tag: a named string property in a GUID namespace of our own (read back by outlook_mapping).
AGENDA_PROPERTY_ID = "String {6f4d8a7e-3c1b-4f0e-9a52-1e7c0b9d2a64} Name oneonone"


@dataclass
class GraphAgendaWriter:
    client: GraphClient
    name: str = "outlook"

    def read_event(self, calendar: str, event_id: str) -> EventText:
        reply = self.client.call(
            calendar,
            "GET",
            self.client.user_url(calendar, "events", event_id),
            what=f"get event {event_id}",
            params={
                "$select": "subject,body,type",
                "$expand": f"singleValueExtendedProperties($filter=id eq '{AGENDA_PROPERTY_ID}')",
            },
            headers={"Prefer": 'outlook.body-content-type="html"'},
        )
        item = reply.body
        body = item.get("body") or {}
        marker = next(
            (
                str(p.get("value"))
                for p in item.get("singleValueExtendedProperties") or []
                if isinstance(p, dict) and str(p.get("id", "")).casefold() == AGENDA_PROPERTY_ID.casefold()
            ),
            None,
        )
        return EventText(
            calendar=calendar,
            event_id=event_id,
            etag=item.get("@odata.etag"),
            text=str(body.get("content") or "") if isinstance(body, dict) else "",
            marker=marker,
        )

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        payload = {
            "body": {"contentType": "HTML", "content": with_link_html(current.text, link)},
            "singleValueExtendedProperties": [{"id": AGENDA_PROPERTY_ID, "value": link.marker}],
        }
        reply = self.client.call(
            current.calendar,
            "PATCH",
            self.client.user_url(current.calendar, "events", current.event_id),
            what=f"agenda link on {current.event_id}",
            json=payload,
            headers={"If-Match": current.etag} if current.etag else {},
            allow=frozenset({412}),
            idempotent=bool(current.etag),  # only a conditional PATCH may be retried
        )
        if reply.status == 412:
            raise PreconditionFailed(current.calendar, f"event {current.event_id} changed since it was read")
        etag = reply.body.get("@odata.etag")
        return str(etag) if etag else None
