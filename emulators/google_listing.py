"""events.list and events.instances: the singleEvents × showDeleted matrix, sync tokens, paging.

A run's result set is snapshotted when its first page is served, and its sync token is the
calendar's change-stream position at that moment. Pages are cut from the snapshot, so a change
made while a client pages is not lost: it is after the token, so the next incremental round
returns it. Tokens are opaque to clients; a token from an older generation (see
`invalidate_sync_tokens`), another calendar or nowhere at all gets 410 fullSyncRequired.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from emulators.google_errors import GoogleApiError, bad_request
from emulators.google_query import ListQuery
from emulators.google_recurrence import occurrences
from emulators.google_render import render_for_list, render_instance
from emulators.google_state import Calendar, Copy, GoogleState
from emulators.google_time import When, format_updated, parse_rfc3339

Row = tuple[datetime, datetime, dict[str, Any]]  # (start, updated, resource) for ordering


@dataclass
class Snapshot:
    calendar: str
    items: list[dict[str, Any]]
    signature: tuple[tuple[str, tuple[str, ...]], ...]
    sync_token: str | None
    updated: datetime
    key: str | None = None
    pages: int = 0
    last_empty: bool = False


class Pager:
    """Result snapshots of runs in progress, addressed by opaque page tokens."""

    def __init__(self, capacity: int = 512) -> None:
        self._snapshots: OrderedDict[str, Snapshot] = OrderedDict()
        self._capacity = capacity

    def page(
        self, state: GoogleState, cal: Calendar, snap: Snapshot | None, query: ListQuery
    ) -> tuple[Snapshot, dict[str, Any]]:
        """The next page of a run: its first page when `snap` is given, else where pageToken points."""
        if snap is None:
            snap, offset = self._resume(query)
            if snap.calendar != cal.owner:
                raise bad_request("Invalid page token value.", location="pageToken")
        else:
            offset = 0
        size = state.settings.page_size_override or query.max_results
        every = state.settings.empty_page_every
        snap.pages += 1
        if every and snap.pages % every == 0 and offset < len(snap.items) and not snap.last_empty:
            items: list[dict[str, Any]] = []  # Google may send an empty page that still has a nextPageToken
            end = offset
            snap.last_empty = True
        else:
            snap.last_empty = False
            items = snap.items[offset : offset + size]
            end = offset + len(items)
        page: dict[str, Any] = {}
        if end < len(snap.items):
            snap_id = self._remember(snap)
            page["nextPageToken"] = base64.urlsafe_b64encode(f"{snap_id}:{end}".encode()).decode()
        elif snap.sync_token is not None:
            page["nextSyncToken"] = snap.sync_token
        page["items"] = items
        return snap, page

    def _remember(self, snap: Snapshot) -> str:
        if snap.key is None:
            snap.key = secrets.token_hex(8)
            self._snapshots[snap.key] = snap
            while len(self._snapshots) > self._capacity:
                self._snapshots.popitem(last=False)
        return snap.key

    def _resume(self, query: ListQuery) -> tuple[Snapshot, int]:
        try:
            snap_id, _, offset = base64.urlsafe_b64decode((query.page_token or "").encode()).decode().partition(":")
            snap = self._snapshots[snap_id]
            position = int(offset)
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise bad_request("Invalid page token value.", location="pageToken") from exc
        if snap.signature != query.signature:
            raise bad_request("The page token does not belong to this query.", location="pageToken")
        return snap, position


def encode_sync_token(cal: Calendar) -> str:
    raw = json.dumps([cal.owner, cal.seq, cal.generation, secrets.token_hex(3)]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_sync_token(token: str, cal: Calendar) -> int:
    """The change-stream position a token stands for, or 410 if it is not (or no longer) valid."""
    try:
        owner, seq, generation, _ = json.loads(base64.urlsafe_b64decode(token.encode()))
        valid = owner == cal.owner and generation == cal.generation and 0 <= int(seq) <= cal.seq
    except (ValueError, TypeError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise GoogleApiError(410, "fullSyncRequired")
    return int(seq)


def envelope(cal: Calendar, updated: datetime) -> dict[str, Any]:
    return {
        "kind": "calendar#events",
        "etag": f'"p{cal.seq:x}{cal.generation:x}g"',
        "summary": cal.owner,
        "description": "",
        "updated": format_updated(updated),
        "timeZone": cal.time_zone,
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
    }


def list_snapshot(state: GoogleState, cal: Calendar, q: ListQuery) -> Snapshot:
    if q.sync_token is not None:
        since = decode_sync_token(q.sync_token, cal)
        rows = _incremental(state, cal, q, since)
    else:
        rows = _full(state, cal, q)
    return Snapshot(cal.owner, [r[2] for r in rows], q.signature, encode_sync_token(cal), cal.updated)


def instances_snapshot(state: GoogleState, cal: Calendar, master: Copy, q: ListQuery) -> Snapshot:
    tz, item = q.time_zone, master.item
    lo, hi = q.time_min, q.time_max or state.now() + state.settings.expansion_horizon
    rows: list[Row] = []
    for slot in _slots(state, cal, master, lo, hi, end_inclusive=True):
        if q.show_deleted or not master.cancelled:
            rows.append((slot.utc(cal.time_zone), master.updated, render_instance(master, slot, tz_override=tz)))
    for exc in item.exceptions.values():
        copy = exc.copies.get(cal.owner)
        if copy is None:
            continue
        if (copy.cancelled and not q.show_deleted) or not _overlaps(copy, cal, lo, hi, end_inclusive=True):
            continue
        rows.append(_row(copy, cal, tz, q.max_attendees))
    if q.original_start is not None:
        rows = [r for r in rows if _original_start(r[2]) == q.original_start]
    rows.sort(key=lambda r: r[0])
    return Snapshot(cal.owner, [r[2] for r in rows], q.signature, None, cal.updated)


def _full(state: GoogleState, cal: Calendar, q: ListQuery) -> list[Row]:
    tz = q.time_zone
    hi_default = state.now() + state.settings.expansion_horizon
    rows: list[Row] = []
    for copy in cal.copies.values():
        item = copy.item
        if not _matches(copy, q):
            continue
        master = cal.copies.get(item.recurring_event_id) if item.recurring_event_id else None
        if master is not None and master.item is not item.master:
            master = None
        if q.single_events and item.is_master:
            lo, hi = q.time_min, q.time_max or hi_default
            if copy.cancelled and not (q.show_deleted or _deleted_since(copy, q)):
                continue
            for slot in _slots(state, cal, copy, lo, hi, end_inclusive=False):
                rows.append(
                    (
                        slot.utc(cal.time_zone),
                        copy.updated,
                        render_instance(copy, slot, tz_override=tz, max_attendees=q.max_attendees),
                    )
                )
            continue
        live_series_exception = master is not None and not master.cancelled and not q.single_events
        if copy.cancelled and not (live_series_exception or q.show_deleted or _deleted_since(copy, q)):
            continue
        if item.is_master and not q.single_events:
            if not _series_overlaps(state, cal, copy, q.time_min, q.time_max):
                continue
        elif not _overlaps(copy, cal, q.time_min, q.time_max, end_inclusive=False):
            continue
        rows.append(_row(copy, cal, tz, q.max_attendees))
    return _ordered(rows, q)


def _incremental(state: GoogleState, cal: Calendar, q: ListQuery, since: int) -> list[Row]:
    """Every change after `since`, deletions included whatever showDeleted says (doc)."""
    changed: list[Copy] = []
    for copy in reversed(cal.copies.values()):
        if copy.seq <= since:
            break
        changed.append(copy)
    changed.reverse()
    rows: list[Row] = []
    hi = state.now() + state.settings.expansion_horizon
    for copy in changed:
        if q.event_types and copy.item.fields.get("eventType", "default") not in q.event_types:
            continue
        if q.single_events and copy.item.is_master:
            for slot in _slots(state, cal, copy, None, hi, end_inclusive=False):
                rows.append(
                    (
                        slot.utc(cal.time_zone),
                        copy.updated,
                        render_instance(copy, slot, tz_override=q.time_zone, max_attendees=q.max_attendees),
                    )
                )
        else:
            rows.append(_row(copy, cal, q.time_zone, q.max_attendees))
    return rows


def _slots(
    state: GoogleState, cal: Calendar, master: Copy, lo: datetime | None, hi: datetime, *, end_inclusive: bool
) -> list[When]:
    """Occurrences of `master` overlapping [lo, hi) that no stored exception on `cal` replaces."""
    item = master.item
    duration = item.duration
    start_floor = item.start.utc(cal.time_zone)
    low = start_floor if lo is None else lo - duration
    out = []
    for slot in occurrences(item.recurrence, item.start, low, hi, cal.time_zone):
        exc = item.exceptions.get(slot.suffix())
        if exc is not None and cal.owner in exc.copies:
            continue
        begin = slot.utc(cal.time_zone)
        end = slot.shifted(duration).utc(cal.time_zone)
        if lo is not None and (end < lo or (end == lo and not end_inclusive)):
            continue
        if begin < hi:
            out.append(slot)
    return out


def _series_overlaps(state: GoogleState, cal: Calendar, copy: Copy, lo: datetime | None, hi: datetime | None) -> bool:
    """Whether any occurrence of the series meets the window (a master row is listed for it)."""
    if lo is None and hi is None:
        return True
    item = copy.item
    if hi is not None and item.start.utc(cal.time_zone) >= hi:
        return False
    if lo is None:
        return True
    window_hi = hi or lo + state.settings.expansion_horizon
    slots = occurrences(item.recurrence, item.start, lo - item.duration, window_hi, cal.time_zone)
    return any(s.shifted(item.duration).utc(cal.time_zone) > lo for s in slots)


def _overlaps(copy: Copy, cal: Calendar, lo: datetime | None, hi: datetime | None, *, end_inclusive: bool) -> bool:
    """timeMin bounds the end (exclusive for list, inclusive for instances), timeMax the start."""
    item = copy.item
    start, end = item.start, item.end
    if copy.cancelled and item.original_start is not None:
        start, end = item.original_start, item.original_start.shifted(item.duration)
    if hi is not None and start.utc(cal.time_zone) >= hi:
        return False
    if lo is not None:
        end_utc = end.utc(cal.time_zone)
        return end_utc > lo or (end_inclusive and end_utc == lo)
    return True


def _row(copy: Copy, cal: Calendar, tz: str | None, max_attendees: int | None) -> Row:
    item = copy.item
    start = item.original_start if (copy.cancelled and item.original_start is not None) else item.start
    return start.utc(cal.time_zone), copy.updated, render_for_list(copy, tz_override=tz, max_attendees=max_attendees)


def _ordered(rows: list[Row], q: ListQuery) -> list[Row]:
    if q.order_by == "startTime":
        return sorted(rows, key=lambda r: r[0])
    if q.order_by == "updated":
        return sorted(rows, key=lambda r: r[1])
    return rows


def _deleted_since(copy: Copy, q: ListQuery) -> bool:
    """With updatedMin, deletions since then are included whatever showDeleted says (doc)."""
    return q.updated_min is not None and copy.cancelled and copy.updated >= q.updated_min


def _matches(copy: Copy, q: ListQuery) -> bool:
    item = copy.item
    if q.updated_min is not None and copy.updated < q.updated_min:
        return False
    if q.ical_uid is not None and item.ical_uid != q.ical_uid:
        return False
    if q.event_types and item.fields.get("eventType", "default") not in q.event_types:
        return False
    if q.private_props and not any(copy.private.get(k) == v for k, v in q.private_props):
        return False
    if q.shared_props and not any(item.shared_props.get(k) == v for k, v in q.shared_props):
        return False
    if q.q:
        haystack = " ".join(
            str(x)
            for x in (
                item.fields.get("summary"),
                item.fields.get("description"),
                item.fields.get("location"),
                item.organizer,
                *(a.get("email") for a in item.fields.get("attendees") or []),
                *(a.get("displayName") for a in item.fields.get("attendees") or []),
            )
            if x
        ).lower()
        return all(term in haystack for term in q.q.lower().split())
    return True


def _original_start(resource: dict[str, Any]) -> datetime | None:
    ost = resource.get("originalStartTime") or {}
    return parse_rfc3339(ost["dateTime"]) if "dateTime" in ost else None
