"""Who joined a Teams call: Microsoft Graph online meetings, their attendance reports and records.

For a past 1:1 whose event is a Teams meeting (`teams:<join URL>`), the reader finds the online
meeting by its join URL under its organizer (`/users/{id}/onlineMeetings?$filter=JoinWebUrl eq '…'`),
lists its `attendanceReports` (one per time the meeting took place), keeps those that started around
the slot, and reads their `attendanceRecords` for the two people's `attendanceIntervals` only.

Identity: records name a person by `identity.id` (the Entra object id) and usually `emailAddress`;
each of the two people is resolved once to their object id (`/users/{address}?$select=id`), and a
record matches by either. A guest from another tenant, or an anonymous joiner, is never matched.

Access: application permission `OnlineMeetingArtifact.Read.All` (and `OnlineMeetings.Read.All` to find
the meeting by its URL, `User.Read.All` for the object ids), admin consent, and an application access
policy for online meetings that covers the organizers (`New-CsApplicationAccessPolicy` /
`Grant-CsApplicationAccessPolicy`). A 403
raises `AttendanceDenied`. Limits, from Graph's documentation: reports exist for about a year and at
most 50 (the newest) are listed per meeting, so a long-running series' old calls drop off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.base import AttendanceDenied, Joined
from providers.outlook_http import GraphClient, GraphResponse, error_code

EARLY = timedelta(minutes=30)  # a report starts when the first person joins: someone may be early


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass
class TeamsAttendanceReader:
    client: GraphClient
    source: str = "teams"
    _ids: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)

    def handles(self, conference: str) -> bool:
        return conference.startswith("teams:")

    def _get(self, person: str, url: str, what: str, params: dict[str, str] | None = None) -> GraphResponse:
        reply = self.client.call(person, "GET", url, what=what, params=params, allow=frozenset({403, 404}))
        if reply.status == 403:
            code, message = error_code(reply)
            raise AttendanceDenied(person, f"Graph refused {what}: HTTP 403 {code} {message}".strip())
        return reply

    def _pages(self, person: str, url: str, what: str, params: dict[str, str] | None = None) -> Iterator[Any]:
        link: str | None = url
        while link:
            reply = self._get(person, link, what, params)
            if reply.status == 404:
                return
            yield from reply.body.get("value") or ()
            link, params = reply.body.get("@odata.nextLink"), None  # the link repeats the query

    def _object_id(self, person: str) -> str | None:
        if person not in self._ids:
            reply = self._get(person, self.client.user_url(person), "users.get", {"$select": "id"})
            found = reply.body.get("id") if reply.status == 200 else None
            self._ids[person] = str(found) if found else None
        return self._ids[person]

    def _meeting(self, url: str, people: tuple[str, str]) -> tuple[str, str] | None:
        """(organizer's object id, meeting id), looked up as each of the two in turn."""
        escaped = url.replace("'", "''")
        for person in people:
            user = self._object_id(person)
            if user is None:
                continue
            found = list(
                self._pages(
                    person,
                    self.client.user_url(user, "onlineMeetings"),
                    "onlineMeetings",
                    {"$filter": f"JoinWebUrl eq '{escaped}'"},
                )
            )
            if found and isinstance(found[0], dict) and found[0].get("id"):
                return user, str(found[0]["id"])
        return None

    def read(self, conference: str, people: tuple[str, str], start: datetime, end: datetime) -> Joined | None:
        """The two people's intervals; None when the meeting is not visible (organized by someone else)."""
        meeting = self._meeting(conference.removeprefix("teams:"), people)
        if meeting is None:
            return None
        user, meeting_id = meeting
        base = self.client.user_url(user, "onlineMeetings", meeting_id, "attendanceReports")
        joined: Joined = {}
        ids = {self._ids.get(p): p for p in people if self._ids.get(p)}
        for report in self._pages(people[0], base, "attendanceReports"):
            began = _time(report.get("meetingStartDateTime")) if isinstance(report, dict) else None
            if began is None or not start - EARLY <= began <= end or not report.get("id"):
                continue
            records = f"{base}/{report['id']}/attendanceRecords"
            for record in self._pages(people[0], records, "attendanceRecords"):
                person = _match(record, people, ids)
                for interval in (record.get("attendanceIntervals") or ()) if person else ():
                    joined_at, left_at = _time(interval.get("joinDateTime")), _time(interval.get("leaveDateTime"))
                    if person and joined_at is not None and left_at is not None and left_at > joined_at:
                        joined.setdefault(person, []).append((joined_at, left_at))
        return joined


def _match(record: Any, people: tuple[str, str], ids: dict[str | None, str]) -> str | None:
    if not isinstance(record, dict):
        return None
    identity = record.get("identity")
    by_id = ids.get(identity.get("id")) if isinstance(identity, dict) and identity.get("id") else None
    if by_id is not None:
        return by_id
    email = record.get("emailAddress")
    return next((p for p in people if isinstance(email, str) and email.casefold() == p.casefold()), None)
