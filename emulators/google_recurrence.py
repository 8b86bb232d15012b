"""RRULE/EXRULE/RDATE/EXDATE expansion in the series' own wall-clock zone.

Google expands a master's `recurrence` lines from its `start` in `start.timeZone`, so a weekly
10:00 Europe/Berlin meeting stays at 10:00 local across DST. dateutil's rrule keeps wall-clock
fields and attaches the ZoneInfo per occurrence, which gives exactly that. All-day series expand
over naive dates.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from dateutil.rrule import rrule, rruleset, rrulestr

from emulators.google_errors import bad_request
from emulators.google_time import When, zone

_LINE = re.compile(r"^(RRULE|EXRULE|RDATE|EXDATE)([;:])(.*)$", re.IGNORECASE)
_DT_VALUE = re.compile(r"^(\d{8})(?:T(\d{6})(Z)?)?$")


def validate(lines: list[str], start: When) -> None:
    """400 for anything Google's recurrence parser would refuse (DTSTART lines, bad rules)."""
    if start.instant is not None and not start.tz:
        raise bad_request("Missing time zone definition for start time.")
    for line in lines:
        if not isinstance(line, str) or not _LINE.match(line.strip()):
            raise bad_request("Invalid recurrence rule.")
    try:
        ruleset = build(tuple(lines), start)
        next(iter(ruleset), None)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise bad_request("Invalid recurrence rule.") from exc


@lru_cache(maxsize=8192)
def build(lines: tuple[str, ...], start: When) -> rruleset:
    """The dateutil rule set for a master; cached because listing expands the same series often."""
    dtstart = _dtstart(start)
    rs = rruleset(cache=False)  # the set is memoized; its occurrences need not be
    # Google shows the event's own start as an occurrence even when the rule would skip it
    # (reported: google-api-nodejs-client #2214); RFC 5545 leaves that case undefined.
    rs.rdate(dtstart)
    for raw in lines:
        m = _LINE.match(raw.strip())
        if not m:
            raise ValueError(raw)
        kind, rest = m.group(1).upper(), m.group(3)
        if kind in ("RRULE", "EXRULE"):
            body = rest if m.group(2) == ":" else rest.partition(":")[2]
            rule = rrulestr(_normalize_rule(body, start), dtstart=dtstart)
            if not isinstance(rule, rrule):
                raise ValueError(raw)
            (rs.rrule if kind == "RRULE" else rs.exrule)(rule)
        else:
            for value in _date_values(raw.strip(), start):
                (rs.rdate if kind == "RDATE" else rs.exdate)(value)
    return rs


def occurrences(lines: tuple[str, ...], start: When, lo: datetime, hi: datetime, cal_tz: str) -> list[When]:
    """Original starts of the occurrences with lo <= start < hi (aware UTC bounds)."""
    rs = build(lines, start)
    if start.all_day:
        local = zone(cal_tz)
        lo_n = lo.astimezone(local).replace(tzinfo=None)
        hi_n = hi.astimezone(local).replace(tzinfo=None)
        return [When(day=d.date()) for d in rs.between(lo_n, hi_n, inc=True) if d < hi_n]
    out = [When(instant=d.astimezone(UTC), tz=start.tz) for d in rs.between(lo, hi, inc=True)]
    return [w for w in out if w.instant is not None and w.instant < hi]


def is_occurrence(lines: tuple[str, ...], start: When, candidate: When) -> bool:
    rs = build(lines, start)
    if start.all_day:
        if candidate.day is None:
            return False
        probe = datetime.combine(candidate.day, time(0))
        return any(d == probe for d in rs.between(probe - timedelta(seconds=1), probe, inc=True))
    if candidate.instant is None:
        return False
    return any(d == candidate.instant for d in rs.between(candidate.instant, candidate.instant, inc=True))


