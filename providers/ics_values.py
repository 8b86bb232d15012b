"""iCalendar property values → unambiguous times and recurrence lines.

`rules/recurrence.py` reads RFC 5545 lines without VTIMEZONEs, so everything zoned is rendered
here in a form that needs none: DATE-TIMEs as UTC (`…Z`), DATEs as `VALUE=DATE`. An all-day series
gets dates only: a DATE-TIME UNTIL or EXDATE on it (Exchange writes local midnight as UTC) is
read as the local date in the calendar's zone, which is what Outlook and Google show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import vRecur

from providers.ics_zones import ZoneResolver


class BadValue(ValueError):
    """A property we cannot read; the message names it."""


@dataclass(frozen=True)
class Moment:
    """One DTSTART-like value: an instant (timed) or a date (all-day), and the zone it was written in."""

    instant: datetime | None  # UTC, for DATE-TIMEs
    day: date | None  # for DATEs
    zone: str  # IANA
    # Days from the local date to the UTC date, for a time in a fixed-offset zone read as UTC (see
    # `ics_zones.constant_offset`): a weekly rule's BYDAY is shifted by it, so Monday 02:00 +05:37 stays Monday.
    day_shift: int = 0

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def local(self) -> datetime:
        if self.instant is not None:
            return self.instant.astimezone(ZoneInfo(self.zone))
        assert self.day is not None
        return datetime.combine(self.day, time(), ZoneInfo(self.zone))

    def utc(self) -> datetime:
        """The instant; for a date, its local midnight (only for ordering and the store)."""
        return self.local().astimezone(UTC)

    def local_date(self) -> date:
        return self.day if self.day is not None else self.local().date()


@dataclass(frozen=True)
class Zones:
    """How one document's times are read: its TZIDs, its own zone, the zone for floating times."""

    resolver: ZoneResolver
    calendar_zone: str | None  # X-WR-TIMEZONE, else the only VTIMEZONE
    floating_zone: str  # calendar_zone, else the configured default, else UTC

    def fixed(self, tzid: str | None) -> timedelta | None:
        return self.resolver.fixed_offset(tzid) if tzid else None

    def of(self, tzid: str | None, *, utc_value: bool) -> str:
        if tzid:
            found = self.resolver.resolve(tzid)
            if found is None:
                raise BadValue(f"unknown time zone {tzid!r}")
            return found
        if utc_value:
            # Google writes single events in UTC and means the calendar's zone (X-WR-TIMEZONE).
            return self.calendar_zone or "UTC"
        return self.floating_zone


def value_moment(value: Any, tzid: str | None, zones: Zones, what: str) -> Moment:
    """A parsed date or date-time (icalendar's `.dt`) with its TZID parameter."""
    if isinstance(value, datetime):
        is_utc = value.tzinfo is not None and value.utcoffset() == timedelta(0) and not tzid
        zone = zones.of(tzid, utc_value=is_utc)
        if is_utc:
            return Moment(value.astimezone(UTC), None, zone)
        fixed = zones.fixed(tzid)
        if fixed is not None:
            instant = value.replace(tzinfo=timezone(fixed)).astimezone(UTC)
            return Moment(instant, None, zone, (instant.date() - value.date()).days)
        local = value.replace(tzinfo=None).replace(tzinfo=ZoneInfo(zone))
        return Moment(local.astimezone(UTC), None, zone)
    if isinstance(value, date):
        return Moment(None, value, zones.calendar_zone or zones.floating_zone)
    raise BadValue(f"{what}: expected a date or date-time, got {value!r}")


