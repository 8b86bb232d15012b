"""The weekly digest: one email per manager, on their weekday and hour, in their own zone.

A daemon job (`digest_job`, hourly, one replica) finds the managers whose digest time has come
this week and queues each digest through the transactional outbox, together with a `digests` row
unique per (manager, ISO week) and a Message-ID derived from the same pair — so a manager gets one
per week across cycles, restarts, crashes and replicas. A digest missed by more than a day (the
daemon was down) is skipped rather than sent late in the week.

Contents: the report's table for the manager's reports, a 12-week timeline picture per pair (an
inline `cid:` PNG, with the same sequence in words), the digest-only findings (`short-meeting`,
`reschedule-churn` — shown here and nowhere else) and a link to each pair's agenda page.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rules.days import zone
from rules.digest import CHURN, SHORT
from rules.history import PairHistory
from rules.model import FindingStatus
from rules.summary import week_cells
from sync.config import WEEKDAYS, Settings
from sync.notify.inline import InlineImage, images_to_json
from sync.notify.outbox import Message, deliver_pending, queue_message
from sync.notify.policy import MailPolicy
from sync.notify.render import MAIL_TEMPLATES, TITLES, attendance_words, display_name, first_name, one_line
from sync.notify.unsubscribe import opted_out_of
from sync.runtime import Runtime
from sync.store.db import Database, only_one_replica, serialize
from sync.store.models import DigestRow, FindingRow
from sync.views.report import ReportRow, build_report, findings_text, local_day
from sync.views.timeline import PARTIAL, PARTIAL_WORDS, legend, size, swatch_png, timeline_png, timeline_text

log = logging.getLogger(__name__)

KIND = "digest"
DIGEST_LOCK = 7100110  # advisory-lock keys: one replica runs the digest job ...
QUEUE_LOCK = 7100111  # ... and queueing one digest is serialized all the same
DIGEST_RULES = (SHORT, CHURN)
CHECK_SECONDS = 3600


@dataclass(frozen=True)
class DigestMail:
    subject: str
    text: str
    html: str
    images: tuple[InlineImage, ...]


def iso_week(moment: datetime, time_zone: str) -> str:
    year, week, _ = moment.astimezone(zone(time_zone)).isocalendar()
    return f"{year}-W{week:02d}"


def is_due(now: datetime, time_zone: str, weekday: str, hour: int) -> bool:
    """Due from this week's `weekday` at `hour` (local) for one day: a digest is never sent late in the week."""
    tz = zone(time_zone)
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    day = monday + timedelta(days=WEEKDAYS.index(weekday))
    at = datetime.combine(day, time(hour), tzinfo=tz)
    return at <= local < at + timedelta(days=1)


def _findings(session: Session, manager: str, since: datetime) -> dict[str, list[FindingRow]]:
    """The manager's open digest-only findings, by report (older than the period: left out)."""
    rows = session.scalars(
        select(FindingRow)
        .where(
            FindingRow.manager == manager,
            FindingRow.status == FindingStatus.OPEN.value,
            FindingRow.rule.in_(DIGEST_RULES),
        )
        .order_by(FindingRow.report, FindingRow.rule, FindingRow.occurrence)
    )
    found: dict[str, list[FindingRow]] = defaultdict(list)
    for row in rows:
        if row.occurrence is None or row.occurrence >= since:
            found[row.report].append(row)
    return found


def _acknowledged(session: Session, manager: str) -> dict[str, list[str]]:
    """The manager's open findings someone acknowledged, by report, in words: shown, not counted."""
    rows = session.scalars(
        select(FindingRow)
        .where(
            FindingRow.manager == manager,
            FindingRow.status == FindingStatus.OPEN.value,
            FindingRow.acknowledged_at.is_not(None),
        )
        .order_by(FindingRow.report, FindingRow.occurrence)
    )
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        found[row.report].append(
            f"{TITLES.get(row.rule, row.rule)} (acknowledged by {row.acknowledged_by}: {row.ack_reason})"
        )
    return found


