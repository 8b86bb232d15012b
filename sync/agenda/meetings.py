"""A pair's meetings as the rules see them, for the page, the nudges and the write-back.

Only the two people's calendars are loaded, so opening one page does not read the whole store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from rules.engine import pair_histories
from rules.history import PairHistory
from rules.model import EvaluationContext
from sync.store.events import load_events

ContextFor = Callable[[Session, datetime], EvaluationContext]


def pair_history(session: Session, context: EvaluationContext, manager: str, report: str) -> PairHistory | None:
    canonical = context.directory.canonical
    calendars = [c for c in context.watched_calendars if canonical(c) in (manager, report)]
    if not calendars:
        return None
    histories = pair_histories(load_events(session, calendars), context)
    return next((h for h in histories if h.pair.key == (manager, report)), None)


def zone_of(person: str, context: EvaluationContext, default: str, *, partner: str | None = None) -> str:
    """A person's zone from their calendar, when it is watched; else, for one side of a pair, the zone of
    the other side's calendar (the 1:1 is on it: a report who is not watched sees the meeting's local time,
    not UTC); else the configured default."""
    canonical = context.directory.canonical
    for who in (person, partner):
        for calendar, zone in context.time_zones.items():
            if who is not None and canonical(calendar) == who and zone:
                return zone
    return default
