"""Storing provider events: upsert a page, delete, sweep after a full listing, load for the rules.

Every write knows when it saw the change and whether the change came from a full listing; the
rules use that (`Sighting`) to time cancellations and to keep install-time history quiet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from rules.model import (
    Attendee,
    CalendarEvent,
    EventKind,
    EventStatus,
    EventType,
    Response,
    Sighting,
)
from sync.store.db import IN_LIMIT
from sync.store.models import EventRow


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def rule_hash(event: CalendarEvent) -> str:
    """A hash of what the rules react to: a new etag or a rewritten description is not a change."""
    fields: list[Any] = [
        event.kind.value,
        event.status.value,
        event.series_id,
        _iso(event.original_start),
        _iso(event.start),
        _iso(event.end),
        event.all_day,
        _iso(event.start_date),
        _iso(event.end_date),
        event.time_zone,
        list(event.recurrence),
        [_iso(d) for d in event.cancelled_occurrences],
        event.summary,
        event.organizer,
        sorted((a.email, a.response.value, a.is_resource, a.is_organizer) for a in event.attendees),
        event.event_type.value,
    ]
    # repr of plain tuples/lists of str, bool and None is stable across processes, and cheaper than JSON.
    return hashlib.blake2b(repr(fields).encode("utf-8", "surrogatepass"), digest_size=32).hexdigest()


def _attendees_json(attendees: Iterable[Attendee]) -> list[dict[str, Any]]:
    return [
        {
            "email": a.email,
            "response": a.response.value,
            "resource": a.is_resource,
            "organizer": a.is_organizer,
            "responded_at": _iso(a.responded_at),
        }
        for a in attendees
    ]


def _attendees_from_json(data: Iterable[dict[str, Any]]) -> tuple[Attendee, ...]:
    return tuple(
        Attendee(
            email=item["email"],
            response=Response(item["response"]),
            is_resource=bool(item.get("resource")),
            is_organizer=bool(item.get("organizer")),
            responded_at=datetime.fromisoformat(item["responded_at"]) if item.get("responded_at") else None,
        )
        for item in data
    )


def _values(event: CalendarEvent) -> dict[str, Any]:
    return {
        "kind": event.kind.value,
        "status": event.status.value,
        "series_id": event.series_id,
        "original_start": event.original_start,
        "start": event.start,
        "end": event.end,
        "all_day": event.all_day,
        "start_date": event.start_date,
        "end_date": event.end_date,
        "time_zone": event.time_zone,
        "recurrence": list(event.recurrence),
        "cancelled_occurrences": [d.isoformat() for d in event.cancelled_occurrences],
        "summary": event.summary,
        "description": event.description,
        "organizer": event.organizer,
        "attendees": _attendees_json(event.attendees),
        "event_type": event.event_type.value,
        "updated": event.updated,
        "etag": event.etag,
        "ical_uid": event.ical_uid,
        "agenda_marker": event.agenda_marker,
        "conference": event.conference,
    }


def row_to_event(row: Any) -> CalendarEvent:
    """From a stored row: an `EventRow`, or a Core row of `EVENT_COLUMNS` (the same names)."""
    return CalendarEvent(
        provider=row.provider,
        calendar=row.calendar,
        event_id=row.event_id,
        kind=EventKind(row.kind),
        status=EventStatus(row.status),
        series_id=row.series_id,
        original_start=row.original_start,
        start=row.start,
        end=row.end,
        all_day=row.all_day,
        start_date=row.start_date,
        end_date=row.end_date,
        time_zone=row.time_zone,
        recurrence=tuple(row.recurrence or ()),
        cancelled_occurrences=tuple(
            datetime.fromisoformat(v).astimezone(UTC) for v in (row.cancelled_occurrences or ())
        ),
        summary=row.summary,
        description=row.description,
        organizer=row.organizer,
        attendees=_attendees_from_json(row.attendees or ()),
        event_type=EventType(row.event_type),
        updated=row.updated,
        etag=row.etag,
        ical_uid=row.ical_uid,
        agenda_marker=row.agenda_marker,
        conference=row.conference,
        sighting=Sighting(first_seen=row.first_seen, changed_at=row.changed_at, by_full_listing=row.by_full_listing),
    )


@dataclass
class WriteStats:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0


def _existing(session: Session, provider: str, calendar: str, ids: Sequence[str]) -> dict[str, EventRow]:
    found: dict[str, EventRow] = {}
    for i in range(0, len(ids), IN_LIMIT):
        chunk = ids[i : i + IN_LIMIT]
        rows = session.scalars(
            select(EventRow).where(
                EventRow.provider == provider, EventRow.calendar == calendar, EventRow.event_id.in_(chunk)
            )
        )
        found.update((row.event_id, row) for row in rows)
    return found


def upsert_events(
    session: Session,
    provider: str,
    calendar: str,
    events: Sequence[CalendarEvent],
    *,
    now: datetime,
    full_listing: bool,
    stats: WriteStats,
) -> None:
    # One id can appear twice in a run (on two pages); the later copy wins.
    latest = {e.event_id: e for e in events}
    existing = _existing(session, provider, calendar, list(latest))
    fresh: list[dict[str, Any]] = []
    for event_id, event in latest.items():
        digest = rule_hash(event)
        row = existing.get(event_id)
        if row is None:
            fresh.append(
                {
                    "provider": provider,
                    "calendar": calendar,
                    "event_id": event_id,
                    "content_hash": digest,
                    "first_seen": now,
                    "changed_at": now,
                    "by_full_listing": full_listing,
                    **_values(event),
                }
            )
            continue
        if (
            row.content_hash == digest
            and row.etag == event.etag
            and row.description == event.description
            and row.conference == event.conference
        ):
            stats.unchanged += 1  # the same copy again (a full re-listing): nothing to write
            continue
        for key, value in _values(event).items():
            setattr(row, key, value)
        if row.content_hash != digest:
            row.content_hash = digest
            row.changed_at = now
            row.by_full_listing = full_listing
            stats.changed += 1
        else:
            stats.unchanged += 1
    if fresh:
        # New rows in one executemany: a first sync writes thousands, and ORM objects cost 10x more.
        table = cast(Table, EventRow.__table__)
        for i in range(0, len(fresh), IN_LIMIT):
            session.connection().execute(insert(table), fresh[i : i + IN_LIMIT])
        stats.inserted += len(fresh)


def mark_deleted(
    session: Session,
    provider: str,
    calendar: str,
    event_ids: Sequence[str],
    *,
    now: datetime,
    full_listing: bool,
    stats: WriteStats,
) -> None:
    """A deleted event stays as a cancelled row: history, and the evidence of a cancellation.

    A deleted series is recorded on its master alone: its exceptions keep their last state, or
    every past slot would read as a cancellation (Graph reports each occurrence of a deleted
    series as removed, and a full listing no longer lists them).
    """
    found = _existing(session, provider, calendar, list(dict.fromkeys(event_ids)))
    rows = sorted(found.values(), key=lambda r: r.kind != EventKind.MASTER.value)  # masters first
    series = sorted({r.series_id for r in rows if r.kind == EventKind.EXCEPTION.value and r.series_id})
    masters: dict[str, EventRow] | None = None
    for row in rows:
        if row.kind == EventKind.EXCEPTION.value and row.series_id:
            if masters is None:  # read once, after this batch's masters were marked
                masters = _existing(session, provider, calendar, series)
            master = masters.get(row.series_id)
            if master is not None and master.status == EventStatus.CANCELLED.value:
                continue
        if row.status != EventStatus.CANCELLED.value:
            row.status = EventStatus.CANCELLED.value
            row.changed_at = now
            row.by_full_listing = full_listing
            row.content_hash = "deleted"
            stats.deleted += 1


def stored_ids(
    session: Session, provider: str, calendar: str
) -> list[tuple[str, str, datetime | None, datetime | None, str]]:
    """(event_id, kind, start, end, status) of every stored copy on a calendar, for the post-listing sweep."""
    rows = session.execute(
        select(EventRow.event_id, EventRow.kind, EventRow.start, EventRow.end, EventRow.status).where(
            EventRow.provider == provider, EventRow.calendar == calendar
        )
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


# What an event is made of: every column but the surrogate key and the sync's own change hash.
EVENT_COLUMNS = tuple(c for c in EventRow.__table__.columns if c.name not in ("id", "content_hash"))


def load_events(session: Session, calendars: Iterable[str] | None = None) -> list[CalendarEvent]:
    """Read as plain rows (SQLAlchemy Core), not ORM objects: the rules only read them, and an identity-mapped,
    change-tracked object per row costs about three times the time and memory of the event it becomes.
    Streamed in batches, so only one batch of rows lives at a time."""
    query = select(*EVENT_COLUMNS)
    if calendars is not None:
        query = query.where(EventRow.calendar.in_(list(calendars)))
    rows = session.execute(query.order_by(EventRow.id).execution_options(yield_per=2000))
    return [row_to_event(row) for row in rows]