def split_lines(lines: tuple[str, ...], start: When, at: When) -> tuple[list[str], list[str]]:
    """Recurrence for "this and following" at `at`: the head trimmed with UNTIL, the tail kept.

    As the Google UI does it: UNTIL is the end of the day before `at` in the series' zone (UTC,
    with Z), COUNT is dropped from the head and reduced on the tail, RDATEs follow their side.
    """
    if start.all_day:
        assert at.day is not None
        until = (at.day - timedelta(days=1)).strftime("%Y%m%d")
    else:
        assert at.instant is not None and start.tz
        local_day = at.instant.astimezone(zone(start.tz)).date() - timedelta(days=1)
        end_of_day = datetime.combine(local_day, time(23, 59, 59), zone(start.tz)).astimezone(UTC)
        until = end_of_day.strftime("%Y%m%dT%H%M%SZ")
    head: list[str] = []
    tail: list[str] = []
    for raw in lines:
        m = _LINE.match(raw.strip())
        if not m:
            continue
        kind = m.group(1).upper()
        if kind == "RRULE":
            parts = [p for p in m.group(3).split(";") if p.partition("=")[0].upper() not in ("UNTIL", "COUNT")]
            head.append("RRULE:" + ";".join([*parts, f"UNTIL={until}"]))
            count = _rule_part(m.group(3), "COUNT")
            before = _count_before(("RRULE:" + m.group(3),), start, at) if count else 0
            if count is not None and int(count) - before > 0:
                tail.append("RRULE:" + ";".join([*parts, f"COUNT={int(count) - before}"]))
            elif count is None:
                tail.append(raw.strip())
        elif kind == "RDATE":
            old, new = _partition_rdate(raw.strip(), start, at)
            head.extend(old)
            tail.extend(new)
        else:
            head.append(raw.strip())
            tail.append(raw.strip())
    return head, tail


def _count_before(lines: tuple[str, ...], start: When, at: When) -> int:
    pivot = _dtstart(at) if at.day is not None else at.instant
    assert pivot is not None
    return sum(1 for d in build(lines, start).between(_dtstart(start), pivot, inc=True) if d < pivot)


def _dtstart(start: When) -> datetime:
    if start.day is not None:
        return datetime.combine(start.day, time(0))
    assert start.instant is not None and start.tz
    return start.instant.astimezone(zone(start.tz))


def _rule_part(body: str, name: str) -> str | None:
    for part in body.split(";"):
        key, _, value = part.partition("=")
        if key.strip().upper() == name:
            return value.strip()
    return None


def _normalize_rule(body: str, start: When) -> str:
    """Make UNTIL match DTSTART's kind, as dateutil insists and Google tolerates."""
    parts = body.split(";")
    for i, part in enumerate(parts):
        key, _, value = part.partition("=")
        if key.strip().upper() != "UNTIL":
            continue
        m = _DT_VALUE.match(value.strip())
        if not m:
            raise ValueError(f"bad UNTIL {value}")
        day = datetime.strptime(m.group(1), "%Y%m%d").date()
        if start.all_day:
            parts[i] = f"UNTIL={day.strftime('%Y%m%d')}"
            continue
        assert start.tz
        if m.group(2) is None:
            local = datetime.combine(day, time(23, 59, 59), zone(start.tz))
        elif m.group(3):
            continue
        else:
            local = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=zone(start.tz))
        parts[i] = "UNTIL=" + local.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ";".join(parts)


def _date_values(line: str, start: When) -> list[datetime]:
    head, _, values = line.partition(":")
    tzid = _tzid(head)
    out = []
    for raw in values.split(","):
        raw = raw.strip()
        if raw:
            out.append(_date_value(raw, tzid, start))
    return out


def _date_value(raw: str, tzid: str | None, start: When) -> datetime:
    m = _DT_VALUE.match(raw)
    if not m:
        raise ValueError(f"bad date value {raw}")
    day: date = datetime.strptime(m.group(1), "%Y%m%d").date()
    if start.all_day:
        return datetime.combine(day, time(0))
    assert start.tz
    series_zone = zone(start.tz)
    if m.group(2) is None:  # a DATE on a timed series: that day's occurrence
        return datetime.combine(day, _dtstart(start).timetz().replace(tzinfo=None), series_zone)
    naive = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S")
    if m.group(3):
        return naive.replace(tzinfo=UTC).astimezone(series_zone)
    return naive.replace(tzinfo=zone(tzid) if tzid else series_zone).astimezone(series_zone)


def _partition_rdate(line: str, start: When, at: When) -> tuple[list[str], list[str]]:
    head, _, values = line.partition(":")
    pivot = _dtstart(at) if at.day is not None else at.instant
    assert pivot is not None
    old: list[str] = []
    new: list[str] = []
    for raw in (v.strip() for v in values.split(",")):
        if raw:
            (new if _date_value(raw, _tzid(head), start) >= pivot else old).append(raw)
    return ([f"{head}:{','.join(old)}"] if old else []), ([f"{head}:{','.join(new)}"] if new else [])


def _tzid(head: str) -> str | None:
    for param in head.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().upper() == "TZID":
            return value.strip().strip('"')
    return None
