"""CalDAV calendars through the `caldav` library's client: RFC 6578 sync where offered, else ctag/etags.

Each calendar object resource (one UID: a master and its overrides) is mapped with the shared
iCalendar mapping. Incremental sync asks `sync-collection` for what changed since the token, with
the data in the same REPORT; a token the server no longer knows (403/409 `valid-sync-token`) is
`CursorExpired`, so the store runs a full listing. Servers without it are polled by ctag (one
PROPFIND when nothing changed), then etags per resource, and the changed ones fetched with
`calendar-multiget`. The cursor keeps, per resource href, its etag and the event ids it held, so a
deleted resource (or an override removed from one) becomes deletions of exactly those ids.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

import requests
from caldav import DAVClient
from caldav.lib import error as caldav_error

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
from providers.deadline import bounded_session
from providers.ics_mapping import MalformedCalendar, parse_calendar
from providers.retry import RetryPolicy, Sleeper, call_with_retries
from rules.model import CalendarEvent, normalize_email

log = logging.getLogger(__name__)

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
_XMLNS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"'
_DATA_PROPS = "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
PAGE_SIZE = 200


@dataclass(frozen=True)
class Resource:
    href: str
    etag: str | None
    data: str | None  # None when the server listed it without data (fetch it) or it is gone
    gone: bool = False


@dataclass
class DavCursor:
    mode: str  # "sync" | "etag"
    token: str | None = None
    ctag: str | None = None
    objects: dict[str, tuple[str | None, list[str]]] = field(default_factory=dict)  # href -> (etag, ids)

    def dump(self) -> str:
        return json.dumps({"v": 1, "mode": self.mode, "token": self.token, "ctag": self.ctag, "objects": self.objects})

    @classmethod
    def load(cls, text: str | None) -> DavCursor | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            objects = {str(h): (v[0], [str(i) for i in v[1]]) for h, v in data["objects"].items()}
            return cls(str(data["mode"]), data.get("token"), data.get("ctag"), objects)
        except (ValueError, KeyError, TypeError, IndexError):
            return None


@dataclass
class CalDavProvider:
    """Watches CalDAV calendar collections; one instance per server."""

    url: str
    calendars_by_owner: Mapping[str, str]  # owner address -> collection URL (absolute or server-relative)
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    history_days: int = 120
    default_zone: str | None = None
    use_sync_collection: bool = True  # False: poll by ctag/etags even where sync-collection exists
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleeper: Sleeper = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    name: str = "caldav"
    requests_made: int = 0
    _client: DAVClient | None = field(default=None, repr=False)

    def calendars(self) -> Sequence[str]:
        return tuple(normalize_email(owner) for owner in self.calendars_by_owner)

    def client(self) -> DAVClient:
        if self._client is None:
            self._client = DAVClient(
                url=self.url, username=self.username, password=self.password, timeout=int(self.timeout)
            )
            bounded_session(self._client.session)  # the whole request, not each read, is bounded
        return self._client

    def collection(self, calendar: str) -> str:
        for owner, url in self.calendars_by_owner.items():
            if normalize_email(owner) == normalize_email(calendar):
                return urljoin(self.url.rstrip("/") + "/", url)
        raise PermanentError(calendar, "no CalDAV calendar is configured for this owner")

    def request(
        self, calendar: str, method: str, url: str, body: str = "", headers: Mapping[str, str] | None = None
    ) -> Any:
        """One DAV request with retries; HTTP errors become the provider error classes."""

        def attempt() -> Any:
            self.requests_made += 1
            try:
                reply = self.client().request(url, method, body, dict(headers or {}))
            except requests.Timeout as exc:
                raise TransientError(calendar, f"CalDAV {method}: no answer within {self.timeout:g}s") from exc
            except requests.RequestException as exc:
                raise TransientError(calendar, f"CalDAV {method}: unreachable ({type(exc).__name__})") from exc
            except caldav_error.AuthorizationError as exc:  # the client raises 401/403 itself, without the body
                if method == "REPORT" and "<D:sync-token>" in body:
                    raise CursorExpired(calendar, "the server refused the sync token (HTTP 403)") from exc
                raise AuthError(calendar, f"CalDAV {method}: {exc.reason}: check caldav.username/password") from exc
            if reply.status >= 400:
                raise _classify(calendar, method, reply)
            return reply

        return call_with_retries(
            attempt, policy=self.retry, sleeper=self.sleeper, rng=self.rng, describe=f"{calendar}: CalDAV {method}"
        )

    def report(self, calendar: str, url: str, body: str, depth: int = 1) -> Any:
        headers = {"Depth": str(depth), "Content-Type": 'application/xml; charset="utf-8"'}
        return self.request(calendar, "REPORT", url, f'<?xml version="1.0" encoding="utf-8"?>{body}', headers)

    def propfind(self, calendar: str, url: str, props: str, depth: int) -> Any:
        body = f'<?xml version="1.0" encoding="utf-8"?><D:propfind {_XMLNS}><D:prop>{props}</D:prop></D:propfind>'
        return self.request(calendar, "PROPFIND", url, body, {"Depth": str(depth)})

    def list_changes(self, calendar: str, cursor: str | None, now: datetime) -> Iterator[ChangePage]:
        url = self.collection(calendar)
        state = DavCursor.load(cursor)
        if cursor and state is None:
            raise CursorExpired(calendar, "unreadable CalDAV cursor")
        full = state is None
        if state is None:
            state, resources = self._full(calendar, url)
        elif state.mode == "sync":
            resources = self._since_token(calendar, url, state)
        else:
            resources = self._since_etags(calendar, url, state)
        yield from self._pages(calendar, state, resources, full, now)

    def _full(self, calendar: str, url: str) -> tuple[DavCursor, list[Resource]]:
        if self.use_sync_collection:
            try:
                token, resources = self.sync_collection(calendar, url, None)
                return DavCursor("sync", token=token), resources
            except CursorExpired:
                raise
            except (PermanentError, AuthError) as exc:  # 403/501: no sync-collection here
                log.info("calendar %s: no sync-collection (%s); polling by ctag and etags", calendar, exc.message)
        ctag = self._ctag(calendar, url)
        query = (
            f"<C:calendar-query {_XMLNS}>{_DATA_PROPS}<C:filter><C:comp-filter name='VCALENDAR'>"
            "<C:comp-filter name='VEVENT'/></C:comp-filter></C:filter></C:calendar-query>"
        )
        return DavCursor("etag", ctag=ctag), _resources(self.report(calendar, url, query).tree, url)

    def sync_collection(self, calendar: str, url: str, token: str | None) -> tuple[str | None, list[Resource]]:
        token_xml = f"<D:sync-token>{escape(token)}</D:sync-token>" if token else "<D:sync-token/>"
        body = f"<D:sync-collection {_XMLNS}>{token_xml}<D:sync-level>1</D:sync-level>{_DATA_PROPS}</D:sync-collection>"
        tree = self.report(calendar, url, body).tree
        found = tree.find("D:sync-token", NS) if tree is not None else None
        return (found.text if found is not None else None), _resources(tree, url)

    def _since_token(self, calendar: str, url: str, state: DavCursor) -> list[Resource]:
        token, resources = self.sync_collection(calendar, url, state.token)
        state.token = token
        return resources

    def _since_etags(self, calendar: str, url: str, state: DavCursor) -> list[Resource]:
        ctag = self._ctag(calendar, url)
        if ctag is not None and ctag == state.ctag:
            return []
        state.ctag = ctag
        listed = _resources(self.propfind(calendar, url, "<D:getetag/><D:resourcetype/>", 1).tree, url)
        now_etags = {r.href: r.etag for r in listed if r.etag is not None}
        changed = [href for href, etag in now_etags.items() if state.objects.get(href, (None, []))[0] != etag]
        gone = [Resource(href, None, None, gone=True) for href in state.objects if href not in now_etags]
        return self.multiget(calendar, url, changed) + gone

    def multiget(self, calendar: str, url: str, hrefs: Sequence[str]) -> list[Resource]:
        if not hrefs:
            return []
        refs = "".join(f"<D:href>{escape(h)}</D:href>" for h in hrefs)
        body = f"<C:calendar-multiget {_XMLNS}>{_DATA_PROPS}{refs}</C:calendar-multiget>"
        return _resources(self.report(calendar, url, body).tree, url)

    def _ctag(self, calendar: str, url: str) -> str | None:
        tree = self.propfind(calendar, url, "<CS:getctag/>", 0).tree
        found = tree.find(".//CS:getctag", NS) if tree is not None else None
        return found.text if found is not None else None

    def _pages(
        self, calendar: str, state: DavCursor, resources: list[Resource], full: bool, now: datetime
    ) -> Iterator[ChangePage]:
        missing = [r.href for r in resources if not r.gone and r.data is None]
        fetched = {r.href: r for r in self.multiget(calendar, self.collection(calendar), missing)}
        resources = [fetched.get(r.href, r) for r in resources]
        previous = {} if full else dict(state.objects)
        if full:
            state.objects = {}
        window_start = now - timedelta(days=self.history_days) if full else None
        chunks = [resources[i : i + PAGE_SIZE] for i in range(0, len(resources), PAGE_SIZE)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            events: list[CalendarEvent] = []
            deleted: list[str] = []
            skipped: list[SkippedItem] = []
            zone: str | None = None
            for resource in chunk:
                old_ids = previous.get(resource.href, (None, []))[1]
                if resource.gone or resource.data is None:
                    deleted.extend(old_ids)
                    state.objects.pop(resource.href, None)
                    continue
                try:
                    mapped = parse_calendar(
                        resource.data,
                        provider=self.name,
                        owner=calendar,
                        default_zone=self.default_zone,
                        etag=resource.etag,
                    )
                except MalformedCalendar as exc:
                    log.warning("calendar %s: skipped %s: %s", calendar, resource.href, exc)
                    reason = f"{resource.href}: {exc}"
                    skipped.extend(SkippedItem(i, reason) for i in old_ids or [resource.href])
                    continue
                ids = [e.event_id for e in mapped.events]
                events.extend(mapped.events)
                skipped.extend(mapped.skipped)
                deleted.extend(i for i in old_ids if i not in ids)
                zone = zone or mapped.time_zone
                state.objects[resource.href] = (resource.etag, ids + [s.event_id for s in mapped.skipped])
            last = number == len(chunks)
            yield ChangePage(
                calendar=calendar,
                events=events,
                deleted_ids=deleted,
                skipped=skipped,
                full=full,
                window_start=window_start,
                cursor=state.dump() if last else None,
                time_zone=zone,
            )


def _href(text: str | None, base: str) -> str:
    return unquote(urlsplit(urljoin(base, (text or "").strip())).path)


def _resources(tree: Any, base: str) -> list[Resource]:
    """Every member response of a multistatus: its etag and data, or that it is gone (404)."""
    found: list[Resource] = []
    if tree is None:
        return found
    own = _href(base, base)
    for response in tree.iter("{DAV:}response"):
        href = _href(response.findtext("D:href", namespaces=NS), base)
        if href.rstrip("/") == own.rstrip("/") or href.endswith("/"):
            continue
        status = response.findtext("D:status", namespaces=NS) or ""
        if " 404" in status:
            found.append(Resource(href, None, None, gone=True))
            continue
        etag = data = None
        for propstat in response.iterfind("D:propstat", NS):
            if " 200" not in (propstat.findtext("D:status", namespaces=NS) or " 200"):
                continue
            etag = etag or propstat.findtext("D:prop/D:getetag", namespaces=NS)
            data = data or propstat.findtext("D:prop/C:calendar-data", namespaces=NS)
        found.append(Resource(href, etag, data))
    return found


def _classify(calendar: str, method: str, reply: Any) -> ProviderError:
    status = int(reply.status)
    raw = reply.raw if isinstance(reply.raw, str) else ""
    text = f"CalDAV {method}: HTTP {status} {reply.reason or ''}".strip()
    if status in (403, 409) and "valid-sync-token" in raw:
        return CursorExpired(calendar, f"{text}: the server no longer knows the sync token")
    if status == 401:
        return AuthError(calendar, f"{text}: check caldav.username and the password")
    if status == 412:
        return PreconditionFailed(calendar, f"{text}: the event changed since it was read")
    if status == 429:
        retry_after = reply.headers.get("Retry-After")
        return RateLimited(calendar, text, retry_after=float(retry_after) if retry_after else None)
    if status >= 500 and status != 501:
        return TransientError(calendar, text)
    if status == 403:
        return AuthError(calendar, f"{text}: access denied")
    return PermanentError(calendar, text)
