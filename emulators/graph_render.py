"""Events as Graph v1.0 JSON: property order, seven-digit times, `$select`/`$expand` handling.

Shapes follow the examples in Microsoft's docs (event-get, calendarView delta, instances):
`start`/`end` in UTC unless `Prefer: outlook.timezone`, `originalStart` as a UTC offset string,
`@odata.etag` as `W/"<changeKey>"`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from emulators import graph_zones
from emulators.graph_model import EventView, GraphError, cancelled_occurrences, exception_views

NULL_TIME = "0001-01-01T00:00:00Z"
OWA = "https://outlook.office365.com/owa/"
PROPERTIES = [
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "isDraft",
    "hideAttendees",
    "originalStart",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
]
MASTER_ONLY = ("cancelledOccurrences",)
NAVIGATION = ("exceptionOccurrences", "singleValueExtendedProperties", "multiValueExtendedProperties", "instances")
_BY_FOLD = {p.casefold(): p for p in (*PROPERTIES, *MASTER_ONLY, *NAVIGATION)}
SPARSE = ("id", "type", "seriesMasterId", "start", "end", "originalStart")


@dataclass(frozen=True)
class RenderOptions:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    zone_label: str = "UTC"
    text_body: bool = False
    select: tuple[str, ...] | None = None
    ext_ids: tuple[str, ...] | None = None  # expand singleValueExtendedProperties; () = all
    exceptions: RenderOptions | None = None  # $expand=exceptionOccurrences, with its nested options
    by_id: bool = False  # GET /events/{id}: the only place master extras may appear


def parse_select(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        known = _BY_FOLD.get(name.casefold())
        if known is None:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'microsoft.graph.event'.",
            )
        names.append(known)
    return tuple(names)


def parse_expand(value: str | None, base: RenderOptions) -> RenderOptions:
    """`$expand=singleValueExtendedProperties($filter=id eq '…')` and `exceptionOccurrences($select=…)`."""
    if not value:
        return base
    ext_ids, exceptions = base.ext_ids, base.exceptions
    for item in _split_top(value):
        match = re.fullmatch(r"\s*(\w+)\s*(?:\((.*)\))?\s*", item, re.S)
        name = match.group(1).casefold() if match else ""
        inner = (match.group(2) or "") if match else ""
        if name == "singlevalueextendedproperties":
            ext_ids = tuple(re.findall(r"id\s+eq\s+'([^']*)'", inner, re.I))
        elif name == "exceptionoccurrences":
            nested = dict(_split_options(inner))
            exceptions = RenderOptions(base.zone, base.zone_label, base.text_body, parse_select(nested.get("$select")))
        else:
            raise GraphError(
                400, "BadRequest", f"Parsing OData Select and Expand failed: Could not expand '{item.strip()}'."
            )
    return RenderOptions(base.zone, base.zone_label, base.text_body, base.select, ext_ids, exceptions, base.by_id)


def render(view: EventView, opts: RenderOptions) -> dict[str, Any]:
    full = _full(view, opts)
    if opts.by_id and view.type in ("seriesMaster", "singleInstance"):
        full["cancelledOccurrences"] = cancelled_occurrences(view.copy) if view.type == "seriesMaster" else []
    if opts.select is not None:
        keep = {"id", *opts.select}
        full = {k: v for k, v in full.items() if k == "@odata.etag" or k in keep}
    else:
        full.pop("cancelledOccurrences", None)
    if opts.ext_ids is not None:
        wanted = {i.casefold() for i in opts.ext_ids}
        props = [{"id": k, "value": v} for k, v in view.ext.items() if not wanted or k.casefold() in wanted]
        if props:
            full["singleValueExtendedProperties"] = props
    if opts.exceptions is not None and opts.by_id and view.type == "seriesMaster":
        full["exceptionOccurrences"] = [render(v, opts.exceptions) for v in exception_views(view.copy)]
    return full


def render_sparse(view: EventView, opts: RenderOptions) -> dict[str, Any]:
    """An occurrence row as calendarView/delta may send it: identity and times only."""
    full = _full(view, opts)
    return {"@odata.type": "#microsoft.graph.event", "@odata.etag": full["@odata.etag"], **{k: full[k] for k in SPARSE}}


def removed_row(event_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}


def _full(view: EventView, opts: RenderOptions) -> dict[str, Any]:
    meeting, copy, fields = view.meeting, view.copy, view.fields
    body = dict(fields["body"])
    if opts.text_body and body["contentType"] == "html":
        body = {"contentType": "text", "content": html_to_text(body["content"])}
    online = fields.get("onlineMeeting")
    row: dict[str, Any] = {
        "@odata.etag": f'W/"{view.change_key}"',
        "id": view.id,
        "createdDateTime": stamp(view.created),
        "lastModifiedDateTime": stamp(view.modified),
        "changeKey": view.change_key,
        "categories": list(view.personal.get("categories", [])),
        "transactionId": meeting.transaction_id if view.type in ("singleInstance", "seriesMaster") else None,
        "originalStartTimeZone": meeting.start_zone,
        "originalEndTimeZone": meeting.end_zone,
        "iCalUId": view.uid,
        "reminderMinutesBeforeStart": view.personal.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": view.personal.get("isReminderOn", True),
        "hasAttachments": False,
        "subject": fields["subject"],
        "bodyPreview": html_to_text(fields["body"]["content"])[:255]
        if fields["body"]["contentType"] == "html"
        else fields["body"]["content"][:255],
        "importance": fields["importance"],
        "sensitivity": fields["sensitivity"],
        "isAllDay": meeting.all_day,
        "isCancelled": view.cancelled,
        "isOrganizer": copy.is_organizer,
        "responseRequested": fields["responseRequested"],
        "seriesMasterId": copy.id if view.type in ("occurrence", "exception") else None,
        "showAs": _show_as(view),
        "type": view.type,
        "webLink": f"{OWA}?itemid={quote(view.id, safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": fields["isOnlineMeeting"],
        "onlineMeetingProvider": fields["onlineMeetingProvider"],
        "allowNewTimeProposals": fields["allowNewTimeProposals"],
        "isDraft": False,
        "hideAttendees": fields["hideAttendees"],
    }
    if view.original_start is not None:
        row["originalStart"] = view.original_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    row |= {
        "responseStatus": {"response": view.response, "time": stamp(view.response_time, seconds=True)},
        "body": body,
        "start": when(view.start, opts, view),
        "end": when(view.end, opts, view),
        "location": fields["location"],
        "locations": fields["locations"],
        "recurrence": meeting.recurrence.to_json() if view.type == "seriesMaster" and meeting.recurrence else None,
        "attendees": [
            {
                "type": a.type,
                "status": {"response": a.response, "time": stamp(a.time, seconds=True)},
                "emailAddress": {"name": a.name, "address": a.address},
            }
            for a in view.attendees
        ],
        "organizer": {"emailAddress": {"name": meeting.organizer_name, "address": meeting.organizer}},
        "onlineMeeting": online,
    }
    return row


def when(instant: datetime, opts: RenderOptions, view: EventView) -> dict[str, str]:
    """A dateTimeTimeZone; all-day events are floating dates, shown as midnight in any zone."""
    if view.meeting.all_day:
        local = instant.astimezone(graph_zones.resolve(view.meeting.start_zone)).replace(tzinfo=None)
    else:
        local = instant.astimezone(opts.zone).replace(tzinfo=None)
    return {"dateTime": f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond:06d}0", "timeZone": opts.zone_label}


def stamp(instant: datetime | None, *, seconds: bool = False) -> str:
    if instant is None:
        return NULL_TIME
    utc = instant.astimezone(UTC)
    if seconds:
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def html_to_text(content: str) -> str:
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", content)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _show_as(view: EventView) -> str:
    chosen = view.personal.get("showAs")
    if isinstance(chosen, str):
        return chosen
    if view.copy.is_organizer:
        return "busy"
    return {"accepted": "busy", "declined": "free"}.get(view.response, "tentative")


def _split_top(value: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in value:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def _split_options(inner: str) -> list[tuple[str, str]]:
    result = []
    for part in re.split(r";(?![^(]*\))", inner):
        if "=" in part:
            key, _, val = part.partition("=")
            result.append((key.strip().casefold(), val.strip()))
    return result
