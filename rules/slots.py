"""Free slots for a 1:1: busy intervals, working hours and away days in, ranked slots out.

Pure like the rest of `rules/`: the caller reads free/busy from the providers and passes `now`.
A slot is proposed only when it fixes the rule (inside the window the finding gives), when both
people are free, inside both people's working hours in their own zones (so two zones 9 hours
apart may share no hour at all) and on no day either person is out of office. Candidates sit on
a fixed UTC step grid and every check converts to the person's zone for that very instant, so a
DST day (23 or 25 hours long) shifts nothing: 10:00 local is 10:00 local on either side of it.

Ranking: one slot per day, the earliest days first, each as close as possible to the series'
usual time of day (in the manager's zone); only when there are fewer free days than slots
wanted does a day get a second slot. When the window holds no free slot at all, the search goes
on after it (`after_days`) and says so (`in_window=False`), so a warning can offer "the first
free slots after it" instead of nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from rules.days import midnight, zone

MONDAY_TO_FRIDAY = frozenset(range(5))


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """The hours a person takes meetings, in their own zone; weekdays 0 = Monday."""

    zone: str = "UTC"
    start: time = time(9)
    end: time = time(17)
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY

    def contains(self, slot: Interval) -> bool:
        tz = zone(self.zone)
        first, last = slot.start.astimezone(tz), slot.end.astimezone(tz)
        if first.date() != last.date() or first.weekday() not in self.weekdays:
            return False
        return self.start <= first.time() and last.time() <= self.end and first < last


@dataclass(frozen=True, slots=True)
class Person:
    """What we know of one attendee's time: busy intervals (UTC) and away days in their zone."""

    email: str
    hours: WorkingHours = field(default_factory=WorkingHours)
    busy: tuple[Interval, ...] = ()
    away_days: frozenset[date] = frozenset()

    def is_away(self, slot: Interval) -> bool:
        tz = zone(self.hours.zone)
        days = {slot.start.astimezone(tz).date(), (slot.end - timedelta(microseconds=1)).astimezone(tz).date()}
        return bool(days & self.away_days)

    def is_free(self, slot: Interval) -> bool:
        return self.hours.contains(slot) and not self.is_away(slot) and not any(slot.overlaps(b) for b in self.busy)


@dataclass(frozen=True, slots=True)
class SlotQuery:
    """One search: the people, the window the rule allows and the meeting's shape."""

    people: tuple[Person, ...]
    window: Interval  # slots must start and end inside it
    duration: timedelta
    now: datetime
    display_zone: str = "UTC"  # the manager's: "usual time of day" is measured there
    usual_time: time | None = None
    step: timedelta = timedelta(minutes=30)
    count: int = 3
    after_days: int = 14  # how far past the window to look when it holds nothing


@dataclass(frozen=True, slots=True)
class SlotSearch:
    slots: tuple[Interval, ...]
    in_window: bool  # False: the window had nothing and these come after it (or there are none)


def _grid(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    """Instants on the step grid (counted from the Unix epoch) in [start, end)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = int(step.total_seconds())
    offset = int((start - epoch).total_seconds())
    first = epoch + timedelta(seconds=-(-offset // seconds) * seconds)
    moment = first
    while moment < end:
        yield moment
        moment += step


def free_slots(query: SlotQuery, window: Interval) -> list[Interval]:
    """Every grid slot in `window`, not before `now`, free for everybody, in time order."""
    start = max(window.start, query.now)
    found = []
    for moment in _grid(start, window.end - query.duration + timedelta(microseconds=1), query.step):
        slot = Interval(moment, moment + query.duration)
        if slot.end <= window.end and all(p.is_free(slot) for p in query.people):
            found.append(slot)
    return found


def _distance(slot: Interval, query: SlotQuery) -> int:
    if query.usual_time is None:
        return 0
    local = slot.start.astimezone(zone(query.display_zone))
    minutes = local.hour * 60 + local.minute
    return abs(minutes - (query.usual_time.hour * 60 + query.usual_time.minute))


def rank(slots: list[Interval], query: SlotQuery) -> tuple[Interval, ...]:
    """One per day, earliest days first, closest to the usual time; then seconds if short."""
    tz = zone(query.display_zone)
    by_day: dict[date, list[Interval]] = {}
    for slot in slots:
        by_day.setdefault(slot.start.astimezone(tz).date(), []).append(slot)
    for day_slots in by_day.values():
        day_slots.sort(key=lambda s: (_distance(s, query), s.start))
    chosen = [day_slots[0] for _, day_slots in sorted(by_day.items())][: query.count]
    if len(chosen) < query.count:
        rest = sorted((s for s in slots if s not in chosen), key=lambda s: (_distance(s, query), s.start))
        chosen += rest[: query.count - len(chosen)]
    return tuple(sorted(chosen, key=lambda s: s.start))


def search(query: SlotQuery) -> SlotSearch:
    """Ranked slots inside the rule's window, else the first ones after it."""
    if query.count <= 0 or query.duration <= timedelta(0):
        return SlotSearch((), True)
    inside = free_slots(query, query.window)
    if inside:
        return SlotSearch(rank(inside, query), True)
    after = max(query.window.end, query.now)
    later = Interval(after, after + timedelta(days=query.after_days))
    return SlotSearch(rank(free_slots(query, later), query), False)


def rule_window(
    rule: str, details: Mapping[str, str], manager_zone: str, now: datetime, asap_days: int = 7
) -> Interval | None:
    """Where a slot fixes the finding: the replacement window of a cancelled slot; before the gap
    breaks for `cadence-gap-ahead`; as soon as possible (the next `asap_days`) for `cadence-gap`."""
    tz = zone(manager_zone)
    if rule == "cancelled-without-reschedule" and "/" in details.get("replacement_looked_for", ""):
        first, last = (date.fromisoformat(d) for d in details["replacement_looked_for"].split("/"))
        return Interval(midnight(first, tz), midnight(last + timedelta(days=1), tz))
    if rule == "cadence-gap-ahead" and details.get("book_by"):
        end = midnight(date.fromisoformat(details["book_by"]) + timedelta(days=1), tz)
        return Interval(now, end) if end > now else Interval(now, now + timedelta(days=asap_days))
    if rule == "cadence-gap":
        return Interval(now, now + timedelta(days=asap_days))
    return None
