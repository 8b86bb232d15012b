"""Small formatting helpers for the page templates: times in the viewer's zone, names, roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sync.notify.render import display_name


def template_helpers(zone: str, manager: str, report: str) -> dict[str, Callable[..., Any]]:
    tz = ZoneInfo(zone)

    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        local = value.astimezone(tz)
        return f"{local:%a %d %b %Y}, {local:%H:%M}"

    def day(value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(tz).date()
        return f"{value:%a %d %b}"

    def name(address: str | None) -> str:
        return display_name(address) if address else ""

    def role(address: str | None) -> str:
        return "manager" if address == manager else "report" if address == report else ""

    return {"when": when, "day": day, "name": name, "role": role}
