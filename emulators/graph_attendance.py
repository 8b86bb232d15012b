"""Teams online meetings and their attendance reports, as Microsoft Graph v1.0 documents them.

`GET /users/{userId}/onlineMeetings?$filter=JoinWebUrl eq '{joinWebUrl}'` finds the organizer's
online meeting by its join URL (`{"value": [...]}`; any other query is 400). Then
`…/onlineMeetings/{meetingId}/attendanceReports` lists the meeting's reports (one per time the
meeting took place, newest first, at most 50; `meetingStartDateTime`, `meetingEndDateTime`,
`totalParticipantCount`), and `…/attendanceReports/{reportId}/attendanceRecords` the people in one
(`emailAddress`, `identity`, `role`, `totalAttendanceInSeconds`, `attendanceIntervals` of
`joinDateTime`, `leaveDateTime`, `durationInSeconds`), paged with `@odata.nextLink`.

`{userId}` is the user's object id (or UPN); the app needs `OnlineMeetings.Read.All` to find the
meeting and `OnlineMeetingArtifact.Read.All` for the reports (403 `Forbidden` otherwise), and an
application access policy covering the organizer (403 "No application access policy found for this
app." otherwise: see `deny_policy`). Seed with `add_report`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulators import graph_http as gh
from emulators.graph_model import GraphError
from emulators.graph_render import stamp
from emulators.http import Reply, Request

if TYPE_CHECKING:
    from emulators.graph_identity import Grant

MEETING_ROLES = ("OnlineMeetings.Read.All", "OnlineMeetings.ReadWrite.All")
ARTIFACT_ROLES = ("OnlineMeetingArtifact.Read.All",)
MAX_REPORTS = 50
_FILTER = re.compile(r"^\s*JoinWebUrl\s+eq\s+'(.*)'\s*$", re.IGNORECASE)


@dataclass
class Attended:
    address: str
    object_id: str | None  # None: a guest from outside the tenant
    display_name: str
    intervals: list[tuple[datetime, datetime]]


@dataclass
class Report:
    report_id: str
    start: datetime
    end: datetime
    records: list[Attended]


@dataclass
class OnlineMeeting:
    meeting_id: str
    join_url: str
    organizer: str  # address (casefolded)
    subject: str = ""
    reports: list[Report] = field(default_factory=list)


class Attendance:
    """The tenant's Teams meetings; `user` maps an address or object id to (address, object id).

    A Teams event on a calendar is an online meeting from the start (`calendar_meetings`); its
    attendance reports appear once someone joined it (`add_report`).
    """

    def __init__(
        self,
        user: Callable[[str], tuple[str, str] | None],
        calendar_meetings: Callable[[str], list[tuple[str, str]]] = lambda _organizer: [],
    ) -> None:
        self.user = user
        self.calendar_meetings = calendar_meetings  # an organizer's Teams events: each is an online meeting
        self.meetings: dict[str, OnlineMeeting] = {}
        self.denied_policy: set[str] = set()  # organizers no application access policy covers
        self.page_size: int | None = None  # tests: fewer records a page, to exercise @odata.nextLink
        self.requests = 0
        self._lock = threading.Lock()

    # -- seeding, as the Teams service records the calls ---------------------------------------------------
    def add_report(
        self,
        join_url: str,
        organizer: str,
        intervals: dict[str, Sequence[tuple[datetime, datetime]]],
        *,
        subject: str = "",
    ) -> str:
        """One time the meeting took place: each address's join/leave intervals (a device or rejoin each)."""
        with self._lock:
            meeting = self._meeting(join_url, organizer.casefold(), subject)
            spans = [s for person in intervals.values() for s in person]
            start, end = min(s[0] for s in spans), max(s[1] for s in spans)
            records = []
            for person, person_spans in sorted(intervals.items()):
                known = self.user(person)
                records.append(
                    Attended(
                        address=person,
                        object_id=known[1] if known else None,
                        display_name=person.partition("@")[0].title(),
                        intervals=sorted(person_spans),
                    )
                )
            report_id = hashlib.sha256(f"{join_url}:{stamp(start)}".encode()).hexdigest()[:36]
            meeting.reports.append(Report(report_id, start, end, records))
            return report_id

    def _meeting(self, join_url: str, organizer: str, subject: str = "") -> OnlineMeeting:
        meeting = self.meetings.get(join_url)
        if meeting is None:
            digest = hashlib.sha256(join_url.encode()).hexdigest()
            meeting = self.meetings[join_url] = OnlineMeeting(f"MSo{digest[:40]}", join_url, organizer, subject)
        return meeting

    def deny_policy(self, organizer: str) -> None:
        """No application access policy covers this organizer (Grant-CsApplicationAccessPolicy not run)."""
        self.denied_policy.add(organizer.casefold())

    # -- the API ---------------------------------------------------------------------------------------------
    def route(self, base: str, grant: Grant, request: Request, user: str, rest: list[str]) -> Reply:
        if request.method != "GET":
            raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
        known = self.user(user)
        if known is None:
            raise GraphError(404, "NotFound", f"The requested user '{user}' is invalid.")
        address = known[0].casefold()
        if not set(MEETING_ROLES + ARTIFACT_ROLES) & set(grant.app.roles):
            raise GraphError(403, "Forbidden", "Authorization has been denied for this request.")
        if address in self.denied_policy:
            raise GraphError(403, "Forbidden", "No application access policy found for this app.")
        with self._lock:
            self.requests += 1
            if not rest:
                if not set(MEETING_ROLES) & set(grant.app.roles):
                    raise GraphError(403, "Forbidden", "Authorization has been denied for this request.")
                return gh.json_reply(200, self._find(request, address), request)
            meeting = next(
                (m for m in self.meetings.values() if m.meeting_id == rest[0] and m.organizer == address), None
            )
            if meeting is None:
                raise GraphError(404, "NotFound", "The online meeting was not found.")
            if not set(ARTIFACT_ROLES) & set(grant.app.roles):
                raise GraphError(403, "Forbidden", "Authorization has been denied for this request.")
            tail = [p.casefold() for p in rest[1:]]
            if tail == ["attendancereports"]:
                reports = sorted(meeting.reports, key=lambda r: r.start, reverse=True)[:MAX_REPORTS]
                return gh.json_reply(200, self._page(base, request, [_report(r) for r in reports]), request)
            if len(tail) == 3 and tail[0] == "attendancereports" and tail[2] == "attendancerecords":
                report = next((r for r in meeting.reports if r.report_id == rest[2]), None)
                if report is None:
                    raise GraphError(404, "NotFound", "The attendance report was not found.")
                return gh.json_reply(200, self._page(base, request, [_record(a) for a in report.records]), request)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _find(self, request: Request, address: str) -> dict[str, Any]:
        found = _FILTER.match(gh.param(request, "$filter") or "")
        if found is None:
            raise GraphError(
                400,
                "BadRequest",
                "This API only supports filtering by JoinWebUrl or joinMeetingIdSettings/joinMeetingId.",
            )
        url = found.group(1).replace("''", "'")
        for join_url, subject in self.calendar_meetings(address):
            self._meeting(join_url, address, subject)
        meeting = self.meetings.get(url)
        value = [_meeting(meeting)] if meeting is not None and meeting.organizer == address else []
        return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#onlineMeetings", "value": value}

    def _page(self, base: str, request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        skip = gh.offset(request)
        size = self.page_size or 100
        body: dict[str, Any] = {"value": items[skip : skip + size]}
        if skip + size < len(items):
            body["@odata.nextLink"] = gh.next_link(base, request, skip + size)
        return body


def _meeting(meeting: OnlineMeeting) -> dict[str, Any]:
    return {
        "id": meeting.meeting_id,
        "joinWebUrl": meeting.join_url,
        "subject": meeting.subject,
        "participants": {"organizer": {"upn": meeting.organizer, "role": "presenter"}},
    }


def _report(report: Report) -> dict[str, Any]:
    return {
        "id": report.report_id,
        "totalParticipantCount": len(report.records),
        "meetingStartDateTime": stamp(report.start),
        "meetingEndDateTime": stamp(report.end),
    }


def _record(person: Attended) -> dict[str, Any]:
    intervals = [
        {
            "joinDateTime": stamp(a),
            "leaveDateTime": stamp(b),
            "durationInSeconds": int((b - a).total_seconds()),
        }
        for a, b in person.intervals
    ]
    return {
        "id": person.object_id or hashlib.sha256(person.address.encode()).hexdigest()[:36],
        "emailAddress": person.address,
        "totalAttendanceInSeconds": sum(i["durationInSeconds"] for i in intervals),
        "role": "Presenter",
        "identity": {
            "id": person.object_id,
            "displayName": person.display_name,
            "tenantId": None,
        },
        "attendanceIntervals": intervals,
    }
