"""Nudges: the report before a 1:1 with no talking point of theirs, the manager after one with no notes.

Each nudge is decided and queued in one transaction (an `agenda_nudges` row, unique per kind,
pair and occurrence, plus the outbox row with a deterministic Message-ID), so it goes out at most
once per occurrence whatever crashes. The missing agenda is also a finding, `agenda-not-prepared`,
recorded (never emailed to the manager) while it holds, so `oneonone findings` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.history import PairHistory
from rules.model import EvaluationContext, Finding
from sync.agenda.mail import Mail, agenda_nudge_mail, notes_nudge_mail, queue
from sync.agenda.meetings import zone_of
from sync.agenda.page import MeetingView, PageView
from sync.agenda.store import page_url
from sync.notify.render import display_name, local_time
from sync.store.models import AgendaNudgeRow, AgendaPairRow

RULE_AGENDA = "agenda-not-prepared"
NOTES_NUDGE_WINDOW = timedelta(hours=48)  # after this, a meeting without notes is history, not a nudge


@dataclass(frozen=True)
class NudgeSettings:
    agenda_hours: int
    notes_hours: int
    base_url: str
    sender_domain: str
    default_zone: str
    observe: bool = False
    opt_out: frozenset[str] = frozenset()


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
    if mail.recipient not in cfg.opt_out:
        outbox_id = queue(session, mail, now, sender_domain=cfg.sender_domain, observe=cfg.observe).id
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


def pair_nudges(
    session: Session,
    history: PairHistory,
    pair: AgendaPairRow,
    page: PageView,
    context: EvaluationContext,
    now: datetime,
    cfg: NudgeSettings,
) -> tuple[list[Finding], int]:
    """The `agenda-not-prepared` finding (if it holds) and how many nudges were queued now."""
    manager, report = pair.manager, pair.report
    link = page_url(cfg.base_url, pair.page_id)
    findings: list[Finding] = []
    queued = 0
    upcoming = history.next_scheduled
    if upcoming is not None and not upcoming.away:
        view = _meeting(page, upcoming.original_start)
        due = upcoming.start - timedelta(hours=cfg.agenda_hours)
        if view is not None and due <= now < upcoming.start and not any(t.author == report for t in view.topics):
            zone = zone_of(report, context, cfg.default_zone, partner=manager)
            findings.append(
                Finding(
                    rule=RULE_AGENDA,
                    manager=manager,
                    report=report,
                    key=f"agenda:{upcoming.original_start.isoformat()}",
                    message=f"{display_name(report)} has added no talking points for the 1:1 on "
                    f"{local_time(upcoming.start, zone)}",
                    explanation=f"Less than {cfg.agenda_hours} h before the 1:1 the agenda has no talking point "
                    f"from {report}; they were reminded by email with the link to the page.",
                    occurrence=upcoming.original_start,
                    notify_at=None,
                    details={"page": link},
                )
            )
            mail = agenda_nudge_mail(report, manager, link, upcoming.start, zone)
            queued += _once(session, "agenda", pair, upcoming.original_start, mail, now, cfg)
    held = history.last_held
    if held is not None and not held.away and pair.created_at <= held.end:
        due = held.end + timedelta(hours=cfg.notes_hours)
        view = _meeting(page, held.original_start)
        if view is not None and due <= now < due + NOTES_NUDGE_WINDOW and not (view.notes or view.actions):
            zone = zone_of(manager, context, cfg.default_zone, partner=report)
            mail = notes_nudge_mail(manager, report, link, held.start, zone)
            queued += _once(session, "notes", pair, held.original_start, mail, now, cfg)
    return findings, queued
