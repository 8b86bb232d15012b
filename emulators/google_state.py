"""Calendars, events and per-calendar copies, with a change stream per calendar.

Google keeps one copy of a meeting on the organizer's calendar and one on each guest's, all
with the same event id. The organizer's edits reach every copy; each copy has its own etag,
`updated`, private extended properties and reminders, and each write bumps the change stream
of every calendar it touched. Here an `Item` holds what is shared (owned by the organizer) and
a `Copy` what belongs to one calendar. A calendar's `copies` dict is kept ordered by last
change, so "everything since sync token N" is a walk from the end.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.google_errors import GoogleApiError, not_found
from emulators.google_recurrence import is_occurrence
from emulators.google_time import When, split_instance_id

Clock = Callable[[], datetime]
BASE32HEX = "0123456789abcdefghijklmnopqrstuv"


@dataclass(eq=False)
class Item:
    """The shared, organizer-owned part of one single event, series master or exception."""

    id: str
    organizer: str
    creator: str
    created: datetime
    ical_uid: str
    start: When
    end: When
    fields: dict[str, Any]  # JSON-shaped shared fields (summary, recurrence, attendees, status, ...)
    shared_props: dict[str, str] = field(default_factory=dict)
    sequence: int = 0
    recurring_event_id: str | None = None
    original_start: When | None = None
    copies: dict[str, Copy] = field(default_factory=dict)  # calendar id -> copy
    exceptions: dict[str, Item] = field(default_factory=dict)  # masters: instance suffix -> exception
    master: Item | None = None  # exceptions: their series

    @property
    def status(self) -> str:
        return str(self.fields.get("status", "confirmed"))

    @property
    def recurrence(self) -> tuple[str, ...]:
        return tuple(self.fields.get("recurrence") or ())

    @property
    def is_master(self) -> bool:
        return bool(self.recurrence) and self.recurring_event_id is None

    @property
    def duration(self) -> timedelta:
        if self.start.day is not None and self.end.day is not None:
            return self.end.day - self.start.day
        assert self.start.instant is not None and self.end.instant is not None
        return self.end.instant - self.start.instant

    def attendee_emails(self) -> list[str]:
        return [str(a["email"]).lower() for a in self.fields.get("attendees") or ()]


@dataclass(eq=False)
class Copy:
    """One calendar's copy of an item: its own version, private properties and reminders."""

    calendar: Calendar
    item: Item
    private: dict[str, str] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)  # reminders, colorId, transparency
    etag: str = ""
    updated: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    seq: int = 0
    removed: bool = False  # the event left this calendar (guest removed) while it lives elsewhere
    dismissed: bool = False  # the guest removed it themselves: organizer edits do not bring it back

    @property
    def cancelled(self) -> bool:
        return self.removed or self.item.status == "cancelled"

    @property
    def is_organizer(self) -> bool:
        return self.calendar.owner == self.item.organizer


@dataclass(eq=False)
class Calendar:
    owner: str
    time_zone: str
    updated: datetime
    copies: dict[str, Copy] = field(default_factory=dict)  # ordered by last change
    seq: int = 0
    generation: int = 0  # bumped to invalidate every sync token issued before


@dataclass
class Settings:
    """Knobs tests and benchmarks turn; all read at request time."""

    page_size_override: int | None = None
    empty_page_every: int = 0  # every Nth page of a run comes back empty (with nextPageToken)
    expansion_horizon: timedelta = timedelta(days=730)  # how far open-ended series expand


