"""Putting the agenda link on 1:1 events: which events, and the crash-safe write itself.

Driven by stored state, never by the sync loop: each cycle finds the detected 1:1 series (and the
upcoming one-offs) whose organizer's calendar is watched, records an `agenda_writes` row as
`intended` and commits it, then reads the event, and writes only if our URL is not there yet.
A crash after the write is repaired by the next read (the URL is there: done); a crash before it
by the next write. A row that is `done` whose event later comes back from sync without our URL was
edited by a person: it becomes `user_removed` and is left alone unless `agenda.readd_removed`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Container, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from providers.agenda_text import has_link
from providers.base import AgendaLink, AgendaWriter, AuthError, PermanentError, PreconditionFailed, ProviderError
from rules.detect import humans
from rules.history import PairHistory
from rules.model import CalendarEvent, EvaluationContext, EventKind
from rules.model import OccurrenceOutcome as Outcome
from sync.agenda.store import page_url, pair_row, pairs_by_key
from sync.config import Settings
from sync.notify.render import display_name
from sync.store.db import Database, only_these
from sync.store.models import AgendaPairRow, AgendaWriteRow

log = logging.getLogger(__name__)

MAX_CONFLICTS = 3  # 412s in a row before the write waits for the next cycle
MAX_ATTEMPTS = 5  # failed cycles before a write is marked failed


@dataclass(frozen=True)
class Target:
    """An event that should carry a pair's link: the organizer's copy of a series master or one-off."""

    manager: str
    report: str
    provider: str
    calendar: str
    event_id: str
    kind: str  # "series" | "one-off"
    summary: str
    start: datetime | None
    description: str = ""
    etag: str | None = None


@dataclass(frozen=True)
class Skipped:
    manager: str
    report: str
    provider: str
    event_id: str
    summary: str
    reason: str


@dataclass(frozen=True)
class Decision:
    target: Target
    action: str  # "write" | "done" | "skip"
    reason: str
    url: str


@dataclass
class WritebackReport:
    targets: list[Target] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    written: int = 0
    already: int = 0
    user_removed: int = 0
    failed: int = 0


def link_title(manager: str, report: str) -> str:
    return f"1:1 agenda — {display_name(manager)} / {display_name(report)}"


def find_targets(
    events: Sequence[CalendarEvent], histories: Iterable[PairHistory], context: EvaluationContext
) -> tuple[list[Target], list[Skipped]]:
    """The events to write, and the 1:1s left alone with why (shown by `agenda status`)."""
    canonical, directory = context.directory.canonical, context.directory
    watched = {canonical(c) for c in context.watched_calendars}
    masters: dict[tuple[str, str], list[CalendarEvent]] = defaultdict(list)
    singles: dict[datetime, list[CalendarEvent]] = defaultdict(list)
    for event in events:
        if event.is_cancelled:
            continue
        if event.kind is EventKind.MASTER:
            masters[(event.provider, event.event_id)].append(event)
        elif event.kind is EventKind.SINGLE and event.start is not None:
            singles[event.start].append(event)
    targets: list[Target] = []
    skipped: list[Skipped] = []

    def choose(copies: Sequence[CalendarEvent], kind: str, manager: str, report: str) -> None:
        organizer = next((canonical(c.organizer) for c in copies if c.organizer), None)
        own = next((c for c in copies if organizer and canonical(c.calendar) == organizer), None)
        sample = copies[0]
        if own is None:
            reason = f"the organizer's calendar ({organizer}) is not watched" if organizer not in watched else "no copy"
            skipped.append(Skipped(manager, report, sample.provider, sample.event_id, sample.summary, reason))
            return
        targets.append(
            Target(
                manager,
                report,
                own.provider,
                own.calendar,
                own.event_id,
                kind,
                own.summary,
                own.start,
                own.description,
                own.etag,
            )
        )

    for history in histories:  # stale ones too: the writer reads the event fresh before writing
        manager, report = history.pair.key
        people = frozenset(history.pair.key)
        for series in history.series:
            if series.ended or series.deleted:
                continue
            provider, _, event_id = series.key.partition(":")
            copies = masters.get((provider, event_id))
            if copies:
                choose(copies, "series", manager, report)
        for occurrence in history.occurrences:
            if not occurrence.is_one_off or occurrence.outcome not in (Outcome.SCHEDULED, Outcome.HELD):
                continue
            if occurrence.end <= history.now:
                continue
            copies = [e for e in singles.get(occurrence.start, []) if humans(e, directory) == people]
            if copies:
                choose(copies, "one-off", manager, report)
    return targets, skipped


def plan(
    session: Session,
    settings: Settings,
    targets: Iterable[Target],
    base_url: str,
    now: datetime,
    writable: Container[str] | None = None,
) -> list[Decision]:
    """Record the intended writes (the caller commits before any provider call) and say what happens.

    A calendar no writer can change (an ICS feed) gets no intent at all: an intent there would say
    "intended" for ever. `writable`: the providers that can be written (None: all)."""
    agenda = settings.agenda
    decisions = []
    targets = list(targets)
    pairs = pairs_by_key(session, [(t.manager, t.report) for t in targets])
    writes = _writes_by_event(session, {t.calendar for t in targets})
    for target in targets:
        pair = pairs.get((target.manager, target.report))
        if pair is None:
            continue
        url = page_url(base_url, pair.page_id)
        if writable is not None and target.provider not in writable:
            reason = f"a read-only calendar ({target.provider}): the link reaches them by email instead"
            decisions.append(Decision(target, "skip", reason, url))
            continue
        if not agenda.attach_for(target.provider):
            decisions.append(Decision(target, "skip", f"agenda.attach is off for {target.provider}", url))
            continue
        if target.calendar in agenda.opt_out_calendars:
            decisions.append(Decision(target, "skip", "the organizer's calendar opted out", url))
            continue
        row = writes.get((target.provider, target.calendar, target.event_id))
        if row is None:
            row = AgendaWriteRow(
                pair_id=pair.id,
                provider=target.provider,
                calendar=target.calendar,
                event_id=target.event_id,
                page_url=url,
                state="intended",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            writes[(target.provider, target.calendar, target.event_id)] = row
        _advance(row, pair, target, url, agenda.readd_removed, now)
        action = {"intended": "write", "done": "done"}.get(row.state, "skip")
        decisions.append(Decision(target, action, row.state, url))
    session.flush()
    return decisions


def _writes_by_event(session: Session, calendars: Collection[str]) -> dict[tuple[str, str, str], AgendaWriteRow]:
    """The stored writes on `calendars` in one query, by (provider, calendar, event id): their unique key."""
    query = only_these(select(AgendaWriteRow), AgendaWriteRow.calendar, calendars)
    return {(r.provider, r.calendar, r.event_id): r for r in session.scalars(query)}


def _advance(row: AgendaWriteRow, pair: AgendaPairRow, target: Target, url: str, readd: bool, now: datetime) -> None:
    """Move a stored write along from what the last sync saw of the event."""
    if row.state == "done":
        if row.page_url != url or row.pair_id != pair.id:
            row.state = "intended"  # the page was rotated (or re-created by `forget`)
        elif target.etag not in (row.base_etag, row.written_etag) and not has_link(target.description, url):
            log.info("agenda link removed by a person from %s/%s; not re-adding", target.calendar, target.event_id)
            row.state = "intended" if readd else "user_removed"
    elif row.state == "user_removed" and readd:
        row.state = "intended"
    # `page_url` keeps the URL that is in the event until the new one is written (it is swapped out then).
    row.pair_id = pair.id
    row.updated_at = now


def replaced_urls(pair: AgendaPairRow, row: AgendaWriteRow, base_url: str) -> tuple[str, ...]:
    old = [page_url(base_url, p) for p in pair.previous_page_ids or []]
    if row.page_url:
        old.append(row.page_url)
    return tuple(u for u in dict.fromkeys(old) if u != page_url(base_url, pair.page_id))


CrashHook = Callable[[str], None]


def execute(
    db: Database,
    writer: AgendaWriter,
    row_id: int,
    link: AgendaLink,
    now: datetime,
    *,
    readd: bool = False,
    crash: CrashHook = lambda _point: None,
) -> str:
    """Make one intended write; returns the row's new state. The intent is already committed."""
    with db.session() as session:
        row = session.get(AgendaWriteRow, row_id)
        if row is None or row.state != "intended":
            return row.state if row is not None else "gone"
        calendar, event_id = row.calendar, row.event_id
    crash("mid_writeback")
    try:
        state, base, written = _write(writer, calendar, event_id, link, readd, crash)
    except ProviderError as exc:
        return _failed(db, row_id, exc, now)
    with db.session() as session:
        row = session.get(AgendaWriteRow, row_id)
        if row is None:
            return "gone"
        row.updated_at = now
        if state == "conflict":
            row.attempts += 1
            row.last_error = f"the event kept changing ({MAX_CONFLICTS} conflicts); retrying next cycle"
            return row.state
        row.state, row.base_etag, row.written_etag, row.last_error = state, base, written, None
        row.page_url = link.url
        if state == "done":
            row.done_at = now
        return state


