"""Loading and judging every pair builds a few hundred thousand small, short-lived objects.

CPython's cyclic collector runs every 700 allocations and its older generations walk the whole heap,
so at org scale it took 25-30 % of an evaluation (bench/, 8,000 pairs). Nothing in that path builds
reference cycles that must be reclaimed mid-way: reference counting frees it all, and the collector
catches up when it is switched back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; only the caller that paused it resumes it.

    Safe with other threads doing the same: whichever found it enabled turns it back on, so it is
    never left off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
