"""Applying a fresh directory to the one in force: which pairs start, which end and why, who left.

Pure (no I/O): `plan_refresh` compares the stored pairs in force with the snapshot's pairs in scope.
- A new pair starts on the directory's start date if it gives one, else today — except on the very
  first import, where "today" would be wrong for pairs that have worked together for years: their
  start stays unknown and the rules use the first 1:1 or the day oneonone first saw them.
- A pair that is no longer listed ends, with a reason: `left` (the manager or the report left:
  missing from a whole-company listing, or suspended / archived / disabled), `manager-changed`
  (the report now has another manager), `out-of-scope` (still in the directory, excluded by
  include/exclude), or `removed`.
- A refresh that would end more than half of the pairs in force is refused (see `too_large`): an
  HR export gone wrong must not end everyone's pairs and close their findings.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from rules.model import Pair
from sync.directory.sources import DirectorySnapshot

LEFT = "left"
MANAGER_CHANGED = "manager-changed"
OUT_OF_SCOPE = "out-of-scope"
REMOVED = "removed"


@dataclass(frozen=True)
class RefreshPlan:
    started: tuple[Pair, ...]
    kept: tuple[Pair, ...]  # in force before and after, with the directory's current start and source
    ended: tuple[tuple[Pair, str], ...]  # (the pair as it was, reason)
    left: tuple[str, ...]  # people active before who have left now
    returned: tuple[str, ...]  # people who had left and are back

    @property
    def in_force(self) -> tuple[Pair, ...]:
        return tuple(sorted((*self.kept, *self.started), key=lambda p: p.key))


def _reason(pair: Pair, snapshot: DirectorySnapshot, listed: Collection[tuple[str, str]], new_reports: set[str]) -> str:
    if snapshot.has_left(pair.manager) or snapshot.has_left(pair.report):
        return LEFT
    if pair.key in listed:
        return OUT_OF_SCOPE
    if pair.report in new_reports:
        return MANAGER_CHANGED
    return REMOVED


def plan_refresh(
    in_force: Mapping[tuple[str, str], Pair],
    active: Mapping[str, bool],
    snapshot: DirectorySnapshot,
    wanted: Sequence[Pair],
    today: date | Callable[[str], date],
    *,
    first_import: bool,
) -> RefreshPlan:
    """`in_force`: stored pairs in force; `active`: stored people (address -> active); `wanted`: the
    snapshot's pairs in scope; `today`: the date, or the date in a manager's zone (days are theirs)."""
    today_for = today if callable(today) else (lambda _manager: today)
    wanted_by_key = {p.key: p for p in wanted}
    kept, started = [], []
    for key, pair in sorted(wanted_by_key.items()):
        old = in_force.get(key)
        if old is not None:
            kept.append(replace(old, start=pair.start or old.start, source=pair.source))
        else:
            started.append(replace(pair, start=pair.start or (None if first_import else today_for(pair.manager))))
    new_reports = {p.report for p in started}
    listed = {p.key for p in snapshot.pairs}
    ended = tuple(
        (pair, _reason(pair, snapshot, listed, new_reports))
        for key, pair in sorted(in_force.items())
        if key not in wanted_by_key
    )
    left = tuple(sorted(person for person, was in active.items() if was and snapshot.has_left(person)))
    back = (person for person, was in active.items() if not was and person in snapshot.people)
    returned = tuple(sorted(person for person in back if not snapshot.has_left(person)))
    return RefreshPlan(tuple(started), tuple(kept), ended, left, returned)


def too_large(plan: RefreshPlan, in_force_before: int) -> bool:
    """More than half of the pairs in force would end (one of one counts: never replace it with nothing)."""
    return in_force_before > 0 and len(plan.ended) * 2 > in_force_before
