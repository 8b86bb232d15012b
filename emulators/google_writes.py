"""Event writes with Google's rules: who may change what, versions, and propagation to copies.

Writes validate completely before touching state, so a 400/403/412 leaves nothing half done.
An instance id of an occurrence that has no stored exception yet is "materialized" on write:
the exception is created from the master and the write applied to it, as Google does.
"""

from __future__ import annotations

import copy as copymod
from datetime import UTC, datetime
from typing import Any

from emulators.google_errors import GoogleApiError, bad_request, not_found
from emulators.google_normalize import (
    RESPONSES,
    Parsed,
    editable_view,
    merge_patch,
    parse_view,
    prepare_body,
    settle_attendees,
)
from emulators.google_recurrence import is_occurrence, split_lines
from emulators.google_render import instance_etag, instance_id
from emulators.google_state import Calendar, Copy, GoogleState, Item, check_client_id, check_seed_id, new_event_id
from emulators.google_time import When, zone

_GUEST_OWN = ("responseStatus", "comment", "additionalGuests")


def insert(
    state: GoogleState,
    cal: Calendar,
    body: Any,
    *,
    event_id: str | None = None,
    supports_attachments: bool = True,
    api: bool = True,
) -> Copy:
    """events.insert; `api=False` is the Python side door, whose chosen ids need not be base32hex."""
    clean = prepare_body(body, None, patch=False, supports_attachments=supports_attachments)
    raw_id = body.get("id") if isinstance(body, dict) and body.get("id") is not None else event_id
    check_id = check_client_id if api else check_seed_id
    eid = new_event_id() if raw_id is None else check_id(raw_id)
    if eid in cal.copies or (cal.owner, eid) in state.items:
        raise GoogleApiError(409, "duplicate")
    parsed = parse_view(clean, is_instance=False)
    settle_attendees(parsed.fields, [], cal.owner, inserting=not api)  # the UI lists the organizer, the API not
    ical = body.get("iCalUID") if isinstance(body.get("iCalUID"), str) else f"{eid}@google.com"
    now = state.now()
    item = Item(
        id=eid,
        organizer=cal.owner,
        creator=cal.owner,
        created=now,
        ical_uid=ical,
        start=parsed.start,
        end=parsed.end,
        fields=parsed.fields,
        shared_props=parsed.shared_props,
    )
    state.register(item)
    state.attach_copy(item, cal, private=parsed.private, local=parsed.local)
    state.sync_copies(item)
    state.touch_all(item, now)
    return item.copies[cal.owner]


def update(
    state: GoogleState,
    cal: Calendar,
    event_id: str,
    body: Any,
    *,
    patch: bool,
    supports_attachments: bool,
    if_match: str | None,
) -> Copy:
    """events.patch / events.update on `cal`'s copy (or on a not-yet-stored instance)."""
    copy, master, slot = state.resolve(cal, event_id)
    if copy is not None:
        restoring = isinstance(body, dict) and body.get("status") in ("confirmed", "tentative")
        if copy.cancelled and not (restoring and copy.is_organizer and not copy.removed):
            raise GoogleApiError(410, "deleted")
        check_if_match(if_match, copy.etag)
        base = _view(copy)
        acting: Copy = copy
    elif master is not None and slot is not None:
        if master.cancelled:
            raise GoogleApiError(410, "deleted")
        check_if_match(if_match, instance_etag(master.etag, slot))
        base = _virtual_view(master, slot)
        acting = master
    else:
        raise not_found()
    clean = prepare_body(body, event_id, patch=patch, supports_attachments=supports_attachments)
    if patch:
        new_view = merge_patch(base, clean)
    else:
        new_view = clean
        if not supports_attachments and "attachments" in base:
            new_view["attachments"] = base["attachments"]
    is_instance = copy is None or copy.item.recurring_event_id is not None
    parsed = parse_view(new_view, is_instance=is_instance)
    settle_attendees(parsed.fields, acting.item.fields.get("attendees") or [], acting.item.organizer, inserting=False)
    old = parse_view(base, is_instance=is_instance)
    if parsed.fields.get("eventType") != old.fields.get("eventType"):
        raise bad_request("The event type cannot be changed.", reason="eventTypeRestriction")
    if not acting.is_organizer:
        _check_guest_change(old, parsed, cal.owner)
    now = state.now()
    if copy is None:
        assert master is not None and slot is not None
        return _materialize(state, master, slot, parsed, now)
    _apply(state, copy, parsed, now)
    return copy


