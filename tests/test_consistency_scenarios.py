"""One truth on the rules scenarios' histories: for every history in the table, the pair's summary and
its timeline say exactly what the rules found — "too long" where, and only where, `cadence-gap` broke;
a week marked cancelled for every cancellation finding; a cancelled count that is never zero while the
timeline shows a cancelled week, nor shown where the timeline has none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_rules_scenarios import SCENARIOS, Scenario, _context

from rules.days import local_date, midnight
from rules.engine import evaluate, pair_histories
from rules.summary import CANCELLED, HELD, MOVED, REPLACED, summarize, week_cells

GAP, CANCEL = "cadence-gap", "cancelled-without-reschedule"
WEEKS = 12


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_summary_and_timeline_agree_with_the_findings(s: Scenario) -> None:
    context = _context(s, s.now)
    evaluation = evaluate(s.history, context)
    max_gap = context.settings.max_gap_days
    for history in pair_histories(s.history, context):
        pair = history.pair.key
        if pair not in evaluation.judged_pairs:
            continue  # stale or skipped: no figure rests on it, and no finding either
        mine = [f for f in evaluation.findings if (f.manager, f.report) == pair]
        cells = week_cells(history, WEEKS, max_gap)
        since = midnight(cells[0].monday, history.tz)
        summary = summarize(history, since, max_gap)

        # "Too long" is the cadence-gap rule's own verdict, nothing looser or stricter.
        assert summary.gap_too_long == any(f.rule == GAP for f in mine), (s.name, summary.gap_days)
        if summary.gap_too_long:
            assert cells[-1].state not in (HELD, MOVED, REPLACED), "a gap too long ends in a week without a 1:1"

        # Every cancellation found (of a slot gone by) is a cancelled week on the timeline.
        by_monday = {cell.monday: cell.state for cell in cells}
        for finding in mine:
            if finding.rule != CANCEL or finding.occurrence is None or not since <= finding.occurrence <= history.now:
                continue
            day = local_date(finding.occurrence, history.tz)
            monday = day - timedelta(days=day.weekday())
            assert by_monday.get(monday) == CANCELLED, (s.name, finding.key)

        # The count and the picture agree: cancelled weeks are counted, and counted ones are drawn.
        marked = sum(1 for cell in cells if cell.state == CANCELLED)
        assert (marked == 0) == (summary.cancelled == 0), (s.name, marked, summary.cancelled)
        assert marked <= summary.cancelled


def test_the_table_holds_gaps_too_long_and_cancellations_to_agree_on() -> None:
    """The agreement above is not vacuous: the table has pairs on both sides of each verdict."""
    too_long = cancelled = fine = 0
    for s in SCENARIOS:
        context = _context(s, s.now)
        for history in pair_histories(s.history, context):
            cells = week_cells(history, WEEKS, context.settings.max_gap_days)
            summary = summarize(history, midnight(cells[0].monday, history.tz), context.settings.max_gap_days)
            too_long += summary.gap_too_long
            fine += not summary.gap_too_long
            cancelled += summary.cancelled > 0
    assert too_long >= 5 and fine >= 20 and cancelled >= 10