def _digest_items(rows: Sequence[FindingRow], now: datetime) -> list[dict[str, Any]]:
    """One line per (report, rule): the next such 1:1 (else the latest) speaks for the others."""
    by_rule: dict[str, list[FindingRow]] = defaultdict(list)
    for row in rows:
        by_rule[row.rule].append(row)
    items = []
    for rule, group in sorted(by_rule.items()):
        upcoming = [r for r in group if r.occurrence is not None and r.occurrence >= now]
        shown = upcoming[0] if upcoming else group[-1]
        message = shown.message.replace(shown.report, display_name(shown.report))  # a name, not an address
        items.append({"rule": rule, "title": TITLES.get(rule, rule), "message": message, "more": len(group) - 1})
    return items


def _last_call(history: PairHistory, now: datetime, time_zone: str) -> str:
    """The latest 1:1 whose call was read: "Mon 30 Nov: no-show: Raj did not join" ("" when none was)."""
    read = [o for o in history.occurrences if o.attendance is not None and o.start <= now]
    if not read:
        return ""
    last = max(read, key=lambda o: o.start)
    return f"{local_day(last.start, time_zone)}: {attendance_words(last)}"


def compose(
    manager: str,
    rows: Sequence[ReportRow],
    histories: Sequence[PairHistory],
    findings: dict[str, list[FindingRow]],
    *,
    now: datetime,
    time_zone: str,
    week: str,
    settings: Settings,
    sender_domain: str,
    acknowledged: dict[str, list[str]] | None = None,
) -> DigestMail:
    """The digest's text, HTML and pictures (one timeline PNG per pair, referenced by `cid:`)."""
    by_pair = {h.pair.key: h for h in histories}
    width, height = size(settings.digest.weeks)
    images: list[InlineImage] = []
    pairs = []
    for n, row in enumerate(rows, start=1):
        s = row.summary
        cells = week_cells(by_pair[(s.manager, s.report)], settings.digest.weeks, settings.rules.max_gap_days)
        cid = f"timeline{n}.{week}@{sender_domain}"
        images.append(InlineImage(cid=cid, filename=f"timeline-{n}.png", data=timeline_png(cells)))
        pairs.append(
            {
                "report": s.report,
                "report_name": display_name(s.report),
                "last_held": local_day(s.last_held, time_zone) or "none seen",
                "next": local_day(s.next_scheduled, time_zone) or "none booked",
                "gap_days": "" if s.gap_days is None else s.gap_days,
                "gap_late": s.gap_too_long,
                "summary": s,
                # In words, not rule ids: "no 1:1 for too long, cancelled without a new date ×3".
                "open": findings_text(row.open_findings, TITLES),
                "attention": row.needs_attention,
                "stale": s.stale,
                "url": row.page_url,
                "cid": cid,
                "timeline": timeline_text(cells),
                "findings": _digest_items(findings.get(s.report, []), now),
                "acknowledged": (acknowledged or {}).get(s.report, []),
                "last_call": _last_call(by_pair[(s.manager, s.report)], now, time_zone),
            }
        )
    keys = []  # the legend's keys are the strip's own cells, drawn by the same code
    for state, style in legend():
        cid = f"key-{state}.{week}@{sender_domain}"
        images.append(InlineImage(cid=cid, filename=f"key-{state}.png", data=swatch_png(state)))
        keys.append({"cid": cid, "glyph": style.glyph, "words": style.words})
    cid = f"key-{PARTIAL}.{week}@{sender_domain}"
    images.append(InlineImage(cid=cid, filename=f"key-{PARTIAL}.png", data=swatch_png("held", days=3)))
    keys.append({"cid": cid, "glyph": "◧", "words": PARTIAL_WORDS})
    attention = sum(1 for row in rows if row.needs_attention)  # one definition: sync/views/attention
    number = week.partition("-W")[2].lstrip("0")
    subject = f"Your 1:1s, week {number}: {len(pairs)} report{'s' if len(pairs) != 1 else ''}"
    if attention:
        subject += f", {attention} need{'s' if attention == 1 else ''} attention"
    context = {
        "manager_name": first_name(manager),
        "week": number,
        "zone": time_zone,
        "weeks": settings.digest.weeks,
        "pairs": pairs,
        "legend": keys,
        "width": width,
        "height": height,
        "weekday": settings.digest.weekday.capitalize(),
        "hour": f"{settings.digest.hour:02d}:00",
        "max_gap_days": settings.rules.max_gap_days,
    }
    return DigestMail(
        subject=one_line(subject),
        text=MAIL_TEMPLATES.get_template("digest.txt").render(context),
        html=MAIL_TEMPLATES.get_template("digest.html").render(context),
        images=tuple(images),
    )


