"""When judging a pair again may next give other findings with nothing but the clock moving (issue 20).

The rules compare `now` with a pair's own moments — a 1:1's start (held or still to come), a slot's
original start four weeks back (short 1:1s) or `history_days` back (the edge of the evaluated history),
the end of a series, the next slot to come inside the horizon — and count days in the manager's zone
(which matters once a gap may have begun: a healthy pair is not judged again every midnight).
Between two such moments the same rows give the same findings, so the daemon re-judges a pair once
the moment returned here has passed, or when its rows change; a hypothesis test holds this equal to
judging every pair every time.

Pure like the rest of `rules/`: `now` is the history's own.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

from rules.cadence import reference
from rules.days import local_date, midnight
from rules.digest import RECENT
from rules.history import PairHistory
from rules.model import RuleSettings


def next_midnight(moment: datetime, tz: tzinfo) -> datetime:
    """The UTC instant the local day after `moment`'s begins."""
    return midnight(local_date(moment, tz) + timedelta(days=1), tz)


def _day_counts(history: PairHistory, settings: RuleSettings, back: timedelta, ahead: timedelta) -> list[datetime]:
    """The midnights that matter: a gap's day count moves every day once it may have begun, and before
    that only on the first day it could begin (days away only push that later)."""
    now, tz = history.now, history.tz
    found = []
    ref = reference(history)
    if ref is not None:
        first_breach = ref.day + timedelta(days=settings.max_gap_days + 1)
        found.append(next_midnight(now, tz) if first_breach <= local_date(now, tz) else midnight(first_breach, tz))
        if ref.day <= local_date(now - back, tz) + timedelta(days=1):  # days away are counted from the window's
            found.append(next_midnight(now - back, tz) + back)  # first day, which moves every midnight
    if history.next_scheduled is None:  # an early warning counts to the horizon's last day
        found.append(next_midnight(now + ahead, tz) - ahead)
    return found


def _first(moments: Sequence[datetime], now: datetime, offset: timedelta) -> datetime | None:
    """The earliest `moment + offset` at or after `now` (`moments` sorted)."""
    i = bisect_left(moments, now - offset)
    return moments[i] + offset if i < len(moments) else None


def next_transition(
    history: PairHistory,
    settings: RuleSettings,
    *,
    start_offsets: Iterable[timedelta] = (),
    end_offsets: Iterable[timedelta] = (),
) -> datetime:
    """The earliest moment at or after `history.now` from which the pair's findings may differ.

    `start_offsets` and `end_offsets` are the caller's own moments around each 1:1 (an agenda reminder a
    day before its start, a notes reminder after its end, a call's attendance once it settled).
    """
    now, tz = history.now, history.tz
    back, ahead = timedelta(days=settings.history_days), timedelta(days=settings.horizon_days)
    occurrences = history.occurrences
    starts = sorted(o.start for o in occurrences)
    originals = sorted(o.original_start for o in occurrences)
    ends = sorted(o.end for o in occurrences)
    found = [
        *_day_counts(history, settings, back, ahead),
        _first(starts, now, timedelta()),  # a 1:1 starts: held, no longer upcoming
        _first(starts, now, back),  # the last held one leaves the evaluated history
        _first(originals, now, timedelta()),  # a slot counts as past (churn)
        _first(originals, now, back),  # a slot leaves the evaluated history
        _first(originals, now, RECENT),  # a slot leaves the recent weeks (short 1:1s)
        *(_first(starts, now, offset) for offset in start_offsets),
        *(_first(ends, now, offset) for offset in end_offsets),
        *(end for end in history.series_ends if end >= now),
    ]
    if history.next_arrival is not None:
        found.append(max(now, history.next_arrival - ahead))
    if history.pair.start is not None:
        begun = midnight(history.pair.start, tz)
        found.append(begun + back if begun + back >= now else None)
    return min(moment for moment in found if moment is not None)
