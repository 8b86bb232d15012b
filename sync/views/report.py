"""Per-pair figures for `oneonone report` and the weekly digest, computed from the stored events.

The figures come from `rules.engine.pair_histories` over the same events and context the daemon
judges, so the report never disagrees with the warnings. Dates shown to people are in the
manager's zone; JSON carries UTC instants.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from rules.days import midnight, zone
from rules.engine import pair_histories
from rules.history import PairHistory
from rules.model import FindingStatus
from rules.summary import PairSummary, summarize
from sync.agenda.store import page_url
from sync.config import Settings
from sync.evaluation import evaluation_context
from sync.store.events import load_events
from sync.store.models import AgendaPairRow, FindingRow
from sync.views.attention import needs_attention_clause

DEFAULT_WEEKS = 12
COLUMNS = (
    "manager",
    "report",
    "last held",
    "next scheduled",
    "gap days",
    "held",
    "moved",
    "replaced",
    "cancelled",
    "away",
    "open findings",
)


@dataclass(frozen=True)
class ReportRow:
    summary: PairSummary
    open_findings: Mapping[str, int]  # rule -> how many open
    page_url: str | None  # the pair's agenda page, if it has one
    attention: Mapping[str, int] = field(default_factory=dict)  # rule -> how many need attention

    @property
    def needs_attention(self) -> bool:
        """Some open finding of the pair is (or will be) emailed: `sync.views.attention`."""
        return bool(self.attention)


def open_findings_by_pair(session: Session) -> dict[tuple[str, str], Counter[str]]:
    """Open findings not acknowledged (acknowledged ones are shown as such, apart)."""
    return _by_pair(session, FindingRow.status == FindingStatus.OPEN.value, FindingRow.acknowledged_at.is_(None))


def attention_by_pair(session: Session) -> dict[tuple[str, str], Counter[str]]:
    """The findings that need attention, by pair and rule."""
    return _by_pair(session, needs_attention_clause())


def _by_pair(session: Session, *where: ColumnElement[bool]) -> dict[tuple[str, str], Counter[str]]:
    found: dict[tuple[str, str], Counter[str]] = {}
    for manager, report, rule in session.execute(
        select(FindingRow.manager, FindingRow.report, FindingRow.rule).where(*where)
    ):
        found.setdefault((manager, report), Counter())[rule] += 1
    return found


def page_urls(session: Session, base_url: str) -> dict[tuple[str, str], str]:
    rows = session.execute(select(AgendaPairRow.manager, AgendaPairRow.report, AgendaPairRow.page_id))
    return {(m, r): page_url(base_url, page_id) for m, r, page_id in rows}


def since_for(history: PairHistory, since: date | None, weeks: int = DEFAULT_WEEKS) -> datetime:
    """The period's start: midnight of `since` in the manager's zone, else `weeks` weeks before now."""
    if since is None:
        return history.now - timedelta(weeks=weeks)
    return midnight(since, zone(history.time_zone))


def report_rows(
    histories: Iterable[PairHistory],
    *,
    since: date | None = None,
    weeks: int = DEFAULT_WEEKS,
    open_findings: Mapping[tuple[str, str], Mapping[str, int]] | None = None,
    attention: Mapping[tuple[str, str], Mapping[str, int]] | None = None,
    urls: Mapping[tuple[str, str], str] | None = None,
    manager: str | None = None,
    max_gap_days: int = 14,
) -> list[ReportRow]:
    rows = []
    for history in histories:
        key = history.pair.key
        if manager is not None and history.pair.manager != manager:
            continue
        rows.append(
            ReportRow(
                summary=summarize(history, since_for(history, since, weeks), max_gap_days),
                open_findings=dict(sorted((open_findings or {}).get(key, {}).items())),
                page_url=(urls or {}).get(key),
                attention=dict(sorted((attention or {}).get(key, {}).items())),
            )
        )
    return sorted(rows, key=lambda r: (r.summary.manager, r.summary.report))


def build_report(
    session: Session,
    settings: Settings,
    now: datetime,
    *,
    manager: str | None = None,
    since: date | None = None,
    weeks: int = DEFAULT_WEEKS,
) -> tuple[list[ReportRow], list[PairHistory]]:
    """Every visible pair's row (or one manager's), and the histories they were computed from."""
    context = evaluation_context(session, settings, now)
    canonical = context.directory.canonical
    who = canonical(manager) if manager else None
    calendars = None
    if who is not None:  # only the calendars the manager's pairs can rest on
        people = {who} | {p.report for p in context.directory.pairs if canonical(p.manager) == who}
        if context.directory.pairs:
            calendars = [c for c in context.watched_calendars if canonical(c) in people]
    histories = pair_histories(load_events(session, calendars), context)
    if who is not None:
        histories = [h for h in histories if h.pair.manager == who]
    rows = report_rows(
        histories,
        since=since,
        weeks=weeks,
        open_findings=open_findings_by_pair(session),
        attention=attention_by_pair(session),
        urls=page_urls(session, settings.web.base_url),
        max_gap_days=settings.rules.max_gap_days,
    )
    return rows, histories


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def local_day(value: datetime | None, time_zone: str) -> str:
    """`Mon 02 Mar 10:00` in the manager's zone; empty when there is none."""
    if value is None:
        return ""
    return value.astimezone(zone(time_zone)).strftime("%a %d %b %H:%M")


