"""Validating and normalizing event bodies the way Google's events.insert/update/patch do.

A write is computed as: current editable view of the copy → PATCH merge (or PUT replace) →
`parse_view`, which validates and splits the result into shared fields, times, extended
properties and per-copy fields. Comparing that with the stored state tells who may make the
change (organizer vs guest) and whether the time changed (sequence bump).
"""

from __future__ import annotations

import copy as copymod
import json
from dataclasses import dataclass
from typing import Any

from emulators import google_recurrence
from emulators.google_errors import GoogleApiError, bad_request
from emulators.google_time import When

EVENT_FIELDS = frozenset(
    {
        "anyoneCanAddSelf",
        "attachments",
        "attendees",
        "attendeesOmitted",
        "birthdayProperties",
        "colorId",
        "conferenceData",
        "created",
        "creator",
        "description",
        "end",
        "endTimeUnspecified",
        "etag",
        "eventLabelId",
        "eventType",
        "extendedProperties",
        "focusTimeProperties",
        "gadget",
        "guestsCanInviteOthers",
        "guestsCanModify",
        "guestsCanSeeOtherGuests",
        "hangoutLink",
        "htmlLink",
        "iCalUID",
        "id",
        "kind",
        "location",
        "locked",
        "organizer",
        "originalStartTime",
        "outOfOfficeProperties",
        "privateCopy",
        "recurrence",
        "recurringEventId",
        "reminders",
        "sequence",
        "source",
        "start",
        "status",
        "summary",
        "transparency",
        "updated",
        "visibility",
        "workingLocationProperties",
    }
)  # the discovery document's Event properties; anything else in a body is ignored
READ_ONLY = frozenset(
    {
        "kind",
        "etag",
        "id",
        "htmlLink",
        "created",
        "updated",
        "creator",
        "organizer",
        "iCalUID",
        "sequence",
        "recurringEventId",
        "originalStartTime",
        "hangoutLink",
        "attendeesOmitted",
        "privateCopy",
        "locked",
    }
)
PER_COPY = ("reminders", "colorId", "transparency")
EVENT_TYPES = ("default", "outOfOffice", "focusTime", "workingLocation")
RESPONSES = ("needsAction", "declined", "tentative", "accepted")
MAX_ATTACHMENTS = 25


@dataclass
class Parsed:
    fields: dict[str, Any]
    start: When
    end: When
    shared_props: dict[str, str]
    private: dict[str, str]
    local: dict[str, Any]


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Google PATCH: objects merge key by key, `null` deletes, arrays and scalars replace."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = copymod.deepcopy(value)
    return out


def prepare_body(body: Any, event_id: str | None, *, patch: bool, supports_attachments: bool) -> dict[str, Any]:
    """Drop read-only and unknown fields; `attachments` only count with supportsAttachments=true."""
    if not isinstance(body, dict):
        raise GoogleApiError(400, "parseError", "Parse Error")
    if event_id is not None and body.get("id") not in (None, event_id):
        raise GoogleApiError(400, "invalid", "Invalid resource id value.")
    out = {k: v for k, v in body.items() if k in EVENT_FIELDS and k not in READ_ONLY}
    if not supports_attachments:
        out.pop("attachments", None)
    if patch:
        for key in ("start", "end"):  # switching between date and dateTime drops the other one
            value = out.get(key)
            if isinstance(value, dict):
                value = dict(value)
                if value.get("dateTime") is not None:
                    value.setdefault("date", None)
                if value.get("date") is not None:
                    value.setdefault("dateTime", None)
                    value.setdefault("timeZone", None)
                out[key] = value
    return out


def parse_view(view: dict[str, Any], *, is_instance: bool) -> Parsed:
    """Validate a complete event view and split it into its stored parts."""
    start = When.from_json(view.get("start"), "start")
    end = When.from_json(view.get("end"), "end")
    if start.all_day != end.all_day:
        raise bad_request("Start and end times must either both be date or both be dateTime.")
    if (start.day is not None and end.day is not None and end.day <= start.day) or (
        start.instant is not None and end.instant is not None and end.instant < start.instant
    ):
        raise GoogleApiError(400, "timeRangeEmpty", location="end")
    fields: dict[str, Any] = {}
    for key, value in view.items():
        if key in ("start", "end", "extendedProperties", *PER_COPY) or key in READ_ONLY or value is None:
            continue
        fields[key] = copymod.deepcopy(value)
    recurrence = fields.get("recurrence")
    if recurrence is not None:
        if not isinstance(recurrence, list) or not all(isinstance(x, str) for x in recurrence):
            raise bad_request("Invalid recurrence rule.")
        if recurrence and is_instance:
            raise bad_request("Invalid recurrence rule: an instance cannot recur.")
        if recurrence:
            google_recurrence.validate(recurrence, start)
            fields["recurrence"] = [x.strip() for x in recurrence]
        else:
            del fields["recurrence"]
    fields["status"] = _enum(fields.get("status", "confirmed"), ("confirmed", "tentative", "cancelled"), "status")
    fields["eventType"] = _enum(fields.get("eventType", "default"), EVENT_TYPES, "eventType")
    if "visibility" in fields:
        _enum(fields["visibility"], ("default", "public", "private", "confidential"), "visibility")
    if "attendees" in fields:
        fields["attendees"] = _attendees(fields["attendees"])
        if not fields["attendees"]:
            del fields["attendees"]
    if "attachments" in fields:
        fields["attachments"] = _attachments(fields["attachments"])
    ext = view.get("extendedProperties") or {}
    if not isinstance(ext, dict):
        raise bad_request("Invalid value for: extendedProperties")
    local = {k: copymod.deepcopy(view[k]) for k in PER_COPY if view.get(k) is not None}
    if "transparency" in local:
        _enum(local["transparency"], ("opaque", "transparent"), "transparency")
    if "reminders" in local:
        local["reminders"] = _reminders(local["reminders"])
    return Parsed(fields, start, end, _props(ext.get("shared")), _props(ext.get("private")), local)