def prop_moment(component: Any, name: str, zones: Zones) -> Moment | None:
    prop = component.get(name)
    if prop is None:
        return None
    if isinstance(prop, list):
        prop = prop[0]
    try:
        value = prop.dt
    except Exception as exc:  # icalendar raises its own error type for a broken property
        raise BadValue(f"{name} unreadable: {exc}") from exc
    tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
    return value_moment(value, tzid, zones, name)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def list_moments(component: Any, name: str, zones: Zones) -> list[Moment]:
    """Every value of every EXDATE/RDATE line; PERIODs count from their start."""
    found: list[Moment] = []
    for prop in as_list(component.get(name)):
        tzid = prop.params.get("TZID") if hasattr(prop, "params") else None
        for item in getattr(prop, "dts", None) or []:
            value = item.dt
            if isinstance(value, tuple):  # PERIOD: (start, end or duration)
                value = value[0]
            found.append(value_moment(value, tzid, zones, name))
        if getattr(prop, "dts", None) is None:
            raise BadValue(f"{name} unreadable: {str(prop)[:60]!r}")
    return found


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def day_stamp(day: date) -> str:
    return day.strftime("%Y%m%d")


def rule_text(prop: Any, name: str) -> str:
    """The rule's own text, cleaned of the spaces some writers put after commas (Microsoft CDO)."""
    raw = bytes(prop.to_ical()).decode() if isinstance(prop, vRecur) else str(prop)  # type: ignore[no-untyped-call]
    text = re.sub(r"\s+", "", raw.replace("\\;", ";").replace("\\,", ","))
    try:
        vRecur.from_ical(text)
    except ValueError as exc:
        raise BadValue(f"{name} unreadable: {raw[:80]!r}") from exc
    return text


def _until(text: str, series: Moment, zones: Zones) -> str:
    """UNTIL as UTC for a timed series, as a local date for an all-day one."""
    value = vRecur.from_ical(text).get("UNTIL")
    if not value:
        return text
    until = value[0]
    if isinstance(until, datetime):
        aware = until if until.tzinfo is not None else until.replace(tzinfo=ZoneInfo(series.zone))
        if series.all_day:
            rendered = day_stamp(aware.astimezone(ZoneInfo(zones.calendar_zone or series.zone)).date())
        else:
            rendered = stamp(aware)
    else:
        rendered = day_stamp(until)
    return ";".join(
        f"UNTIL={rendered}" if part.upper().startswith("UNTIL=") else part for part in text.split(";") if part
    )


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _shift_days(text: str, shift: int, name: str) -> str:
    """A rule written in local days, moved to UTC days (a fixed-offset zone across midnight)."""
    parts = []
    for part in text.split(";"):
        key, _, value = part.partition("=")
        key = key.upper()
        if key in ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS") or (key == "BYDAY" and re.search(r"\d", value)):
            raise BadValue(f"{name}: {key} in a custom fixed-offset zone across midnight cannot be read exactly")
        if key == "BYDAY":
            value = ",".join(WEEKDAYS[(WEEKDAYS.index(day.upper()) + shift) % 7] for day in value.split(","))
        parts.append(f"{key}={value}" if value else part)
    return ";".join(parts)


def rule_lines(component: Any, series: Moment, zones: Zones) -> list[str]:
    lines = []
    for name in ("RRULE", "EXRULE"):
        for prop in as_list(component.get(name)):
            text = rule_text(prop, name)
            if series.day_shift:
                text = _shift_days(text, series.day_shift, name)
            lines.append(f"{name}:{_until(text, series, zones)}")
    return lines


Snap = Callable[[datetime], datetime]


def date_lines(name: str, moments: Iterable[Moment], series: Moment, snap: Snap) -> list[str]:
    """EXDATE/RDATE values, one per line; a timed value is snapped to the series' slot that day."""
    lines = []
    for moment in moments:
        if series.all_day:
            lines.append(f"{name};VALUE=DATE:{day_stamp(moment.local_date())}")
        elif moment.instant is None:
            assert moment.day is not None
            lines.append(f"{name};VALUE=DATE:{day_stamp(moment.day)}")
        else:
            lines.append(f"{name}:{stamp(snap(moment.instant) if name == 'EXDATE' else moment.instant)}")
    return lines
