"""What the Graph emulator stores: meetings shared by mailboxes, and each mailbox's copy of them.

A `Meeting` holds what the organizer decides (times, recurrence, body, attendees, per-occurrence
overrides); a `Copy` is one mailbox's item for it, with its own id, changeKey, response and
personal fields, as Exchange keeps a separate item in every mailbox. Occurrences are never
stored: `instance_view` derives them from the series, so seeding thousands of events stays cheap.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emulators import graph_zones
from emulators.graph_recurrence import Recurrence

ID_PREFIX = "AAMkA"
_GOID_HEAD = "040000008200E00074C5B7101A82E008"


class GraphError(Exception):
    """A Graph error reply: status, `error.code` and `error.message`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


@dataclass
class Attendee:
    address: str
    name: str
    type: str = "required"
    response: str = "none"
    time: datetime | None = None


@dataclass
class Override:
    """The organizer's changes to one occurrence, keyed by its original start."""

    fields: dict[str, Any] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    cancelled: bool = False
    statuses: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    @property
    def edited(self) -> bool:
        """Whether attendees were sent this occurrence as its own update."""
        return bool(self.fields) or self.start is not None


@dataclass
class OccState:
    """One mailbox's own state for one occurrence (its response, properties, deletion)."""

    created: datetime
    modified: datetime
    version: int = 0
    response: str | None = None
    response_time: datetime | None = None
    ext: dict[str, str] = field(default_factory=dict)
    personal: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    @property
    def customised(self) -> bool:
        return self.response is not None or bool(self.ext) or bool(self.personal)


@dataclass
class Mailbox:
    address: str
    name: str
    user_id: str
    time_zone: str  # IANA
    copies: dict[bytes, Copy] = field(default_factory=dict)
    seq: int = 0
    # mailboxSettings.workingHours (start, end, days), in the mailbox's own zone
    working_hours: tuple[str, str, tuple[str, ...]] = (
        "08:00:00.0000000",
        "17:00:00.0000000",
        ("monday", "tuesday", "wednesday", "thursday", "friday"),
    )


@dataclass
class Meeting:
    uid: str
    organizer: str
    organizer_name: str
    fields: dict[str, Any]
    start: datetime  # UTC; for a series, the first occurrence
    end: datetime
    start_zone: str  # Windows names, reported as originalStart/EndTimeZone
    end_zone: str
    all_day: bool
    recurrence: Recurrence | None
    attendees: list[Attendee]
    overrides: dict[datetime, Override] = field(default_factory=dict)
    cancelled: bool = False
    copies: dict[str, Copy] = field(default_factory=dict)
    transaction_id: str | None = None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def series_zone(self) -> ZoneInfo:
        return graph_zones.resolve(self.recurrence.zone if self.recurrence else self.start_zone)

    @property
    def slot(self) -> time:
        """The wall-clock time of day every occurrence starts at, in the series zone."""
        return self.start.astimezone(self.series_zone).time()

    def natural_start(self, day: date) -> datetime:
        return datetime.combine(day, self.slot, tzinfo=self.series_zone).astimezone(UTC)

    def natural_starts(self, lo: datetime, hi: datetime) -> Iterator[datetime]:
        """Original starts whose unmoved occurrence overlaps [lo, hi)."""
        assert self.recurrence is not None
        zone = self.series_zone
        until = (hi.astimezone(zone) + timedelta(days=1)).date()
        since = (lo - self.duration).astimezone(zone).date() - timedelta(days=1)
        for day in self.recurrence.dates(until, since):
            start = self.natural_start(day)
            if start >= hi:
                return
            if overlaps(start, start + self.duration, lo, hi):
                yield start

    def is_original_start(self, candidate: datetime) -> bool:
        if self.recurrence is None:
            return False
        day = candidate.astimezone(self.series_zone).date()
        for found in self.recurrence.dates(day, day):
            if found == day:
                return self.natural_start(found) == candidate
        return False

    def neighbours(self, original: datetime) -> tuple[datetime | None, datetime | None]:
        """The actual starts of the occurrences before and after `original` (for move checks)."""
        assert self.recurrence is not None
        day = original.astimezone(self.series_zone).date()
        before: datetime | None = None
        since = day - timedelta(days=400 * self.recurrence.interval)  # reaches back past the previous one
        for found in self.recurrence.dates(date.max, since):
            start = self.natural_start(found)
            if found < day:
                before = start
            elif found > day:
                return self._actual(before), self._actual(start)
        return self._actual(before), None

    def _actual(self, original: datetime | None) -> datetime | None:
        if original is None:
            return None
        override = self.overrides.get(original)
        return override.start if override is not None and override.start is not None else original


