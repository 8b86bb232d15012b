"""The one small interface every calendar adapter implements.

A provider only translates: wire format in, domain objects out (and, for the agenda link,
domain writes in, wire format out). It knows nothing of rules, mail or the database. Its
`list_changes` streams pages so a large calendar never sits in memory at once; the caller
writes the pages in one transaction and commits the cursor carried by the last page with them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rules.address import AddressError, parse_address
from rules.model import CalendarEvent

log = logging.getLogger(__name__)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def mailbox(raw: object, where: str) -> str | None:
    """A provider's address as one parsed `local@domain`, or None: a refused address is logged with
    the event it came in (`where`) and then treated like an attendee without one, never stored."""
    if raw is None or raw == "":
        return None
    try:
        return parse_address(raw)
    except AddressError as error:
        log.warning("%s: address refused: %s", where, error)
        return None


def storable(value: Any) -> Any:
    """Provider data with every string made storable. JSON can carry a lone UTF-16 surrogate
    (`"\\ud83d"`: half an emoji, cut by a truncation in the calendar system), which no database
    takes, and NUL, which PostgreSQL refuses in text; each becomes U+FFFD here, before it reaches an
    event's title, an id or an address."""
    if not _unstorable(value):  # nearly always: hand the item back untouched, no copy
        return value
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _unstorable(value: Any) -> bool:
    """One C-speed look at the whole value (json escapes NUL as `\\u0000` and leaves surrogates raw);
    a false alarm only costs the full walk, which then changes nothing."""
    try:
        text = json.dumps(value, ensure_ascii=False, check_circular=False)
    except (TypeError, ValueError):
        return True  # not plain JSON data: walk it
    return "\\u0000" in text or (not text.isascii() and _UNSTORABLE.search(text) is not None)


@dataclass(frozen=True)
class SkippedItem:
    """A malformed item: skipped, logged and counted, never fatal to the calendar."""

    event_id: str
    reason: str


@dataclass(frozen=True)
class ChangePage:
    """One page of changes for one calendar.

    `full` pages come from a full listing: once the last page is in, anything stored for the
    calendar that overlaps [`window_start`, `window_end`) and was not listed is gone. Only the
    last page carries `cursor`, the position to resume from next time.
    """

    calendar: str
    events: Sequence[CalendarEvent] = ()
    deleted_ids: Sequence[str] = ()
    skipped: Sequence[SkippedItem] = ()
    full: bool = False
    window_start: datetime | None = None
    window_end: datetime | None = None
    cursor: str | None = None
    time_zone: str | None = None
    # Ids the provider saw leave its window without being deleted (Graph `@removed`): keep them.
    left_window_ids: Sequence[str] = field(default_factory=tuple)

    @property
    def is_last(self) -> bool:
        return self.cursor is not None


class ProviderError(Exception):
    """A failure talking to a calendar system, named by calendar and classified for the caller."""

    kind = "error"

    def __init__(self, calendar: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{calendar}: {message}")
        self.calendar = calendar
        self.message = message
        self.retry_after = retry_after


class CursorExpired(ProviderError):
    """The stored cursor is dead (Google 410 fullSyncRequired, Graph 410 syncStateNotFound)."""

    kind = "cursor_expired"


class AuthError(ProviderError):
    """Credentials refused or revoked: retrying will not help until an admin acts."""

    kind = "auth"


class RateLimited(ProviderError):
    kind = "rate_limited"


class TransientError(ProviderError):
    """5xx, timeouts, connection resets: worth retrying later."""

    kind = "transient"


class PermanentError(ProviderError):
    """A request the provider will never accept (bad parameters, missing calendar, forbidden)."""

    kind = "permanent"


class PreconditionFailed(ProviderError):
    """A conditional write lost a race (HTTP 412): someone changed the event since we read it."""

    kind = "precondition"


@dataclass(frozen=True)
class AgendaLink:
    """The agenda link to put on an event: where it points, what it says, and how it is tagged.

    `replaces` lists earlier URLs of the same pair (after `agenda rotate`): they are swapped for
    `url` in place rather than appended again.
    """

    url: str
    title: str  # "1:1 agenda — Alice / Bob" (plain text; writers escape it)
    marker: str  # the pair's page id, written to the provider's private tag
    replaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventText:
    """What a writer needs to know about an event before changing it."""

    calendar: str
    event_id: str
    etag: str | None
    text: str  # Google `description` / Graph `body.content` (HTML)
    marker: str | None  # our private tag's value, if present
    attachments: Sequence[dict[str, object]] = ()  # Google only: kept as they are


class AgendaWriter(Protocol):
    """Optional write side of a provider: put the agenda link on one event, conditionally.

    `attach_agenda` sends the whole new text with `If-Match: current.etag` and raises
    `PreconditionFailed` on 412; the caller re-reads and tries again.
    """

    name: str

    def read_event(self, calendar: str, event_id: str) -> EventText: ...

    def attach_agenda(self, current: EventText, link: AgendaLink) -> str | None:
        """Write `link` onto the event read as `current`; returns the new etag."""
        ...


class Provider(Protocol):
    """A calendar system oneonone can watch."""

    name: str

    def calendars(self) -> Sequence[str]:
        """The watched calendars (owner addresses) this provider is configured for."""
        ...

    def list_changes(self, calendar: str, cursor: str | None, now: datetime) -> Iterator[ChangePage]:
        """Changes since `cursor`, or a full listing when `cursor` is None.

        Raises `CursorExpired` when the cursor is dead; the caller rolls back what it wrote of
        this run and asks again with `cursor=None`.
        """
        ...


class AttendanceDenied(ProviderError):
    """The call's attendance may not be read (HTTP 403, a scope or access policy missing): the calendar decides."""

    kind = "attendance_denied"


Joined = dict[str, list[tuple[datetime, datetime]]]  # address -> join intervals (UTC), only the people asked about


class AttendanceReader(Protocol):
    """Optional: who joined a past meeting's video call (Google Meet conference records, Teams attendance reports).

    `read` returns the join intervals of `people` only (a person absent never joined) and nothing
    else of the meeting, or None when the meeting itself is not visible (the calendar then decides);
    it raises `AttendanceDenied` when the vendor refuses (403), another `ProviderError` when it
    fails (tried again next cycle).
    """

    source: str  # "google-meet" | "teams"

    def handles(self, conference: str) -> bool: ...

    def read(self, conference: str, people: tuple[str, str], start: datetime, end: datetime) -> Joined | None:
        """The intervals (`{}`: nobody joined), or None when the call cannot be found (then nothing is stored)."""
        ...


def is_instance(value: object, module: str, name: str) -> bool:
    """`isinstance(value, module.name)` without importing `module`: if it was never imported, nothing is an
    instance of its classes. The daemon imports an adapter (and its vendor library: msal, caldav) only
    when the settings configure it; code that asks "is this a Graph provider?" must not import it to ask."""
    loaded = sys.modules.get(module)
    kind = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(kind, type) and isinstance(value, kind)
