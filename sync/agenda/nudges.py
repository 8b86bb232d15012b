"""Nudges: the report before a 1:1 with no talking point of theirs, the manager after one with no notes.

Each nudge is decided (`decide`, nothing written), then queued in one transaction (an `agenda_nudges`
row, unique per kind, pair and occurrence, plus the outbox row with a deterministic Message-ID), so it goes out at most
once per occurrence whatever crashes. The missing agenda is also a finding, `agenda-not-prepared`,
decided in `rules/agenda.py` and recorded (never emailed to the manager) while it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.agenda import agenda_finding, due_agenda
from rules.history import PairHistory
from rules.model import EvaluationContext, Finding
from sync.agenda.mail import Mail, agenda_nudge_mail, notes_nudge_mail, queue
from sync.agenda.meetings import zone_of
from sync.agenda.page import MeetingView, PageView
from sync.agenda.store import page_url
from sync.notify.policy import MailPolicy
from sync.notify.unsubscribe import opted_out
from sync.store.models import AgendaNudgeRow, AgendaPairRow

NOTES_NUDGE_WINDOW = timedelta(hours=48)  # after this, a meeting without notes is history, not a nudge


@dataclass(frozen=True)
class NudgeSettings:
    agenda_hours: int
    notes_hours: int
    policy: MailPolicy


def _once(
    session: Session,
    kind: str,
    pair: AgendaPairRow,
    occurrence: datetime,
    mail: Mail,
    now: datetime,
    cfg: NudgeSettings,
) -> bool:
    known = session.scalar(
        select(AgendaNudgeRow.id).where(
            AgendaNudgeRow.kind == kind, AgendaNudgeRow.pair_id == pair.id, AgendaNudgeRow.occurrence == occurrence
        )
    )
    if known is not None:
        return False
    outbox_id = None
    if mail.recipient not in cfg.policy.opt_out and not opted_out(session, mail.recipient, "nudge"):
        outbox_id = queue(session, mail, now, cfg.policy).id
    session.add(
        AgendaNudgeRow(
            kind=kind,
            pair_id=pair.id,
            occurrence=occurrence,
            recipient=mail.recipient,
            outbox_id=outbox_id,
            created_at=now,
        )
    )
    session.flush()
    return outbox_id is not None


def _meeting(page: PageView, original_start: datetime) -> MeetingView | None:
    for view in (page.next, page.notes_target, *page.past):
        if view.original_start == original_start:
            return view
    return None


@dataclass(frozen=True)
class Nudge:
    """A reminder decided for one occurrence of a pair: `agenda` to the report, `notes` to the manager."""

    kind: str
    occurrence: datetime
    mail: Mail


def decide(
    history: PairHistory,
    pair: AgendaPairRow,
    page: PageView,
    context: EvaluationContext,
    now: datetime,
    cfg: NudgeSettings,
) -> tuple[list[Finding], list[Nudge]]:
    """The `agenda-not-prepared` finding (decided in `rules/agenda.py`) and the nudges due now; nothing is
    written here."""
    manager, report = pair.manager, pair.report
    link = page_url(cfg.policy.base_url, pair.page_id)
    findings: list[Finding] = []
    nudges: list[Nudge] = []
    upcoming = due_agenda(history, now, cfg.agenda_hours)
    view = _meeting(page, upcoming.original_start) if upcoming is not None else None
    if upcoming is not None and view is not None:
        prepared = any(t.author == report for t in view.topics)
        finding = agenda_finding(history, upcoming, cfg.agenda_hours, prepared=prepared)
        if finding is not None:
            findings.append(replace(finding, details={"page": link}))
            zone = zone_of(report, context, cfg.policy.default_zone, partner=manager)
            mail = replace(agenda_nudge_mail(report, manager, link, upcoming.start, zone), zone=zone)
            nudges.append(Nudge("agenda", upcoming.original_start, mail))
    held = history.last_held
    if held is not None and not held.away and pair.created_at <= held.end:
        due = held.end + timedelta(hours=cfg.notes_hours)
        notes = _meeting(page, held.original_start)
        if notes is not None and due <= now < due + NOTES_NUDGE_WINDOW and not (notes.notes or notes.actions):
            zone = zone_of(manager, context, cfg.policy.default_zone, partner=report)
            nudges.append(
                Nudge(
                    "notes",
                    held.original_start,
                    replace(notes_nudge_mail(manager, report, link, held.start, zone), zone=zone),
                )
            )
    return findings, nudges


def pair_nudges(
    session: Session,
    history: PairHistory,
    pair: AgendaPairRow,
    page: PageView,
    context: EvaluationContext,
    now: datetime,
    cfg: NudgeSettings,
) -> tuple[list[Finding], int]:
    """Decide, then queue: the pair's findings, and how many nudges were queued now."""
    findings, nudges = decide(history, pair, page, context, now, cfg)
    queued = sum(_once(session, n.kind, pair, n.occurrence, n.mail, now, cfg) for n in nudges)
    return findings, queued