@dataclass
class Copy:
    mailbox: Mailbox
    key: bytes
    meeting: Meeting
    is_organizer: bool
    created: datetime
    modified: datetime
    version: int = 0
    response: str = "none"
    response_time: datetime | None = None
    ext: dict[str, str] = field(default_factory=dict)
    personal: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False  # an attendee's copy after the organizer cancelled the meeting
    deleted: bool = False  # removed from this calendar
    occ: dict[datetime, OccState] = field(default_factory=dict)
    seq: int = 0

    @property
    def id(self) -> str:
        return copy_id(self.key)

    @property
    def is_series(self) -> bool:
        return self.meeting.recurrence is not None

    def state(self, original: datetime, now: datetime) -> OccState:
        return self.occ.setdefault(original, OccState(created=now, modified=now))


@dataclass
class EventView:
    """One row as a mailbox sees it: a single instance, series master, occurrence or exception."""

    copy: Copy
    id: str
    type: str
    start: datetime
    end: datetime
    original_start: datetime | None
    fields: dict[str, Any]
    attendees: list[Attendee]
    response: str
    response_time: datetime | None
    cancelled: bool
    ext: dict[str, str]
    personal: dict[str, Any]
    change_key: str
    created: datetime
    modified: datetime
    uid: str

    @property
    def meeting(self) -> Meeting:
        return self.copy.meeting


def overlaps(start: datetime, end: datetime, lo: datetime, hi: datetime) -> bool:
    if start == end:
        return lo <= start < hi
    return start < hi and end > lo


def copy_id(key: bytes) -> str:
    return ID_PREFIX + base64.urlsafe_b64encode(b"\x01" + key).decode()


def occurrence_id(key: bytes, original_start: datetime) -> str:
    stamp = struct.pack(">q", int(original_start.timestamp()))
    return ID_PREFIX + base64.urlsafe_b64encode(b"\x02" + key + stamp).decode()


def parse_id(event_id: str) -> tuple[bytes, datetime | None]:
    """The copy key and, for an occurrence id, its original start."""
    malformed = GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    if not event_id.startswith(ID_PREFIX):
        raise malformed
    try:
        raw = base64.urlsafe_b64decode(event_id[len(ID_PREFIX) :].encode())
    except (ValueError, TypeError) as exc:
        raise malformed from exc
    if len(raw) == 19 and raw[0] == 1:
        return raw[1:], None
    if len(raw) == 27 and raw[0] == 2:
        return raw[1:19], datetime.fromtimestamp(struct.unpack(">q", raw[19:])[0], UTC)
    raise malformed


def change_key(key: bytes, *versions: object) -> str:
    digest = hashlib.blake2b(repr(versions).encode(), digest_size=8).digest()
    return base64.b64encode(key[:12] + digest).decode()


def instance_uid(uid: str, day: date) -> str:
    """Exchange's per-occurrence GOID: the series GOID with the instance date in bytes 16-19."""
    return uid[:32] + f"{day.year:04X}{day.month:02X}{day.day:02X}" + uid[40:]


def new_uid(key: bytes) -> str:
    return _GOID_HEAD + "00000000" + "0" * 32 + "10000000" + key.hex().upper()[:32]


def master_view(copy: Copy) -> EventView:
    meeting = copy.meeting
    return EventView(
        copy=copy,
        id=copy.id,
        type="seriesMaster" if meeting.recurrence else "singleInstance",
        start=meeting.start,
        end=meeting.end,
        original_start=None,
        fields=meeting.fields,
        attendees=_attendees(copy, None),
        response="organizer" if copy.is_organizer else copy.response,
        response_time=copy.response_time,
        cancelled=meeting.cancelled or copy.cancelled,
        ext=copy.ext,
        personal=copy.personal,
        change_key=change_key(copy.key, copy.version),
        created=copy.created,
        modified=copy.modified,
        uid=meeting.uid,
    )


