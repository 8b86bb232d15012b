"""Reading who joined past 1:1 calls (issue 19): once each, after the call settled, only the two people.

A step of the cycle, after the rules ran on what was already stored: for each past 1:1 occurrence
the calendar calls held and whose event carries a video call (`meet:` / `teams:`), once it is
`attendance.settle_minutes` past its end and at most `attendance.lookback_days` old, the reader
for that call is asked for the two people's join intervals; they are stored and never read again.
The next cycle's rules judge them. The reads happen outside any database transaction (they are
HTTP calls), each result is written in its own short one.

A vendor that refuses (403: a scope or access policy missing) is not asked again this cycle; the
calendar decides for those 1:1s, and the cycle tells the admin (once a day, `actions/alerts.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from providers.base import AttendanceDenied, AttendanceReader, Joined, ProviderError
from rules.attendance import PREFER, Attendance
from rules.history import PairHistory
from rules.model import Occurrence, OccurrenceOutcome
from sync.config import Settings
from sync.store.db import Database
from sync.store.models import AttendanceRow

log = logging.getLogger(__name__)

Key = tuple[str, str, datetime]


@dataclass
class AttendanceStats:
    read: int = 0
    denied: dict[str, str] = field(default_factory=dict)  # source -> the refusal, for the admin alert
    failed: int = 0


def _intervals(data: Iterable[object]) -> tuple[tuple[datetime, datetime], ...]:
    out = []
    for item in data:
        if isinstance(item, list | tuple) and len(item) == 2:
            out.append((datetime.fromisoformat(str(item[0])), datetime.fromisoformat(str(item[1]))))
    return tuple(out)


def stored_attendance(session: Session, since: datetime) -> dict[Key, Attendance]:
    """The evidence the rules judge: every stored reading of a call since `since`."""
    rows = session.scalars(select(AttendanceRow).where(AttendanceRow.start >= since))
    found: dict[Key, Attendance] = {}
    for row in rows:
        joined = {row.manager: _intervals(row.manager_intervals), row.report: _intervals(row.report_intervals)}
        found[(row.manager, row.report, row.start)] = Attendance(
            joined={p: spans for p, spans in joined.items() if spans}, read_at=row.read_at, source=row.source
        )
    return found


def _calendar_held(occurrence: Occurrence) -> bool:
    """What the calendar alone says was held (a stored no-show was held by the calendar, too)."""
    return occurrence.outcome in (OccurrenceOutcome.HELD, OccurrenceOutcome.MOVED, OccurrenceOutcome.NO_SHOW)


def due(
    histories: Iterable[PairHistory], known: set[Key], settings: Settings, now: datetime
) -> list[tuple[Key, str, Occurrence]]:
    """(key, conference, occurrence) of the settled past 1:1 calls not read yet, oldest first."""
    settle = timedelta(minutes=settings.attendance.settle_minutes)
    oldest = now - timedelta(days=settings.attendance.lookback_days)
    out = []
    for history in histories:
        if history.stale:
            continue
        for occurrence in history.occurrences:
            key = (history.pair.manager, history.pair.report, occurrence.start)
            if (
                occurrence.conference
                and _calendar_held(occurrence)
                and oldest <= occurrence.end
                and occurrence.end + settle <= now
                and key not in known
            ):
                out.append((key, occurrence.conference, occurrence))
    return sorted(out, key=lambda item: item[0][2])


def _store(db: Database, key: Key, source: str, joined: Joined, now: datetime) -> None:
    manager, report, start = key

    def spans(person: str) -> list[list[str]]:
        return [[a.astimezone(UTC).isoformat(), b.astimezone(UTC).isoformat()] for a, b in joined.get(person, ())]

    try:
        with db.session() as session:
            session.add(
                AttendanceRow(
                    manager=manager,
                    report=report,
                    start=start,
                    source=source,
                    manager_intervals=spans(manager),
                    report_intervals=spans(report),
                    read_at=now,
                )
            )
    except IntegrityError:  # another replica read it first: the same call, the same answer
        log.info("attendance of %s/%s at %s already stored", manager, report, start.isoformat())


def read_attendance(
    db: Database,
    readers: Sequence[AttendanceReader],
    histories: Iterable[PairHistory],
    settings: Settings,
    now: datetime,
) -> AttendanceStats:
    stats = AttendanceStats()
    if settings.rules.attendance != PREFER or not readers:
        return stats
    with db.session() as session:
        since = now - timedelta(days=settings.attendance.lookback_days + 1)
        known = set(stored_attendance(session, since))
    for key, conference, occurrence in due(histories, known, settings, now):
        reader = next((r for r in readers if r.handles(conference)), None)
        if reader is None or reader.source in stats.denied:
            continue
        try:
            joined = reader.read(conference, (key[0], key[1]), occurrence.start, occurrence.end)
        except AttendanceDenied as exc:
            stats.denied[reader.source] = exc.message
            log.warning("attendance not readable (%s): %s", reader.source, exc)
            continue
        except ProviderError as exc:  # tried again next cycle
            stats.failed += 1
            log.warning("attendance of %s/%s at %s not read: %s", key[0], key[1], key[2].isoformat(), exc)
            continue
        if joined is None:  # the meeting is not visible (organized by someone else): asked again next time
            continue
        _store(db, key, reader.source, {p: joined[p] for p in key[:2] if p in joined}, now)
        stats.read += 1
    return stats