class GoogleState:
    """All calendars of one emulator. Every read and write happens under `lock`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calendars: dict[str, Calendar] = {}
        self.items: dict[tuple[str, str], Item] = {}
        self.lock = threading.RLock()
        self.settings = Settings()
        self.send_updates: list[tuple[str, str, str | None]] = []  # (method, event id, sendUpdates)
        self.on_change: Callable[[set[str]], None] | None = None
        self._dirty: set[str] = set()
        self._last_etag = 0
        self._depth = 0

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the emulator clock must return aware datetimes")
        return now.astimezone(UTC)

    @contextmanager
    def operation(self) -> Iterator[None]:
        """Hold the lock for one API call; announce touched calendars once it is done."""
        dirty: set[str] = set()
        with self.lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    dirty, self._dirty = self._dirty, set()
        if dirty and self.on_change is not None:
            self.on_change(dirty)

    def add_calendar(self, owner: str, time_zone: str) -> Calendar:
        key = owner.lower()
        with self.lock:
            if key in self.calendars:
                raise ValueError(f"calendar {owner} exists")
            cal = Calendar(owner=key, time_zone=time_zone, updated=self.now())
            self.calendars[key] = cal
            return cal

    def calendar(self, calendar_id: str) -> Calendar:
        cal = self.calendars.get(calendar_id.lower())
        if cal is None:
            raise not_found()
        return cal

    def new_etag(self, now: datetime) -> str:
        """Quoted like Google's (about 2x the microsecond clock), unique even with a frozen clock."""
        self._last_etag = max(self._last_etag + 1, int(now.timestamp() * 2_000_000))
        return f'"{self._last_etag}"'

    def touch(self, copy: Copy, now: datetime) -> None:
        """Record a change of `copy`: new version, end of its calendar's change stream."""
        cal = copy.calendar
        cal.seq += 1
        copy.seq = cal.seq
        copy.etag = self.new_etag(now)
        copy.updated = now
        cal.updated = now
        cal.copies.pop(copy.item.id, None)
        cal.copies[copy.item.id] = copy
        self._dirty.add(cal.owner)

    def touch_all(self, item: Item, now: datetime) -> None:
        for copy in item.copies.values():
            self.touch(copy, now)

    def register(self, item: Item) -> None:
        self.items[(item.organizer, item.id)] = item
        if item.master is not None and item.original_start is not None:
            item.master.exceptions[item.original_start.suffix()] = item

    def attach_copy(
        self, item: Item, cal: Calendar, *, private: dict[str, str] | None = None, local: dict[str, Any] | None = None
    ) -> Copy | None:
        """Give `cal` a copy of `item`, unless it already holds a different event with that id."""
        existing = cal.copies.get(item.id)
        if existing is not None and existing.item is not item:
            return None
        if existing is not None:
            existing.removed = False
            return existing
        copy = Copy(calendar=cal, item=item, private=dict(private or {}), local=dict(local or {}))
        item.copies[cal.owner] = copy
        cal.copies[item.id] = copy
        return copy

    def sync_copies(self, item: Item) -> None:
        """Make the set of copies follow organizer + guests who have a calendar here."""
        wanted = {item.organizer, *(e for e in item.attendee_emails() if e in self.calendars)}
        for email in wanted:
            copy = item.copies.get(email)
            if copy is None or (copy.removed and not copy.dismissed):
                base = item.master.copies.get(email) if item.master is not None else None
                self.attach_copy(
                    item,
                    self.calendars[email],
                    private=base.private if base else None,
                    local=base.local if base else None,
                )
        for email, copy in item.copies.items():
            if email not in wanted:
                copy.removed = True

    def find(self, cal: Calendar, event_id: str) -> Copy | None:
        return cal.copies.get(event_id)

    def resolve(self, cal: Calendar, event_id: str) -> tuple[Copy | None, Copy | None, When | None]:
        """(stored copy, master copy, slot) for an id: stored events, or a not-yet-stored instance."""
        copy = cal.copies.get(event_id)
        if copy is not None:
            return copy, None, None
        parts = split_instance_id(event_id)
        if parts is None:
            return None, None, None
        master = cal.copies.get(parts[0])
        if master is None or not master.item.is_master:
            return None, None, None
        slot = _slot_from_suffix(parts[1], master.item.start)
        if slot is None or not is_occurrence(master.item.recurrence, master.item.start, slot):
            return None, None, None
        return None, master, slot


def _slot_from_suffix(suffix: str, start: When) -> When | None:
    try:
        if start.all_day:
            if len(suffix) != 8:
                return None
            return When(day=datetime.strptime(suffix, "%Y%m%d").date())
        if len(suffix) != 16:
            return None
        instant = datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return When(instant=instant, tz=start.tz)
    except ValueError:
        return None


def new_event_id() -> str:
    return "".join(secrets.choice(BASE32HEX) for _ in range(26))


def check_seed_id(event_id: Any) -> str:
    """Ids given through the Python side door are the emulator's own, like Google-made ids: any text."""
    if not isinstance(event_id, str) or not event_id or any(ch.isspace() or ch == "/" for ch in event_id):
        raise GoogleApiError(400, "invalid", "Invalid resource id value.")
    return event_id


def check_client_id(event_id: Any) -> str:
    """Client-chosen ids: base32hex (0-9, a-v), 5 to 1024 characters."""
    if not isinstance(event_id, str) or not 5 <= len(event_id) <= 1024 or any(ch not in BASE32HEX for ch in event_id):
        raise GoogleApiError(400, "invalid", "Invalid resource id value.")
    return event_id
