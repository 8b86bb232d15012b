"""Who joined a 1:1's video call: the evidence, and what it says about the occurrence.

A 1:1 that stayed on the calendar but that one of the two never joined is the quietest
cancellation of all. The sync reads the conference's participants (Google Meet, Teams) once the
meeting has settled and keeps only the two people's join intervals; this module judges them.

Pure like the rest of `rules/`. Evidence is optional: no conference, evidence not read yet, or
not permitted — then there is no `Attendance` for the occurrence and the calendar decides as
before. A person who joined from two devices (or dropped and rejoined) is one person: their
intervals are merged before anything is measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

Interval = tuple[datetime, datetime]

OFF = "off"
PREFER = "prefer"


@dataclass(frozen=True, slots=True)
class Attendance:
    """The join intervals of the pair's two people in one occurrence's call (UTC).

    A person missing from `joined` (or with no interval) never joined. Nothing else of the
    meeting is kept: not who else joined, not the title, not the chat.
    """

    joined: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict)
    read_at: datetime | None = None  # when the evidence was read (an old reading is history, not news)
    source: str = ""  # "google-meet" | "teams"


class Presence(StrEnum):
    HELD = "held"  # both joined and were in the call together long enough
    NO_SHOW = "no-show"  # the slot stayed but one or both never joined, or never together


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the evidence says about one occurrence, with the figures its words need."""

    presence: Presence
    together_minutes: int
    absent: tuple[str, ...]  # who never joined (manager first)
    first_joined: Mapping[str, datetime]
    last_left: Mapping[str, datetime]
    read_at: datetime | None = None


def merged(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals as one: two devices, or a rejoin, count once."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def together(a: Iterable[Interval], b: Iterable[Interval]) -> timedelta:
    """How long both were in the call at once."""
    total = timedelta()
    left, right = merged(a), merged(b)
    i = j = 0
    while i < len(left) and j < len(right):
        start, end = max(left[i][0], right[j][0]), min(left[i][1], right[j][1])
        if end > start:
            total += end - start
        if left[i][1] <= right[j][1]:
            i += 1
        else:
            j += 1
    return total


def judge(attendance: Attendance, manager: str, report: str, min_minutes: int) -> Verdict:
    people = (manager, report)
    spans = {p: merged(attendance.joined.get(p, ())) for p in people}
    absent = tuple(p for p in people if not spans[p])
    shared = together(spans[manager], spans[report])
    minutes = int(shared.total_seconds() // 60)
    held = not absent and shared >= timedelta(minutes=min_minutes)
    return Verdict(
        presence=Presence.HELD if held else Presence.NO_SHOW,
        together_minutes=minutes,
        absent=absent,
        first_joined={p: s[0][0] for p, s in spans.items() if s},
        last_left={p: s[-1][1] for p, s in spans.items() if s},
        read_at=attendance.read_at,
    )


def in_words(verdict: Verdict) -> str:
    """ "held (both joined, 28 min)" or "no-show: raj@… did not join": what the page and the digest say.

    People are named by address here (the rules' currency); the mail and the page put names in.
    """
    if verdict.presence is Presence.HELD:
        return f"held (both joined, {verdict.together_minutes} min)"
    if len(verdict.absent) == 2:
        return "no-show: neither joined"
    if verdict.absent:
        return f"no-show: {verdict.absent[0]} did not join"
    return f"no-show: together only {verdict.together_minutes} min"