def delete(state: GoogleState, cal: Calendar, event_id: str, *, if_match: str | None, api: bool) -> None:
    """Organizer: delete the event (or cancel one occurrence). Guest: 403 over the API; in the UI
    the guest declines and removes it from their own calendar."""
    copy, master, slot = state.resolve(cal, event_id)
    now = state.now()
    if copy is not None:
        check_if_match(if_match, copy.etag)
        if copy.cancelled:
            raise GoogleApiError(410, "deleted")
        if not copy.is_organizer:
            if api:
                raise GoogleApiError(403, "forbiddenForNonOrganizer")
            _set_response(copy.item, cal.owner, "declined")
            copy.removed = copy.dismissed = True
            state.touch_all(copy.item, now)
            return
        item = copy.item
        old_emails = item.attendee_emails()
        item.fields["status"] = "cancelled"
        state.touch_all(item, now)
        _cascade(state, item, old_emails, time_changed=False, now=now)
        return
    if master is None or slot is None:
        raise not_found()
    check_if_match(if_match, instance_etag(master.etag, slot))
    if master.cancelled:
        raise GoogleApiError(410, "deleted")
    view = _virtual_view(master, slot)
    if not master.is_organizer:
        if api:
            raise GoogleApiError(403, "forbiddenForNonOrganizer")
        _set_response_in_view(view, cal.owner, "declined")
        exc = _materialize(state, master, slot, parse_view(view, is_instance=True), now)
        exc.removed = exc.dismissed = True
        state.touch(exc, now)
        return
    view["status"] = "cancelled"
    _materialize(state, master, slot, parse_view(view, is_instance=True), now)


def respond(state: GoogleState, cal: Calendar, event_id: str, response: str) -> None:
    """The owner of `cal` answers as a guest; every copy sees the new responseStatus."""
    if response not in RESPONSES:
        raise bad_request(f"Invalid value for: responseStatus: {response}")
    copy, master, slot = state.resolve(cal, event_id)
    now = state.now()
    if copy is not None:
        if copy.cancelled:
            raise GoogleApiError(410, "deleted")
        _set_response(copy.item, cal.owner, response)
        state.touch_all(copy.item, now)
        for exc in copy.item.exceptions.values():
            if exc.status != "cancelled" and cal.owner in exc.attendee_emails():
                _set_response(exc, cal.owner, response)
                state.touch_all(exc, now)
        return
    if master is None or slot is None:
        raise not_found()
    if master.cancelled:
        raise GoogleApiError(410, "deleted")
    view = _virtual_view(master, slot)
    _set_response_in_view(view, cal.owner, response)
    _materialize(state, master, slot, parse_view(view, is_instance=True), now)


def split(state: GoogleState, cal: Calendar, event_id: str, at: datetime, changes: dict[str, Any] | None) -> Copy:
    """ "This and following" as the Google UI does it (see google_recurrence.split_lines)."""
    copy = cal.copies.get(event_id)
    if copy is None or not copy.item.is_master or copy.cancelled:
        raise not_found()
    if not copy.is_organizer:
        raise GoogleApiError(403, "forbiddenForNonOrganizer")
    master = copy.item
    if master.start.all_day:
        pivot = When(day=at.astimezone(zone(cal.time_zone)).date())
        new_id = f"{master.id}_R{pivot.suffix()}"
    else:
        pivot = When(instant=at.astimezone(UTC), tz=master.start.tz)
        new_id = f"{master.id}_R{at.astimezone(UTC):%Y%m%dT%H%M%S}"
    if pivot.utc(cal.time_zone) <= master.start.utc(cal.time_zone):
        raise bad_request("A series can only be split after its first occurrence.")
    if new_id in cal.copies:
        raise GoogleApiError(409, "duplicate")
    head, tail = split_lines(master.recurrence, master.start, pivot)
    if not tail:
        raise bad_request("Nothing recurs after the split point.")
    fields = {**master.fields, "recurrence": tail}
    view = editable_view(fields, pivot, pivot.shifted(master.duration), master.shared_props, copy.private, copy.local)
    if changes:
        view = merge_patch(view, prepare_body(changes, None, patch=True, supports_attachments=True))
    parsed = parse_view(view, is_instance=False)
    settle_attendees(parsed.fields, master.fields.get("attendees") or [], master.organizer, inserting=False)
    now = state.now()
    tail_item = Item(
        id=new_id,
        organizer=master.organizer,
        creator=master.creator,
        created=master.created,
        ical_uid=f"{new_id}@google.com",
        start=parsed.start,
        end=parsed.end,
        fields=parsed.fields,
        shared_props=parsed.shared_props,
    )
    state.register(tail_item)
    for other in master.copies.values():
        if not other.removed:
            state.attach_copy(tail_item, other.calendar, private=other.private, local=other.local)
    tail_item.copies[cal.owner].private = dict(parsed.private)
    tail_item.copies[cal.owner].local = copymod.deepcopy(parsed.local)
    state.sync_copies(tail_item)
    state.touch_all(tail_item, now)
    master.fields["recurrence"] = head
    state.touch_all(master, now)
    for exc in master.exceptions.values():
        if (
            exc.status != "cancelled"
            and exc.original_start is not None
            and (exc.original_start.utc(cal.time_zone) >= pivot.utc(cal.time_zone))
        ):
            exc.fields["status"] = "cancelled"
            state.touch_all(exc, now)
    return tail_item.copies[cal.owner]


def check_if_match(header: str | None, etag: str) -> None:
    if header is None:
        return
    candidates = [v.strip().removeprefix("W/") for v in header.split(",")]
    if "*" not in candidates and etag not in candidates:
        raise GoogleApiError(412, "conditionNotMet")