def _write(
    writer: AgendaWriter, calendar: str, event_id: str, link: AgendaLink, readd: bool, crash: CrashHook
) -> tuple[str, str | None, str | None]:
    """(state, etag written over, etag produced). Read → already there? → PATCH If-Match → 412: again."""
    for _ in range(MAX_CONFLICTS):
        current = writer.read_event(calendar, event_id)
        if has_link(current.text, link.url):
            return "done", current.etag, current.etag  # written before a crash, or by an earlier run
        if current.marker == link.marker and not readd:
            return "user_removed", current.etag, current.etag  # we wrote it, a person took it out
        try:
            etag = writer.attach_agenda(current, link)
        except PreconditionFailed:
            log.info("agenda write to %s/%s lost a race (412); re-reading", calendar, event_id)
            continue
        crash("after_writeback")
        return "done", current.etag, etag
    return "conflict", None, None


def _failed(db: Database, row_id: int, exc: ProviderError, now: datetime) -> str:
    with db.session() as session:
        row = session.get(AgendaWriteRow, row_id)
        if row is None:
            return "gone"
        row.attempts += 1
        row.last_error = f"{exc.kind}: {exc.message}"[:2000]
        row.updated_at = now
        permanent = isinstance(exc, PermanentError | AuthError)
        if permanent or row.attempts >= MAX_ATTEMPTS:
            row.state = "failed"
        log.warning("agenda write to %s/%s failed (%s): %s", row.calendar, row.event_id, exc.kind, exc.message)
        return row.state


