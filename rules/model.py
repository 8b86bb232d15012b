"""The provider-neutral domain model.

Every provider translates its wire format into these objects and nothing else crosses from
`providers/` into the store or the rules. They are frozen so a history can be evaluated twice
(or in another order) and give the same answer.

Times are timezone-aware UTC datetimes; the zone a meeting was scheduled in is kept beside them
(`time_zone`), because recurrences expand in wall-clock time and days are counted in the
manager's zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from rules.attendance import Attendance, Verdict


def normalize_email(address: str) -> str:
    """People are compared by address, case-insensitively."""
    return address.strip().lower()


def utc(value: datetime) -> datetime:
    """Refuse naive datetimes: an unzoned time is a bug waiting for a DST change."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} where a zoned time is required")
    return value.astimezone(UTC)


class Response(StrEnum):
    """An attendee's answer, as both providers report it."""

    ACCEPTED = "accepted"
    TENTATIVE = "tentative"
    DECLINED = "declined"
    NEEDS_ACTION = "needsAction"


class EventStatus(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


class EventKind(StrEnum):
    SINGLE = "single"  # a one-off meeting
    MASTER = "master"  # a recurring series: its first slot plus its recurrence lines
    EXCEPTION = "exception"  # one occurrence of a series reported on its own: moved, cancelled, edited


class EventType(StrEnum):
    DEFAULT = "default"
    OUT_OF_OFFICE = "outOfOffice"
    FOCUS_TIME = "focusTime"
    WORKING_LOCATION = "workingLocation"


@dataclass(frozen=True, slots=True)
class Attendee:
    email: str
    response: Response = Response.NEEDS_ACTION
    is_resource: bool = False
    is_organizer: bool = False
    # When the answer was given, where the provider tells it (Graph does, Google does not).
    responded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Sighting:
    """What the store knows about when it saw an event; providers leave it unset.

    `changed_at` is when the event's current state (status, time, responses) was first seen;
    `by_full_listing` says whether that state came from a full listing (first install, a 410
    resync, a newly added calendar) rather than an incremental change, so history revealed at
    install time is recorded without flooding managers with email.
    """

    first_seen: datetime
    changed_at: datetime
    by_full_listing: bool


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One copy of one event on one watched calendar.

    The same meeting appears once per watched participant (the organizer's copy and each
    attendee's), with the same `series_id`/`original_start` but possibly different responses.
    """

    provider: str  # "google" | "outlook" | "ics" | ...
    calendar: str  # the owner of the calendar this copy lives on (normalized address)
    event_id: str  # provider id, unique within (provider, calendar)
    kind: EventKind
    status: EventStatus = EventStatus.CONFIRMED
    # MASTER: its own id. EXCEPTION: the master's id. SINGLE: None.
    series_id: str | None = None
    # EXCEPTION only: the slot this occurrence was created for (UTC), which stays put when it moves.
    original_start: datetime | None = None
    # UTC; None only for a cancelled exception that carries nothing but its identity.
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool = False
    # All-day events: the dates, end exclusive. Never round-trip these through UTC midnight.
    start_date: date | None = None
    end_date: date | None = None
    # IANA zone the event was scheduled in; for a MASTER, the zone its recurrence expands in.
    time_zone: str | None = None
    # MASTER only: RFC 5545 content lines (RRULE/EXRULE/RDATE/EXDATE), without DTSTART.
    recurrence: tuple[str, ...] = ()
    # MASTER only, when the provider lists them on the master (Graph): cancelled slots (UTC starts).
    cancelled_occurrences: tuple[datetime, ...] = ()
    summary: str = ""
    description: str = ""
    organizer: str | None = None
    attendees: tuple[Attendee, ...] = ()
    event_type: EventType = EventType.DEFAULT
    updated: datetime | None = None
    etag: str | None = None
    ical_uid: str | None = None
    # Whether our agenda marker is on this copy (the provider's tag, not the description text).
    agenda_marker: str | None = None
    sighting: Sighting | None = None
    # The video call the event carries, where attendance can be read: "meet:<meeting code>" (Google
    # conferenceData with a Meet entry point) or "teams:<join URL>" (Graph onlineMeeting.joinUrl).
    conference: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.provider, self.calendar, self.event_id)

    @property
    def is_cancelled(self) -> bool:
        return self.status is EventStatus.CANCELLED


@dataclass(frozen=True, slots=True)
class Pair:
    """A manager and one of their reports."""

    manager: str
    report: str
    start: date | None = None  # from the directory, else when first seen
    source: str = "config"  # "config" | "file" | "google" | "entra" | "organizer"

    @property
    def key(self) -> tuple[str, str]:
        return (self.manager, self.report)


@dataclass(frozen=True, slots=True)
class Directory:
    """Who reports to whom. Empty `pairs` means no directory is configured."""

    pairs: tuple[Pair, ...] = ()
    domains: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> canonical address
    manager_of: Mapping[str, str] = field(default_factory=dict)  # person -> their manager (escalation)
    # A directory source is configured even when no pair is in force (all ended, or none imported yet): only
    # directory pairs are judged then, never the organizer fallback.
    configured: bool = False
    # Memo of `canonical` (a pure function of this directory): called for every attendee of every event.
    _canonical: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @property
    def in_use(self) -> bool:
        """Pairs come from the directory (not from who organizes a meeting)."""
        return bool(self.pairs) or self.configured

    def canonical(self, address: str) -> str:
        known = self._canonical.get(address)
        if known is None:
            email = normalize_email(address)
            known = self._canonical[address] = self.aliases.get(email, email)
        return known

    def in_company(self, address: str) -> bool:
        if not self.domains:
            return True
        return self.canonical(address).rpartition("@")[2] in self.domains


@dataclass(frozen=True, slots=True)
class Pause:
    """A pair on hold (e.g. parental leave): slots before `until` are not violations."""

    manager: str
    report: str
    until: date
    since: date | None = None


class OccurrenceOutcome(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    MOVED = "moved"
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    NO_SHOW = "no-show"  # the slot stayed on the calendar, but the call shows one or both never joined


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One expected meeting of a pair, identified by its original start."""

    pair: tuple[str, str]
    series_key: str | None  # None for a one-off
    original_start: datetime
    start: datetime  # where it actually is (== original_start unless moved)
    end: datetime
    outcome: OccurrenceOutcome
    cancelled_by: str | None = None  # who cancelled or declined, where the provider tells it
    replaced_by: datetime | None = None  # start of the replacement, for REPLACED
    late_cancellation: bool = False
    away: bool = False  # either person out of office, or the pair paused
    is_one_off: bool = False
    # How it was lost, for CANCELLED/REPLACED: "cancelled" | "declined" | "moved-too-far".
    cancellation: str | None = None
    # When the store first saw the cancellation or decline (the grace period runs from here).
    cancellation_seen_at: datetime | None = None
    # The cancellation was revealed by a full listing, not seen happening: it may be old history.
    cancellation_by_full_listing: bool = False
    # A move too far: where the slot's meeting went (it is then a one-off of its own).
    moved_to: datetime | None = None
    # What the call's attendance says, when it was read (HELD or NO_SHOW); None: the calendar decided.
    attendance: Verdict | None = None
    # The video call of a live slot ("meet:…" / "teams:…"), so the sync knows whose attendance to read.
    conference: str | None = None


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """Thresholds from `rules.*` in the config; these defaults are the house rules."""

    title_patterns: tuple[str, ...] = (
        r"\b1\s*[:\-x/]\s*1\b",
        r"\b1\s*on\s*1\b",
        r"\bone[\s\-]*on[\s\-]*one\b",
    )
    unknown_pairs: str = "organizer"  # "organizer" | "ignore"
    cadence_days: int = 7
    max_gap_days: int = 14
    reschedule_window_days: int = 7
    reschedule_grace_hours: int = 24
    late_cancellation_hours: int = 24
    min_duration_minutes: int = 25
    churn_moves: int = 3
    churn_window: int = 5
    notify_lookback_days: int = 7
    # How far back and ahead occurrences are derived from a series.
    history_days: int = 120
    horizon_days: int = 35
    # (manager, report, regex): a title matching it is a 1:1 of that pair even without attendee lines.
    pair_title_patterns: tuple[tuple[str, str, str], ...] = ()
    # "off": the calendar alone decides whether a 1:1 was held; "prefer": the call's attendance does, where read.
    attendance: str = "off"
    min_attended_minutes: int = 10


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """Everything the rules need besides the events; `now` is passed in, never read."""

    now: datetime
    settings: RuleSettings = field(default_factory=RuleSettings)
    directory: Directory = field(default_factory=Directory)
    pauses: tuple[Pause, ...] = ()
    # Calendars whose last successful sync is stale: no finding may rest on them.
    stale_calendars: frozenset[str] = frozenset()
    # Calendars that are watched at all (a pair is only judged on data we can see).
    watched_calendars: frozenset[str] = frozenset()
    # Person -> IANA zone, for counting days in the manager's zone.
    time_zones: Mapping[str, str] = field(default_factory=dict)
    # The zone for people whose calendar does not tell theirs (config `time_zone`).
    default_time_zone: str = "UTC"
    # Pair first seen (no directory): pair key -> date.
    pair_first_seen: Mapping[tuple[str, str], date] = field(default_factory=dict)
    # (manager, report, occurrence start UTC) -> the two people's join intervals, where read.
    attendance: Mapping[tuple[str, str, datetime], Attendance] = field(default_factory=dict)


class FindingStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    ENDED = "ended"  # the pair ended (a leaver, a new manager): closed without being resolved, kept as history


@dataclass(frozen=True, slots=True)
class Finding:
    """A broken rule, with why.

    Identity is (rule, manager, report, key); re-evaluating the same facts gives the same
    finding, so the store can open it once, update it, and resolve it when the facts change.
    """

    rule: str
    manager: str
    report: str
    key: str
    message: str  # one line a manager reads
    explanation: str  # which occurrence, which replacement was looked for, which threshold
    occurrence: datetime | None = None  # the original start it is about, if any
    # Earliest time it may be emailed; None = recorded only (digest-only, history, or superseded).
    notify_at: datetime | None = None
    digest_only: bool = False
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        return (self.rule, self.manager, self.report, self.key)


def epoch() -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC)
