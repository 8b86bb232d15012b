"""A synthetic, realistic org shared by the demo, the tests and the benchmarks.

`plan_org` is pure and deterministic by seed: it returns what people did in their calendars
(series created, instances cancelled or moved, one-offs booked, declines, time off) relative to
`now`, in provider-neutral terms. `seed_google` (and the Graph counterpart) replay a plan into an
emulator the way users would, so every provider sees the same org.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

FIRST = [
    "alice", "bruno", "chen", "dana", "emeka", "farah", "gita", "hugo", "ines", "jonas", "kofi", "lena",
    "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tariq", "uma", "viktor", "wen", "ximena",
    "yusuf", "zoe", "aiko", "bilal", "carmen", "diego", "elif", "femi", "greta", "hamid", "isla", "jamal",
]  # fmt: skip
LAST = [
    "moreau", "silva", "wang", "okafor", "haddad", "novak", "iyer", "berg", "costa", "kim", "mensah", "rossi",
    "garcia", "petrov", "ali", "sharma", "murphy", "lopez", "larsen", "khan", "nair", "horvat", "li", "reyes",
]  # fmt: skip
ZONES = [
    "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Kolkata", "Europe/London",
    "Australia/Sydney", "America/Chicago", "Europe/Paris",
]  # fmt: skip

# What happens in each pair's history; the demo cycles through these so every rule shows up.
STORIES = (
    "healthy-weekly",
    "cancelled-recently",  # an instance 3 days ago cancelled, nothing booked instead
    "cancelled-replaced",  # cancelled, a one-off booked two days later
    "moved",  # an instance moved by a day
    "biweekly-healthy",
    "series-ended",  # weekly until 3 weeks ago, nothing since
    "monthly",  # a monthly cadence: gaps ahead
    "declined-by-report",  # the report declined last week's instance
    "upcoming-cancelled",  # next week's instance already cancelled
    "old-cancellation",  # a cancellation 6 weeks ago (history: recorded, not emailed)
    "churn",  # three of the last five moved
    "short-meetings",  # 15-minute 1:1s
)


@dataclass(frozen=True)
class SeriesPlan:
    key: str
    organizer: str
    attendee: str
    title: str
    first_start: datetime  # aware, in `zone`
    zone: str
    duration_minutes: int = 30
    interval_weeks: int = 1
    monthly: bool = False
    until: datetime | None = None  # aware; last slot at or before this


@dataclass(frozen=True)
class InstanceChange:
    series: str
    original_start: datetime  # aware
    action: str  # "cancel" | "move" | "decline"
    new_start: datetime | None = None
    by: str | None = None


@dataclass(frozen=True)
class OneOffPlan:
    key: str
    organizer: str
    attendee: str
    title: str
    start: datetime
    zone: str
    duration_minutes: int = 30


@dataclass(frozen=True)
class AwayPlan:
    person: str
    start: datetime
    end: datetime
    zone: str


@dataclass
class OrgPlan:
    now: datetime
    domain: str
    managers: list[str] = field(default_factory=list)
    reports: dict[str, list[str]] = field(default_factory=dict)
    zones: dict[str, str] = field(default_factory=dict)
    stories: dict[tuple[str, str], str] = field(default_factory=dict)
    series: list[SeriesPlan] = field(default_factory=list)
    changes: list[InstanceChange] = field(default_factory=list)
    one_offs: list[OneOffPlan] = field(default_factory=list)
    away: list[AwayPlan] = field(default_factory=list)

    @property
    def people(self) -> list[str]:
        return [*self.managers, *(r for reports in self.reports.values() for r in reports)]

    def pairs(self) -> list[tuple[str, str]]:
        return [(m, r) for m in self.managers for r in self.reports[m]]

    def only(self, managers: Iterable[str]) -> OrgPlan:
        """The part of the org under these managers (for a mixed org: some on Google, some on Outlook)."""
        wanted = set(managers)
        keep = [m for m in self.managers if m in wanted]
        people = {*keep, *(r for m in keep for r in self.reports[m])}
        series = [s for s in self.series if s.organizer in people]
        keys = {s.key for s in series}
        return OrgPlan(
            now=self.now,
            domain=self.domain,
            managers=keep,
            reports={m: self.reports[m] for m in keep},
            zones={p: z for p, z in self.zones.items() if p in people},
            stories={k: v for k, v in self.stories.items() if k[0] in people},
            series=series,
            changes=[c for c in self.changes if c.series in keys],
            one_offs=[o for o in self.one_offs if o.organizer in people],
            away=[a for a in self.away if a.person in people],
        )


def _names(count: int, rng: random.Random, domain: str) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = f"{rng.choice(FIRST)}.{rng.choice(LAST)}"
        if name in seen:
            name = f"{name}{len(names)}"
        seen.add(name)
        names.append(f"{name}@{domain}")
    return names


def _slot(base: datetime, weeks: int) -> datetime:
    """`weeks` weeks after `base` at the same wall-clock time (DST-safe)."""
    local = base.replace(tzinfo=None) + timedelta(weeks=weeks)
    return local.replace(tzinfo=base.tzinfo)


def plan_org(
    now: datetime,
    *,
    managers: int = 6,
    reports_per_manager: int = 5,
    weeks: int = 10,
    seed: int = 7,
    domain: str = "example.com",
    stories: tuple[str, ...] = STORIES,
) -> OrgPlan:
    rng = random.Random(seed)
    plan = OrgPlan(now=now.astimezone(UTC), domain=domain)
    people = _names(managers * (reports_per_manager + 1), rng, domain)
    story_index = 0
    for m in range(managers):
        manager = people[m]
        zone = ZONES[m % len(ZONES)]
        plan.managers.append(manager)
        plan.zones[manager] = zone
        reports = people[managers + m * reports_per_manager : managers + (m + 1) * reports_per_manager]
        plan.reports[manager] = reports
        tz = ZoneInfo(zone)
        local_now = now.astimezone(tz)
        monday = (local_now - timedelta(days=local_now.weekday())).date()
        for index, report in enumerate(reports):
            plan.zones[report] = zone
            story = stories[story_index % len(stories)]
            story_index += 1
            plan.stories[(manager, report)] = story
            day = monday - timedelta(weeks=weeks) + timedelta(days=index % 5)
            start = datetime.combine(day, time(9 + (index // 5) % 8, 0 if index % 2 == 0 else 30), tz)
            _plan_story(plan, story, manager, report, start, zone, now, weeks, rng)
    return plan


def _key(*parts: str) -> str:
    """A Google-valid event id (base32hex subset) derived from the plan, stable across runs."""
    return "o" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _plan_story(
    plan: OrgPlan,
    story: str,
    manager: str,
    report: str,
    start: datetime,
    zone: str,
    now: datetime,
    weeks: int,
    rng: random.Random,
) -> None:
    name = report.split("@")[0].split(".")[0].capitalize()
    boss = manager.split("@")[0].split(".")[0].capitalize()
    title = rng.choice([f"{boss} / {name} 1:1", f"1:1 {boss} <> {name}", f"{name} & {boss} one-on-one", "1-1"])
    key = _key(manager, report, story)
    interval = 2 if story == "biweekly-healthy" else 1
    until = None
    if story == "series-ended":
        until = _slot(start, weeks - 3)
    series = SeriesPlan(
        key=key,
        organizer=manager,
        attendee=report,
        title=title,
        first_start=start,
        zone=zone,
        duration_minutes=15 if story == "short-meetings" else 30,
        interval_weeks=interval,
        monthly=story == "monthly",
        until=until,
    )
    plan.series.append(series)

    def past_slot(weeks_ago: int) -> datetime:
        slot = _slot(start, weeks)
        while slot > now:
            slot = _slot(slot, -1)
        return _slot(slot, -weeks_ago)

    if story == "cancelled-recently":
        plan.changes.append(InstanceChange(key, past_slot(0), "cancel", by=manager))
    elif story == "cancelled-replaced":
        original = past_slot(1)
        plan.changes.append(InstanceChange(key, original, "cancel", by=manager))
        plan.one_offs.append(
            OneOffPlan(
                _key(key, "replacement"), manager, report, f"{title} (rescheduled)", original + timedelta(days=2), zone
            )
        )
    elif story == "moved":
        original = past_slot(1)
        plan.changes.append(InstanceChange(key, original, "move", new_start=original + timedelta(days=1, hours=2)))
    elif story == "declined-by-report":
        plan.changes.append(InstanceChange(key, past_slot(1), "decline", by=report))
    elif story == "upcoming-cancelled":
        plan.changes.append(InstanceChange(key, _slot(past_slot(0), 1), "cancel", by=manager))
    elif story == "old-cancellation":
        plan.changes.append(InstanceChange(key, past_slot(6), "cancel", by=manager))
    elif story == "churn":
        for weeks_ago in (0, 1, 3):
            original = past_slot(weeks_ago)
            plan.changes.append(InstanceChange(key, original, "move", new_start=original + timedelta(hours=3)))


class GoogleSeedTarget(Protocol):
    def add_calendar(self, owner: str, time_zone: str = "UTC") -> None: ...
    def insert_event(
        self, calendar_id: str, body: dict[str, Any], *, event_id: str | None = None
    ) -> dict[str, Any]: ...
    def patch_event(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def delete_event(self, calendar_id: str, event_id: str) -> None: ...
    def respond(self, calendar_id: str, event_id: str, response: str) -> None: ...


def _google_when(value: datetime, zone: str) -> dict[str, str]:
    return {"dateTime": value.astimezone(ZoneInfo(zone)).isoformat(), "timeZone": zone}


def google_instance_id(series_key: str, original_start: datetime) -> str:
    return f"{series_key}_{original_start.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def _rrule(series: SeriesPlan) -> str:
    if series.monthly:
        rule = f"RRULE:FREQ=MONTHLY;BYMONTHDAY={series.first_start.day}"
    else:
        days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        rule = f"RRULE:FREQ=WEEKLY;INTERVAL={series.interval_weeks};BYDAY={days[series.first_start.weekday()]}"
    if series.until is not None:
        rule += f";UNTIL={series.until.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    return rule


def seed_google(target: GoogleSeedTarget, plan: OrgPlan, *, attendee_calendars: bool = True) -> None:
    """Replay a plan into the Google emulator, as each person would in the Calendar UI."""
    for person in plan.people if attendee_calendars else plan.managers:
        target.add_calendar(person, plan.zones[person])
    for series in plan.series:
        end = series.first_start + timedelta(minutes=series.duration_minutes)
        target.insert_event(
            series.organizer,
            {
                "summary": series.title,
                "description": "Our weekly 1:1. Agenda: bring your topics.",
                "start": _google_when(series.first_start, series.zone),
                "end": _google_when(end, series.zone),
                "recurrence": [_rrule(series)],
                "attendees": [
                    {"email": series.organizer, "organizer": True, "responseStatus": "accepted"},
                    {"email": series.attendee, "responseStatus": "accepted"},
                ],
            },
            event_id=series.key,
        )
    by_key = {s.key: s for s in plan.series}
    for change in plan.changes:
        series = by_key[change.series]
        instance = google_instance_id(series.key, change.original_start)
        if change.action == "cancel":
            target.delete_event(series.organizer, instance)
        elif change.action == "move" and change.new_start is not None:
            new_end = change.new_start + timedelta(minutes=series.duration_minutes)
            target.patch_event(
                series.organizer,
                instance,
                {"start": _google_when(change.new_start, series.zone), "end": _google_when(new_end, series.zone)},
            )
        elif change.action == "decline" and change.by:
            target.respond(change.by, instance, "declined")
    for one_off in plan.one_offs:
        end = one_off.start + timedelta(minutes=one_off.duration_minutes)
        target.insert_event(
            one_off.organizer,
            {
                "summary": one_off.title,
                "start": _google_when(one_off.start, one_off.zone),
                "end": _google_when(end, one_off.zone),
                "attendees": [
                    {"email": one_off.organizer, "organizer": True, "responseStatus": "accepted"},
                    {"email": one_off.attendee, "responseStatus": "accepted"},
                ],
            },
            event_id=one_off.key,
        )
    for away in plan.away:
        target.insert_event(
            away.person,
            {
                "summary": "Out of office",
                "eventType": "outOfOffice",
                "start": _google_when(away.start, away.zone),
                "end": _google_when(away.end, away.zone),
            },
        )


class DirectorySeedTarget(Protocol):
    def add_user(self, address: str, name: str, /, manager: str | None = ..., department: str | None = ...) -> str: ...


def seed_directory(target: DirectorySeedTarget, plan: OrgPlan, departments: dict[str, str] | None = None) -> None:
    """The plan's reporting lines as a company directory (the Google emulator's `directory`, or the Graph
    emulator itself); each manager's team is one department, "Team <n>" unless `departments` names it."""
    for index, manager in enumerate(plan.managers):
        department = (departments or {}).get(manager, f"Team {index + 1}")
        for person, boss in ((manager, None), *((report, manager) for report in plan.reports[manager])):
            name = " ".join(part.capitalize() for part in person.partition("@")[0].split("."))
            target.add_user(person, name, manager=boss, department=department)


