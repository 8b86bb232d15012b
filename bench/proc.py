"""What a bench step reads of its own process, and how it waits for the parent."""

from __future__ import annotations

import resource
import time
from pathlib import Path


def vm_mb(field: str = "VmHWM") -> float:
    """A line of /proc/self/status in MB. VmHWM (this process's peak) starts afresh at exec; `ru_maxrss`, the
    fallback off Linux, does not: Linux keeps it across execve, so it carried the peak of the bench process that
    spawned the step, the one holding the seeded emulator. VmRSS: resident now."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def wait_for(path: Path, poll: float = 0.02) -> None:
    """Until the parent has made `path` (its signal to go on)."""
    while not path.exists():
        time.sleep(poll)
