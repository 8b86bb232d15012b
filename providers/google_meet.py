"""Who joined a Google Meet call: Meet REST API v2 conference records, participants and their sessions.

For a past 1:1 whose event carries a Meet conference (`meet:<meeting code>`), the reader lists the
conference records of that meeting code which started around the slot, then their participants and
each matching participant's sessions (one per device or rejoin), and returns the two people's
intervals only.

Identity: Meet names a signed-in participant `users/{id}`, the id the Admin SDK and People API use,
never an address. The reader maps each of the two people to that id with the Admin SDK
`users.get(userKey=<address>, viewType=domain_public)`, acting as that person (any user of the
domain may read another's public profile), and keeps the ids for the life of the reader. Limits: a
person outside the Workspace domain (a guest, a personal account) has no id we can learn, and an
anonymous or dial-in participant is never matched: both read as "did not join".

Access is through domain-wide delegation with `meetings.space.readonly` and
`admin.directory.user.readonly`. Meet lists only conferences the acting user organized or joined,
so the records are asked for as the manager and, if none are visible, as the report; a 403 (scope
not granted) raises `AttendanceDenied`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from google.auth.exceptions import RefreshError
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from providers.base import AttendanceDenied, Joined, ProviderError
from providers.google import execute_once
from providers.retry import RetryPolicy, Sleeper, call_with_retries

SCOPE_MEET = "https://www.googleapis.com/auth/meetings.space.readonly"
SCOPE_DIRECTORY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SCOPES = (SCOPE_MEET, SCOPE_DIRECTORY)
# A conference record starts when the first person joins: someone may be early, or very late.
EARLY = timedelta(minutes=30)


@cache
def _document(name: str, version: str) -> str:
    doc = get_static_doc(name, version)
    if doc is None:  # pragma: no cover - the wheel ships both
        raise RuntimeError(f"google-api-python-client has no static {name} {version} discovery document")
    return str(doc)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _denied(exc: BaseException) -> bool:
    cause = exc.__cause__
    if isinstance(cause, HttpError):
        return cause.status_code == 403 and b"PERMISSION_DENIED" in (cause.content or b"")
    # Delegation without the scopes: the token endpoint refuses (a refresh token lacking them: invalid_scope).
    return isinstance(cause, RefreshError) and any(e in str(cause) for e in ("unauthorized_client", "invalid_scope"))


@dataclass
class MeetAttendanceReader:
    """Reads Meet attendance for the conferences of detected 1:1s; one instance per daemon."""

    credentials_for: Callable[[str], Credentials]  # with SCOPES, acting as the given user
    api_endpoint: str | None = None  # None = Google's own endpoints (meet.googleapis.com, admin.googleapis.com)
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(attempts=3, base_delay=1.0))
    sleeper: Sleeper = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    source: str = "google-meet"
    requests_made: int = 0
    _ids: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)
    _services: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _credentials: dict[str, Credentials] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def handles(self, conference: str) -> bool:
        return conference.startswith("meet:")

    def _service(self, name: str, version: str) -> Any:
        with self._lock:
            if name not in self._services:
                options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
                self._services[name] = build_from_document(
                    _document(name, version), http=httplib2.Http(timeout=self.timeout), client_options=options
                )
            return self._services[name]

    def _call(self, user: str, request: Any, what: str) -> dict[str, Any]:
        with self._lock:  # one token per user, refreshed as it expires: not one per request
            credentials = self._credentials.get(user)
            if credentials is None:
                credentials = self._credentials[user] = self.credentials_for(user)
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=self.timeout))

        def attempt() -> dict[str, Any]:
            with self._lock:
                self.requests_made += 1
            try:
                return execute_once(request, user, what, http=http)
            except ProviderError as exc:
                if _denied(exc):
                    raise AttendanceDenied(user, f"Google Meet refused to show attendance: {exc.message}") from exc
                raise

        return call_with_retries(
            attempt, policy=self.retry, sleeper=self.sleeper, rng=self.rng, describe=f"{user}: {what}"
        )

    def _pages(self, user: str, method: Callable[..., Any], key: str, what: str, **params: Any) -> Iterator[Any]:
        token: str | None = None
        while True:
            page = self._call(user, method(**params, **({"pageToken": token} if token else {})), what)
            yield from page.get(key) or ()
            token = page.get("nextPageToken")
            if not token:
                return

    def _user_id(self, person: str) -> str | None:
        """The person's Workspace id (`users/{id}` in Meet), learnt once; None outside the domain."""
        if person in self._ids:
            return self._ids[person]
        users = self._service("admin", "directory_v1").users()
        try:
            found = self._call(person, users.get(userKey=person, viewType="domain_public"), "users.get")
            user_id = str(found["id"]) if found.get("id") else None
        except ProviderError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, HttpError) and cause.status_code == 404):
                raise
            user_id = None  # not a user of the domain: a guest, a personal account
        self._ids[person] = user_id
        return user_id

    def _records(self, code: str, people: Sequence[str], start: datetime, end: datetime) -> tuple[str, list[str]]:
        """(who can see them, record names) of the meeting's calls that started around the slot."""
        since, until = _stamp(start - EARLY), _stamp(end)
        query = f'space.meeting_code = "{code}" AND start_time >= "{since}" AND start_time <= "{until}"'
        records = self._service("meet", "v2").conferenceRecords()
        for viewer in people:
            names = [
                str(r["name"])
                for r in self._pages(viewer, records.list, "conferenceRecords", "conferenceRecords.list", filter=query)
                if isinstance(r, dict) and r.get("name")
            ]
            if names:
                return viewer, names
        return people[0], []

    def read(self, conference: str, people: tuple[str, str], start: datetime, end: datetime) -> Joined:
        code = conference.removeprefix("meet:")
        viewer, names = self._records(code, people, start, end)
        joined: Joined = {}
        if not names:
            return joined  # no call took place in that meeting around the slot: nobody joined
        wanted = {f"users/{uid}": person for person in people if (uid := self._user_id(person)) is not None}
        participants = self._service("meet", "v2").conferenceRecords().participants()
        for name in names:
            for item in self._pages(viewer, participants.list, "participants", "participants.list", parent=name):
                user = (item.get("signedinUser") or {}).get("user") if isinstance(item, dict) else None
                person = wanted.get(str(user)) if user else None
                if person is None:
                    continue  # someone else, an anonymous guest or a phone: not kept
                sessions = participants.participantSessions()
                for session in self._pages(
                    viewer, sessions.list, "participantSessions", "participantSessions.list", parent=item["name"]
                ):
                    begin = _time(session.get("startTime"))
                    finish = _time(session.get("endTime")) or _time(item.get("latestEndTime"))
                    if begin is not None and finish is not None and finish > begin:
                        joined.setdefault(person, []).append((begin, finish))
        return joined
