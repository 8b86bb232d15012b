"""Writing the agenda link into a CalDAV event: DESCRIPTION block, ATTACH and our tag, If-Match.

iCalendar descriptions are plain text, so the link goes in a plain block between our markers,
after whatever people wrote (which is never touched); the URL also goes in as
`ATTACH;VALUE=URI` (clients show it as a link) and the pair's page id as `X-ONEONONE-AGENDA`.
The resource is PUT back whole with `If-Match` on the etag it was read with: a 412 surfaces as
`PreconditionFailed` and the caller re-reads and tries again (`attach` does that loop itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from icalendar import Calendar, vUri

from providers.agenda_text import has_link
from providers.base import AgendaLink, EventText, PermanentError, PreconditionFailed
from providers.caldav import _XMLNS, NS, CalDavProvider, _resources
from providers.ics_mapping import AGENDA_PROPERTY
from providers.ics_values import day_stamp, stamp

MARK_START = "-- 1:1 agenda (oneonone) --"
MARK_END = "-- end of 1:1 agenda --"
MAX_CONFLICTS = 3


def text_block(link: AgendaLink) -> str:
    return f"{MARK_START}\n{link.title}: {link.url}\n{MARK_END}"


def with_text_link(description: str, link: AgendaLink) -> str:
    """The user's text, then our block; an existing block (or a rotated URL) is updated in place."""
    if has_link(description, link.url):
        return description
    for old in link.replaces:
        if old and old in description:
            return description.replace(old, link.url)
    start, end = description.find(MARK_START), description.find(MARK_END)
    if 0 <= start < end:
        return description[:start] + text_block(link) + description[end + len(MARK_END) :]
    return f"{description.rstrip()}\n\n{text_block(link)}" if description.strip() else text_block(link)


@dataclass(frozen=True)
class _Read:
    href: str
    data: str


@dataclass
class CalDavAgendaWriter:
    """`AgendaWriter` for CalDAV; `read_event` remembers where each event lives for the write."""

    provider: CalDavProvider
    name: str = "caldav"
    _seen: dict[tuple[str, str, str | None], _Read] = field(default_factory=dict, repr=False)

    def read_event(self, calendar: str, event_id: str) -> EventText:
        uid = event_id.partition("#")[0]
        url = self.provider.collection(calendar)
        query = (
            f"<C:calendar-query {_XMLNS}><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>"
            "<C:comp-filter name='VCALENDAR'><C:comp-filter name='VEVENT'><C:prop-filter name='UID'>"
            f"<C:text-match collation='i;octet'>{_escape(uid)}</C:text-match>"
            "</C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
        )
        found = [r for r in _resources(self.provider.report(calendar, url, query).tree, url) if r.data]
        if not found:
            raise PermanentError(calendar, f"CalDAV event {event_id} not found")
        resource = found[0]
        assert resource.data is not None
        component = _component(Calendar.from_ical(resource.data), event_id)
        self._seen[(calendar, event_id, resource.etag)] = _Read(resource.href, resource.data)
        marker = component.get(AGENDA_PROPERTY)
        return EventText(
            calendar=calendar,
            event_id=event_id,
            etag=resource.etag,
            text=str(component.get("DESCRIPTION") or ""),
            marker=str(marker) if marker else None,
        )

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        read = self._seen.get((current.calendar, current.event_id, current.etag))
        if read is None:
            raise PermanentError(current.calendar, f"CalDAV event {current.event_id} was not read before writing")
        calendar = Calendar.from_ical(read.data)
        component = _component(calendar, current.event_id)
        component["DESCRIPTION"] = with_text_link(str(component.get("DESCRIPTION") or ""), link)
        attachments = [str(a) for a in _as_list(component.get("ATTACH"))]
        if link.url not in attachments:
            kept = [a for a in attachments if a not in link.replaces]
            component.pop("ATTACH", None)
            for value in [*kept, link.url]:
                component.add("ATTACH", vUri(value), parameters={"VALUE": "URI"} if value == link.url else None)
        component[AGENDA_PROPERTY] = link.marker
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if current.etag:
            headers["If-Match"] = current.etag
        url = self.provider.client().url.join(read.href)
        reply = self.provider.request(current.calendar, "PUT", str(url), calendar.to_ical().decode(), headers)
        self._seen.pop((current.calendar, current.event_id, current.etag), None)
        etag = reply.headers.get("ETag")
        return str(etag) if etag else None

    def attach(self, calendar: str, event_id: str, url: str, title: str, marker: str = "") -> bool:
        """Put the link on one event; False when it is already there. Re-reads and retries on 412."""
        link = AgendaLink(url=url, title=title, marker=marker or url)
        for _ in range(MAX_CONFLICTS):
            current = self.read_event(calendar, event_id)
            if has_link(current.text, url):
                return False
            try:
                self.attach_agenda(current, link)
            except PreconditionFailed:
                continue
            return True
        raise PreconditionFailed(
            calendar, f"CalDAV event {event_id} kept changing; gave up after {MAX_CONFLICTS} tries"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _component(calendar: Any, event_id: str) -> Any:
    """The VEVENT an event id names: the master (no `#`), or the override with that RECURRENCE-ID."""
    _, _, recid = event_id.partition("#")
    for component in calendar.walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        if not recid and rid is None:
            return component
        if recid and rid is not None:
            value = rid.dt
            rendered = stamp(value) if hasattr(value, "hour") else day_stamp(value)
            if rendered == recid:
                return component
    raise PermanentError("", f"no VEVENT for {event_id} in its resource")


__all__ = ["MARK_END", "MARK_START", "NS", "CalDavAgendaWriter", "text_block", "with_text_link"]
