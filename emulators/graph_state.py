"""The Graph emulator's calendars and the writes Outlook users make to them.

One lock guards everything; every write goes through `_touch`, which bumps the changeKey of the
affected copies and their mailbox's change counter (delta and notifications read those), so the
Python seeding API and the HTTP API cannot drift apart.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators import graph_input as gi
from emulators import graph_zones
from emulators.graph_meeting import DEFAULT_FIELDS, add_online_meeting, check_move, set_times
from emulators.graph_model import (
    Copy,
    EventView,
    GraphError,
    Mailbox,
    Meeting,
    Override,
    instance_view,
    master_view,
    new_uid,
    not_found,
    parse_id,
)

ChangeListener = Callable[[Mailbox, str, str, str], None]  # mailbox, changeType, event id, changeKey
RESPONSES = {
    "accept": "accepted",
    "accepted": "accepted",
    "tentativelyaccept": "tentativelyAccepted",
    "tentativelyaccepted": "tentativelyAccepted",
    "decline": "declined",
    "declined": "declined",
}


@dataclass(frozen=True)
class MeetingUpdate:
    """A meeting update Exchange would have mailed to the attendees after an organizer's write."""

    organizer: str
    event_id: str
    original_start: datetime | None
    recipients: tuple[str, ...]


class GraphStore:
    """All mailboxes and their calendars; thread-safe."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self._by_user_id: dict[str, Mailbox] = {}
        self._copies: dict[bytes, Copy] = {}
        self.listeners: list[ChangeListener] = []
        self.meeting_updates: list[MeetingUpdate] = []
        self.decline_removes_from_calendar = False

    # -- mailboxes -------------------------------------------------------------------------------
    def add_mailbox(self, address: str, time_zone: str = "UTC", name: str | None = None) -> Mailbox:
        zone = graph_zones.iana_name(time_zone)
        with self.lock:
            key = address.casefold()
            if key in self.mailboxes:
                box = self.mailboxes[key]
                box.time_zone, box.name = zone, name or box.name
                return box
            user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{key}"))
            box = Mailbox(address, name or address.split("@")[0].replace(".", " ").title(), user_id, zone)
            self.mailboxes[key] = box
            self._by_user_id[user_id] = box
            return box

    def find_mailbox(self, ident: str) -> Mailbox | None:
        ident = ident.strip().strip("'").casefold()
        return self.mailboxes.get(ident) or self._by_user_id.get(ident)

    def mailbox(self, ident: str) -> Mailbox:
        box = self.find_mailbox(ident)
        if box is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{ident}' is invalid.")
        return box

    # -- lookups ---------------------------------------------------------------------------------
    def resolve(self, box: Mailbox, event_id: str) -> tuple[Copy, datetime | None]:
        key, original = parse_id(event_id)
        copy = self._copies.get(key)
        if copy is None or copy.mailbox is not box or copy.deleted:
            raise not_found()
        if original is not None and not self._is_instance(copy, original):
            raise not_found()
        return copy, original

    def view(self, box: Mailbox, event_id: str) -> EventView:
        copy, original = self.resolve(box, event_id)
        view = master_view(copy) if original is None else instance_view(copy, original)
        if view is None:
            raise not_found()
        return view

    def copies(self, box: Mailbox) -> list[Copy]:
        return [c for c in box.copies.values() if not c.deleted]

    def _is_instance(self, copy: Copy, original: datetime) -> bool:
        meeting = copy.meeting
        return original in meeting.overrides or original in copy.occ or meeting.is_original_start(original)

    # -- writes ----------------------------------------------------------------------------------
    def create(self, box: Mailbox, body: Any) -> Copy:
        body = gi.check_keys(body)
        with self.lock:
            txn = body.get("transactionId")
            if txn:
                for copy in self.copies(box):
                    if copy.is_organizer and copy.meeting.transaction_id == txn:
                        return copy
            if "start" not in body or "end" not in body:
                raise GraphError(
                    400, "ErrorInvalidRequest", "Your request can't be completed. Start and end are required."
                )
            now = self.clock()
            key = secrets.token_bytes(18)
            meeting = Meeting(
                uid=new_uid(key),
                organizer=box.address,
                organizer_name=box.name,
                fields={**DEFAULT_FIELDS, **gi.parse_shared(body)},
                start=now,
                end=now,
                start_zone="UTC",
                end_zone="UTC",
                all_day=False,
                recurrence=None,
                attendees=gi.parse_attendees(body.get("attendees") or []),
                transaction_id=txn,
            )
            meeting.attendees = [a for a in meeting.attendees if a.address.casefold() != box.address.casefold()]
            if meeting.fields["isOnlineMeeting"]:
                add_online_meeting(meeting)
            set_times(meeting, body, new=True)
            copy = self._new_copy(box, meeting, key, is_organizer=True, now=now)
            copy.personal = {"showAs": "busy", **gi.parse_personal(body)}
            if "singleValueExtendedProperties" in body:
                copy.ext = gi.parse_ext(body["singleValueExtendedProperties"])
            self._sync_attendee_copies(meeting, now)
            self._notify(copy, "created")
            return copy

    def update(self, box: Mailbox, event_id: str, changes: Any, if_match: str | None = None) -> EventView:
        changes = gi.check_keys(changes)
        with self.lock:
            copy, original = self.resolve(box, event_id)
            self._check_etag(box, event_id, if_match)
            if not copy.is_organizer:
                gi.check_attendee_write(changes)
            now = self.clock()
            personal = gi.parse_personal(changes)
            ext = (
                gi.parse_ext(changes["singleValueExtendedProperties"])
                if "singleValueExtendedProperties" in changes
                else {}
            )
            shared = {k: v for k, v in changes.items() if k in gi.SHARED}
            gi.parse_shared(shared)  # validate everything before changing anything
            if "attendees" in shared:
                gi.parse_attendees(shared["attendees"])
            if original is None:
                self._update_series(copy, shared, now)
                copy.personal.update(personal)
                copy.ext.update(ext)
            else:
                self._update_instance(copy, original, shared, now)
                state = copy.state(original, now)
                state.personal.update(personal)
                state.ext.update(ext)
            if not shared:
                self._touch(copy, now, original)
                self._notify(copy, "updated")
            return self.view(box, event_id)

    def delete(self, box: Mailbox, event_id: str, if_match: str | None = None) -> None:
        """DELETE: the organizer's delete cancels the meeting for everyone; an attendee's only for them."""
        with self.lock:
            copy, original = self.resolve(box, event_id)
            self._check_etag(box, event_id, if_match)
            now = self.clock()
            if copy.is_organizer:
                self._cancel(copy, original, now, remove_organizer_copy=True)
                return
            if original is None:
                copy.deleted = True
                self._touch(copy, now)
                self._notify(copy, "deleted")
            else:
                copy.state(original, now).deleted = True
                self._touch(copy, now, original)
                self._notify(copy, "updated")

    def cancel(self, box: Mailbox, event_id: str) -> None:
        """The organizer cancels one occurrence, a series or a single meeting."""
        with self.lock:
            copy, original = self.resolve(box, event_id)
            if not copy.is_organizer:
                raise GraphError(
                    400,
                    "ErrorInvalidRequest",
                    "Your request can't be completed. Only the organizer can cancel a meeting.",
                )
            self._cancel(copy, original, self.clock(), remove_organizer_copy=True)

    def respond(self, box: Mailbox, event_id: str, response: str) -> None:
        answer = RESPONSES.get(response.replace("_", "").casefold())
        if answer is None:
            raise ValueError(f"unknown response {response!r}")
        with self.lock:
            copy, original = self.resolve(box, event_id)
            if copy.is_organizer:
                raise GraphError(
                    400,
                    "ErrorInvalidRequest",
                    "Your request can't be completed. You can't respond to this meeting because you're "
                    "the meeting organizer.",
                )
            now = self.clock()
            meeting = copy.meeting
            organizer_copy = meeting.copies.get(meeting.organizer.casefold())
            if original is None:
                copy.response, copy.response_time = answer, now
                for attendee in meeting.attendees:
                    if attendee.address.casefold() == box.address.casefold():
                        attendee.response, attendee.time = answer, now
            else:
                state = copy.state(original, now)
                state.response, state.response_time = answer, now
                override = meeting.overrides.setdefault(original, Override())
                override.statuses[box.address.casefold()] = (answer, now)
            removed = answer == "declined" and self.decline_removes_from_calendar
            if removed and original is None:
                copy.deleted = True
            elif removed and original is not None:
                copy.state(original, now).deleted = True
            self._touch(copy, now, original)
            self._notify(copy, "deleted" if removed and original is None else "updated")
            if organizer_copy is not None and not organizer_copy.deleted:
                self._touch(organizer_copy, now, original)
                self._notify(organizer_copy, "updated")

    # -- internals -------------------------------------------------------------------------------
    def _check_etag(self, box: Mailbox, event_id: str, if_match: str | None) -> None:
        if not if_match or if_match.strip() == "*":
            return
        if _etag_value(if_match) != self.view(box, event_id).change_key:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the "
                "request does not match the current change key for the item.",
            )

    def _new_copy(self, box: Mailbox, meeting: Meeting, key: bytes, *, is_organizer: bool, now: datetime) -> Copy:
        copy = Copy(mailbox=box, key=key, meeting=meeting, is_organizer=is_organizer, created=now, modified=now)
        copy.response = "organizer" if is_organizer else "notResponded"
        box.copies[key] = copy
        self._copies[key] = copy
        meeting.copies[box.address.casefold()] = copy
        box.seq += 1
        copy.seq = box.seq
        return copy

    def _sync_attendee_copies(self, meeting: Meeting, now: datetime) -> None:
        """Give every attendee with a mailbox here a copy; cancel the copies of removed attendees."""
        wanted = {a.address.casefold() for a in meeting.attendees}
        for address in wanted:
            box = self.mailboxes.get(address)
            existing = meeting.copies.get(address)
            if existing is not None and existing.cancelled and not meeting.cancelled:  # invited again
                existing.cancelled = False
            if box is None or existing is not None:
                continue
            copy = self._new_copy(box, meeting, secrets.token_bytes(18), is_organizer=False, now=now)
            self._notify(copy, "created")
        for address, copy in list(meeting.copies.items()):
            if not copy.is_organizer and address not in wanted and not copy.cancelled:
                copy.cancelled = True
                self._touch(copy, now)
                self._notify(copy, "updated")

    def _update_series(self, copy: Copy, shared: dict[str, Any], now: datetime) -> None:
        meeting = copy.meeting
        if not shared:
            return
        fields = gi.parse_shared(shared)
        timing = {"start", "end", "isAllDay", "recurrence"} & shared.keys()
        if timing:
            set_times(meeting, shared, new=False)
            meeting.overrides.clear()  # Outlook drops exceptions when the series' times change
            for each in meeting.copies.values():
                each.occ.clear()
        edited = sum(1 for ov in meeting.overrides.values() if ov.edited)
        meeting.fields.update(fields)
        if meeting.fields["isOnlineMeeting"] and not meeting.fields.get("onlineMeeting"):
            add_online_meeting(meeting)
        if "attendees" in shared:
            previous = {a.address.casefold(): a for a in meeting.attendees}
            new = gi.parse_attendees(shared["attendees"])
            for attendee in new:
                old = previous.get(attendee.address.casefold())
                if old is not None:
                    attendee.response, attendee.time = old.response, old.time
            meeting.attendees = [a for a in new if a.address.casefold() != meeting.organizer.casefold()]
            self._sync_attendee_copies(meeting, now)
        self._record_update(copy, None, 1 + edited)
        for each in meeting.copies.values():
            if not each.deleted:
                self._touch(each, now)
                self._notify(each, "updated")

    def _update_instance(self, copy: Copy, original: datetime, shared: dict[str, Any], now: datetime) -> None:
        meeting = copy.meeting
        if not shared:
            return
        if {"recurrence", "attendees", "isAllDay"} & shared.keys():
            raise GraphError(400, "ErrorInvalidRequest", "This property can't be changed on a single occurrence.")
        fields = gi.parse_shared(shared)
        moved: tuple[datetime, datetime] | None = None
        if "start" in shared or "end" in shared:
            current = instance_view(copy, original)
            assert current is not None
            start = gi.parse_when(shared["start"], "start")[0] if "start" in shared else current.start
            end = gi.parse_when(shared["end"], "end")[0] if "end" in shared else start + (current.end - current.start)
            if end < start:
                raise GraphError(
                    400, "ErrorCalendarEndDateIsEarlierThanStartDate", "The end date occurs before the start date."
                )
            check_move(meeting, original, start)
            moved = start, end
        override = meeting.overrides.setdefault(original, Override())
        if moved is not None:
            override.start, override.end = moved
        override.fields.update(fields)
        self._record_update(copy, original, 1)
        for each in meeting.copies.values():
            if not each.deleted:
                self._touch(each, now, original)
                self._notify(each, "updated")

    def _cancel(self, copy: Copy, original: datetime | None, now: datetime, *, remove_organizer_copy: bool) -> None:
        meeting = copy.meeting
        if original is not None:
            override = meeting.overrides.setdefault(original, Override())
            override.cancelled = True
            if meeting.attendees:
                self._record_update(copy, original, 1)
            for each in meeting.copies.values():
                if not each.deleted:
                    self._touch(each, now, original)
                    self._notify(each, "updated")
            return
        meeting.cancelled = True
        if meeting.attendees:
            self._record_update(copy, None, 1)
        for each in meeting.copies.values():
            if each.deleted:
                continue
            if each.is_organizer and remove_organizer_copy:
                each.deleted = True
                self._touch(each, now)
                self._notify(each, "deleted")
            else:
                each.cancelled = True
                self._touch(each, now)
                self._notify(each, "updated")

    def _record_update(self, copy: Copy, original: datetime | None, count: int) -> None:
        recipients = tuple(a.address for a in copy.meeting.attendees)
        if not copy.is_organizer or not recipients:
            return
        for _ in range(count):
            self.meeting_updates.append(MeetingUpdate(copy.mailbox.address, copy.id, original, recipients))

    def _touch(self, copy: Copy, now: datetime, original: datetime | None = None) -> None:
        """Record a change: new changeKey (the master's too, as Exchange stores exceptions in it)."""
        if now <= copy.modified:  # lastModifiedDateTime only moves forward, even on a frozen clock
            now = copy.modified + timedelta(microseconds=1)
        copy.version += 1
        copy.modified = now
        if original is not None:
            state = copy.state(original, now)
            state.version += 1
            state.modified = now
        copy.mailbox.seq += 1
        copy.seq = copy.mailbox.seq

    def _notify(self, copy: Copy, change_type: str) -> None:
        key = master_view(copy).change_key
        for listener in list(self.listeners):
            listener(copy.mailbox, change_type, copy.id, key)


def _etag_value(header: str) -> str:
    value = header.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def utc_now() -> datetime:
    return datetime.now(UTC)
