"""The agenda's command-line side: attach now (or show what would be written), status, rotate, forget."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from providers.agenda_text import link_block
from providers.base import AgendaLink
from rules.address import address_or_none
from rules.engine import pair_histories
from sync.agenda.first_meeting import is_new_pair
from sync.agenda.markdown_backend import file_for
from sync.agenda.store import Forgotten, ensure_pair, forget_person, page_url, pairs_of, rotate
from sync.agenda.writeback import Decision, Skipped, WritebackReport, find_targets, link_title
from sync.directory.sources import config_directory
from sync.evaluation import evaluation_context
from sync.runtime import Runtime
from sync.store.events import load_events
from sync.store.models import (
    AgendaItemRow,
    AgendaPairRow,
    AgendaSessionRow,
    AgendaWriteRow,
    DirectoryPairRow,
    DirectoryPersonRow,
    FindingRow,
    PairSeenRow,
)


@dataclass
class AttachResult:
    report: WritebackReport
    skipped: list[Skipped] = field(default_factory=list)
    previews: dict[tuple[str, str, str], str] = field(default_factory=dict)  # target key -> block


def attach_now(runtime: Runtime, *, dry_run: bool) -> AttachResult:
    """What a cycle's write-back does, from the stored events, without syncing first.

    A dry run records nothing and calls no provider: it shows, per event, what would happen and the
    block that would be added.
    """
    from sync.agenda.step import write_links

    settings, now = runtime.settings, runtime.clock()
    with runtime.db.session() as session:
        context = evaluation_context(session, settings, now)
        events = load_events(session)
        histories = pair_histories(events, context)
        if not dry_run:
            for history in histories:
                ensure_pair(session, *history.pair.key, now, is_new=is_new_pair(history, None, now.date(), 0))
        targets, skipped = find_targets(events, histories, context)
        pages = {(p.manager, p.report): p.page_id for p in session.scalars(select(AgendaPairRow))}
    if not dry_run:
        report = write_links(runtime.db, settings, runtime.writers, targets, now, crash=runtime.crash.hit)
        return AttachResult(report, skipped)
    known = [t for t in targets if (t.manager, t.report) in pages]
    report = write_links(runtime.db, settings, runtime.writers, known, now, dry_run=True)
    report.decisions += [
        Decision(t, "write", "a page is created for this pair first", "")
        for t in targets
        if (t.manager, t.report) not in pages
    ]
    result = AttachResult(report, skipped)
    for target in targets:
        page_id = pages.get((target.manager, target.report), "<new page id>")
        link = AgendaLink(page_url(settings.web.base_url, page_id), link_title(target.manager, target.report), page_id)
        result.previews[(target.provider, target.calendar, target.event_id)] = link_block(link)
    return result


@dataclass(frozen=True)
class PairStatus:
    manager: str
    report: str
    url: str
    is_new: bool
    writes: tuple[tuple[str, str, str, str], ...]  # (provider, calendar, event id, state)


def status(runtime: Runtime) -> list[PairStatus]:
    base = runtime.settings.web.base_url
    with runtime.db.session() as session:
        writes: dict[int, list[tuple[str, str, str, str]]] = {}
        for row in session.scalars(select(AgendaWriteRow).order_by(AgendaWriteRow.id)):
            # An intent on a calendar no writer can change (left by an older version) will never be written.
            state = row.state if row.provider in runtime.writers or row.state != "intended" else "read-only calendar"
            writes.setdefault(row.pair_id, []).append((row.provider, row.calendar, row.event_id, state))
        return [
            PairStatus(p.manager, p.report, page_url(base, p.page_id), p.is_new, tuple(writes.get(p.id, [])))
            for p in session.scalars(select(AgendaPairRow).order_by(AgendaPairRow.manager, AgendaPairRow.report))
        ]


def rotate_pages(runtime: Runtime, people: list[str], *, everything: bool, now: datetime) -> list[tuple[str, str, str]]:
    """New page ids for the chosen pairs: a page id, a person (all their pairs) or a manager and a report."""
    canonical = config_directory(runtime.settings).canonical
    chosen: list[AgendaPairRow] = []
    with runtime.db.session() as session:
        if everything:
            chosen = list(session.scalars(select(AgendaPairRow)))
        elif len(people) == 2 and all(address_or_none(p) for p in people):
            manager, report = (canonical(p) for p in people)
            chosen = [p for p in session.scalars(select(AgendaPairRow)) if {p.manager, p.report} == {manager, report}]
        elif len(people) == 1 and address_or_none(people[0]):
            chosen = pairs_of(session, canonical(people[0]))
        elif len(people) == 1:
            chosen = list(session.scalars(select(AgendaPairRow).where(AgendaPairRow.page_id == people[0])))
        base = runtime.settings.web.base_url
        return [(p.manager, p.report, page_url(base, rotate(session, p, now))) for p in chosen]


def is_known(runtime: Runtime, person: str) -> bool:
    """Whether oneonone holds anything about `person`: a misspelled address must not "forget" nobody."""
    email = config_directory(runtime.settings).canonical(person)
    people: list[tuple[type[Any], Any]] = [
        (DirectoryPersonRow, DirectoryPersonRow.address == email),
        (DirectoryPairRow, or_(DirectoryPairRow.manager == email, DirectoryPairRow.report == email)),
        (AgendaPairRow, or_(AgendaPairRow.manager == email, AgendaPairRow.report == email)),
        (PairSeenRow, or_(PairSeenRow.manager == email, PairSeenRow.report == email)),
        (FindingRow, or_(FindingRow.manager == email, FindingRow.report == email)),
        (AgendaSessionRow, AgendaSessionRow.email == email),
        (AgendaItemRow, or_(AgendaItemRow.author == email, AgendaItemRow.owner == email)),
    ]
    with runtime.db.session() as session:
        return any(session.scalar(select(model.id).where(where).limit(1)) is not None for model, where in people)


def forget(runtime: Runtime, person: str) -> Forgotten:
    """Delete the person's notes from the store and, with the Markdown backend, their pairs' files."""
    canonical = config_directory(runtime.settings).canonical
    agenda = runtime.settings.agenda
    with runtime.db.session() as session:
        pairs = [(p.manager, p.report) for p in pairs_of(session, canonical(person))]
        result = forget_person(session, canonical(person))
    if agenda.backend == "markdown" and agenda.markdown_dir is not None:
        for manager, report in pairs:
            file_for(agenda.markdown_dir, manager, report).unlink(missing_ok=True)
    return result