def _view(copy: Copy) -> dict[str, Any]:
    item = copy.item
    return editable_view(item.fields, item.start, item.end, item.shared_props, copy.private, copy.local)


def _virtual_view(master: Copy, slot: When) -> dict[str, Any]:
    item = master.item
    fields = {k: v for k, v in item.fields.items() if k != "recurrence"}
    return editable_view(fields, slot, slot.shifted(item.duration), item.shared_props, master.private, master.local)


def _apply(state: GoogleState, copy: Copy, parsed: Parsed, now: datetime) -> None:
    item = copy.item
    time_changed = (
        parsed.start != item.start
        or parsed.end != item.end
        or (tuple(parsed.fields.get("recurrence") or ()) != item.recurrence)
    )
    shared_changed = time_changed or parsed.fields != item.fields or parsed.shared_props != item.shared_props
    old_emails = item.attendee_emails()
    item.fields, item.start, item.end = parsed.fields, parsed.start, parsed.end
    item.shared_props = parsed.shared_props
    if time_changed:
        item.sequence += 1
    copy.private, copy.local = parsed.private, parsed.local
    if not shared_changed:
        state.touch(copy, now)
        return
    state.sync_copies(item)
    state.touch_all(item, now)
    _cascade(state, item, old_emails, time_changed=time_changed, now=now)


def _cascade(state: GoogleState, item: Item, old_emails: list[str], *, time_changed: bool, now: datetime) -> None:
    """Series-wide effects on exceptions: cancellation, orphaned slots, guest list changes."""
    new_attendees = item.fields.get("attendees") or []
    new_emails = {a["email"] for a in new_attendees}
    added = [a for a in new_attendees if a["email"] not in old_emails]
    removed = set(old_emails) - new_emails
    for exc in list(item.exceptions.values()):
        if exc.status == "cancelled" or exc.original_start is None:
            continue
        changed = False
        if item.status == "cancelled" or (
            time_changed and (not item.recurrence or not is_occurrence(item.recurrence, item.start, exc.original_start))
        ):
            exc.fields["status"] = "cancelled"
            changed = True
        if added or removed:
            kept = [a for a in exc.fields.get("attendees") or [] if a["email"] not in removed]
            present = {a["email"] for a in kept}
            merged = kept + [dict(a) for a in added if a["email"] not in present]
            exc.fields["attendees"] = merged
            if not merged:
                del exc.fields["attendees"]
            state.sync_copies(exc)
            changed = True
        if changed:
            state.touch_all(exc, now)


def _materialize(state: GoogleState, master: Copy, slot: When, parsed: Parsed, now: datetime) -> Copy:
    """Store an exception for one occurrence of `master`'s series."""
    m = master.item
    default_end = slot.shifted(m.duration)
    exc = Item(
        id=instance_id(m, slot),
        organizer=m.organizer,
        creator=m.creator,
        created=m.created,
        ical_uid=m.ical_uid,
        start=parsed.start,
        end=parsed.end,
        fields=parsed.fields,
        shared_props=parsed.shared_props,
        recurring_event_id=m.id,
        original_start=slot,
        master=m,
        sequence=m.sequence + (1 if (parsed.start, parsed.end) != (slot, default_end) else 0),
    )
    state.register(exc)
    for other in m.copies.values():
        if not other.removed:
            state.attach_copy(exc, other.calendar, private=other.private, local=other.local)
    acting = exc.copies.get(master.calendar.owner)
    if acting is not None:
        acting.private, acting.local = dict(parsed.private), copymod.deepcopy(parsed.local)
    state.sync_copies(exc)
    state.touch_all(exc, now)
    return exc.copies[master.calendar.owner]


def _check_guest_change(old: Parsed, new: Parsed, guest: str) -> None:
    """Guests may change their copy's private properties, reminders and colour, their own answer,
    and shared extended properties (doc); anything else is the organizer's."""
    old_fields, new_fields = dict(old.fields), dict(new.fields)
    old_att, new_att = old_fields.pop("attendees", []), new_fields.pop("attendees", [])
    if old_fields != new_fields or old.start != new.start or old.end != new.end:
        raise GoogleApiError(403, "forbiddenForNonOrganizer")
    if _without_own_answer(old_att, guest) != _without_own_answer(new_att, guest):
        raise GoogleApiError(403, "forbiddenForNonOrganizer")


def _without_own_answer(attendees: list[dict[str, Any]], guest: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if a["email"] != guest or k not in _GUEST_OWN} for a in attendees]


def _set_response(item: Item, email: str, response: str) -> None:
    for entry in item.fields.get("attendees") or []:
        if entry["email"] == email:
            entry["responseStatus"] = response
            return
    raise GoogleApiError(403, "forbidden", f"{email} is not a guest of this event.")


def _set_response_in_view(view: dict[str, Any], email: str, response: str) -> None:
    for entry in view.get("attendees") or []:
        if entry["email"] == email:
            entry["responseStatus"] = response
            return
    raise GoogleApiError(403, "forbidden", f"{email} is not a guest of this event.")
