"""The Google Meet REST API v2 conference records, as Google documents them, for the Google emulator.

`GET /v2/conferenceRecords?filter=&pageSize=&pageToken=` lists the conferences the caller organized
(owns the space of) or joined, newest first, 25 a page by default (at most 100). The filter takes
`space.meeting_code = "abc-mnop-xyz"`, `space.name = "spaces/…"`, and `start_time` / `end_time`
compared with `>=`, `<=`, `>`, `<` to an RFC 3339 timestamp, joined by `AND`.
`GET /v2/conferenceRecords/{id}/participants` (100 a page, at most 250) gives each participant once
per conference, a signed-in one as `signedinUser.user` = `users/{id}` (the Admin SDK / People API id),
with `earliestStartTime` and `latestEndTime`; `…/participants/{id}/participantSessions` gives one
session per device or rejoin (`startTime`, `endTime`). A token without a Meet scope gets 403
`PERMISSION_DENIED` in Google's AIP-193 error shape, an unknown record 404 `NOT_FOUND`, a filter
the service cannot parse 400 `INVALID_ARGUMENT`. Seed with `add_conference`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.google_auth import TokenService
from emulators.http import Reply, Request

PREFIX = "/v2/conferenceRecords"
SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/meetings.space.readonly",
        "https://www.googleapis.com/auth/meetings.space.created",
        "https://www.googleapis.com/auth/meetings.space.settings",
    }
)
_CLAUSE = re.compile(r'^\s*(space\.meeting_code|space\.name|start_time|end_time)\s*(>=|<=|=|>|<)\s*"([^"]*)"\s*$')
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


class MeetError(Exception):
    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason

    def reply(self) -> Reply:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "status": _STATUS.get(self.code, "UNKNOWN"),
        }
        if self.reason:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": {"service": "meet.googleapis.com"},
                }
            ]
        return Reply.json(self.code, {"error": error})


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise MeetError(400, f"Invalid timestamp in filter: {text}") from None


@dataclass
class MeetParticipant:
    participant_id: str
    user_id: str | None  # Admin SDK / People API id; None for an anonymous or phone participant
    display_name: str
    sessions: list[tuple[datetime, datetime | None]]


@dataclass
class Conference:
    record_id: str
    meeting_code: str
    space: str
    owner: str  # who the space belongs to (the event's organizer)
    start: datetime
    end: datetime | None
    participants: list[MeetParticipant] = field(default_factory=list)
    members: set[str] = field(default_factory=set)  # addresses of signed-in participants

    def render(self) -> dict[str, Any]:
        body = {
            "name": f"conferenceRecords/{self.record_id}",
            "startTime": stamp(self.start),
            "space": self.space,
            "expireTime": stamp(self.start + timedelta(days=30)),
        }
        if self.end is not None:
            body["endTime"] = stamp(self.end)
        return body


def _page_token(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def _offset(kind: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        found, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if found != kind:
            raise ValueError(found)
        return int(value)
    except ValueError:
        raise MeetError(400, "Invalid page token.") from None


def _page(
    request: Request, items: Sequence[dict[str, Any]], kind: str, default: int, most: int, cap: int | None
) -> tuple[list[dict[str, Any]], str]:
    try:
        size = int(request.param("pageSize") or default)
    except ValueError:
        raise MeetError(400, "Invalid value for pageSize.") from None
    if size < 0:
        raise MeetError(400, "pageSize must not be negative.")
    size = min(size or default, most, cap or most)  # `cap`: the service "might return fewer"
    offset = _offset(kind, request.param("pageToken"))
    more = offset + size < len(items)
    return list(items[offset : offset + size]), _page_token(kind, offset + size) if more else ""


class GoogleMeet:
    """Conference records of one Workspace account; `user_id` maps an address to its directory id."""

    def __init__(self, tokens: TokenService, user_id: Callable[[str], str]) -> None:
        self.tokens = tokens
        self.user_id = user_id
        self.conferences: list[Conference] = []
        self.requests = 0
        self.page_size: int | None = None  # tests: fewer items a page than asked, to exercise paging
        self._lock = threading.Lock()

    # -- seeding: what happened in the calls -------------------------------------------------------
    def add_conference(
        self,
        meeting_code: str,
        owner: str,
        sessions: dict[str, Sequence[tuple[datetime, datetime | None]]],
        *,
        names: dict[str, str] | None = None,
    ) -> str:
        """A call in the meeting `meeting_code`: each address's sessions (one per device or rejoin).

        Starts when the first session starts and ends with the last one (None: still going).
        """
        spans = [s for person in sessions.values() for s in person]
        start = min(s[0] for s in spans)
        ends = [s[1] for s in spans]
        end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
        digest = hashlib.sha256(f"{meeting_code}:{stamp(start)}".encode()).hexdigest()
        record = Conference(
            record_id=f"rec-{digest[:16]}",
            meeting_code=meeting_code,
            space=f"spaces/{hashlib.sha256(meeting_code.encode()).hexdigest()[:12]}",
            owner=owner.lower(),
            start=start,
            end=end,
        )
        for n, (person, person_sessions) in enumerate(sorted(sessions.items())):
            record.participants.append(
                MeetParticipant(
                    participant_id=f"p{n}-{digest[16:24]}",
                    user_id=self.user_id(person),
                    display_name=(names or {}).get(person, person.partition("@")[0].title()),
                    sessions=sorted(person_sessions, key=lambda s: s[0]),
                )
            )
            record.members.add(person.lower())
        with self._lock:
            self.conferences.append(record)
        return record.record_id

    # -- the API --------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        try:
            principal = self.tokens.authenticate(request.header("authorization"))
        except Exception:
            return MeetError(401, "Request had invalid authentication credentials.").reply()
        try:
            if not principal.scopes & SCOPES:
                raise MeetError(
                    403, "Request had insufficient authentication scopes.", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
                )
            if request.method != "GET":
                raise MeetError(405, "Method not allowed.")
            with self._lock:
                self.requests += 1
                return Reply.json(200, self._route(request, principal.subject))
        except MeetError as exc:
            return exc.reply()

    def _visible(self, subject: str) -> list[Conference]:
        return [c for c in self.conferences if c.owner == subject or subject in c.members]

    def _route(self, request: Request, subject: str) -> dict[str, Any]:
        parts = [p for p in request.path.split("/") if p][2:]  # after v2/conferenceRecords
        if not parts:
            return self._list(request, subject)
        record = next((c for c in self._visible(subject) if c.record_id == parts[0]), None)
        if record is None:
            raise MeetError(404, "Requested entity was not found.")
        if len(parts) == 1:
            return record.render()
        if parts[1:] == ["participants"]:
            return self._participants(request, record)
        if len(parts) == 4 and parts[1] == "participants" and parts[3] == "participantSessions":
            participant = next((p for p in record.participants if p.participant_id == parts[2]), None)
            if participant is None:
                raise MeetError(404, "Requested entity was not found.")
            return self._sessions(request, record, participant)
        raise MeetError(404, "Requested entity was not found.")

    def _list(self, request: Request, subject: str) -> dict[str, Any]:
        found = [c for c in self._visible(subject) if _matches(c, request.param("filter") or "")]
        found.sort(key=lambda c: c.start, reverse=True)
        page, token = _page(request, [c.render() for c in found], "records", 25, 100, self.page_size)
        body: dict[str, Any] = {"conferenceRecords": page} if page else {}
        if token:
            body["nextPageToken"] = token
        return body

    def _participants(self, request: Request, record: Conference) -> dict[str, Any]:
        rendered = []
        for p in record.participants:
            item: dict[str, Any] = {
                "name": f"conferenceRecords/{record.record_id}/participants/{p.participant_id}",
                "earliestStartTime": stamp(p.sessions[0][0]),
            }
            ends = [s[1] for s in p.sessions]
            if all(e is not None for e in ends):
                item["latestEndTime"] = stamp(max(e for e in ends if e is not None))
            if p.user_id is not None:
                item["signedinUser"] = {"user": f"users/{p.user_id}", "displayName": p.display_name}
            else:
                item["anonymousUser"] = {"displayName": p.display_name}
            rendered.append(item)
        page, token = _page(request, rendered, "participants", 100, 250, self.page_size)
        body: dict[str, Any] = {"participants": page} if page else {}
        if token:
            body["nextPageToken"] = token
        return body

    def _sessions(self, request: Request, record: Conference, participant: MeetParticipant) -> dict[str, Any]:
        base = f"conferenceRecords/{record.record_id}/participants/{participant.participant_id}"
        rendered = []
        for n, (start, end) in enumerate(participant.sessions):
            item = {"name": f"{base}/participantSessions/s{n}", "startTime": stamp(start)}
            if end is not None:
                item["endTime"] = stamp(end)
            rendered.append(item)
        page, token = _page(request, rendered, "sessions", 100, 250, self.page_size)
        body: dict[str, Any] = {"participantSessions": page} if page else {}
        if token:
            body["nextPageToken"] = token
        return body


def _matches(record: Conference, text: str) -> bool:
    if not text.strip():
        return True
    for clause in re.split(r"\s+AND\s+", text.strip()):
        found = _CLAUSE.match(clause)
        if found is None:
            raise MeetError(400, f"Invalid filter: {clause.strip()}")
        name, op, value = found.groups()
        if name == "space.meeting_code":
            if op != "=":
                raise MeetError(400, "space.meeting_code supports = only.")
            if record.meeting_code != value:
                return False
            continue
        if name == "space.name":
            if op != "=" or record.space != value:
                return False
            continue
        mine = record.start if name == "start_time" else record.end
        if mine is None:
            return False
        moment = _parse_time(value)
        ok = {">=": mine >= moment, "<=": mine <= moment, ">": mine > moment, "<": mine < moment, "=": mine == moment}
        if not ok[op]:
            return False
    return True
