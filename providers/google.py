"""Google Calendar adapter: google-api-python-client, full listing then `syncToken` increments.

Choices (calendar-apis.md §1–2): static discovery (no network to build the client), explicit
credentials always (never ADC), `num_retries=0` with our own retry policy (the library ignores
Retry-After and retries non-idempotent calls), `singleEvents=false` so a series is one master row
plus exceptions, `showDeleted=true` on both the full and incremental listings so the parameters
never differ between them.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError

from providers.base import (
    AuthError,
    ChangePage,
    CursorExpired,
    PermanentError,
    PreconditionFailed,
    ProviderError,
    RateLimited,
    SkippedItem,
    TransientError,
)
from providers.deadline import LISTING_SECONDS, MAX_PAGES, REQUEST_SECONDS, ListingBounds, bounded
from providers.google_mapping import MalformedEvent, map_event, valid_zone
from providers.retry import RetryPolicy, Sleeper, call_with_retries
from rules.model import CalendarEvent

log = logging.getLogger(__name__)

SCOPE_EVENTS = "https://www.googleapis.com/auth/calendar.events"
SCOPE_FREEBUSY = "https://www.googleapis.com/auth/calendar.freebusy"  # booking (issue 16)
CredentialsFactory = Callable[[str], Credentials]

_RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}


def service_account_credentials(key_file: Path, scopes: Sequence[str] = (SCOPE_EVENTS,)) -> CredentialsFactory:
    """Domain-wide delegation: one service account acting as each watched user in turn."""
    base = service_account.Credentials.from_service_account_file(str(key_file), scopes=list(scopes))

    def for_user(user: str) -> Credentials:
        delegated: Credentials = base.with_subject(user)
        return delegated

    return for_user


def service_account_info_credentials(
    info: dict[str, Any], scopes: Sequence[str] = (SCOPE_EVENTS,)
) -> CredentialsFactory:
    base = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    return lambda user: base.with_subject(user)


def oauth_user_credentials(authorized_user_file: Path, scopes: Sequence[str] = (SCOPE_EVENTS,)) -> CredentialsFactory:
    """Plain OAuth user credentials (a refresh token): good for one person's own calendars."""
    creds = user_credentials.Credentials.from_authorized_user_file(str(authorized_user_file), list(scopes))
    return lambda _user: creds


@cache
def _discovery_document() -> str:
    doc = get_static_doc("calendar", "v3")
    if doc is None:  # pragma: no cover - the wheel always ships it
        raise RuntimeError("google-api-python-client has no static calendar v3 discovery document")
    return str(doc)


@dataclass
class GoogleCalendarProvider:
    """Watches Google calendars; one instance serves every configured calendar."""

    credentials_for: CredentialsFactory
    watched: Sequence[str]
    api_endpoint: str | None = None
    page_size: int = 2500
    history_days: int = 120
    timeout: float = 30.0
    request_seconds: float = REQUEST_SECONDS  # a whole request: `timeout` bounds each socket read only
    listing_seconds: float = LISTING_SECONDS
    max_pages: int = MAX_PAGES
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleeper: Sleeper = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    name: str = "google"
    requests_made: int = 0
    _credentials: dict[str, Credentials] = field(default_factory=dict, init=False, repr=False)
    _built: Any = field(default=None, init=False, repr=False)
    _events_api: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def calendars(self) -> Sequence[str]:
        return tuple(self.watched)

    def _service(self, calendar: str | None = None) -> Any:
        """One client for every calendar: building it (the discovery document's methods and their
        docs) costs more than a listing, so it is built once; each call brings its calendar's http."""
        with self._lock:
            if self._built is None:
                options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
                self._built = build_from_document(
                    _discovery_document(), http=httplib2.Http(timeout=self.timeout), client_options=options
                )
            return self._built

    def _events(self) -> Any:
        """`service.events()` builds every method of the resource anew on each call: keep one."""
        service = self._service()
        with self._lock:
            if self._events_api is None:
                self._events_api = service.events()
            return self._events_api

    def _http(self, calendar: str) -> Any:
        """An authorized connection as the calendar's owner; the credentials (and their access
        token) are kept per calendar, so a quiet cycle costs one request per calendar, not two."""
        with self._lock:
            credentials = self._credentials.get(calendar)
            if credentials is None:
                credentials = self._credentials[calendar] = self.credentials_for(calendar)
        return google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=self.timeout))

    def _execute(self, calendar: str, request: Any, what: str, http: Any = None) -> dict[str, Any]:
        connection = http if http is not None else self._http(calendar)

        def attempt() -> dict[str, Any]:
            with self._lock:
                self.requests_made += 1
            return execute_once(request, calendar, what, http=connection, seconds=self.request_seconds)

        return call_with_retries(
            attempt, policy=self.retry, sleeper=self.sleeper, rng=self.rng, describe=f"{calendar}: {what}"
        )

    def list_changes(self, calendar: str, cursor: str | None, now: datetime) -> Iterator[ChangePage]:
        http = self._http(calendar)
        full = cursor is None
        window_start = now - timedelta(days=self.history_days) if full else None
        params: dict[str, Any] = {
            "calendarId": calendar,
            "singleEvents": False,
            "showDeleted": True,
            "maxResults": self.page_size,
        }
        if full:
            assert window_start is not None
            params["timeMin"] = window_start.isoformat().replace("+00:00", "Z")
        else:
            params["syncToken"] = cursor
        events_api = self._events()
        request = events_api.list(**params)
        bounds = ListingBounds(calendar, max_pages=self.max_pages, seconds=self.listing_seconds)
        token: str | None = None
        while request is not None:
            bounds.next_page(token)
            reply = self._execute(calendar, request, f"events.list page {bounds.pages}", http)
            zone = valid_zone(reply.get("timeZone"))
            if zone is None and reply.get("timeZone") and bounds.pages == 1:
                log.warning(
                    "calendar %s: unknown time zone %r; its days are counted in the configured default zone",
                    calendar,
                    str(reply.get("timeZone"))[:80],
                )
            events, deleted, skipped = _map_items(reply.get("items"), calendar, zone)
            next_token = reply.get("nextPageToken")
            sync_token = reply.get("nextSyncToken")
            if not next_token and not sync_token:
                raise TransientError(calendar, "the last page of events.list carried no nextSyncToken")
            yield ChangePage(
                calendar=calendar,
                events=events,
                deleted_ids=deleted,
                skipped=skipped,
                full=full,
                window_start=window_start,
                cursor=None if next_token else str(sync_token),
                time_zone=zone,
            )
            token = str(next_token) if next_token else None
            request = events_api.list_next(request, reply) if next_token else None


