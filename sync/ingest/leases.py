"""Who syncs a calendar now: a lease per calendar row, taken and given back in single statements.

Replicas share the work through these leases; the row's generation, read when the lease is taken
and checked at commit, fences out a worker whose lease ran out while it was fetching.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from sync.store.db import Database, insert_missing
from sync.store.models import CalendarRow


def calendar_row(session: Session, provider: str, calendar: str) -> CalendarRow:
    query = select(CalendarRow).where(CalendarRow.provider == provider, CalendarRow.calendar == calendar)
    row = session.scalar(query)
    if row is None:
        fresh = {
            "provider": provider,
            "calendar": calendar,
            "generation": 0,
            "consecutive_failures": 0,
            "skipped_items": 0,
        }
        insert_missing(session, CalendarRow, fresh, ["provider", "calendar"])
        row = session.scalar(query)
        assert row is not None
    return row


@dataclass(frozen=True)
class Claim:
    """What a worker read when it took a calendar: the cursor and the generation it must see at commit."""

    cursor: str | None
    generation: int


# Built once with bound parameters: these run twice per calendar per cycle, and an ORM statement
# with literal values is re-compiled each time (it cost more than the quiet cycle's request).
CALENDARS = cast(Table, CalendarRow.__table__)
# A lease running out later than one taken now would is from a clock that has since moved back
# (NTP stepping a skewed host by hours): it is free, or every calendar would stay "leased elsewhere"
# until the clock caught up. A success "in the future" is as suspect: such a calendar is stale.
_FREE = or_(
    CALENDARS.c.lease_until.is_(None),
    CALENDARS.c.lease_until < bindparam("now"),
    CALENDARS.c.lease_until > bindparam("until"),
    CALENDARS.c.lease_owner == bindparam("w"),
)
THIS_CALENDAR = (CALENDARS.c.provider == bindparam("p"), CALENDARS.c.calendar == bindparam("c"))
_TAKEN: dict[str, Any] = {
    "lease_owner": bindparam("w"),
    "lease_until": bindparam("until"),
    "last_attempt_at": bindparam("now"),
}
_TAKE = (
    update(CALENDARS)
    .where(*THIS_CALENDAR, _FREE)
    .values(**_TAKEN)
    .returning(CALENDARS.c.cursor, CALENDARS.c.generation)
)
_STALE = or_(
    CALENDARS.c.last_success_at.is_(None),
    CALENDARS.c.last_success_at <= bindparam("fresh_before"),
    CALENDARS.c.last_success_at > bindparam("now"),
    CALENDARS.c.wanted_at.is_not(None),
)
_TAKE_IF_STALE = (
    update(CALENDARS)
    .where(*THIS_CALENDAR, _FREE, _STALE)
    .values(**_TAKEN)
    .returning(CALENDARS.c.cursor, CALENDARS.c.generation)
)
_TAKE_MANY = (
    update(CALENDARS)
    .where(
        CALENDARS.c.provider == bindparam("p"),
        CALENDARS.c.calendar.in_(bindparam("cs", expanding=True)),
        _FREE,
        _STALE,
    )
    .values(**_TAKEN)
    .returning(CALENDARS.c.calendar, CALENDARS.c.cursor, CALENDARS.c.generation)
)


def acquire_many(
    db: Database,
    provider: str,
    calendars: Sequence[str],
    worker: str,
    now: datetime,
    lease: timedelta,
    fresh_within: timedelta | None = None,
) -> dict[str, Claim]:
    """`acquire` for a batch of calendars in one statement: a quiet cycle's cost is per batch, not per calendar."""
    if not calendars:
        return {}
    with db.session() as session:
        known = set(
            session.scalars(
                select(CalendarRow.calendar).where(
                    CalendarRow.provider == provider, CalendarRow.calendar.in_(list(calendars))
                )
            )
        )
        for calendar in calendars:
            if calendar not in known:
                calendar_row(session, provider, calendar)  # first sight of this calendar
        params = {
            "p": provider,
            "cs": list(calendars),
            "w": worker,
            "now": now,
            "until": now + lease,
            "fresh_before": now - fresh_within if fresh_within is not None else now + timedelta(days=36500),
        }
        rows = session.connection().execute(_TAKE_MANY, params)
        return {calendar: Claim(cursor=cursor, generation=generation) for calendar, cursor, generation in rows}


def acquire(
    db: Database,
    provider: str,
    calendar: str,
    worker: str,
    now: datetime,
    lease: timedelta,
    fresh_within: timedelta | None = None,
) -> Claim | None:
    """Take the calendar's lease, unless another live worker holds it (then None).

    With `fresh_within`, a calendar another replica synced that recently (and that no push
    notification asked for since) is left alone too: replicas share a cycle's work instead of
    each repeating it.
    """
    take = _TAKE_IF_STALE if fresh_within is not None else _TAKE
    params = {
        "p": provider,
        "c": calendar,
        "w": worker,
        "now": now,
        "until": now + lease,
        "fresh_before": now - (fresh_within or timedelta(0)),
    }
    with db.session() as session:
        connection = session.connection()
        taken = connection.execute(take, params).first()
        if taken is None:
            known = select(CalendarRow.id).where(CalendarRow.provider == provider, CalendarRow.calendar == calendar)
            if session.scalar(known) is not None:
                return None  # leased by a live worker (or just synced by another replica)
            calendar_row(session, provider, calendar)  # first sight of this calendar
            taken = connection.execute(take, params).first()
        if taken is None:
            return None
        return Claim(cursor=taken[0], generation=taken[1])


def release(db: Database, provider: str, calendar: str, worker: str) -> None:
    with db.session() as session:
        session.execute(
            update(CalendarRow)
            .where(
                CalendarRow.provider == provider, CalendarRow.calendar == calendar, CalendarRow.lease_owner == worker
            )
            .values(lease_owner=None, lease_until=None)
        )
