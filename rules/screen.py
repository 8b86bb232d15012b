"""The rules' door: calendar data the rules cannot use is named here, never allowed to stop the org.

Anyone who can put an event on a watched calendar chooses its dates and its recurrence. An event
dated outside the years a 1:1 can happen in (year 1, year 9999 east of UTC) overflows the date
arithmetic every rule does, so it is refused before any pair sees it; a recurrence that is no 1:1
cadence is kept (it counts as its first slot, see `rules.recurrence`) and reported. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from rules.model import CalendarEvent, EventKind
from rules.recurrence import YEARS, rule_problem

_MAX_NAMED = 5  # event ids named per report: enough to find them, never a wall of text


@dataclass(frozen=True, slots=True)
class BadData:
    """Calendar data the rules could not use, named for the admin who can fix it."""

    provider: str
    calendar: str
    event_ids: tuple[str, ...]
    reason: str  # plain words, one line
    pair: tuple[str, str] | None = None  # (manager, report) left unjudged this time, when one was

    @property
    def key(self) -> str:
        """Stable across cycles: one admin alert per broken thing, not one per cycle."""
        return f"{self.provider}:{self.calendar}:{','.join(self.event_ids)}:{self.pair or ''}"

    def describe(self) -> str:
        ids = ", ".join(self.event_ids)
        where = f"event {ids} on the calendar of {self.calendar} ({self.provider})"
        who = f"the 1:1s of {self.pair[0]} and {self.pair[1]} were not judged: " if self.pair else ""
        return f"{who}{where}: {self.reason}"


def _plain(text: str, limit: int = 120) -> str:
    """Untrusted text for a log line or an email: one line, printable, bounded."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(flat.split())[:limit]


def _moments(event: CalendarEvent) -> Iterable[date | datetime | None]:
    yield from (event.start, event.end, event.original_start, event.updated, event.start_date, event.end_date)
    yield from event.cancelled_occurrences


def event_problem(event: CalendarEvent) -> str | None:
    """Why the rules refuse this event, or None."""
    for moment in _moments(event):
        if moment is None:
            continue
        if moment.year not in YEARS:
            return f"it is dated in year {moment.year}"
        if isinstance(moment, datetime) and moment.utcoffset() is None:
            return "one of its times has no time zone"
    return None


def recurrence_problem(event: CalendarEvent) -> str | None:
    """Why this series' recurrence is no 1:1 cadence (it then counts as its first slot only)."""
    if event.kind is not EventKind.MASTER or event.start is None:
        return None
    for line in event.recurrence:
        name, _, value = line.partition(":")
        if name.split(";")[0].upper() in ("RRULE", "EXRULE"):
            problem = rule_problem(value, event.start)
            if problem is not None:
                return f"its repeat rule cannot be a 1:1 cadence ({problem})"
    return None


def screen(events: Iterable[CalendarEvent]) -> tuple[list[CalendarEvent], tuple[BadData, ...]]:
    """The events the rules may use, and what was wrong with the others (in a stable order)."""
    kept: list[CalendarEvent] = []
    bad: dict[tuple[str, str, str], BadData] = {}
    for event in events:
        refused = event_problem(event)
        problem = refused or recurrence_problem(event)
        if problem is not None:
            bad[event.key] = BadData(event.provider, event.calendar, (_plain(event.event_id),), problem)
        if refused is None:
            kept.append(event)
    return kept, tuple(bad[key] for key in sorted(bad))


def pair_failure(pair: tuple[str, str], events: Iterable[CalendarEvent], error: BaseException) -> BadData:
    """A pair whose data made a rule raise: named by its events, so the others are judged as usual."""
    seen = sorted({(e.provider, e.calendar, e.event_id) for e in events})
    provider, calendar = (seen[0][0], seen[0][1]) if seen else ("", pair[0])
    ids = tuple(sorted({_plain(event_id) for _, _, event_id in seen}))
    named = ids[:_MAX_NAMED] + ((f"and {len(ids) - _MAX_NAMED} more",) if len(ids) > _MAX_NAMED else ())
    message = _plain(str(error), 200)
    return BadData(provider, calendar, named, f"the rules failed on it ({type(error).__name__}: {message})", pair)
