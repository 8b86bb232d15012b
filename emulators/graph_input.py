"""Validation of Graph event bodies (POST/PATCH), refusing what Graph refuses.

Kept apart from the store so the rules about which properties exist, which are read-only and
which an attendee may touch live in one place.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from emulators import graph_zones
from emulators.graph_model import Attendee, GraphError

# Properties the organizer decides; an attendee writing them gets 403 (see `check_attendee_write`).
SHARED = frozenset(
    {
        "subject",
        "body",
        "start",
        "end",
        "isAllDay",
        "recurrence",
        "attendees",
        "location",
        "locations",
        "importance",
        "sensitivity",
        "isOnlineMeeting",
        "onlineMeetingProvider",
        "responseRequested",
        "allowNewTimeProposals",
        "hideAttendees",
        "originalStartTimeZone",
        "originalEndTimeZone",
    }
)
# Properties each mailbox keeps for itself.
PERSONAL = frozenset({"categories", "isReminderOn", "reminderMinutesBeforeStart", "showAs"})
SPECIAL = frozenset({"singleValueExtendedProperties", "transactionId"})
READ_ONLY = frozenset(
    {
        "@odata.etag",
        "@odata.context",
        "@odata.type",
        "id",
        "changeKey",
        "createdDateTime",
        "lastModifiedDateTime",
        "type",
        "seriesMasterId",
        "originalStart",
        "iCalUId",
        "uid",
        "webLink",
        "bodyPreview",
        "isOrganizer",
        "isCancelled",
        "isDraft",
        "responseStatus",
        "organizer",
        "hasAttachments",
        "onlineMeetingUrl",
        "onlineMeeting",
        "occurrenceId",
        "cancelledOccurrences",
        "exceptionOccurrences",
    }
)
KNOWN = SHARED | PERSONAL | SPECIAL | READ_ONLY
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
ATTENDEE_TYPES = ("required", "optional", "resource")
_EXT_ID = re.compile(
    r"^(String|Integer|Boolean|SystemTime|Binary|Guid)\s+(\{[0-9a-fA-F-]{36}\}\s+(Name|Id)\s+\S.*|0x[0-9a-fA-F]{1,4})$"
)


def check_keys(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise GraphError(400, "RequestBodyRead", "The request body must be a JSON object.")
    for key in body:
        if key not in KNOWN and not key.startswith("@"):
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The property '{key}' does not exist on type 'microsoft.graph.event'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type.",
            )
    return body


def check_attendee_write(body: dict[str, Any]) -> None:
    """An attendee may change only their own copy's personal fields, never the meeting itself."""
    if SHARED & body.keys():
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def parse_when(value: Any, name: str) -> tuple[datetime, str]:
    """A `dateTimeTimeZone` as (UTC instant, Windows zone name)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(400, "ErrorInvalidRequest", f"The property '{name}' must have a dateTime and timeZone.")
    zone_name = value.get("timeZone") or "UTC"
    zone = zone_for(zone_name)
    local = parse_datetime(value["dateTime"], name)
    instant = local.replace(tzinfo=zone) if local.tzinfo is None else local
    return instant.astimezone(UTC), graph_zones.windows_name(zone_name)


def zone_for(name: Any) -> Any:
    try:
        return graph_zones.resolve(str(name))
    except graph_zones.UnknownTimeZone as exc:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{name}'.",
        ) from exc


def parse_datetime(text: str, name: str) -> datetime:
    """ISO 8601 with up to seven fractional digits; naive unless it carries Z or an offset."""
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?", text.strip()
    )
    if not match:
        raise GraphError(400, "ErrorInvalidRequest", f"The value '{text}' of '{name}' is not a valid date and time.")
    day, clock, fraction, offset = match.groups()
    iso = f"{day}T{clock or '00:00:00'}"
    if fraction:
        iso += "." + fraction[:6].ljust(6, "0")
    if offset:
        iso += "+00:00" if offset == "Z" else offset
    try:
        return datetime.fromisoformat(iso)
    except ValueError as exc:
        raise GraphError(400, "ErrorInvalidRequest", f"The value '{text}' of '{name}' is not valid.") from exc


def parse_body(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise GraphError(400, "RequestBodyRead", "The property 'body' must be an itemBody object.")
    kind = str(value.get("contentType") or "text").lower()
    if kind not in ("html", "text"):
        raise GraphError(
            400, "RequestBodyRead", f"The value '{value.get('contentType')}' of 'contentType' is not valid."
        )
    content = value.get("content")
    if content is not None and not isinstance(content, str):
        raise GraphError(400, "RequestBodyRead", "The property 'content' must be a string.")
    return {"contentType": kind, "content": content or ""}


def parse_attendees(value: Any) -> list[Attendee]:
    if not isinstance(value, list):
        raise GraphError(400, "RequestBodyRead", "The property 'attendees' must be a collection.")
    result: list[Attendee] = []
    seen: set[str] = set()
    for item in value:
        email = item.get("emailAddress") if isinstance(item, dict) else None
        address = email.get("address") if isinstance(email, dict) else None
        if not isinstance(email, dict) or not isinstance(address, str) or "@" not in address:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
        kind = item.get("type") or "required"
        if kind not in ATTENDEE_TYPES:
            raise GraphError(400, "RequestBodyRead", f"The value '{kind}' of attendee 'type' is not valid.")
        if address.casefold() in seen:
            continue
        seen.add(address.casefold())
        name = email.get("name") or address
        result.append(Attendee(address=address, name=str(name), type=kind))
    return result


def parse_location(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GraphError(400, "RequestBodyRead", "The property 'location' must be a location object.")
    name = str(value.get("displayName") or "")
    return {
        "displayName": name,
        "locationType": value.get("locationType") or "default",
        "uniqueId": name,
        "uniqueIdType": "private" if name else "unknown",
        "address": value.get("address") or {},
        "coordinates": value.get("coordinates") or {},
    }


def parse_ext(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        raise GraphError(400, "RequestBodyRead", "singleValueExtendedProperties must be a collection.")
    result: dict[str, str] = {}
    for item in value:
        prop_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(prop_id, str) or not _EXT_ID.match(prop_id.strip()):
            raise GraphError(400, "ErrorInvalidProperty", f"The extended property id '{prop_id}' is not valid.")
        raw = item.get("value")
        result[prop_id.strip()] = "" if raw is None else str(raw)
    return result


def parse_personal(body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "showAs" in body:
        if body["showAs"] not in SHOW_AS:
            raise GraphError(400, "RequestBodyRead", f"The value '{body['showAs']}' of 'showAs' is not valid.")
        result["showAs"] = body["showAs"]
    if "categories" in body:
        if not isinstance(body["categories"], list):
            raise GraphError(400, "RequestBodyRead", "The property 'categories' must be a collection.")
        result["categories"] = [str(c) for c in body["categories"]]
    if "isReminderOn" in body:
        result["isReminderOn"] = bool(body["isReminderOn"])
    if "reminderMinutesBeforeStart" in body:
        result["reminderMinutesBeforeStart"] = int(body["reminderMinutesBeforeStart"])
    return result


def parse_shared(body: dict[str, Any]) -> dict[str, Any]:
    """The plain shared fields (not times, recurrence or attendees), normalised for storage."""
    result: dict[str, Any] = {}
    if "subject" in body:
        result["subject"] = "" if body["subject"] is None else str(body["subject"])
    if "body" in body:
        result["body"] = parse_body(body["body"])
    if "location" in body:
        result["location"] = parse_location(body["location"])
        result["locations"] = [result["location"]] if result["location"]["displayName"] else []
    if "locations" in body and isinstance(body["locations"], list):
        result["locations"] = [parse_location(v) for v in body["locations"]]
    for key, allowed in (
        ("importance", ("low", "normal", "high")),
        ("sensitivity", ("normal", "personal", "private", "confidential")),
    ):
        if key in body:
            if body[key] not in allowed:
                raise GraphError(400, "RequestBodyRead", f"The value '{body[key]}' of '{key}' is not valid.")
            result[key] = body[key]
    for key in ("isOnlineMeeting", "responseRequested", "allowNewTimeProposals", "hideAttendees"):
        if key in body:
            result[key] = bool(body[key])
    if "onlineMeetingProvider" in body:
        result["onlineMeetingProvider"] = str(body["onlineMeetingProvider"])
    return result