def findings_text(open_findings: Mapping[str, int], names: Mapping[str, str] | None = None) -> str:
    """`cadence-gap, cancelled-without-reschedule ×3`; with `names`, each rule in those words instead."""
    return ", ".join((names or {}).get(rule, rule) + ("" if n == 1 else f" ×{n}") for rule, n in open_findings.items())


def row_as_dict(row: ReportRow) -> dict[str, Any]:
    """The public JSON shape of `oneonone report --format json`."""
    s = row.summary
    return {
        "manager": s.manager,
        "report": s.report,
        "time_zone": s.time_zone,
        "since": _iso(s.since),
        "last_held": _iso(s.last_held),
        "next_scheduled": _iso(s.next_scheduled),
        "gap_days": s.gap_days,
        "gap_too_long": s.gap_too_long,
        "held": s.held,
        "moved": s.moved,
        "replaced": s.replaced,
        "cancelled": s.cancelled,
        "away": s.away,
        "open_findings": dict(row.open_findings),
        "needs_attention": row.needs_attention,
        "stale": s.stale,
        "agenda_url": row.page_url,
    }


def report_table(rows: Sequence[ReportRow], title: str = "1:1s by pair") -> Table:
    """A rich table; every cell is a `Text`, so addresses are never read as console markup."""
    table = Table(title=title)
    for column in COLUMNS:
        numeric = column in ("gap days", "held", "moved", "replaced", "cancelled", "away")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        s = row.summary
        gap = Text("" if s.gap_days is None else str(s.gap_days))
        if s.gap_too_long:
            gap.stylize("bold red")
        report = Text(s.report + (" (stale data)" if s.stale else ""))
        table.add_row(
            Text(s.manager),
            report,
            Text(local_day(s.last_held, s.time_zone)),
            Text(local_day(s.next_scheduled, s.time_zone)),
            gap,
            *(Text(str(n)) for n in (s.held, s.moved, s.replaced, s.cancelled, s.away)),
            Text(findings_text(row.open_findings)),
        )
    return table


def _cell(value: object) -> object:
    """Spreadsheets run cells that start with = + - @ as formulas: such text is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def report_csv(rows: Sequence[ReportRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.replace(" ", "_") for c in COLUMNS] + ["time_zone", "agenda_url"])
    for row in rows:
        d = row_as_dict(row)
        writer.writerow(
            _cell(value)
            for value in [
                d["manager"],
                d["report"],
                d["last_held"] or "",
                d["next_scheduled"] or "",
                "" if d["gap_days"] is None else d["gap_days"],
                d["held"],
                d["moved"],
                d["replaced"],
                d["cancelled"],
                d["away"],
                ";".join(f"{rule}={n}" for rule, n in row.open_findings.items()),
                d["time_zone"],
                d["agenda_url"] or "",
            ]
        )
    return out.getvalue()
