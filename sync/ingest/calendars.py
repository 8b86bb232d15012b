"""Syncing one calendar: pages in, one transaction, cursor committed with the changes it covers.

A failure of one calendar is recorded on its row and never stops the others. A dead cursor
(410) rolls back and becomes a full listing, after which stored copies inside the listed range
that were not listed are marked deleted (outside the range they stay as history).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.orm import Session

from providers.base import ChangePage, CursorExpired, Provider, ProviderError
from rules.model import EventKind, EventStatus
from rules.recurrence import rule_problem
from sync.crash import CrashPlan
from sync.ingest.leases import CALENDARS, THIS_CALENDAR, Claim, acquire, calendar_row, release
from sync.store.db import Database
from sync.store.events import WriteStats, mark_deleted, stored_ids, upsert_events
from sync.store.models import CalendarRow, EventRow

log = logging.getLogger(__name__)

# A listing that suddenly returns nothing for a calendar that had this many live events is held,
# not applied: providers have returned empty listings by mistake, and applying one would cancel
# every 1:1 on the calendar.
EMPTY_LISTING_GUARD = 5


@dataclass
class CalendarResult:
    provider: str
    calendar: str
    ok: bool
    full: bool = False
    stats: WriteStats = field(default_factory=WriteStats)
    skipped: int = 0
    pages: int = 0
    error: str | None = None
    error_kind: str | None = None


def _rowcount(result: object) -> int:
    """Rows matched by an UPDATE (SQLAlchemy types `execute` results too loosely to say so)."""
    return int(getattr(result, "rowcount", 0))


class EmptyListingHeld(Exception):
    """A full listing came back empty for a calendar that had live events."""


class Fenced(Exception):
    """Another worker committed this calendar since we read its cursor: our work is stale."""


_QUIET = (
    update(CALENDARS)
    .where(*THIS_CALENDAR, CALENDARS.c.generation == bindparam("seen"))
    .values(
        generation=bindparam("next"),
        cursor=bindparam("new_cursor"),
        last_success_at=bindparam("now"),
        last_error=None,
        last_error_kind=None,
        consecutive_failures=0,
        skipped_items=0,
        lease_owner=None,
        lease_until=None,
        time_zone=func.coalesce(bindparam("zone", type_=String), CALENDARS.c.time_zone),
    )
)


def sync_calendar(
    db: Database,
    provider: Provider,
    calendar: str,
    now: datetime,
    *,
    worker: str = "worker",
    lease: timedelta = timedelta(minutes=10),
    crash: CrashPlan | None = None,
    fresh_within: timedelta | None = None,
    claim: Claim | None = None,
    quiet: list[dict[str, Any]] | None = None,
) -> CalendarResult:
    """Fetch a calendar's changes (no transaction open), then apply them in one fenced transaction.

    `claim`: the lease was already taken (by `acquire_many`). `quiet`: a calendar with nothing new is
    not committed here but queued for `commit_quiet`, which moves a whole batch's cursors in one
    transaction (losing that commit loses nothing: the old cursor is still good).
    """
    crash = crash or CrashPlan()
    result = CalendarResult(provider=provider.name, calendar=calendar, ok=False)
    if claim is None:
        claim = acquire(db, provider.name, calendar, worker, now, lease, fresh_within)
    if claim is None:
        result.ok, result.error_kind = True, "leased_elsewhere"  # or just synced by another replica
        return result
    released = False
    try:
        try:
            pages = list(provider.list_changes(calendar, claim.cursor, now))
        except CursorExpired as exc:
            log.warning("calendar %s: %s; running a full resync", calendar, exc.message)
            pages = list(provider.list_changes(calendar, None, now))
        crash.hit("after_fetch")
        if quiet is not None and _is_quiet(pages):
            result.pages += len(pages)
            quiet.append(_quiet_params(provider.name, calendar, pages[-1], claim, now))
            released = True  # the batch's commit gives the lease back
            result.ok = True
            return result
        _apply(db, provider.name, calendar, pages, claim, now, result, crash)
        released = True  # the commit gave the lease back with the cursor
        crash.hit("after_commit")
        result.ok = True
    except ProviderError as exc:
        result.error, result.error_kind = exc.message, exc.kind
        log.error("calendar %s (%s): sync failed [%s]: %s", calendar, provider.name, exc.kind, exc.message)
        _record_failure(db, provider.name, calendar, now, exc.message, exc.kind)
    except EmptyListingHeld as exc:
        result.error, result.error_kind = str(exc), "empty_listing"
        log.error("calendar %s (%s): %s", calendar, provider.name, exc)
        _record_failure(db, provider.name, calendar, now, str(exc), "empty_listing")
    except Fenced as exc:
        result.ok, result.error_kind = True, "fenced"
        log.warning("calendar %s (%s): %s", calendar, provider.name, exc)
    except Exception as exc:  # a bug or a surprise in one calendar must not stop the others
        result.error, result.error_kind = f"{type(exc).__name__}: {exc}", "internal"
        log.exception("calendar %s (%s): unexpected error; other calendars go on", calendar, provider.name)
        with contextlib.suppress(Exception):
            _record_failure(db, provider.name, calendar, now, result.error[:2000], "internal")
    finally:
        if not released:
            release(db, provider.name, calendar, worker)
    return result


def _apply(
    db: Database,
    provider: str,
    calendar: str,
    pages: list[ChangePage],
    claim: Claim,
    now: datetime,
    result: CalendarResult,
    crash: CrashPlan,
) -> None:
    if not pages or pages[-1].cursor is None:
        raise ProviderError(calendar, "the listing ended without a cursor")
    last = pages[-1]
    if _is_quiet(pages):
        _apply_nothing(db, provider, calendar, pages, claim, now, result, crash)
        return
    with db.session() as session:
        # Fencing first: this also locks the row (PostgreSQL), so two appliers never interleave.
        fenced = session.execute(
            update(CalendarRow)
            .where(
                CalendarRow.provider == provider,
                CalendarRow.calendar == calendar,
                CalendarRow.generation == claim.generation,
            )
            .values(generation=claim.generation + 1)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(fenced) != 1:
            raise Fenced(f"generation moved past {claim.generation} while we were fetching; dropping this run")
        row = calendar_row(session, provider, calendar)
        listed: set[str] = set()
        for page in pages:
            result.pages += 1
            result.full = page.full
            upsert_events(session, provider, calendar, page.events, now=now, full_listing=page.full, stats=result.stats)
            mark_deleted(
                session, provider, calendar, page.deleted_ids, now=now, full_listing=page.full, stats=result.stats
            )
            listed.update(e.event_id for e in page.events)
            listed.update(page.deleted_ids)
            listed.update(s.event_id for s in page.skipped)  # unreadable is not deleted
            result.skipped += len(page.skipped)
            if page.time_zone:
                row.time_zone = page.time_zone
        if last.full:
            _sweep(session, provider, calendar, listed, (last.window_start, last.window_end), now, result)
            row.last_full_sync_at = now
        crash.hit("mid_commit")
        row.cursor = last.cursor
        row.last_success_at = now
        row.last_error = None
        row.last_error_kind = None
        row.consecutive_failures = 0
        row.skipped_items = result.skipped
        row.lease_owner, row.lease_until = None, None  # done: the next worker need not wait out the lease


def _apply_nothing(
    db: Database,
    provider: str,
    calendar: str,
    pages: list[ChangePage],
    claim: Claim,
    now: datetime,
    result: CalendarResult,
    crash: CrashPlan,
) -> None:
    """The common quiet cycle: nothing changed, so one fenced UPDATE moves the cursor and the lease on."""
    result.pages += len(pages)
    params = _quiet_params(provider, calendar, pages[-1], claim, now)
    with db.session() as session:
        crash.hit("mid_commit")
        done = session.connection().execute(_QUIET, params)
        if _rowcount(done) != 1:
            raise Fenced(f"generation moved past {claim.generation} while we were fetching; dropping this run")


def _is_quiet(pages: list[ChangePage]) -> bool:
    if not pages or pages[-1].cursor is None:
        return False  # `_apply` says what is wrong with it
    return not any(p.full or p.events or p.deleted_ids or p.skipped or p.left_window_ids for p in pages)


def _quiet_params(provider: str, calendar: str, last: ChangePage, claim: Claim, now: datetime) -> dict[str, Any]:
    return {
        "p": provider,
        "c": calendar,
        "seen": claim.generation,
        "next": claim.generation + 1,
        "new_cursor": last.cursor,
        "now": now,
        "zone": last.time_zone,
    }


def commit_quiet(db: Database, quiet: list[dict[str, Any]], crash: CrashPlan | None = None) -> int:
    """Move on the cursors (and give back the leases) of calendars that had nothing new, in one transaction.

    Each row is fenced on its generation; returns how many were fenced out (another worker took over).
    """
    if not quiet:
        return 0
    with db.session() as session:
        (crash or CrashPlan()).hit("mid_commit")
        done = session.connection().execute(_QUIET, quiet)
        fenced = len(quiet) - _rowcount(done)
    if fenced > 0:
        log.warning("%d quiet calendar(s) were taken over by another worker while we fetched; left to it", fenced)
    return max(fenced, 0)


def _sweep(
    session: Session,
    provider: str,
    calendar: str,
    listed: set[str],
    window: tuple[datetime | None, datetime | None],
    now: datetime,
    result: CalendarResult,
) -> None:
    """After a full listing: what the listing should have returned but did not is gone.

    Only inside the listed window: a past meeting before it stays as history, and one after it
    (a window that ends, as Graph's does) was simply not asked for.
    """
    window_start, window_end = window
    live_before = 0
    gone: list[str] = []
    for event_id, kind, start, end, status in stored_ids(session, provider, calendar):
        if status == EventStatus.CANCELLED.value:
            continue
        live_before += 1
        if event_id in listed:
            continue
        if kind == EventKind.MASTER.value:
            master = session.scalar(
                select(EventRow).where(
                    EventRow.provider == provider,
                    EventRow.calendar == calendar,
                    EventRow.event_id == event_id,
                )
            )
            if master is not None and window_start is not None:
                last = series_last_start(master.start, master.time_zone, tuple(master.recurrence or ()))
                if last is not None and last < window_start:
                    continue  # ended before the listed range: history, not a deletion
        elif window_start is not None and end is not None and end <= window_start:
            continue
        if kind != EventKind.MASTER.value and window_end is not None and start is not None and start >= window_end:
            continue
        gone.append(event_id)
    if live_before >= EMPTY_LISTING_GUARD and len(listed) == 0:
        raise EmptyListingHeld(
            f"a full listing returned no events although {live_before} were stored; holding the previous "
            "state and retrying next cycle (nothing was marked cancelled)"
        )
    if gone:
        log.info(
            "calendar %s: %d stored events were not in the full listing; marking them deleted",
            calendar,
            len(gone),
        )
    mark_deleted(session, provider, calendar, gone, now=now, full_listing=True, stats=result.stats)


def _record_failure(db: Database, provider: str, calendar: str, now: datetime, message: str, kind: str) -> None:
    with db.session() as session:
        row = calendar_row(session, provider, calendar)
        row.last_attempt_at = now
        row.last_error = message
        row.last_error_kind = kind
        row.consecutive_failures += 1


CIRCUIT_THRESHOLD = 3
CIRCUIT_MAX_REST = timedelta(hours=1)


def resting_calendars(db: Database, now: datetime, poll: timedelta) -> dict[tuple[str, str], datetime]:
    """Circuit breaker: after 3 failures in a row a calendar rests, doubling up to an hour, then is tried again.

    A broken calendar (revoked access, a mailbox that moved) would otherwise cost requests and log
    lines every poll; one trial per rest period finds out when it works again.
    """
    resting: dict[tuple[str, str], datetime] = {}
    with db.session() as session:
        rows = session.execute(
            select(
                CalendarRow.provider,
                CalendarRow.calendar,
                CalendarRow.consecutive_failures,
                CalendarRow.last_attempt_at,
            ).where(CalendarRow.consecutive_failures >= CIRCUIT_THRESHOLD)
        )
        for provider, calendar, failures, last in rows:
            if last is None:
                continue
            rest = min(CIRCUIT_MAX_REST, poll * 2 ** (failures - CIRCUIT_THRESHOLD))
            if now < last + rest:
                resting[(provider, calendar)] = last + rest
    return resting


def stale_calendars(session: Session, now: datetime, poll_interval: timedelta) -> frozenset[str]:
    """Calendars whose last successful sync is older than three poll intervals (or never)."""
    limit = now - 3 * poll_interval
    rows = session.execute(select(CalendarRow.calendar, CalendarRow.last_success_at))
    return frozenset(cal for cal, ok_at in rows if ok_at is None or ok_at < limit)


def series_last_start(first: datetime | None, zone: str | None, recurrence: tuple[str, ...]) -> datetime | None:
    """An upper bound on a series' last slot, or None when it never ends (for the sweep only).

    A rule that cannot be read counts as never ending: keeping a row is safe, dropping one is not.
    """
    try:
        return _series_last_start(first, zone, recurrence)
    except (ValueError, OverflowError):
        return None


def _series_last_start(first: datetime | None, zone: str | None, recurrence: tuple[str, ...]) -> datetime | None:
    rules = [line for line in recurrence if line.upper().startswith("RRULE")]
    if first is None or not rules:
        return first
    latest: datetime | None = None
    for line in rules:
        parts = dict(p.split("=", 1) for p in line.split(":", 1)[-1].split(";") if "=" in p)
        if "UNTIL" in parts:
            raw = parts["UNTIL"].rstrip("Z")
            bound = (
                datetime.strptime(raw, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
                if "T" in raw
                else datetime.combine(datetime.strptime(raw, "%Y%m%d").date(), time.max, UTC)
            )
        elif "COUNT" in parts:
            if rule_problem(line.split(":", 1)[-1], first) is not None:
                return None  # a hostile COUNT/INTERVAL would expand for ever: treat as open-ended
            tz = ZoneInfo(zone) if zone else UTC
            local = first.astimezone(tz).replace(tzinfo=None)
            slots = list(rrulestr(line.split(":", 1)[-1], dtstart=local))
            bound = slots[-1].replace(tzinfo=tz).astimezone(UTC) if slots else first
        else:
            return None
        latest = bound if latest is None or bound > latest else latest
    return latest
