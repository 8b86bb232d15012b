"""Who joined the org's 1:1 calls: the demo's `no-show` story, seeded into the Meet and Teams emulators.

A pair with the `no-show` story meets weekly over a video call (Teams on Outlook, Meet on Google).
Both joined every call of the last weeks except the latest: its slot was moved to two days ago
(so its warning is due during the demo) and the report never joined it — the calendar says held,
the call says otherwise. Only `plan_calls` touches the plan (it adds the move); the seeders replay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from emulators.org import InstanceChange, OrgPlan, SeriesPlan

NO_SHOW = "no-show"
Spans = dict[str, list[tuple[datetime, datetime]]]


@dataclass(frozen=True)
class CallPlan:
    series: SeriesPlan
    start: datetime  # the occurrence's actual start (UTC)
    joined: Spans  # who was in the call, when


def meet_code(series: SeriesPlan) -> str:
    """A Meet-shaped meeting code (abc-mnop-xyz), stable per series."""
    letters = "".join(chr(ord("a") + b % 26) for b in hashlib.sha256(series.key.encode()).digest()[:10])
    return f"{letters[:3]}-{letters[3:7]}-{letters[7:10]}"


def _weekly(series: SeriesPlan, until: datetime) -> list[datetime]:
    slots, slot = [], series.first_start
    while slot.astimezone(UTC) <= until:
        slots.append(slot)
        slot = (slot.replace(tzinfo=None) + timedelta(weeks=series.interval_weeks)).replace(tzinfo=slot.tzinfo)
    return slots


def plan_calls(plan: OrgPlan, *, weeks: int = 3) -> list[CallPlan]:
    calls = []
    for series in plan.series:
        if plan.stories.get((series.organizer, series.attendee)) != NO_SHOW:
            continue
        slots = _weekly(series, plan.now - timedelta(hours=1))
        if not slots:
            continue
        last = slots[-1]
        local = last.astimezone(ZoneInfo(series.zone))
        day = (plan.now - timedelta(days=2)).astimezone(ZoneInfo(series.zone)).date()
        moved = datetime.combine(day, local.timetz().replace(tzinfo=None), ZoneInfo(series.zone))
        if moved.date() != local.date():
            plan.changes.append(InstanceChange(series.key, last, "move", new_start=moved))
        for slot in slots[-1 - weeks : -1]:
            both: Spans = {
                series.organizer: [(slot, slot + timedelta(minutes=28))],
                series.attendee: [(slot + timedelta(minutes=1), slot + timedelta(minutes=30))],
            }
            calls.append(CallPlan(series, slot.astimezone(UTC), both))
        alone: Spans = {series.organizer: [(moved + timedelta(minutes=1), moved + timedelta(minutes=16))]}
        calls.append(CallPlan(series, moved.astimezone(UTC), alone))
    return calls


def seed_meet(google: Any, plan: OrgPlan, calls: list[CallPlan]) -> None:
    """Google organizers: a Meet link on the series, the directory users Meet names, and the calls."""
    names = {p: p.split("@")[0].replace(".", " ").title() for p in plan.people}
    for series in {c.series.key: c.series for c in calls}.values():
        code = meet_code(series)
        for person in (series.organizer, series.attendee):
            if person not in google.directory.users:
                google.directory.add_user(person, names[person])
        google.patch_event(
            series.organizer,
            series.key,
            {
                "hangoutLink": f"https://meet.google.com/{code}",
                "conferenceData": {
                    "conferenceId": code,
                    "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                    "entryPoints": [{"entryPointType": "video", "uri": f"https://meet.google.com/{code}"}],
                },
            },
        )
    for call in calls:
        google.meet.add_conference(meet_code(call.series), call.series.organizer, dict(call.joined))


def seed_teams(graph: Any, calls: list[CallPlan]) -> None:
    """Outlook organizers: the series made a Teams meeting, and an attendance report per call."""
    urls: dict[str, str] = {}
    for series in {c.series.key: c.series for c in calls}.values():
        master = next(
            e
            for e in graph.events(series.organizer)
            if e["type"] == "seriesMaster" and e["subject"] == series.title and e["isOrganizer"]
        )
        updated = graph.update_event(
            series.organizer, master["id"], {"isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"}
        )
        urls[series.key] = updated["onlineMeeting"]["joinUrl"]
    for call in calls:
        graph.attendance.add_report(urls[call.series.key], call.series.organizer, dict(call.joined))