def instance_view(copy: Copy, original: datetime) -> EventView | None:
    """The occurrence or exception at `original` as `copy`'s mailbox sees it, or None if gone."""
    meeting = copy.meeting
    override = meeting.overrides.get(original)
    state = copy.occ.get(original)
    if state is not None and state.deleted:
        return None
    if override is not None and override.cancelled and copy.is_organizer:
        return None
    exception = (override is not None and (override.edited or override.cancelled)) or (
        state is not None and state.customised
    )
    if copy.is_organizer and override is not None and override.statuses:
        exception = True
    start = override.start if override is not None and override.start is not None else original
    end = override.end if override is not None and override.end is not None else original + meeting.duration
    version = (copy.version, state.version if state else 0) if exception else (copy.version,)
    response = "organizer" if copy.is_organizer else copy.response
    response_time = copy.response_time
    if state is not None and state.response is not None:
        response, response_time = state.response, state.response_time
    return EventView(
        copy=copy,
        id=occurrence_id(copy.key, original),
        type="exception" if exception else "occurrence",
        start=start,
        end=end,
        original_start=original,
        fields={**meeting.fields, **override.fields} if override is not None else meeting.fields,
        attendees=_attendees(copy, override),
        response=response,
        response_time=response_time,
        cancelled=meeting.cancelled or copy.cancelled or (override is not None and override.cancelled),
        ext=state.ext if state else {},
        personal={**copy.personal, **state.personal} if state else copy.personal,
        change_key=change_key(copy.key, *version),
        created=state.created if state and exception else copy.created,
        modified=state.modified if state and exception else copy.modified,
        uid=instance_uid(meeting.uid, original.astimezone(meeting.series_zone).date()),
    )


def instances(copy: Copy, lo: datetime, hi: datetime) -> list[EventView]:
    """Occurrences and exceptions of a series copy whose actual time overlaps [lo, hi)."""
    meeting = copy.meeting
    originals = set(meeting.natural_starts(lo, hi))
    originals.update(o for o, ov in meeting.overrides.items() if ov.start is not None)
    views = [v for v in (instance_view(copy, o) for o in originals) if v is not None]
    return sorted((v for v in views if overlaps(v.start, v.end, lo, hi)), key=lambda v: (v.start, v.id))


def visible_rows(copy: Copy, lo: datetime, hi: datetime) -> list[EventView]:
    """What calendarView shows of one copy in [lo, hi): the single event, or the instances."""
    if copy.deleted:
        return []
    if copy.is_series:
        return instances(copy, lo, hi)
    view = master_view(copy)
    return [view] if overlaps(view.start, view.end, lo, hi) else []


def cancelled_occurrences(copy: Copy) -> list[str]:
    """`OID.<masterId>.<local date>` for occurrences gone from this mailbox's calendar."""
    meeting = copy.meeting
    gone = {o for o, ov in meeting.overrides.items() if ov.cancelled and copy.is_organizer}
    gone.update(o for o, st in copy.occ.items() if st.deleted)
    zone = meeting.series_zone
    return [f"OID.{copy.id}.{o.astimezone(zone).date().isoformat()}" for o in sorted(gone)]


def exception_views(copy: Copy) -> list[EventView]:
    originals = set(copy.meeting.overrides) | set(copy.occ)
    views = [v for v in (instance_view(copy, o) for o in sorted(originals)) if v is not None]
    return [v for v in views if v.type == "exception"]


def _attendees(copy: Copy, override: Override | None) -> list[Attendee]:
    result = []
    for attendee in copy.meeting.attendees:
        if not copy.is_organizer:  # an attendee's copy does not track the others' answers
            result.append(Attendee(attendee.address, attendee.name, attendee.type))
            continue
        status = override.statuses.get(attendee.address.casefold()) if override else None
        response, when = status if status else (attendee.response, attendee.time)
        result.append(Attendee(attendee.address, attendee.name, attendee.type, response, when))
    return result
