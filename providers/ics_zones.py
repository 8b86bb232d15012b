"""TZID → IANA zone, for iCalendar data written by anyone.

The domain model expands a series in its IANA zone, so every TZID must become one. Real files
carry four kinds of names, tried in this order:

1. IANA names, also behind a path prefix (`/freeassociation.sourceforge.net/Tzfile/Europe/Berlin`).
2. Windows standard names ("W. Europe Standard Time"), through the CLDR table `tzlocal` ships.
3. Windows *display* names ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna",
   "Canberra, Melbourne, Sydney", "(UTC-05:00) Eastern Time (US & Canada)"). Heuristic: the listed
   cities that are the last part of an IANA name whose standard offset equals the one in brackets
   are candidates; the first that Windows itself maps to wins ("Berlin" → Europe/Berlin), else the
   first ("Canberra" → Australia/Canberra). Names without a city ("Eastern Time (US & Canada)")
   go through a short table of the regions Windows names that way.
4. Custom VTIMEZONEs ("Customized Time Zone", "GMT +0100 (Standard) / GMT +0200 (Daylight)"):
   the zone whose UTC offsets equal the VTIMEZONE's at noon every day for two years from the
   file's first event, and every half hour of the days the offset changes — preferring the
   calendar's own X-WR-TIMEZONE, then the zones Windows maps to, in name order. Any zone that
   agrees there gives the same instants for those years.

5. A custom VTIMEZONE with one fixed offset that no IANA zone has (a +05:37 written by a tool): its
   times are read with that offset (`fixed_offset`) and the series is expanded in UTC — a fixed offset
   has no DST, so the instants are the same; a whole-hour one becomes `Etc/GMT±N`.

As a last resort a bracketed whole-hour offset becomes `Etc/GMT±N` (no DST). Unknown → None, and
the caller decides (floating rules, then UTC).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from icalendar import Timezone
from tzlocal.windows_tz import win_tz

# Display names that name a region rather than a city (Windows' own wording).
_REGIONS = {
    "eastern time (us & canada)": "America/New_York",
    "central time (us & canada)": "America/Chicago",
    "mountain time (us & canada)": "America/Denver",
    "pacific time (us & canada)": "America/Los_Angeles",
    "atlantic time (canada)": "America/Halifax",
    "alaska": "America/Anchorage",
    "hawaii": "Pacific/Honolulu",
    "arizona": "America/Phoenix",
    "indiana (east)": "America/Indiana/Indianapolis",
    "coordinated universal time": "UTC",
    "greenwich mean time": "Europe/London",
}
_DISPLAY = re.compile(
    r"^\(?\s*(?:UTC|GMT)\s*(?:(?P<sign>[+-])\s*(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?)?\s*\)?\s*(?P<rest>.*)$"
)


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America"), a long name
        return False
    return True


@cache
def _cities() -> dict[str, str]:
    """City (last part of an IANA name, lower case, spaces) → zone; canonical Windows targets win."""
    preferred = set(win_tz.values())
    found: dict[str, str] = {}
    for name in sorted(available_timezones(), key=lambda z: (z not in preferred, z.count("/"), z)):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "posix/", "right/")):
            continue
        found.setdefault(name.rsplit("/", 1)[1].replace("_", " ").lower(), name)
    return found


def _standard_offset(zone: str, year: int) -> timedelta:
    tz = ZoneInfo(zone)
    offsets = [datetime(year, month, 15, 12, tzinfo=UTC).astimezone(tz).utcoffset() for month in (1, 7)]
    return min(offset or timedelta(0) for offset in offsets)


def _iana(name: str) -> str | None:
    if "/" in name or name.upper() in ("UTC", "GMT", "Z"):
        parts = name.strip("/").split("/")
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            if candidate and valid_zone(candidate):
                return "UTC" if candidate.upper() in ("Z", "GMT", "UTC", "ETC/UTC") else candidate
    return None


def _display(name: str, year: int) -> tuple[str | None, timedelta | None]:
    """A Windows display name → (zone, the bracketed offset if any)."""
    match = _DISPLAY.match(name)
    offset = None
    rest = name
    if match and (match.group("sign") or name.upper().startswith(("(UTC", "(GMT", "UTC", "GMT"))):
        rest = match.group("rest")
        if match.group("sign"):
            minutes = int(match.group("h")) * 60 + int(match.group("m") or 0)
            offset = timedelta(minutes=minutes if match.group("sign") == "+" else -minutes)
        else:
            offset = timedelta(0)
    rest = rest.strip().strip(":").strip()
    region = _REGIONS.get(rest.lower())
    if region:
        return region, offset
    matches = []
    for city in re.split(r",|&|\band\b|:|/", rest):
        zone = _cities().get(city.strip().lower())
        if zone and (offset is None or _standard_offset(zone, year) == offset):
            matches.append(zone)
    canonical = set(win_tz.values())
    return next((z for z in matches if z in canonical), matches[0] if matches else None), offset


def _days(year: int) -> list[datetime]:
    start = datetime(year, 1, 1, 12, tzinfo=UTC)
    return [start + timedelta(days=n) for n in range(731)]


def _offset(moment: datetime, tz: tzinfo) -> timedelta | None:
    return moment.astimezone(tz).utcoffset()


def _agrees(custom: tzinfo, daily: list[timedelta | None], zone: str, year: int) -> bool:
    """Same offset every noon for two years, and every half hour of the days the offset changes."""
    tz = ZoneInfo(zone)
    days = _days(year)
    if any(_offset(moment, tz) != want for moment, want in zip(days, daily, strict=True)):
        return False
    for index in range(1, len(days)):
        if daily[index] != daily[index - 1]:
            for step in range(48):
                moment = days[index - 1] + timedelta(minutes=30 * step)
                if _offset(moment, tz) != _offset(moment, custom):
                    return False
    return True


@lru_cache(maxsize=256)
def match_vtimezone(vtimezone: bytes, hint: str | None, year: int) -> str | None:
    """The IANA zone that behaves like a VTIMEZONE (memoized: one CalDAV calendar repeats it per event)."""
    try:
        custom: tzinfo = Timezone.from_ical(vtimezone).to_tz()  # type: ignore[attr-defined]
    except Exception:  # an unreadable VTIMEZONE only costs its own fallback
        return None
    daily = [_offset(moment, custom) for moment in _days(year)]
    candidates = [hint] if hint else []
    candidates += sorted(set(win_tz.values()))
    return next((zone for zone in candidates if _agrees(custom, daily, zone, year)), None)


@lru_cache(maxsize=256)
def constant_offset(vtimezone: bytes, year: int) -> timedelta | None:
    """The VTIMEZONE's offset if it never changes over two years from `year`, else None."""
    try:
        custom: tzinfo = Timezone.from_ical(vtimezone).to_tz()  # type: ignore[attr-defined]
    except Exception:
        return None
    offsets = {_offset(moment, custom) for moment in _days(year)}
    if len(offsets) != 1:
        return None
    (offset,) = offsets
    return offset