def _ics_time(name: str, moment: datetime, zone: str) -> str:
    return f"{name};TZID={zone}:{moment.astimezone(ZoneInfo(zone)).strftime('%Y%m%dT%H%M%S')}"


def _ics_people(organizer: str, attendee: str, declined: bool = False) -> list[str]:
    answer = "DECLINED" if declined else "ACCEPTED"
    return [
        f"ORGANIZER:mailto:{organizer}",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}",
        f"ATTENDEE;PARTSTAT={answer}:mailto:{attendee}",
    ]


def plan_to_ics(plan: OrgPlan, manager: str) -> bytes:
    """One manager's calendar as a published ICS feed (as Google's "secret address" exports it):
    series with RRULE, deleted instances as EXDATE, moves and declines as RECURRENCE-ID overrides."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//oneonone//demo org//EN", "CALSCALE:GREGORIAN"]
    lines += [f"X-WR-CALNAME:{manager}", f"X-WR-TIMEZONE:{plan.zones[manager]}"]
    stamp = "DTSTAMP:" + plan.now.strftime("%Y%m%dT%H%M%SZ")
    for series in (s for s in plan.series if s.organizer == manager):
        length = timedelta(minutes=series.duration_minutes)
        changes = [c for c in plan.changes if c.series == series.key]
        exdates = [f"EXDATE:{c.original_start.astimezone(UTC):%Y%m%dT%H%M%SZ}" for c in changes if c.action == "cancel"]
        lines += ["BEGIN:VEVENT", f"UID:{series.key}@oneonone.demo", stamp, f"SUMMARY:{series.title}"]
        lines += [_ics_time("DTSTART", series.first_start, series.zone)]
        lines += [_ics_time("DTEND", series.first_start + length, series.zone), _rrule(series), *exdates]
        lines += [*_ics_people(manager, series.attendee), "END:VEVENT"]
        for change in (c for c in changes if c.action in ("move", "decline")):
            start = change.new_start or change.original_start
            lines += ["BEGIN:VEVENT", f"UID:{series.key}@oneonone.demo", stamp, f"SUMMARY:{series.title}"]
            lines += [_ics_time("RECURRENCE-ID", change.original_start, series.zone)]
            lines += [_ics_time("DTSTART", start, series.zone), _ics_time("DTEND", start + length, series.zone)]
            lines += [*_ics_people(manager, series.attendee, declined=change.action == "decline"), "END:VEVENT"]
    for one_off in (o for o in plan.one_offs if o.organizer == manager):
        end = one_off.start + timedelta(minutes=one_off.duration_minutes)
        lines += ["BEGIN:VEVENT", f"UID:{one_off.key}@oneonone.demo", stamp, f"SUMMARY:{one_off.title}"]
        lines += [_ics_time("DTSTART", one_off.start, one_off.zone), _ics_time("DTEND", end, one_off.zone)]
        lines += [*_ics_people(manager, one_off.attendee), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
