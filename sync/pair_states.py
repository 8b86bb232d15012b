"""What each pair was judged on, so a cycle re-judges only the pairs whose findings may have moved (issue 20).

A pair's findings are a function of its calendars' rows, its bit of the context (pauses, zones, stale
calendars, first seen) and the clock. The first two are kept as one digest; the clock's part is the
pair's next transition (`rules/transitions.py`). A pair is judged again when a calendar of its changed
(the cycle sees that itself), when its next transition has passed (`due`), or when the digest no
longer matches (`moved`, checked every `rules.full_evaluation_minutes` in place of judging everyone).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from rules.history import PairHistory
from rules.model import EvaluationContext
from rules.transitions import next_transition
from sync.agenda.nudges import NOTES_NUDGE_WINDOW
from sync.config import Settings
from sync.store.db import IN_LIMIT, only_these
from sync.store.models import EventRow, PairStateRow

Key = tuple[str, str]
Version = tuple[int, str]  # (rows, latest change) of one calendar's events: any write moves one of them


def calendar_versions(
    session: Session, context: EvaluationContext, calendars: Collection[str] | None
) -> dict[str, Version]:
    """Each calendar's version, by its owner's canonical address (None: every calendar)."""
    query = select(EventRow.calendar, func.count(), func.max(EventRow.changed_at)).group_by(EventRow.calendar)
    versions: dict[str, Version] = {}
    canonical = context.directory.canonical
    for calendar, rows, latest in session.execute(only_these(query, EventRow.calendar, calendars)):
        owner = canonical(calendar)
        before = versions.get(owner, (0, ""))
        versions[owner] = (before[0] + rows, max(before[1], latest.isoformat() if latest else ""))
    return versions


class Inputs:
    """A pair's inputs as one digest: its calendars' versions and its part of the context."""

    def __init__(self, context: EvaluationContext, versions: Mapping[str, Version]) -> None:
        canonical = context.directory.canonical
        self.context = context
        self.versions = versions
        self.stale = frozenset(canonical(c) for c in context.stale_calendars)
        self.pauses: dict[frozenset[str], list[tuple[str, str]]] = {}
        for p in context.pauses:
            people = frozenset((canonical(p.manager), canonical(p.report)))
            self.pauses.setdefault(people, []).append((p.until.isoformat(), p.since.isoformat() if p.since else ""))

    def digest(self, key: Key, calendars: Iterable[str], seen_today: date | None = None) -> str:
        """`seen_today`: the first-seen day this cycle stores for the pair (not in the context yet)."""
        manager, report = key
        mine = sorted({*calendars, manager, report})
        zones = self.context.time_zones
        seen = self.context.pair_first_seen.get(key, seen_today)
        parts = (
            [(c, self.versions.get(c)) for c in mine],
            [c for c in mine if c in self.stale],
            sorted(self.pauses.get(frozenset(key), ())),
            zones.get(manager),
            zones.get(report),
            seen.isoformat() if seen else None,
        )
        return hashlib.sha256(repr(parts).encode()).hexdigest()


def context_digest(context: EvaluationContext) -> str:
    """What every pair rests on alike (thresholds, directory, watched calendars): when it moves, judge all."""
    d = context.directory
    parts = (
        context.settings,
        sorted(d.pairs, key=lambda p: (p.manager, p.report)),
        d.domains,
        sorted(d.aliases.items()),
        d.configured,
        sorted(context.watched_calendars),
        context.default_time_zone,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def offsets(settings: Settings) -> tuple[tuple[timedelta, ...], tuple[timedelta, ...]]:
    """The daemon's own moments around each 1:1: the agenda reminder before it, the notes reminder and the
    attendance read after it."""
    agenda = settings.agenda
    before = (-timedelta(hours=agenda.agenda_nudge_hours),) if agenda.nudges else ()
    after: tuple[timedelta, ...] = ()
    if agenda.nudges:
        notes = timedelta(hours=agenda.notes_nudge_hours)
        after = (notes, notes + NOTES_NUDGE_WINDOW)
    return before, (*after, timedelta(minutes=settings.attendance.settle_minutes))


def record(
    session: Session,
    settings: Settings,
    context: EvaluationContext,
    histories: Sequence[PairHistory],
    versions: Mapping[str, Version],
    now: datetime,
    *,
    first_seen: Collection[Key] = (),
) -> None:
    """Keep what each judged pair rested on and its next transition, in the judging transaction.

    `first_seen`: pairs whose first-seen day this cycle stored; they are judged again next cycle with it."""
    if not histories:
        return
    inputs = Inputs(context, versions)
    before, after = offsets(settings)
    rules = context.settings
    today = context.now.date()
    wanted = {
        h.pair.key: {
            "calendars": sorted(h.calendars),
            "inputs": inputs.digest(h.pair.key, h.calendars, today if h.pair.key in first_seen else None),
            "next_check": now
            if h.pair.key in first_seen
            else next_transition(h, rules, start_offsets=before, end_offsets=after),
            "judged_at": now,
        }
        for h in histories
    }
    managers = {manager for manager, _ in wanted}
    query = select(PairStateRow.id, PairStateRow.manager, PairStateRow.report)
    known = {(m, r): i for i, m, r in session.execute(only_these(query, PairStateRow.manager, managers))}
    table = cast(Table, PairStateRow.__table__)
    changes = [{"row_id": known[key], **values} for key, values in wanted.items() if key in known]
    fresh = [{"manager": key[0], "report": key[1], **values} for key, values in wanted.items() if key not in known]
    connection = session.connection()
    for i in range(0, len(changes), IN_LIMIT):
        statement = update(table).where(table.c.id == bindparam("row_id"))
        connection.execute(statement, changes[i : i + IN_LIMIT])
    for i in range(0, len(fresh), IN_LIMIT):
        connection.execute(insert(table), fresh[i : i + IN_LIMIT])


def due(session: Session, now: datetime) -> dict[Key, list[str]]:
    """The pairs whose next transition has passed, with the calendars their history rests on."""
    query = select(PairStateRow.manager, PairStateRow.report, PairStateRow.calendars)
    rows = session.execute(query.where(PairStateRow.next_check <= now))
    return {(m, r): list(calendars or ()) for m, r, calendars in rows}


def moved(session: Session, context: EvaluationContext, versions: Mapping[str, Version]) -> dict[Key, list[str]]:
    """The pairs whose inputs no longer match what they were judged on."""
    inputs = Inputs(context, versions)
    columns = (PairStateRow.manager, PairStateRow.report, PairStateRow.calendars, PairStateRow.inputs)
    rows = session.execute(select(*columns))
    return {
        (m, r): list(calendars or ())
        for m, r, calendars, digest in rows
        if inputs.digest((m, r), calendars or ()) != digest
    }


def forget(session: Session, keys: Iterable[Key]) -> None:
    """Pairs judged again that no calendar shows any more: nothing to watch until one does."""
    table = cast(Table, PairStateRow.__table__)
    gone: list[dict[str, Any]] = [{"m": m, "r": r} for m, r in keys]
    if gone:
        statement = delete(table).where(table.c.manager == bindparam("m"), table.c.report == bindparam("r"))
        session.connection().execute(statement, gone)
