"""Outlook / Microsoft 365 adapter: calendarView/delta rounds over a fixed window, masters by id.

Choices (calendar-apis.md §3, sync-lessons.md §1, §3, §4):
- A *round* is one delta listing of a window fixed when the round began (13 weeks back to 8
  weeks ahead); the deltaLink carries the window, so it is re-based every few days (with a
  per-mailbox jitter replicas agree on) by starting a full round. What falls out of the window
  stays in the store as history.
- Delta never returns series masters and may return sparse occurrence rows, so a master is read
  by id when a round touches its series, and all known masters are re-read when an occurrence
  vanished: the master's `cancelledOccurrences` is the dependable record of a cancellation.
- `@removed` also means "left the window": each removed id is fetched, and only a 404/410 is a
  deletion. A series master in delta, or a tombstone without an id, means the round cannot be
  trusted: the cursor is declared dead and the caller lists everything again.
- The cursor is this adapter's own JSON (deltaLink, window, when the round began, the known
  masters and their versions), opaque to the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.base import ChangePage, CursorExpired, ProviderError, SkippedItem, TransientError
from providers.deadline import LISTING_SECONDS, MAX_PAGES, ListingBounds
from providers.outlook_http import GraphClient, GraphResponse, error_code
from providers.outlook_mapping import (
    MalformedEvent,
    cancelled_exceptions,
    cancelled_occurrence_ids,
    iana_zone,
    map_master,
    map_row,
)
from providers.outlook_writeback import AGENDA_PROPERTY_ID
from rules.model import CalendarEvent, normalize_email

log = logging.getLogger(__name__)

CURSOR_VERSION = 1
MASTER_SELECT = (
    "subject,start,end,recurrence,type,isCancelled,isAllDay,showAs,organizer,attendees,responseStatus,"
    "originalStartTimeZone,originalEndTimeZone,cancelledOccurrences,exceptionOccurrences,"
    "lastModifiedDateTime,iCalUId,isOnlineMeeting,onlineMeeting,onlineMeetingProvider"
)
MASTER_EXPAND = f"exceptionOccurrences,singleValueExtendedProperties($filter=id eq '{AGENDA_PROPERTY_ID}')"
_GONE = frozenset({404, 410})
_SERIES_ROWS = ("occurrence", "exception")


@dataclass(frozen=True)
class Cursor:
    delta: str
    window: tuple[datetime, datetime]
    based: datetime
    masters: dict[str, str]

    def encode(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "delta": self.delta,
                "window": [_iso(self.window[0]), _iso(self.window[1])],
                "based": _iso(self.based),
                "masters": dict(sorted(self.masters.items())),
            },
            separators=(",", ":"),
        )


def parse_cursor(text: str | None) -> Cursor | None:
    """The stored cursor, or None (a full round) when absent, unreadable or of another version."""
    if not text:
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
            raise ValueError(f"cursor version {data.get('v') if isinstance(data, dict) else '?'}")
        lo, hi = (datetime.fromisoformat(v).astimezone(UTC) for v in data["window"])
        masters = data.get("masters") or {}
        if not isinstance(data["delta"], str) or not isinstance(masters, dict):
            raise ValueError("malformed cursor")
        return Cursor(
            delta=data["delta"],
            window=(lo, hi),
            based=datetime.fromisoformat(data["based"]).astimezone(UTC),
            masters={str(k): str(v) for k, v in masters.items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        log.info("ignoring a stored Outlook cursor (%s); starting a full round", exc)
        return None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Master:
    """A series master as read this round; `event` is None when it is gone or unreadable."""

    event: CalendarEvent | None
    item: dict[str, Any] | None
    etag: str = ""
    gone: bool = False


@dataclass
class _Round:
    mailbox: str
    full: bool
    known: dict[str, str]  # master id → version, carried in the cursor
    masters: dict[str, _Master] = field(default_factory=dict)  # read this round
    deleted: list[str] = field(default_factory=list)  # masters found gone this round
    removed: list[str] = field(default_factory=list)  # `@removed` ids still to check

    def live_masters(self) -> dict[str, str]:
        found = {k: v for k, v in self.known.items() if k not in self.deleted}
        found.update({k: m.etag for k, m in self.masters.items() if not m.gone})
        return found


@dataclass
class OutlookProvider:
    """Watches Outlook mailboxes through Graph; one instance serves every configured mailbox."""

    client: GraphClient
    watched: Sequence[str]
    page_size: int = 100
    history: timedelta = timedelta(weeks=13)
    horizon: timedelta = timedelta(weeks=8)
    rebase_days: float = 3.0
    name: str = "outlook"
    listing_seconds: float = LISTING_SECONDS
    max_pages: int = MAX_PAGES

    def calendars(self) -> Sequence[str]:
        return tuple(normalize_email(m) for m in self.watched)

    def rebase_due(self, mailbox: str, cursor: Cursor, now: datetime) -> bool:
        """Re-base every `rebase_days` plus 0–24 h derived from the mailbox, so replicas agree."""
        jitter = int(hashlib.sha256(mailbox.encode()).hexdigest()[:8], 16) % 86_400
        return now - cursor.based >= timedelta(days=self.rebase_days, seconds=jitter)

    def list_changes(self, calendar: str, cursor: str | None, now: datetime) -> Iterator[ChangePage]:
        mailbox = normalize_email(calendar)
        state = parse_cursor(cursor)
        if state is None or self.rebase_due(mailbox, state, now):
            lo = (now - self.history).astimezone(UTC).replace(microsecond=0)
            hi = (now + self.horizon).astimezone(UTC).replace(microsecond=0)
            params = {"startDateTime": _iso(lo), "endDateTime": _iso(hi)}
            url = self.client.user_url(mailbox, "calendarView", "delta")
            rnd = _Round(mailbox, full=True, known={})
            yield from self._round(rnd, url, params, (lo, hi), now, self._mailbox_zone(mailbox))
        else:
            rnd = _Round(mailbox, full=False, known=dict(state.masters))
            yield from self._round(rnd, state.delta, None, state.window, state.based, None)

    # -- a round ------------------------------------------------------------------------------------
    def _round(
        self,
        rnd: _Round,
        url: str,
        params: dict[str, str] | None,
        window: tuple[datetime, datetime],
        based: datetime,
        zone: str | None,
    ) -> Iterator[ChangePage]:
        for rows, delta_link in self._delta_pages(rnd.mailbox, url, params):
            events, skipped = self._map_rows(rnd, rows)
            deleted: list[str] = []
            left: list[str] = []
            cursor = None
            if delta_link is not None:  # the last page: settle what the round left open
                more, more_skipped, deleted, left = self._settle(rnd)
                events += more
                skipped += more_skipped
                cursor = Cursor(delta_link, window, based, rnd.live_masters()).encode()
            yield ChangePage(
                calendar=rnd.mailbox,
                events=list({e.event_id: e for e in events}.values()),  # one row per id, the last read
                deleted_ids=deleted,
                skipped=skipped,
                full=rnd.full,
                window_start=window[0] if rnd.full else None,
                window_end=window[1] if rnd.full else None,
                cursor=cursor,
                time_zone=zone,
                left_window_ids=left,
            )

    def _delta_pages(
        self, mailbox: str, url: str, params: dict[str, str] | None
    ) -> Iterator[tuple[list[Any], str | None]]:
        """Pages of one round: follow absolute nextLinks as given, stop at the deltaLink."""
        bounds = ListingBounds(mailbox, max_pages=self.max_pages, seconds=self.listing_seconds)
        link: str | None = None
        while True:
            bounds.next_page(link)
            number = bounds.pages
            reply = self.client.call(
                mailbox,
                "GET",
                url,
                params=params,
                headers={"Prefer": f"odata.maxpagesize={self.page_size}"},
                what=f"calendarView/delta page {number}",
                allow=frozenset({410}),
            )
            if reply.status == 410:
                code, message = error_code(reply)
                raise CursorExpired(mailbox, f"Graph says the delta state is gone (410 {code or 'Gone'}): {message}")
            rows = reply.body.get("value")
            if not isinstance(rows, list):
                raise TransientError(mailbox, f"calendarView/delta page {number} has no value list")
            next_link, delta_link = reply.body.get("@odata.nextLink"), reply.body.get("@odata.deltaLink")
            if isinstance(next_link, str) and next_link:
                yield rows, None
                url, params = next_link, None  # absolute, with the window in its state: use as given
                link = next_link
            elif isinstance(delta_link, str) and delta_link:
                yield rows, delta_link
                return
            else:
                raise TransientError(mailbox, f"calendarView/delta page {number} has neither nextLink nor deltaLink")

    def _map_rows(self, rnd: _Round, rows: Iterable[Any]) -> tuple[list[CalendarEvent], list[SkippedItem]]:
        rows = list(rows)
        for row in rows:
            if isinstance(row, dict) and "@removed" in row:
                if not isinstance(row.get("id"), str) or not row["id"]:
                    raise CursorExpired(rnd.mailbox, "a delta tombstone without an id; listing everything again")
                rnd.removed.append(row["id"])
            elif isinstance(row, dict) and row.get("type") == "seriesMaster":
                raise CursorExpired(rnd.mailbox, "a series master in delta; listing everything again")
        live = [row for row in rows if not (isinstance(row, dict) and "@removed" in row)]
        events, skipped = self._read_masters(rnd, _series_ids(live))
        for index, row in enumerate(live):
            try:
                event = self._map_one(rnd, row)
            except MalformedEvent as exc:
                event_id = row.get("id") if isinstance(row, dict) and isinstance(row.get("id"), str) else f"#{index}"
                log.warning("mailbox %s: skipped event %s: %s", rnd.mailbox, event_id, exc)
                skipped.append(SkippedItem(event_id=str(event_id), reason=str(exc)))
                continue
            if event is not None:
                events.append(event)
        return events, skipped

    def _map_one(self, rnd: _Round, row: Any) -> CalendarEvent | None:
        if not isinstance(row, dict) or row.get("type") not in _SERIES_ROWS:
            return map_row(row, rnd.mailbox, None, None)
        master = rnd.masters.get(str(row.get("seriesMasterId")))
        if master is not None and master.gone:
            return None  # its series was deleted between listing and reading: nothing to keep
        if master is None or master.event is None or master.item is None:
            return map_row(row, rnd.mailbox, None, None)  # raises: the series could not be read
        if master.event.is_cancelled:
            return None  # a cancelled series is recorded on its master, not as a cancellation per slot
        return map_row(row, rnd.mailbox, master.event, master.item)

    def _settle(self, rnd: _Round) -> tuple[list[CalendarEvent], list[SkippedItem], list[str], list[str]]:
        """Check each `@removed` id, and re-read the masters a vanished occurrence may belong to."""
        ids = list(dict.fromkeys(rnd.removed))
        replies = self._parallel(rnd.mailbox, ids, lambda i: self._get_event(rnd.mailbox, i))
        gone = [i for i in ids if replies[i].status in _GONE]
        still = [replies[i].body for i in ids if replies[i].status not in _GONE]
        heads = [i for i in ids if replies[i].body.get("type") == "seriesMaster"]
        events, skipped = self._read_masters(rnd, heads)
        rows = [row for row in still if row.get("type") != "seriesMaster"]
        if rows:
            more_rows, more_rows_skipped = self._map_rows(rnd, rows)
            events += more_rows
            skipped += more_rows_skipped
        if gone:
            # A vanished occurrence may be a cancellation: masters hold the dependable record.
            unread = [m for m in sorted(rnd.live_masters()) if m not in rnd.masters]
            more, more_skipped = self._read_masters(rnd, unread)
            events += more
            skipped += more_skipped
        if rnd.removed:
            log.info(
                "mailbox %s: %d removed from the delta window: %d deleted, %d still exist",
                rnd.mailbox,
                len(ids),
                len(gone),
                len(still),
            )
        # Deleted masters first: the store keeps the slots of a deleted series as they were.
        deleted = list(dict.fromkeys([*rnd.deleted, *gone]))
        return events, skipped, deleted, [str(row.get("id")) for row in still]

    # -- reads ----------------------------------------------------------------------------------------
    def _get_event(self, mailbox: str, event_id: str) -> GraphResponse:
        return self.client.call(
            mailbox,
            "GET",
            self.client.user_url(mailbox, "events", event_id),
            what="GET event",
            allow=_GONE | {400},
        )

    def _read_masters(self, rnd: _Round, ids: Iterable[str]) -> tuple[list[CalendarEvent], list[SkippedItem]]:
        """Read each master once a round; return its events (the master, cancelled slots, exceptions)."""
        wanted = sorted({i for i in ids if i not in rnd.masters})
        if not wanted:
            return [], []
        params = {"$select": MASTER_SELECT, "$expand": MASTER_EXPAND}

        def read(master_id: str) -> GraphResponse:
            url = self.client.user_url(rnd.mailbox, "events", master_id)
            return self.client.call(
                rnd.mailbox, "GET", url, params=params, what="GET series master", allow=_GONE | {400}
            )

        replies = self._parallel(rnd.mailbox, wanted, read)
        events: list[CalendarEvent] = []
        skipped: list[SkippedItem] = []
        for master_id in wanted:
            reply = replies[master_id]
            if reply.status in _GONE:
                rnd.masters[master_id] = _Master(None, None, gone=True)
                rnd.deleted.append(master_id)
                continue
            item = reply.body
            try:
                if reply.status != 200 or item.get("type") != "seriesMaster":
                    raise MalformedEvent(f"event {master_id}: cannot be read as a series master ({reply.status})")
                master = map_master(item, rnd.mailbox)
                found = [master]
                if not master.is_cancelled:
                    found += cancelled_exceptions(master, cancelled_occurrence_ids(item))
                etag = str(item.get("@odata.etag") or item.get("changeKey") or "")
                rnd.masters[master_id] = _Master(master, item, etag)
            except MalformedEvent as exc:
                log.warning("mailbox %s: skipped series %s: %s", rnd.mailbox, master_id, exc)
                rnd.masters[master_id] = _Master(None, None)
                skipped.append(SkippedItem(master_id, str(exc)))
                continue
            events += found
            for row in item.get("exceptionOccurrences") or []:
                try:
                    if not master.is_cancelled:
                        events.append(map_row(row, rnd.mailbox, master, item))
                except MalformedEvent as exc:
                    log.warning("mailbox %s: skipped an exception of %s: %s", rnd.mailbox, master_id, exc)
        return events, skipped

    def _parallel(self, mailbox: str, ids: list[str], read: Callable[[str], GraphResponse]) -> dict[str, GraphResponse]:
        """Up to the mailbox's concurrency limit at once (the client's semaphore enforces it)."""
        if len(ids) <= 1:
            return {i: read(i) for i in ids}
        with ThreadPoolExecutor(max_workers=self.client.concurrency, thread_name_prefix="graph") as pool:
            futures = {i: pool.submit(read, i) for i in ids}
            return {i: future.result() for i, future in futures.items()}

    def _mailbox_zone(self, mailbox: str) -> str | None:
        """The mailbox's own zone (MailboxSettings.Read); not fatal when it cannot be read."""
        self.client.token(mailbox)  # a refused token is the mailbox's failure, not a missing setting
        try:
            reply = self.client.call(
                mailbox, "GET", self.client.user_url(mailbox, "mailboxSettings", "timeZone"), what="mailbox time zone"
            )
        except ProviderError as exc:  # a missing permission or an outage must not stop the sync
            log.warning("mailbox %s: cannot read its time zone (%s); using the configured default", mailbox, exc)
            return None
        zone = iana_zone(reply.body.get("value"))
        if zone is None:
            log.warning("mailbox %s: unknown mailbox time zone %r", mailbox, reply.body.get("value"))
        return zone


def _series_ids(rows: Iterable[Any]) -> list[str]:
    return [
        str(row["seriesMasterId"])
        for row in rows
        if isinstance(row, dict) and row.get("type") in _SERIES_ROWS and isinstance(row.get("seriesMasterId"), str)
    ]
