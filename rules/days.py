"""Calendar days in a person's zone.

Every day count in the rules is a difference of local dates, never a `timedelta` divided by 24 h,
so a DST change inside a gap can never turn 14 days into "more than 14".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> tzinfo:
    """An unknown or missing zone falls back to UTC rather than failing a whole evaluation."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ("America"), a long name
        return UTC


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or "UTC"


def local_date(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def midnight(day: date, tz: tzinfo) -> datetime:
    """The UTC instant a local day begins (a DST day may be 23 or 25 hours long)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def days_apart(earlier: datetime, later: datetime, tz: tzinfo) -> int:
    return (local_date(later, tz) - local_date(earlier, tz)).days


def dates(first: date, last: date) -> list[date]:
    """The dates from `first` to `last`, both included."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def iso_utc(moment: datetime) -> str:
    """The stable key form: `2025-01-13T09:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def show_day(day: date) -> str:
    return day.strftime("%a %d %b %Y")


def show_date(moment: datetime, tz: tzinfo) -> str:
    return show_day(local_date(moment, tz))


def show_time(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{show_day(local.date())} {local.strftime('%H:%M')}"
