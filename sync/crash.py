"""Named crash points, for the crash tests: the process dies there as if killed by SIGKILL.

Production runs never set a plan. The crash test sets `ONEONONE_CRASH_AT=<point>:<n>` so the
daemon exits abruptly (no cleanup, no rollback, no flush) the n-th time it reaches that point,
then restarts it and checks that nothing was lost and nothing was done twice.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CRASH_EXIT_CODE = 137
POINTS = (
    "after_fetch",  # pages fetched from the provider, nothing written
    "mid_commit",  # events written in the transaction, cursor not yet committed
    "after_commit",  # a calendar's changes and cursor committed
    "after_findings",  # findings recorded and emails queued, nothing sent
    "after_smtp",  # the SMTP server accepted an email; our commit has not happened
    "mid_writeback",  # an agenda write recorded as intended, the provider not yet called
    "after_writeback",  # the provider accepted the agenda write; our commit has not happened
)


@dataclass
class CrashPlan:
    point: str | None = None
    after: int = 1
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls, value: str | None) -> CrashPlan:
        if not value:
            return cls()
        point, _, count = value.partition(":")
        if point not in POINTS:
            raise ValueError(f"ONEONONE_CRASH_AT: unknown crash point {point!r} (known: {', '.join(POINTS)})")
        return cls(point=point, after=int(count or 1))

    def hit(self, name: str) -> None:
        if name != self.point:
            return
        with self._lock:
            self.hits += 1
            if self.hits < self.after:
                return
        sys.stderr.write(f"oneonone: crash point {name} reached ({self.hits}); exiting as if killed\n")
        sys.stderr.flush()
        os._exit(CRASH_EXIT_CODE)
