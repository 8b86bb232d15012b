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


def zone_of(person: str, context: EvaluationContext, default: str) -> str:
    """A person's zone from their calendar, when it is watched; else the configured default."""
    canonical = context.directory.canonical
    for calendar, zone in context.time_zones.items():
        if canonical(calendar) == person and zone:
            return zone
    return default
