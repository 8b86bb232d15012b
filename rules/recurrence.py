"""Expand a series master into its slots, in the series' own wall-clock zone.

Every provider hands a series over in one form: the first slot (`start`, UTC), the zone it was
scheduled in, and RFC 5545 lines without DTSTART. Expanding at a fixed UTC offset would drift an
hour across DST, so the rule runs on zone-aware local times (a weekly 10:00 Europe/Berlin stays
10:00 local) and only the results are converted to UTC.

Decisions: DTSTART is always a slot (RFC 5545 says so; Google and Outlook agree). EXDATE and the
master's `cancelled_occurrences` do not shrink the pattern: they mark slots as *excluded*,
because deleting one occurrence is a cancellation the rules must see. EXRULE shapes the pattern.
A malformed line is ignored rather than failing the evaluation.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from dateutil.rrule import rrule, rruleset, rrulestr

from rules.days import zone
from rules.model import CalendarEvent

# Bounds on work per series: enough slots to see its rhythm, and to find the end of a bounded one.
_RHYTHM_SLOTS = 12
_MAX_SLOTS = 5000
_NOMINAL_DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30, "YEARLY": 365}


@dataclass(frozen=True, slots=True)
class ContentLine:
    name: str
    params: dict[str, str] = field(hash=False)
    value: str


@dataclass(frozen=True, slots=True)
class Expansion:
    """The slots of a timed series inside a range."""

    slots: tuple[datetime, ...]  # original starts (UTC), excluded ones included, sorted
    excluded: frozenset[datetime]  # removed by EXDATE or listed as cancelled on the master
    last: datetime | None  # the series' last slot (UTC); None when it never ends
    cadence_days: int | None  # days between consecutive slots; None for a single-slot series
    # The first slot at or after the range's end: when the range moves on, it is the next to come in.
    following: datetime | None = None


def parse_line(line: str) -> ContentLine | None:
    """`NAME;PARAM=V:VALUE` → its parts; None when the line is not a content line."""
    head, sep, value = line.strip().partition(":")
    if not sep or not head:
        return None
    name, *raw_params = head.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, _, val = raw.partition("=")
        params[key.strip().upper()] = val.strip().strip('"')
    return ContentLine(name.strip().upper(), params, value.strip())


def parse_value(text: str, tz: tzinfo | None) -> date | datetime | None:
    """A DATE, a UTC DATE-TIME, or a local DATE-TIME in `tz` (None keeps it floating)."""
    text = text.strip().partition("/")[0]  # a PERIOD counts from its start
    try:
        if len(text) == 8:
            return datetime.strptime(text, "%Y%m%d").date()
        if text.endswith("Z"):
            return datetime.strptime(text[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        naive = datetime.strptime(text, "%Y%m%dT%H%M%S")
    except ValueError:
        return None
    return naive if tz is None else naive.replace(tzinfo=tz)


def _values(line: ContentLine, series_tz: tzinfo | None) -> list[date | datetime]:
    tz = zone(line.params["TZID"]) if "TZID" in line.params and series_tz is not None else series_tz
    parsed = (parse_value(part, tz) for part in line.value.split(",") if part.strip())
    return [value for value in parsed if value is not None]


def _split_until(value: str) -> tuple[str, str | None]:
    parts = [part for part in value.split(";") if part]
    until = next((part.partition("=")[2] for part in parts if part.upper().startswith("UNTIL=")), None)
    return ";".join(part for part in parts if not part.upper().startswith("UNTIL=")), until


def _until(raw: str, tz: tzinfo | None) -> datetime | None:
    """UNTIL in the form dateutil needs: aware for a timed series, naive for an all-day one.

    A DATE on a timed series means "through that local day" (Google writes it so).
    """
    value = parse_value(raw, tz)
    if value is None:
        return None
    if value.year > YEARS[-1]:  # "forever" written as year 9999 overflows east of UTC
        value = value.replace(year=YEARS[-1], month=12, day=31)
    if tz is None:
        return datetime.combine(value if not isinstance(value, datetime) else value.date(), time())
    if not isinstance(value, datetime):
        return datetime.combine(value, time(23, 59, 59), tzinfo=tz)
    return value


# A 1:1 repeats daily at most; anything finer, or a rule that never advances, is hostile or broken.
_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
MAX_INTERVAL = 520
MAX_COUNT = 5000
YEARS = range(1900, 2201)  # a 1:1 happens in these years (rules.screen refuses events outside them)


def rule_problem(value: str, dtstart: datetime) -> str | None:
    """Why a recurrence rule cannot be a 1:1 series (INTERVAL=0 hangs dateutil; year 9999 overflows)."""
    if _part(value, "FREQ") not in _FREQUENCIES:
        return f"FREQ={_part(value, 'FREQ')} is not a 1:1 cadence"
    interval = _part(value, "INTERVAL")
    if interval is not None and not (interval.isdigit() and 1 <= int(interval) <= MAX_INTERVAL):
        return f"INTERVAL={interval} is outside 1..{MAX_INTERVAL}"
    count = _part(value, "COUNT")
    if count is not None and not (count.isdigit() and 1 <= int(count) <= MAX_COUNT):
        return f"COUNT={count} is outside 1..{MAX_COUNT}"
    if dtstart.year not in YEARS:
        return f"the series starts in year {dtstart.year}"
    return None


def _rule(line: ContentLine, dtstart: datetime, tz: tzinfo | None) -> rrule | None:
    body, raw_until = _split_until(line.value)
    if rule_problem(line.value, dtstart) is not None:
        return None
    try:
        parsed = rrulestr(body, dtstart=dtstart)
        if not isinstance(parsed, rrule):
            return None
        until = _until(raw_until, tz) if raw_until and not _part(body, "COUNT") else None
        return parsed.replace(until=until) if until is not None else parsed
    except (ValueError, TypeError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class _Exclusions:
    exact_exclusions: frozenset[datetime]
    date_exclusions: frozenset[date]


@dataclass(frozen=True, slots=True)
class _Pattern:
    rules: rruleset
    bounded: bool
    exact_exclusions: frozenset[datetime]
    date_exclusions: frozenset[date]
    frequency: str | None
    interval: int


def _pattern(lines: Sequence[str], dtstart: datetime, tz: tzinfo | None) -> _Pattern:
    """The rule set plus the exclusions; `tz` None builds an all-day (floating, date) pattern."""
    rules = rruleset()
    rules.rdate(dtstart)
    bounded, frequency, interval = True, None, 1
    exact: set[datetime] = set()
    days: set[date] = set()
    for content in filter(None, map(parse_line, lines)):
        if content.name in ("RRULE", "EXRULE"):
            built = _rule(content, dtstart, tz)
            if built is None:
                continue
            if content.name == "EXRULE":
                rules.exrule(built)
                continue
            rules.rrule(built)
            bounded = bounded and any(_part(content.value, key) for key in ("UNTIL", "COUNT"))
            if frequency is None:
                frequency = _part(content.value, "FREQ")
                interval = _int(_part(content.value, "INTERVAL"))
        elif content.name == "RDATE":
            for value in _values(content, tz):
                rules.rdate(_at_slot_time(value, dtstart, tz))
        elif content.name == "EXDATE":
            for value in _values(content, tz):
                if isinstance(value, datetime) and tz is not None:
                    exact.add(value.astimezone(UTC))
                else:
                    days.add(value.date() if isinstance(value, datetime) else value)
    return _Pattern(rules, bounded, frozenset(exact), frozenset(days), frequency, interval)


def _part(value: str, key: str) -> str | None:
    for part in value.split(";"):
        name, _, val = part.partition("=")
        if name.strip().upper() == key:
            return val.strip().upper()
    return None


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() and int(text) > 0 else 1


def _at_slot_time(value: date | datetime, dtstart: datetime, tz: tzinfo | None) -> datetime:
    """An RDATE as a datetime comparable with the pattern (a DATE takes the series' time of day)."""
    if isinstance(value, datetime):
        return value if tz is not None else value.replace(tzinfo=None)
    return datetime.combine(value, dtstart.timetz() if tz is not None else time())


def _cadence(pattern: _Pattern) -> int | None:
    """Days between slots: the shortest local-date distance, or ~30 for a plain monthly rule."""
    firsts = sorted({moment.date() for moment in itertools.islice(iter(pattern.rules), _RHYTHM_SLOTS)})
    gaps = [(b - a).days for a, b in itertools.pairwise(firsts)]
    if not gaps:
        return None
    shortest = min(gaps)
    nominal = _NOMINAL_DAYS.get(pattern.frequency or "", 0) * pattern.interval
    if pattern.frequency in ("MONTHLY", "YEARLY") and shortest >= nominal - 3:
        return nominal  # month lengths vary; one slot a month is a ~30-day cadence
    return max(1, shortest)


def _first_slot(master: CalendarEvent) -> datetime | None:
    return master.start.astimezone(UTC) if master.start is not None else None


_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_WEEKLY_KEYS = frozenset({"FREQ", "INTERVAL", "BYDAY", "UNTIL", "COUNT", "WKST"})


@dataclass(frozen=True, slots=True)
class _Weekly:
    """A plain `FREQ=WEEKLY` on the first slot's own weekday: slots are dtstart + k·period, no search needed."""

    period: timedelta
    until: datetime | None
    count: int | None


def _simple_weekly(lines: Sequence[str], dtstart: datetime, tz: tzinfo) -> _Weekly | None:
    """The common 1:1 rule, recognised so it can be expanded by arithmetic; None for anything else."""
    rule: ContentLine | None = None
    for content in filter(None, map(parse_line, lines)):
        if content.name == "EXDATE":
            continue
        if content.name != "RRULE" or rule is not None:
            return None  # RDATE, EXRULE or a second rule: the general path
        rule = content
    if rule is None or rule_problem(rule.value, dtstart) is not None:
        return None
    parts: dict[str, str] = {}
    for part in rule.value.split(";"):
        name, _, value = part.partition("=")
        parts[name.strip().upper()] = value.strip()
    if parts.get("FREQ", "").upper() != "WEEKLY" or not set(parts) <= _WEEKLY_KEYS:
        return None
    byday = parts.get("BYDAY", "").upper()
    if byday and byday != _DAYS[dtstart.weekday()]:
        return None
    interval = parts.get("INTERVAL", "1")
    count = parts.get("COUNT")
    if not interval.isdigit() or int(interval) < 1 or (count is not None and not count.isdigit()):
        return None
    until = _until(parts["UNTIL"], tz) if "UNTIL" in parts and count is None else None
    if "UNTIL" in parts and count is None and until is None:
        return None
    return _Weekly(timedelta(weeks=int(interval)), until, int(count) if count is not None else None)


def _weekly_slot(local_first: datetime, rule: _Weekly, k: int, tz: tzinfo) -> datetime:
    return (local_first + k * rule.period).replace(tzinfo=tz).astimezone(UTC)


def _expand_weekly(
    rule: _Weekly, first: datetime, tz: tzinfo, start: datetime, end: datetime
) -> tuple[tuple[datetime, ...], datetime | None, datetime | None]:
    """Slots in [start, end), the last slot (None when unbounded) and the first at or after `end`
    (None when there is none), by wall-clock arithmetic."""
    local_first = first.astimezone(tz).replace(tzinfo=None)
    last_k: int | None = None
    if rule.count is not None:
        last_k = max(rule.count - 1, 0)
    elif rule.until is not None:
        last_k = max(int((rule.until.astimezone(tz).replace(tzinfo=None) - local_first) / rule.period) + 1, 0)
        while last_k > 0 and _weekly_slot(local_first, rule, last_k, tz) > rule.until:
            last_k -= 1
    lowest = max(int((start.astimezone(tz).replace(tzinfo=None) - local_first) / rule.period) - 1, 0)
    slots = []
    following: datetime | None = None
    k = lowest
    while last_k is None or k <= last_k:
        slot = _weekly_slot(local_first, rule, k, tz)
        if slot >= end:
            following = slot
            break
        if slot >= start:
            slots.append(slot)
        k += 1
    last = _weekly_slot(local_first, rule, last_k, tz) if last_k is not None else None
    return tuple(slots), last, following


def expand(master: CalendarEvent, start: datetime, end: datetime) -> Expansion:
    """The slots of a timed master with original start in [start, end).

    A series whose dates overflow (a start in year 9999 east of UTC) has no slots: one hostile event
    must never abort the judging of everyone else's 1:1s.
    """
    try:
        return _expand(master, start, end)
    except (OverflowError, ValueError):
        return Expansion((), frozenset(), None, None)


def _expand(master: CalendarEvent, start: datetime, end: datetime) -> Expansion:
    first = _first_slot(master)
    if first is None:
        return Expansion((), frozenset(), None, None)
    tz = zone(master.time_zone)
    weekly = _simple_weekly(master.recurrence, first.astimezone(tz), tz)
    if weekly is not None:
        slots, last, following = _expand_weekly(weekly, first, tz, start, end)
        exclusions = _exclusions(master.recurrence, tz)
        excluded = _excluded(slots, exclusions, master.cancelled_occurrences, tz)
        cadence = weekly.period.days if (last is None or last > first) else None
        return Expansion(slots, excluded, last, cadence, following)
    return expand_general(master, start, end)


def expand_general(master: CalendarEvent, start: datetime, end: datetime) -> Expansion:
    """Any rule, through dateutil (the weekly fast path must agree with this; a test checks)."""
    first = _first_slot(master)
    if first is None:
        return Expansion((), frozenset(), None, None)
    tz = zone(master.time_zone)
    pattern = _pattern(master.recurrence, first.astimezone(tz), tz)
    slots = tuple(
        moment.astimezone(UTC) for moment in pattern.rules.between(start, end, inc=True) if start <= moment < end
    )
    excluded = _excluded(slots, pattern, master.cancelled_occurrences, tz)
    following = pattern.rules.after(end, inc=True)
    after = following.astimezone(UTC) if following is not None else None
    return Expansion(slots, excluded, _last(pattern, tz), _cadence(pattern), after)


def _exclusions(lines: Sequence[str], tz: tzinfo) -> _Exclusions:
    exact: set[datetime] = set()
    days: set[date] = set()
    for content in filter(None, map(parse_line, lines)):
        if content.name == "EXDATE":
            for value in _values(content, tz):
                if isinstance(value, datetime):
                    exact.add(value.astimezone(UTC))
                else:
                    days.add(value)
    return _Exclusions(frozenset(exact), frozenset(days))


def _excluded(
    slots: Iterable[datetime], pattern: _Pattern | _Exclusions, cancelled: Sequence[datetime], tz: tzinfo
) -> frozenset[datetime]:
    """EXDATEs and cancelled occurrences, matched exactly, or by local day for a bare date.

    A cancelled occurrence given as a midnight (a provider's rendering of a local date) that
    matches no slot exactly is taken as that date.
    """
    exact = set(pattern.exact_exclusions) | {moment.astimezone(UTC) for moment in cancelled}
    days = set(pattern.date_exclusions)
    slot_set = set(slots)
    for moment in (moment.astimezone(UTC) for moment in cancelled):
        local = moment.astimezone(tz)
        if moment in slot_set:
            continue
        if local.time() == time():
            days.add(local.date())
        elif moment.time() == time():
            days.add(moment.date())
    if not days:  # exact matches only: no need to look at each slot's local day
        return frozenset(slot_set & exact)
    return frozenset(slot for slot in slot_set if slot in exact or slot.astimezone(tz).date() in days)


def _last(pattern: _Pattern, tz: tzinfo | None) -> datetime | None:
    if not pattern.bounded:
        return None
    tail = collections.deque(itertools.islice(iter(pattern.rules), _MAX_SLOTS), maxlen=1)
    if not tail:
        return None
    return tail[0] if tz is None else tail[0].astimezone(UTC)


def expand_dates(master: CalendarEvent, start: date, end: date) -> tuple[date, ...]:
    """The days an all-day master begins on in [start, end); excluded dates are dropped."""
    first = master.start_date or (master.start.date() if master.start else None)
    if first is None:
        return ()
    pattern = _pattern(master.recurrence, datetime.combine(first, time()), None)
    low, high = datetime.combine(start, time()), datetime.combine(end, time())
    found = (moment.date() for moment in pattern.rules.between(low, high, inc=True) if moment < high)
    return tuple(day for day in found if day not in pattern.date_exclusions)


def span(master: CalendarEvent) -> timedelta:
    """A slot's scheduled length: the master's own (never negative)."""
    if master.start is None or master.end is None:
        return timedelta(0)
    return max(master.end - master.start, timedelta(0))
