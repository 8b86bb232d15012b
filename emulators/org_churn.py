"""A year of ordinary calendar life on top of a planned org: moves, cancellations, replacements, declines.

The demo's stories give every rule one clear example; the benchmarks need volume that looks like
a real org's history instead. Deterministic by seed; only past slots of weekly and biweekly
series are touched, never one a story already changed.
"""

from __future__ import annotations

import random
from datetime import timedelta

from emulators.org import InstanceChange, OneOffPlan, OrgPlan, _key, _slot


def add_churn(plan: OrgPlan, *, rate: float = 0.08, seed: int = 1) -> OrgPlan:
    """Change about `rate` of each series' past slots.

    Of those: 40% moved, 30% cancelled and replaced, 20% cancelled, 10% declined.
    """
    rng = random.Random(seed)
    taken = {(c.series, c.original_start) for c in plan.changes}
    for series in plan.series:
        if series.monthly:
            continue
        step = series.interval_weeks
        slot = series.first_start
        last = series.until
        while True:
            if slot.astimezone(plan.now.tzinfo) >= plan.now - timedelta(days=2) or (last and slot > last):
                break
            if (series.key, slot) not in taken and rng.random() < rate:
                roll = rng.random()
                if roll < 0.4:
                    plan.changes.append(InstanceChange(series.key, slot, "move", new_start=slot + timedelta(days=1)))
                elif roll < 0.7:
                    plan.changes.append(InstanceChange(series.key, slot, "cancel", by=series.organizer))
                    plan.one_offs.append(
                        OneOffPlan(
                            _key(series.key, "churn", slot.isoformat()),
                            series.organizer,
                            series.attendee,
                            f"{series.title} (moved)",
                            slot + timedelta(days=2),
                            series.zone,
                        )
                    )
                elif roll < 0.9:
                    plan.changes.append(InstanceChange(series.key, slot, "cancel", by=series.organizer))
                else:
                    plan.changes.append(InstanceChange(series.key, slot, "decline", by=series.attendee))
                taken.add((series.key, slot))
            slot = _slot(slot, step)
    return plan
