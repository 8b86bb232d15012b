"""Replaying an `OrgPlan` into the Graph emulator, as Outlook users would (the Google twin is in org.py).

The same plan seeded here and into the Google emulator describes the same org, so the rules must
find the same things on both (tests/test_provider_parity.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from emulators.org import OrgPlan, SeriesPlan

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class GraphSeedTarget(Protocol):
    def add_mailbox(self, address: str, time_zone: str = "UTC", display_name: str | None = None) -> str: ...
    def create_event(self, mailbox: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def update_event(self, mailbox: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]: ...
    def cancel_occurrence(self, mailbox: str, event_id: str) -> None: ...
    def respond(self, mailbox: str, event_id: str, response: str) -> None: ...
    def occurrence_id(self, mailbox: str, master_id: str, original_start: datetime) -> str: ...
    def events(self, mailbox: str) -> list[dict[str, Any]]: ...


def _when(value: datetime, zone: str) -> dict[str, str]:
    """Outlook writes local wall-clock time plus the zone (IANA names are accepted too)."""
    return {"dateTime": value.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat(), "timeZone": zone}


def _recurrence(series: SeriesPlan) -> dict[str, Any]:
    local = series.first_start.astimezone(ZoneInfo(series.zone))
    if series.monthly:
        pattern: dict[str, Any] = {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": local.day}
    else:
        pattern = {"type": "weekly", "interval": series.interval_weeks, "daysOfWeek": [_DAYS[local.weekday()]]}
    rng: dict[str, Any] = {"type": "noEnd", "startDate": local.date().isoformat(), "recurrenceTimeZone": series.zone}
    if series.until is not None:
        rng |= {"type": "endDate", "endDate": series.until.astimezone(ZoneInfo(series.zone)).date().isoformat()}
    return {"pattern": pattern, "range": rng}


def _people(attendee: str) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": attendee}, "type": "required"}]


def seed_graph(
    target: GraphSeedTarget,
    plan: OrgPlan,
    *,
    managers: Iterable[str] | None = None,
    attendee_mailboxes: bool = True,
) -> None:
    """Replay (the part under `managers` of) a plan into the Graph emulator."""
    part = plan.only(managers) if managers is not None else plan
    for person in part.people if attendee_mailboxes else part.managers:
        target.add_mailbox(person, part.zones[person])
    masters: dict[str, str] = {}
    for series in part.series:
        end = series.first_start + timedelta(minutes=series.duration_minutes)
        created = target.create_event(
            series.organizer,
            {
                "subject": series.title,
                "body": {"contentType": "HTML", "content": "<p>Our weekly 1:1. Agenda: bring your topics.</p>"},
                "start": _when(series.first_start, series.zone),
                "end": _when(end, series.zone),
                "recurrence": _recurrence(series),
                "attendees": _people(series.attendee),
            },
        )
        masters[series.key] = created["id"]
    by_key = {s.key: s for s in part.series}
    for change in part.changes:
        series = by_key[change.series]
        occurrence = target.occurrence_id(series.organizer, masters[series.key], change.original_start)
        if change.action == "cancel":
            target.cancel_occurrence(series.organizer, occurrence)
        elif change.action == "move" and change.new_start is not None:
            new_end = change.new_start + timedelta(minutes=series.duration_minutes)
            target.update_event(
                series.organizer,
                occurrence,
                {"start": _when(change.new_start, series.zone), "end": _when(new_end, series.zone)},
            )
        elif change.action == "decline" and change.by:
            own = _own_copy(target, change.by, series.organizer, masters[series.key])
            target.respond(change.by, target.occurrence_id(change.by, own, change.original_start), "declined")
    for one_off in part.one_offs:
        end = one_off.start + timedelta(minutes=one_off.duration_minutes)
        target.create_event(
            one_off.organizer,
            {
                "subject": one_off.title,
                "start": _when(one_off.start, one_off.zone),
                "end": _when(end, one_off.zone),
                "attendees": _people(one_off.attendee),
            },
        )
    for away in part.away:
        target.create_event(
            away.person,
            {
                "subject": "Out of office",
                "showAs": "oof",
                "start": _when(away.start, away.zone),
                "end": _when(away.end, away.zone),
            },
        )


def _own_copy(target: GraphSeedTarget, person: str, organizer: str, master_id: str) -> str:
    """The id of `person`'s copy of the organizer's series (each mailbox has its own item)."""
    uid = next(e["iCalUId"] for e in target.events(organizer) if e["id"] == master_id)
    return str(next(e["id"] for e in target.events(person) if e["iCalUId"] == uid and e["type"] == "seriesMaster"))