def _etc(offset: timedelta) -> str:
    hours = int(offset.total_seconds() // 3600)
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


class ZoneResolver:
    """Resolves the TZIDs of one iCalendar document; remembers its answers."""

    def __init__(
        self,
        vtimezones: Mapping[str, bytes],
        *,
        hint: str | None = None,
        reference_year: int = 2025,
    ) -> None:
        self._vtimezones = {key.strip().strip('"'): tz for key, tz in vtimezones.items()}
        self._hint = hint if hint and valid_zone(hint) else None
        self._year = reference_year
        self._known: dict[str, str | None] = {}
        self._fixed: dict[str, timedelta] = {}

    def resolve(self, tzid: str | None) -> str | None:
        if not tzid:
            return None
        name = tzid.strip().strip('"').strip()
        if name not in self._known:
            self._known[name] = self._resolve(name)
        return self._known[name]

    def fixed_offset(self, tzid: str) -> timedelta | None:
        """For a TZID resolved to UTC because it is a fixed offset no IANA zone has: that offset."""
        name = tzid.strip().strip('"').strip()
        self.resolve(name)
        return self._fixed.get(name)

    def _resolve(self, name: str) -> str | None:
        found = _iana(name) or win_tz.get(name)
        if found:
            return found
        zone, offset = _display(name, self._year)
        if zone:
            return zone
        custom = self._vtimezones.get(name)
        if custom is not None:
            found = match_vtimezone(custom, self._hint, self._year)
            if found:
                return found
            fixed = constant_offset(custom, self._year)
            if fixed is not None:
                if fixed.total_seconds() % 3600 == 0:
                    return _etc(fixed)
                self._fixed[name] = fixed
                return "UTC"
        if offset is not None and offset.total_seconds() % 3600 == 0:
            return _etc(offset)
        return None