def _map_items(items: Any, calendar: str, zone: str | None) -> tuple[list[CalendarEvent], list[str], list[SkippedItem]]:
    events: list[CalendarEvent] = []
    deleted: list[str] = []
    skipped: list[SkippedItem] = []
    for index, item in enumerate(items or []):
        try:
            mapped = map_event(item, calendar, zone)
        except MalformedEvent as exc:
            event_id = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else f"#{index}"
            log.warning("calendar %s: skipped malformed event %s: %s", calendar, event_id, exc)
            skipped.append(SkippedItem(event_id=str(event_id), reason=str(exc)))
            continue
        if mapped.deleted_id:
            deleted.append(mapped.deleted_id)
        elif mapped.event:
            events.append(mapped.event)
    return events, deleted, skipped


def _error_reason(exc: HttpError) -> tuple[str, str]:
    try:
        payload = json.loads(exc.content.decode("utf-8"))
        error = payload.get("error", {})
        errors = error.get("errors") or [{}]
        return str(errors[0].get("reason", "")), str(error.get("message", ""))
    except (ValueError, AttributeError, UnicodeDecodeError):
        return "", ""


def _retry_after(exc: HttpError) -> float | None:
    value = exc.resp.get("retry-after") if exc.resp is not None else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify_http_error(calendar: str, exc: HttpError) -> ProviderError:
    """Table-driven (calendar-apis.md §2.10): branch on errors[0].reason, not only the status."""
    status = exc.status_code
    reason, message = _error_reason(exc)
    text = f"HTTP {status} {reason or ''} {message}".strip()
    if status == 410:
        if reason == "deleted":
            return PermanentError(calendar, text)
        return CursorExpired(calendar, text)
    if status == 412:
        return PreconditionFailed(calendar, text)
    if status == 429 or (status == 403 and reason in _RATE_REASONS):
        return RateLimited(calendar, text, retry_after=_retry_after(exc))
    if status == 403 and reason in _QUOTA_REASONS:
        return PermanentError(calendar, f"quota exhausted, retry later: {text}")
    if status in (401,):
        return AuthError(calendar, f"Google refused the access token: {text}")
    if status == 403:
        return AuthError(calendar, f"access denied ({reason or 'forbidden'}): check domain-wide delegation: {text}")
    if status == 404:
        return PermanentError(calendar, f"calendar not found or not shared with the service account: {text}")
    if status is not None and status >= 500:
        return TransientError(calendar, text, retry_after=_retry_after(exc))
    return PermanentError(calendar, text)


def _connections(http: Any) -> list[Any]:
    """The open connections of an httplib2 client (an `AuthorizedHttp` wraps one)."""
    inner = getattr(http, "http", http)
    return list(getattr(inner, "connections", {}).values())


def execute_once(
    request: Any,
    label: str,
    what: str,
    *,
    http: Any = None,
    refused: str = "Google refused the credentials",
    seconds: float = REQUEST_SECONDS,
) -> dict[str, Any]:
    """One try of a googleapiclient request, its failures mapped to the shared error kinds (the caller retries).
    The whole request, body included, completes within `seconds` (httplib2's timeout bounds each read)."""
    connection = http if http is not None else request.http
    try:
        with bounded(seconds, lambda: _connections(connection)):
            result = request.execute(http=connection, num_retries=0)
    except HttpError as exc:
        raise classify_http_error(label, exc) from exc
    except RefreshError as exc:
        raise AuthError(label, f"{refused}: {_refresh_reason(exc)}") from exc
    except (TimeoutError, TransportError, OSError, ssl.SSLError, httplib2.HttpLib2Error) as exc:
        raise TransientError(label, f"network error: {exc}") from exc
    if not isinstance(result, dict):
        raise TransientError(label, f"unexpected reply to {what}: {type(result).__name__}")
    return result


def _refresh_reason(exc: RefreshError) -> str:
    args = exc.args
    if len(args) > 1 and isinstance(args[1], dict):
        return f"{args[1].get('error', '')}: {args[1].get('error_description', '')}".strip(": ")
    return str(args[0]) if args else "unknown error"