def editable_view(
    fields: dict[str, Any],
    start: When,
    end: When,
    shared_props: dict[str, str],
    private: dict[str, str],
    local: dict[str, Any],
) -> dict[str, Any]:
    """The writable state of one copy, in request-body shape, for PATCH to merge into."""
    view = copymod.deepcopy(fields)
    view["start"], view["end"] = start.to_json(), end.to_json()
    ext: dict[str, Any] = {}
    if shared_props:
        ext["shared"] = dict(shared_props)
    if private:
        ext["private"] = dict(private)
    if ext:
        view["extendedProperties"] = ext
    view.update(copymod.deepcopy(local))
    return view


def settle_attendees(fields: dict[str, Any], old: list[dict[str, Any]], organizer: str, *, inserting: bool) -> None:
    """Defaults Google fills in: a guest re-sent without responseStatus keeps their answer, the
    organizer's own entry is `accepted`, and (Calendar UI only) the organizer joins the guest list."""
    attendees: list[dict[str, Any]] = fields.get("attendees") or []
    previous = {a["email"]: a.get("responseStatus") for a in old}
    for entry in attendees:
        if entry.pop("_defaulted", False):
            if previous.get(entry["email"]):
                entry["responseStatus"] = previous[entry["email"]]
            elif entry["email"] == organizer:
                entry["responseStatus"] = "accepted"
    if inserting and attendees and organizer not in {a["email"] for a in attendees}:
        fields["attendees"] = [{"email": organizer, "responseStatus": "accepted"}, *attendees]


def _attendees(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise bad_request("Invalid value for: attendees")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in raw:
        if not isinstance(entry, dict) or not entry.get("email"):
            raise GoogleApiError(400, "required", "Missing attendee email.")
        email = str(entry["email"]).strip().lower()
        if email in seen:
            continue
        seen.add(email)
        clean: dict[str, Any] = {"email": email}
        for key in ("displayName", "optional", "resource", "comment", "additionalGuests"):
            if entry.get(key) is not None:
                clean[key] = entry[key]
        status = entry.get("responseStatus")
        if status is None:
            clean["_defaulted"] = True
        clean["responseStatus"] = _enum(status or "needsAction", RESPONSES, "attendees.responseStatus")
        out.append(clean)
    return out


def _attachments(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise bad_request("Invalid value for: attachments")
    if len(raw) > MAX_ATTACHMENTS:
        raise bad_request(f"Too many attachments: at most {MAX_ATTACHMENTS} are allowed.")
    out = []
    for entry in raw:
        if not isinstance(entry, dict) or not entry.get("fileUrl"):
            raise GoogleApiError(400, "required", "Missing attachment file URL.")
        out.append({k: entry[k] for k in ("fileUrl", "title", "mimeType", "iconLink", "fileId") if k in entry})
    return out


def _reminders(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("Invalid value for: reminders")
    overrides = raw.get("overrides")
    if raw.get("useDefault") and overrides:
        raise bad_request(
            "Cannot specify both default reminders and overrides at the same time.",
            reason="cannotUseDefaultRemindersAndSpecifyOverride",
        )
    out: dict[str, Any] = {"useDefault": bool(raw.get("useDefault"))}
    if overrides:
        if not isinstance(overrides, list) or len(overrides) > 5:
            raise bad_request("Invalid value for: reminders.overrides")
        for entry in overrides:
            if not isinstance(entry, dict) or entry.get("method") not in ("email", "popup"):
                raise GoogleApiError(400, "required", "Missing reminder method.")
            if not isinstance(entry.get("minutes"), int) or not 0 <= entry["minutes"] <= 40320:
                raise bad_request("Invalid value for: reminders.overrides.minutes")
        out["overrides"] = [{"method": e["method"], "minutes": e["minutes"]} for e in overrides]
    return out


def _props(raw: Any) -> dict[str, str]:
    """Keys over 44 characters are dropped and values over 1024 truncated, silently, as documented."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise bad_request("Invalid value for: extendedProperties")
    out = {}
    for key, value in raw.items():
        if value is None or len(str(key)) > 44:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        out[str(key)] = text[:1024]
    return out


def _enum(value: Any, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise bad_request(f"Invalid value for: {name}: {value}")
    return str(value)
