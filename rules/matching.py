"""Replacement matching: which meeting makes up for which cancelled slot.

One-to-one, nearest first, ties to the earliest cancellation. A one-off replaces the nearest
cancelled slot within the window. A moved instance belongs to its own slot; it may replace
another cancelled slot only when its own slot is itself covered by a spare one-off, so no
single meeting ever makes up for two slots.

Greedy nearest-first matching is monotone in the offers: adding a one-off can only let more
cancelled slots be matched, never fewer (the property tests check this end to end).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

Within = Callable[[datetime, datetime], bool]


@dataclass(frozen=True, slots=True)
class Matching:
    replaced: dict[datetime, datetime]  # cancelled original start → start of its replacement
    covered: dict[datetime, datetime]  # moved slot's original start → the one-off standing in for it


def _distance(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds())


def match(
    cancelled: Sequence[datetime],
    one_offs: Sequence[datetime],
    moved: Sequence[tuple[datetime, datetime]],
    within: Within,
) -> Matching:
    """`moved` holds (slot original start, where its instance is now)."""
    replaced: dict[datetime, datetime] = {}
    used: set[datetime] = set()
    edges = sorted(
        (_distance(offer, need), need, offer) for need in cancelled for offer in one_offs if within(need, offer)
    )
    for _, need, offer in edges:
        if need not in replaced and offer not in used:
            replaced[need] = offer
            used.add(offer)
    spare = sorted(offer for offer in one_offs if offer not in used)
    covered: dict[datetime, datetime] = {}
    moved_edges = sorted(
        (_distance(instance, need), need, instance, slot)
        for need in cancelled
        for slot, instance in moved
        if need not in replaced and within(need, instance)
    )
    for _, need, instance, slot in moved_edges:
        if need in replaced or slot in covered:
            continue
        stand_ins = sorted((_distance(o, slot), o) for o in spare if o not in used and within(slot, o))
        if stand_ins:
            stand_in = stand_ins[0][1]
            used.add(stand_in)
            covered[slot] = stand_in
            replaced[need] = instance
    return Matching(replaced, covered)
