"""Times as Google Calendar writes them: RFC 3339 instants, all-day dates, zoned wall clocks.

An event time is either a `date` (all-day, end exclusive) or an instant with an optional IANA
zone. The zone matters: recurring events expand in it, and `dateTime` values are rendered with
its offset, so the emulator keeps it next to the instant instead of flattening to UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from emulators.google_errors import GoogleApiError, bad_request

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$")
_INSTANCE_SUFFIX = re.compile(r"^(\d{8})(T\d{6}Z)?$")


@cache
def zone(name: str) -> ZoneInfo:
    """A ZoneInfo for an IANA name; raises 400 for names Google would reject."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, IsADirectoryError) as exc:
        raise bad_request(f"Invalid time zone definition: {name}") from exc


def parse_rfc3339(value: str, *, default_zone: str | None = None, location: str | None = None) -> datetime:
    """Parse an RFC 3339 timestamp to aware UTC; the offset is mandatory unless `default_zone`."""
    m = _RFC3339.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise bad_request(f"Invalid value for: {location or 'dateTime'}: {value}", location=location)
    y, mo, d, hh, mm, ss, frac, off = m.groups()
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    try:
        naive = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss), micro)
    except ValueError as exc:
        raise bad_request(f"Invalid value for: {location or 'dateTime'}: {value}", location=location) from exc
    if off is None:
        if default_zone is None:
            raise bad_request(f"Invalid value for: {location or 'dateTime'}: {value}", location=location)
        return naive.replace(tzinfo=zone(default_zone)).astimezone(UTC)
    if off in ("Z", "z"):
        return naive.replace(tzinfo=UTC)
    sign = 1 if off[0] == "+" else -1
    delta = timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
    return (naive - sign * delta).replace(tzinfo=UTC)


def format_updated(dt: datetime) -> str:
    """`updated`/`created` style: UTC with milliseconds and Z."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def format_local(dt: datetime, tz_name: str) -> str:
    """`dateTime` style: wall clock in `tz_name` with its offset, seconds precision."""
    local = dt.astimezone(zone(tz_name))
    off = local.utcoffset() or timedelta(0)
    if off == timedelta(0):
        suffix = "Z"
    else:
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        suffix = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + suffix


@dataclass(frozen=True)
class When:
    """An event boundary: an all-day `day`, or an `instant` (aware UTC) with an optional zone."""

    day: date | None = None
    instant: datetime | None = None
    tz: str | None = None

    @property
    def all_day(self) -> bool:
        return self.day is not None

    def utc(self, calendar_tz: str) -> datetime:
        """The instant this boundary falls on; all-day dates start at midnight in the calendar's zone."""
        if self.instant is not None:
            return self.instant
        assert self.day is not None
        return datetime.combine(self.day, time(0), zone(calendar_tz)).astimezone(UTC)

    def to_json(self, display_tz: str | None = None) -> dict[str, Any]:
        if self.day is not None:
            return {"date": self.day.isoformat()}
        assert self.instant is not None
        out: dict[str, Any] = {"dateTime": format_local(self.instant, display_tz or self.tz or "UTC")}
        if self.tz:
            out["timeZone"] = self.tz
        return out

    def shifted(self, delta: timedelta) -> When:
        if self.day is not None:
            return When(day=self.day + delta)
        assert self.instant is not None
        return When(instant=self.instant + delta, tz=self.tz)

    def with_zone(self, tz: str | None) -> When:
        return self if self.day is not None else When(instant=self.instant, tz=tz)

    def suffix(self) -> str:
        """The instance-id suffix for an occurrence that originally started here."""
        if self.day is not None:
            return self.day.strftime("%Y%m%d")
        assert self.instant is not None
        return self.instant.strftime("%Y%m%dT%H%M%SZ")

    @classmethod
    def from_json(cls, value: Any, field: str) -> When:
        if not isinstance(value, dict):
            raise GoogleApiError(400, "required", f"Missing {field} time.")
        tz = value.get("timeZone")
        if tz is not None:
            if not isinstance(tz, str):
                raise bad_request(f"Invalid time zone definition for {field} time.")
            zone(tz)
        has_date, has_dt = value.get("date") is not None, value.get("dateTime") is not None
        if has_date and has_dt:
            raise bad_request(f"Invalid {field} time: both date and dateTime given.")
        if has_date:
            try:
                return cls(day=date.fromisoformat(str(value["date"])))
            except ValueError as exc:
                raise bad_request(f"Invalid value for: {field}.date") from exc
        if has_dt:
            instant = parse_rfc3339(str(value["dateTime"]), default_zone=tz, location=f"{field}.dateTime")
            return cls(instant=instant, tz=tz)
        raise GoogleApiError(400, "required", f"Missing {field} time.")


def split_instance_id(event_id: str) -> tuple[str, str] | None:
    """`master_20250106T090000Z` → ("master", suffix); None when the id is not an instance id."""
    master, sep, suffix = event_id.rpartition("_")
    if not sep or not master or not _INSTANCE_SUFFIX.match(suffix):
        return None
    return master, suffix
