"""Free/busy and booking on Microsoft Graph (issue 16).

`POST /users/{organizer}/calendar/getSchedule` answers for both people in one request: busy items
(status busy, tentative or oof; `oof` blocks the whole day, in the person's zone) and each person's
`workingHours` from their mailbox settings, which the slot search uses instead of the configured
default. `POST /users/{organizer}/events` carries a `transactionId` derived from the booking key:
Graph answers a retry with the event it already made instead of a second one, so the create may be
retried like an idempotent call. Application permission: Calendars.ReadWrite.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from providers.booking import Availability, Booked, NewMeeting, event_id_for
from providers.outlook_mapping import iana_zone
from rules.slots import Interval, WorkingHours

if TYPE_CHECKING:
    from providers.outlook_http import GraphClient

BATCH = 20  # schedules per getSchedule call
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BUSY = {"busy", "tentative", "oof"}


def transaction_id(key: str) -> str:
    """A GUID-shaped id stable for the key (Graph documents transactionId as a client-chosen string)."""
    return str(uuid.UUID(event_id_for(key)[2:34]))


@dataclass
class GraphBooker:
    client: GraphClient
    name: str = "outlook"
    # A warning does not wait on free/busy: one try, no retries (a failure sends it without slots).
    timeout: float = 10.0

    @property
    def requests_made(self) -> int:
        return self.client.requests_made

    def availability(self, as_user: str, people: Sequence[str], window: Interval) -> dict[str, Availability]:
        found: dict[str, Availability] = {}
        for first in range(0, len(people), BATCH):
            batch = list(people[first : first + BATCH])
            reply = self.client.call(
                as_user,
                "POST",
                self.client.user_url(as_user, "calendar", "getSchedule"),
                what="getSchedule",
                json={
                    "schedules": batch,
                    "startTime": {"dateTime": _naive(window.start), "timeZone": "UTC"},
                    "endTime": {"dateTime": _naive(window.end), "timeZone": "UTC"},
                    "availabilityViewInterval": 30,
                },
                headers={"Prefer": 'outlook.timezone="UTC"'},
                idempotent=False,  # not retried: see `timeout`
            )
            answers = {
                str(v.get("scheduleId", "")).lower(): v for v in reply.body.get("value") or [] if isinstance(v, dict)
            }
            for person in batch:
                found[person] = _availability(person, answers.get(person.lower()))
        return found

    def create_meeting(self, meeting: NewMeeting) -> Booked:
        zone = ZoneInfo(meeting.time_zone)
        body: dict[str, Any] = {
            "subject": meeting.title,
            "body": {"contentType": "text", "content": meeting.description},
            "start": {"dateTime": _naive(meeting.start.astimezone(zone)), "timeZone": meeting.time_zone},
            "end": {"dateTime": _naive(meeting.end.astimezone(zone)), "timeZone": meeting.time_zone},
            "attendees": [{"emailAddress": {"address": meeting.attendee}, "type": "required"}],
            "transactionId": transaction_id(meeting.key),
        }
        reply = self.client.call(
            meeting.organizer,
            "POST",
            self.client.user_url(meeting.organizer, "events"),
            what="create the booked 1:1",
            json=body,
        )
        # A repeated transactionId is answered with the event made the first time, like a first create.
        return Booked(str(reply.body.get("id") or ""), already=False)


def _naive(moment: datetime) -> str:
    return moment.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S")


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    text = value["dateTime"].split(".")[0]
    zone = iana_zone(value.get("timeZone")) or "UTC"
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _hours(raw: Any) -> WorkingHours | None:
    if not isinstance(raw, dict):
        return None
    zone = iana_zone((raw.get("timeZone") or {}).get("name")) or "UTC"
    try:
        start = time.fromisoformat(str(raw["startTime"]).split(".")[0])
        end = time.fromisoformat(str(raw["endTime"]).split(".")[0])
    except (KeyError, ValueError):
        return None
    days = frozenset(DAYS.index(d.lower()) for d in raw.get("daysOfWeek") or [] if str(d).lower() in DAYS)
    return WorkingHours(zone, start, end, days) if days and start < end else None


def _availability(person: str, answer: Any) -> Availability:
    if not isinstance(answer, dict):
        return Availability(person, error="not in the answer")
    if answer.get("error"):
        error = answer["error"]
        return Availability(person, error=str(error.get("responseCode") if isinstance(error, dict) else error))
    hours = _hours(answer.get("workingHours"))
    tz = ZoneInfo(hours.zone if hours else "UTC")
    busy, away = [], set()
    for item in answer.get("scheduleItems") or []:
        status = str(item.get("status", "")).lower() if isinstance(item, dict) else ""
        start, end = _instant(item.get("start")), _instant(item.get("end"))
        if status not in BUSY or start is None or end is None:
            continue
        busy.append(Interval(start, end))
        if status == "oof":
            day: date = start.astimezone(tz).date()
            while day <= (end - timedelta(microseconds=1)).astimezone(tz).date():
                away.add(day)
                day += timedelta(days=1)
    return Availability(person, tuple(busy), hours, frozenset(away))