def queue_digests(db: Database, settings: Settings, policy: MailPolicy, now: datetime) -> int:
    """Queue the digests that are due now and not yet queued this week; returns how many.

    The whole settings are read to build the report (the same evaluation as the cycle's); the mail
    itself obeys the policy."""
    if not settings.digest.enabled:
        return 0
    opt_out = set(settings.digest.opt_out) | policy.opt_out
    with db.session() as session:
        opt_out |= opted_out_of(session, "digest")  # the mail's own "Unsubscribe" (RFC 8058)
    with db.session() as session:
        rows, histories = build_report(session, settings, now, weeks=settings.digest.weeks)
    zones = {h.pair.manager: h.time_zone for h in histories}
    by_manager: dict[str, list[ReportRow]] = defaultdict(list)
    for row in rows:
        by_manager[row.summary.manager].append(row)
    queued = 0
    for manager, mine in sorted(by_manager.items()):
        time_zone = zones[manager]
        if manager in opt_out or not is_due(now, time_zone, settings.digest.weekday, settings.digest.hour):
            continue
        week = iso_week(now, time_zone)
        try:
            if _queue_one(db, settings, policy, manager, mine, histories, now, time_zone, week):
                queued += 1
        except IntegrityError:  # another replica queued it at the same moment: theirs stands
            log.info("digest for %s (%s) was queued elsewhere", manager, week)
    return queued


def _queue_one(
    db: Database,
    settings: Settings,
    policy: MailPolicy,
    manager: str,
    rows: list[ReportRow],
    histories: Sequence[PairHistory],
    now: datetime,
    time_zone: str,
    week: str,
) -> bool:
    with db.session() as session:
        serialize(session, QUEUE_LOCK)
        known = session.scalar(select(DigestRow.id).where(DigestRow.manager == manager, DigestRow.week == week))
        if known is not None:
            return False
        since = now - timedelta(weeks=settings.digest.weeks)
        mail = compose(
            manager,
            rows,
            histories,
            _findings(session, manager, since),
            now=now,
            time_zone=time_zone,
            week=week,
            settings=settings,
            sender_domain=policy.sender_domain,
            acknowledged=_acknowledged(session, manager),
        )
        message = Message(
            KIND,
            manager,
            [f"digest|{week}"],
            mail.subject,
            mail.text,
            mail.html,
            inline_images=images_to_json(mail.images),
            zone=time_zone,
        )
        outbox = queue_message(session, message, now, policy)
        session.add(DigestRow(manager=manager, week=week, outbox_id=outbox.id, created_at=now))
    log.info("digest for %s (%s) queued: %d pairs", manager, week, len(rows))
    return True


def digest_job(runtime: Runtime) -> Callable[[], int]:
    """The daemon's hourly job: one replica queues what is due, then the outbox delivers it at once."""

    def run_digests() -> int:
        with only_one_replica(runtime.db, DIGEST_LOCK) as mine:
            if not mine:
                return 0
            now = runtime.clock()
            queued = queue_digests(runtime.db, runtime.settings, runtime.policy, now)
        if queued and runtime.delivery():
            deliver_pending(
                runtime.db,
                runtime.delivery(),
                now,
                worker=runtime.worker,
                max_attempts=runtime.settings.notify.max_attempts,
            )
        return queued

    return run_digests
