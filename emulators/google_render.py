"""Event resources as one calendar sees them, in the shapes of the captured Google responses.

`self` flags, private extended properties, reminders, etag and `updated` depend on the copy.
Cancelled items come back minimal: a cancelled instance of a live series carries only kind,
etag, id, status, recurringEventId and originalStartTime (corpus `delete.single.json`); a
deleted event only kind, etag, id and status (corpus `delete.all-1.json`).
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

from emulators.google_state import Copy, Item
from emulators.google_time import When, format_updated

_HEAD = ("summary", "description", "location")
_TAIL = (
    "guestsCanInviteOthers",
    "guestsCanModify",
    "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf",
    "endTimeUnspecified",
    "conferenceData",
    "source",
    "gadget",
    "eventLabelId",
    "birthdayProperties",
    "outOfOfficeProperties",
    "focusTimeProperties",
    "workingLocationProperties",
)


def html_link(event_id: str, calendar: str) -> str:
    eid = base64.urlsafe_b64encode(f"{event_id} {calendar}".encode()).decode().rstrip("=")
    return f"https://www.google.com/calendar/event?eid={eid}"


def instance_id(master: Item, slot: When) -> str:
    return f"{master.id}_{slot.suffix()}"


def instance_etag(master_etag: str, slot: When) -> str:
    """A generated instance changes version whenever its master does."""
    base = int(master_etag.strip('"') or 0)
    return f'"{base + zlib.crc32(slot.suffix().encode()) % 1_000_000 + 1}"'


def time_json(when: When, tz_override: str | None, cal_tz: str) -> dict[str, Any]:
    return when.to_json(tz_override or when.tz or cal_tz)


def minimal(copy: Copy, tz_override: str | None = None) -> dict[str, Any]:
    item = copy.item
    out: dict[str, Any] = {"kind": "calendar#event", "etag": copy.etag, "id": item.id, "status": "cancelled"}
    if item.recurring_event_id and item.original_start is not None:
        out["recurringEventId"] = item.recurring_event_id
        out["originalStartTime"] = time_json(item.original_start, tz_override, copy.calendar.time_zone)
    return out


def minimal_instance(master: Copy, slot: When, tz_override: str | None = None) -> dict[str, Any]:
    return {
        "kind": "calendar#event",
        "etag": instance_etag(master.etag, slot),
        "id": instance_id(master.item, slot),
        "status": "cancelled",
        "recurringEventId": master.item.id,
        "originalStartTime": time_json(slot, tz_override, master.calendar.time_zone),
    }


def render(copy: Copy, *, tz_override: str | None = None, max_attendees: int | None = None) -> dict[str, Any]:
    """The full resource (status `cancelled` when this copy is gone)."""
    item = copy.item
    return _full(
        copy,
        item.id,
        copy.etag,
        item.start,
        item.end,
        item.recurring_event_id,
        item.original_start,
        tz_override,
        max_attendees,
    )


def render_for_list(copy: Copy, *, tz_override: str | None = None, max_attendees: int | None = None) -> dict[str, Any]:
    return (
        minimal(copy, tz_override)
        if copy.cancelled
        else render(copy, tz_override=tz_override, max_attendees=max_attendees)
    )


def render_for_get(copy: Copy, *, tz_override: str | None = None, max_attendees: int | None = None) -> dict[str, Any]:
    """events.get always answers; the organizer's copy of a deleted event keeps its details (doc)."""
    if copy.cancelled and not (copy.is_organizer and not copy.removed and not copy.item.recurring_event_id):
        return minimal(copy, tz_override)
    return render(copy, tz_override=tz_override, max_attendees=max_attendees)


def render_instance(
    master: Copy, slot: When, *, tz_override: str | None = None, max_attendees: int | None = None
) -> dict[str, Any]:
    """An occurrence with no stored exception, generated from its master."""
    if master.cancelled:
        return minimal_instance(master, slot, tz_override)
    item = master.item
    end = slot.shifted(item.duration)
    return _full(
        master,
        instance_id(item, slot),
        instance_etag(master.etag, slot),
        slot,
        end,
        item.id,
        slot,
        tz_override,
        max_attendees,
    )


def _full(
    copy: Copy,
    event_id: str,
    etag: str,
    start: When,
    end: When,
    recurring_event_id: str | None,
    original_start: When | None,
    tz_override: str | None,
    max_attendees: int | None,
) -> dict[str, Any]:
    item, cal = copy.item, copy.calendar
    fields = item.fields
    out: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": etag,
        "id": event_id,
        "status": "cancelled" if copy.cancelled else item.status,
        "htmlLink": html_link(event_id, cal.owner),
        "created": format_updated(item.created),
        "updated": format_updated(copy.updated),
    }
    for key in _HEAD:
        if key in fields:
            out[key] = fields[key]
    if "colorId" in copy.local:
        out["colorId"] = copy.local["colorId"]
    out["creator"] = _person(item.creator, cal.owner)
    out["organizer"] = _person(item.organizer, cal.owner)
    out["start"] = time_json(start, tz_override, cal.time_zone)
    out["end"] = time_json(end, tz_override, cal.time_zone)
    if item.recurrence and recurring_event_id is None:
        out["recurrence"] = list(item.recurrence)
    if recurring_event_id is not None and original_start is not None:
        out["recurringEventId"] = recurring_event_id
        out["originalStartTime"] = time_json(original_start, tz_override, cal.time_zone)
    if "transparency" in copy.local:
        out["transparency"] = copy.local["transparency"]
    if "visibility" in fields:
        out["visibility"] = fields["visibility"]
    out["iCalUID"] = item.ical_uid
    out["sequence"] = item.sequence
    if fields.get("attendees"):
        attendees = [_attendee(a, item.organizer, cal.owner) for a in fields["attendees"]]
        if max_attendees is not None and len(attendees) > max_attendees:
            out["attendees"] = [a for a in attendees if a.get("self")]
            out["attendeesOmitted"] = True
        else:
            out["attendees"] = attendees
    for key in _TAIL:
        if key in fields:
            out[key] = fields[key]
    ext: dict[str, Any] = {}
    if copy.private:
        ext["private"] = dict(copy.private)
    if item.shared_props:
        ext["shared"] = dict(item.shared_props)
    if ext:
        out["extendedProperties"] = ext
    if fields.get("attachments"):
        out["attachments"] = [dict(a) for a in fields["attachments"]]
    out["reminders"] = copy.local.get("reminders", {"useDefault": True})
    out["eventType"] = fields.get("eventType", "default")
    return out


def _person(email: str, viewer: str) -> dict[str, Any]:
    return {"email": email, "self": True} if email == viewer else {"email": email}


def _attendee(entry: dict[str, Any], organizer: str, viewer: str) -> dict[str, Any]:
    out: dict[str, Any] = {"email": entry["email"]}
    if "displayName" in entry:
        out["displayName"] = entry["displayName"]
    if entry["email"] == organizer:
        out["organizer"] = True
    if entry["email"] == viewer:
        out["self"] = True
    for key in ("resource", "optional"):
        if entry.get(key):
            out[key] = entry[key]
    out["responseStatus"] = entry["responseStatus"]
    for key in ("comment", "additionalGuests"):
        if key in entry:
            out[key] = entry[key]
    return out
