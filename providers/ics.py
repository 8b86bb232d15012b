"""ICS feeds (a URL or a file), read-only: every change is a full listing diffed by the store.

A feed has no sync token, so each fetch that brings new content is a full listing over the
feed's *effective range*, and the store's sweep turns what vanished inside that range into
cancellations. The range is [now - history_days, now + horizon_days], narrowed to the span the
feed's one-off events and instances actually cover: published feeds are often cut to a window
(Outlook's "previous 30 days, next 60"), and an event that fell out of the window is not a
cancelled one. Masters do not narrow it (feeds publish series whole). The cursor is our own JSON:
the ETag, Last-Modified and SHA-256 of the last content applied, so an unchanged feed costs one
conditional GET answered 304 (or one download with the same hash) and writes nothing.

Agenda write-back is impossible here: a feed is read-only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from providers.base import AuthError, ChangePage, PermanentError, ProviderError, RateLimited, TransientError
from providers.deadline import bounded_session
from providers.ics_mapping import MalformedCalendar, parse_calendar
from providers.retry import RetryPolicy, Sleeper, call_with_retries
from rules.model import CalendarEvent, EventKind, normalize_email

log = logging.getLogger(__name__)

PAGE_SIZE = 500


@dataclass(frozen=True)
class IcsFeed:
    """One watched feed: whose calendar it is and where it is read from."""

    owner: str
    url: str | None = None
    path: Path | None = None
    name: str | None = None

    @property
    def source(self) -> str:
        return self.url or str(self.path)

    def describe(self) -> str:
        """How logs and errors name the feed: never the secret part of a private feed URL."""
        if self.name:
            return f"ICS feed {self.name!r}"
        if self.path is not None or (self.url or "").startswith("file:"):
            return f"ICS feed {self.path or self.url}"
        parts = urlsplit(self.url or "")
        tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
        shown = tail if tail and len(tail) <= 24 else "…"
        return (
            f"ICS feed {parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…/{shown}"
        )


@dataclass(frozen=True)
class FeedCursor:
    source: str
    sha256: str
    etag: str | None = None
    last_modified: str | None = None

    def dump(self) -> str:
        return json.dumps({"v": 1, **self.__dict__}, sort_keys=True)

    @classmethod
    def load(cls, text: str | None, feed: IcsFeed) -> FeedCursor | None:
        """The stored cursor, unless it is unreadable or belongs to another source."""
        if not text:
            return None
        try:
            data = json.loads(text)
            cursor = cls(str(data["source"]), str(data["sha256"]), data.get("etag"), data.get("last_modified"))
        except (ValueError, KeyError, TypeError):
            return None
        return cursor if cursor.source == feed.source else None


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: 304 Not Modified
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class IcsFeedProvider:
    """Watches ICS feeds; one instance serves every configured feed."""

    feeds: Sequence[IcsFeed]
    timeout: float = 30.0
    history_days: int = 120
    horizon_days: int = 35
    default_zone: str | None = None  # for floating times in feeds that name no zone
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleeper: Sleeper = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    session: requests.Session = field(default_factory=lambda: bounded_session(requests.Session()))
    name: str = "ics"
    requests_made: int = 0

    def calendars(self) -> Sequence[str]:
        return tuple(normalize_email(feed.owner) for feed in self.feeds)

    def _feed(self, calendar: str) -> IcsFeed:
        for feed in self.feeds:
            if normalize_email(feed.owner) == normalize_email(calendar):
                return feed
        raise PermanentError(calendar, "no ICS feed is configured for this calendar")

    def list_changes(self, calendar: str, cursor: str | None, now: datetime) -> Iterator[ChangePage]:
        feed = self._feed(calendar)
        known = FeedCursor.load(cursor, feed)
        fetched = self._fetch(calendar, feed, known)
        if fetched.body is None:
            assert known is not None
            log.debug("calendar %s: %s not modified", calendar, feed.describe())
            yield ChangePage(calendar=calendar, cursor=known.dump())
            return
        digest = hashlib.sha256(fetched.body).hexdigest()
        latest = FeedCursor(feed.source, digest, fetched.etag, fetched.last_modified)
        if known is not None and known.sha256 == digest:
            yield ChangePage(calendar=calendar, cursor=latest.dump())
            return
        try:
            mapped = parse_calendar(fetched.body, provider=self.name, owner=calendar, default_zone=self.default_zone)
        except MalformedCalendar as exc:
            raise PermanentError(calendar, f"{feed.describe()}: {exc}") from exc
        low, high = effective_range(mapped.events, now, self.history_days, self.horizon_days)
        events = list(mapped.events)
        chunks = [events[i : i + PAGE_SIZE] for i in range(0, len(events), PAGE_SIZE)] or [[]]
        for number, chunk in enumerate(chunks, start=1):
            last = number == len(chunks)
            yield ChangePage(
                calendar=calendar,
                events=chunk,
                skipped=mapped.skipped if last else (),
                full=True,
                window_start=low,
                window_end=high,
                cursor=latest.dump() if last else None,
                time_zone=mapped.time_zone,
            )

    def _fetch(self, calendar: str, feed: IcsFeed, known: FeedCursor | None) -> Fetched:
        if feed.path is not None or (feed.url or "").startswith("file:"):
            return _read_file(calendar, feed)
        return call_with_retries(
            lambda: self._get(calendar, feed, known),
            policy=self.retry,
            sleeper=self.sleeper,
            rng=self.rng,
            describe=f"{calendar}: {feed.describe()}",
        )

    def _get(self, calendar: str, feed: IcsFeed, known: FeedCursor | None) -> Fetched:
        url = feed.url or ""
        if url.lower().startswith("webcal://"):
            url = "https://" + url[len("webcal://") :]
        headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "oneonone"}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        self.requests_made += 1
        what = feed.describe()
        try:
            reply = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise TransientError(calendar, f"{what}: no answer within {self.timeout:g}s") from exc
        except requests.RequestException as exc:
            raise TransientError(calendar, f"{what}: unreachable ({_root_cause(exc)})") from exc
        if reply.status_code == 304 and known is not None:
            return Fetched(None)
        if reply.status_code == 200:
            return Fetched(reply.content, reply.headers.get("ETag"), reply.headers.get("Last-Modified"))
        raise classify_status(calendar, what, reply.status_code, reply.headers.get("Retry-After"))


def classify_status(calendar: str, what: str, status: int, retry_after: str | None) -> ProviderError:
    text = f"{what}: HTTP {status}"
    wait = _seconds(retry_after)
    if status in (401, 403):
        return AuthError(
            calendar, f"{text}: access refused (is the feed still published, is its secret address current?)"
        )
    if status in (404, 410):
        return PermanentError(calendar, f"{text}: the feed is gone (unpublished or moved)")
    if status == 429:
        return RateLimited(calendar, text, retry_after=wait)
    if status >= 500 or status == 408:
        return TransientError(calendar, text, retry_after=wait)
    return PermanentError(calendar, text)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _root_cause(exc: BaseException) -> str:
    """A short reason without the URL (requests puts the whole URL, secret and all, in its text)."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    reason = type(exc).__name__
    errno = getattr(exc, "errno", None)
    return f"{reason}, errno {errno}" if errno else reason


def _read_file(calendar: str, feed: IcsFeed) -> Fetched:
    path = feed.path if feed.path is not None else Path(unquote(urlsplit(feed.url or "").path))
    try:
        return Fetched(path.read_bytes())
    except OSError as exc:
        raise PermanentError(calendar, f"{feed.describe()}: cannot read {path}: {exc.strerror}") from exc


def effective_range(
    events: Sequence[CalendarEvent], now: datetime, history_days: int, horizon_days: int
) -> tuple[datetime, datetime]:
    """[now - history, now + horizon], narrowed to the span the feed's one-offs and instances cover."""
    low, high = now - timedelta(days=history_days), now + timedelta(days=horizon_days)
    spans: list[Any] = [(e.start, e.end or e.start) for e in events if e.kind is not EventKind.MASTER and e.start]
    if spans:
        low = max(low, min(start for start, _ in spans))
        high = min(high, max(end for _, end in spans))
    return low, max(low, high)
