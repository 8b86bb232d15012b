"""The entry points: judge every pair in a bag of event copies at a given `now`.

Pure: no I/O and no clock. The caller owns the store: it opens findings once per identity,
updates them as facts change, and resolves the open findings of `judged_pairs` that are no
longer reported. Pairs in `skipped_pairs` rest on stale calendar data — stale data is not
evidence, so their findings are left exactly as they are. Hostile or broken data costs only its
own pair: it is named in `bad_data` and that pair is skipped; every other pair is judged as usual.
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
from rules.history import PairEvents, PairHistory, build_history
from rules.model import CalendarEvent, EvaluationContext, Finding
from rules.no_show import no_show_findings
from rules.screen import BadData, pair_failure, screen


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: tuple[Finding, ...]  # sorted by (manager, report, rule, key)
    judged_pairs: frozenset[tuple[str, str]]  # their open findings not in `findings` get resolved
    skipped_pairs: frozenset[tuple[str, str]]  # stale calendar data: their open findings stay as they are
    # Occurrences before this were outside the evaluated history: an open per-occurrence finding
    # about one of them was not re-judged (the caller may keep it rather than resolve it).
    judged_since: datetime | None = None
    bad_data: tuple[BadData, ...] = ()  # refused events, and pairs whose data made a rule fail (skipped)


@dataclass(frozen=True, slots=True)
class Histories:
    histories: list[PairHistory]  # sorted by pair
    bad_data: tuple[BadData, ...]  # refused events, and the pairs whose history could not be built


def _pair_events(found: PairEvents) -> list[CalendarEvent]:
    series = [e for s in found.series for e in (s.master, *s.exceptions.values())]
    one_offs = [e for copy, _ in found.one_offs for e in (copy.event, copy.exception) if e is not None]
    return [*series, *one_offs, *(e for e, own in found.out_of_office for e in (e, *own.values()))]


def build_histories(events: Iterable[CalendarEvent], context: EvaluationContext) -> Histories:
    """Every visible pair's history (stale ones included, flagged `stale`), each built in isolation."""
    canonical = functools.lru_cache(maxsize=None)(context.directory.canonical)  # per call: no global state
    usable, bad = screen(events)
    histories: list[PairHistory] = []
    failed: list[BadData] = []
    for found, tz in gather(usable, context):
        try:
            histories.append(build_history(found, context, tz, canonical))
        except Exception as error:  # one pair's data never stops the others; the pair is named instead
            failed.append(pair_failure(found.pair.key, _pair_events(found), error))
    return Histories(sorted(histories, key=lambda h: h.pair.key), (*bad, *failed))


def pair_histories(events: Iterable[CalendarEvent], context: EvaluationContext) -> list[PairHistory]:
    """Every visible pair's history that could be built (stale ones included, flagged `stale`)."""
    return build_histories(events, context).histories


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
        *no_show_findings(history, settings),
    ]


def evaluate(events: Iterable[CalendarEvent], context: EvaluationContext) -> Evaluation:
    built = build_histories(events, context)
    return judge_histories(built.histories, context, bad_data=built.bad_data)


def judge_histories(
    histories: Iterable[PairHistory], context: EvaluationContext, *, bad_data: tuple[BadData, ...] = ()
) -> Evaluation:
    """All rules over histories already built (the daemon builds them once for rules and agenda)."""
    findings: list[Finding] = []
    judged: set[tuple[str, str]] = set()
    skipped = {bad.pair for bad in bad_data if bad.pair is not None}
    bad = list(bad_data)
    for history in histories:
        if history.stale:
            skipped.add(history.pair.key)
            continue
        try:
            found = judge(history, context)
        except Exception as error:  # the pair is named and left as it was; the others are judged
            bad.append(pair_failure(history.pair.key, (), error))
            skipped.add(history.pair.key)
            continue
        judged.add(history.pair.key)
        findings.extend(found)
    findings.sort(key=lambda f: (f.manager, f.report, f.rule, f.key))
    return Evaluation(
        findings=tuple(findings),
        judged_pairs=frozenset(judged),
        skipped_pairs=frozenset(skipped),
        judged_since=context.now - timedelta(days=context.settings.history_days),
        bad_data=tuple(bad),
    )