def run_writes(
    db: Database,
    writers: Mapping[str, AgendaWriter],
    decisions: Sequence[Decision],
    base_url: str,
    now: datetime,
    report: WritebackReport,
    *,
    readd: bool = False,
    crash: CrashHook = lambda _point: None,
    concurrency: int = 1,
) -> None:
    """Make the intended writes, `concurrency` at a time: a fresh install writes one link per series, two
    requests each, so one at a time is hours at real API latency. Each write stands alone (its row is
    re-read, then `execute`), so their order does not matter."""
    todo: list[tuple[Target, AgendaWriter]] = []
    for decision in decisions:
        if decision.action == "done":
            report.already += 1
        writer = writers.get(decision.target.provider)
        if decision.action == "write" and writer is not None:
            todo.append((decision.target, writer))

    def one(work: tuple[Target, AgendaWriter]) -> str:
        target, writer = work
        with db.session() as session:
            row = session.scalar(
                select(AgendaWriteRow).where(
                    AgendaWriteRow.provider == target.provider,
                    AgendaWriteRow.calendar == target.calendar,
                    AgendaWriteRow.event_id == target.event_id,
                )
            )
            pair = pair_row(session, target.manager, target.report)
            if row is None or pair is None:
                return "gone"
            link = AgendaLink(
                url=page_url(base_url, pair.page_id),
                title=link_title(pair.manager, pair.report),
                marker=pair.page_id,
                replaces=replaced_urls(pair, row, base_url),
            )
            row_id = row.id
        return execute(db, writer, row_id, link, now, readd=readd, crash=crash)

    if concurrency <= 1 or len(todo) <= 1:
        states = [one(work) for work in todo]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(todo)), thread_name_prefix="agenda") as pool:
            states = list(pool.map(one, todo))
    for state in states:
        if state == "done":
            report.written += 1
        elif state == "user_removed":
            report.user_removed += 1
        elif state == "failed":
            report.failed += 1
