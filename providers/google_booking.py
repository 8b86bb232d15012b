"""Free/busy and booking on Google (calendar-apis.md; issue 16).

`freebusy.query` takes at most 50 calendars per call, so the people are asked in batches; Google
exposes no working hours through the Calendar API, so `hours` stays None and the configured
default applies. `events.insert` carries a client-chosen `id` derived from the booking key and
`sendUpdates=all` so the report gets the invitation; a 409 `duplicate` means an earlier try
already made it, which counts as booked. Scopes: `calendar.events` (insert) and
`calendar.freebusy` (or `calendar.events.freebusy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from providers.base import PermanentError
from providers.booking import Availability, Booked, NewMeeting, event_id_for
from providers.google import GoogleCalendarProvider, execute_once
from rules.slots import Interval

BATCH = 50


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class GoogleBooker:
    provider: GoogleCalendarProvider
    name: str = "google"
    # A warning does not wait on free/busy: one try, bounded, no retries (a failure sends it without slots).
    timeout: float = 10.0

    @property
    def requests_made(self) -> int:
        return self.provider.requests_made

    def availability(self, as_user: str, people: Sequence[str], window: Interval) -> dict[str, Availability]:
        service = self.provider._service(as_user)
        found: dict[str, Availability] = {}
        for first in range(0, len(people), BATCH):
            batch = list(people[first : first + BATCH])
            body = {
                "timeMin": _rfc3339(window.start),
                "timeMax": _rfc3339(window.end),
                "calendarExpansionMax": BATCH,
                "items": [{"id": p} for p in batch],
            }
            request = service.freebusy().query(body=body)
            with self.provider._lock:
                self.provider.requests_made += 1
            http = self.provider._http(as_user)
            reply = execute_once(request, as_user, "freebusy.query", http=http, seconds=self.timeout)
            calendars = reply.get("calendars") or {}
            for person in batch:
                found[person] = _availability(person, calendars.get(person) or calendars.get(person.lower()))
        return found

    def create_meeting(self, meeting: NewMeeting) -> Booked:
        service = self.provider._service(meeting.organizer)
        event_id = event_id_for(meeting.key)
        zone = ZoneInfo(meeting.time_zone)
        body: dict[str, Any] = {
            "id": event_id,
            "summary": meeting.title,
            "description": meeting.description,
            "start": {"dateTime": meeting.start.astimezone(zone).isoformat(), "timeZone": meeting.time_zone},
            "end": {"dateTime": meeting.end.astimezone(zone).isoformat(), "timeZone": meeting.time_zone},
            "attendees": [{"email": meeting.attendee}],
            "extendedProperties": {"private": {"oneononeBooking": event_id}},
        }
        request = service.events().insert(calendarId=meeting.organizer, body=body, sendUpdates="all")
        try:
            created = self.provider._execute(meeting.organizer, request, f"events.insert {event_id}")
        except PermanentError as exc:
            if "HTTP 409 duplicate" in str(exc):
                return Booked(event_id, already=True)
            raise
        return Booked(str(created.get("id") or event_id), already=False)


def _availability(person: str, entry: Any) -> Availability:
    if not isinstance(entry, dict):
        return Availability(person, error="not in the answer")
    errors = entry.get("errors") or []
    if errors:
        return Availability(person, error=", ".join(str(e.get("reason")) for e in errors if isinstance(e, dict)))
    busy = tuple(
        Interval(datetime.fromisoformat(b["start"]), datetime.fromisoformat(b["end"]))
        for b in entry.get("busy") or []
        if isinstance(b, dict) and "start" in b and "end" in b
    )
    return Availability(person, busy=busy)
