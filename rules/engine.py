"""The entry points: judge every pair in a bag of event copies at a given `now`.

Pure: no I/O and no clock. The caller owns the store: it opens findings once per identity,
updates them as facts change, and resolves the open findings of `judged_pairs` that are no
longer reported. Pairs in `skipped_pairs` rest on stale calendar data — stale data is not
evidence, so their findings are left exactly as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rules.cadence import gap_findings
from rules.cancellations import cancellation_findings
from rules.digest import churn_findings, short_findings
from rules.gather import gather
from rules.history import PairHistory, build_history
from rules.model import CalendarEvent, EvaluationContext, Finding


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]  # sorted by (manager, report, rule, key)
    judged_pairs: frozenset[tuple[str, str]]  # their open findings not in `findings` get resolved
    skipped_pairs: frozenset[tuple[str, str]]  # stale calendar data: their open findings stay as they are
    # Occurrences before this were outside the evaluated history: an open per-occurrence finding
    # about one of them was not re-judged (the caller may keep it rather than resolve it).
    judged_since: datetime | None = None


def pair_histories(events: Iterable[CalendarEvent], context: EvaluationContext) -> list[PairHistory]:
    """Every visible pair's history (stale ones included, flagged `stale`), sorted by pair."""
    canonical = functools.lru_cache(maxsize=None)(context.directory.canonical)  # per call: no global state
    histories = [build_history(found, context, tz, canonical) for found, tz in gather(events, context)]
    return sorted(histories, key=lambda h: h.pair.key)


def judge(history: PairHistory, context: EvaluationContext) -> list[Finding]:
    """All rules over one pair's history."""
    settings = context.settings
    cancellations = cancellation_findings(history, settings)
    keys = frozenset(f.key for f in cancellations)
    return [
        *cancellations,
        *gap_findings(history, settings, keys),
        *short_findings(history, settings),
        *churn_findings(history, settings),
    ]


def evaluate(events: Iterable[CalendarEvent], context: EvaluationContext) -> Evaluation:
    return judge_histories(pair_histories(events, context), context)


def judge_histories(histories: Iterable[PairHistory], context: EvaluationContext) -> Evaluation:
    """All rules over histories already built (the daemon builds them once for rules and agenda)."""
    findings: list[Finding] = []
    judged: set[tuple[str, str]] = set()
    skipped: set[tuple[str, str]] = set()
    for history in histories:
        if history.stale:
            skipped.add(history.pair.key)
            continue
        judged.add(history.pair.key)
        findings.extend(judge(history, context))
    findings.sort(key=lambda f: (f.manager, f.report, f.rule, f.key))
    return Evaluation(
        findings=tuple(findings),
        judged_pairs=frozenset(judged),
        skipped_pairs=frozenset(skipped),
        judged_since=context.now - timedelta(days=context.settings.history_days),
    )
