"""calendarView/delta: rounds of pages ending in a deltaLink, as documented for Graph v1.0.

A round is computed once, when its first page is asked for, and then served page by page from
that frozen result, so a write made mid-round is neither lost nor half-seen: it shows up in the
next round, because the deltatoken remembers the (id → version) snapshot taken at round start.
State tokens are opaque keys into server-side state; an invalidated, evicted or unknown token
answers 410 syncStateNotFound.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulators.graph_model import EventView, GraphError, Mailbox, instance_view, parse_id, visible_rows
from emulators.graph_render import RenderOptions, removed_row, render, render_sparse
from emulators.graph_state import GraphStore


@dataclass
class DeltaOptions:
    """Switches for behaviours Microsoft leaves open, so tests can pin either reading."""

    sparse_occurrences: bool = True
    removed_for_cancelled_occurrence: bool = True
    removed_for_changes_outside_window: bool = True
    leading_empty_page: bool = False
    default_page_size: int = 10
    max_page_size: int = 1000
    tokens_per_mailbox: int = 64
    pages_per_mailbox: int = 256


@dataclass
class DeltaState:
    """Where a round ended: the window, what was in it, and the mailbox's change counter."""

    mailbox: str
    lo: datetime
    hi: datetime
    snapshot: dict[str, str]
    seq: int


@dataclass
class Round:
    rows: list[dict[str, Any]]
    end: DeltaState
    offset: int = 0
    empty_first: bool = False


@dataclass
class DeltaEngine:
    store: GraphStore
    options: DeltaOptions = field(default_factory=DeltaOptions)
    _tokens: dict[str, OrderedDict[str, DeltaState]] = field(default_factory=dict)  # per mailbox
    _skips: dict[str, OrderedDict[str, tuple[Round, int]]] = field(default_factory=dict)

    def begin(self, box: Mailbox, lo: datetime, hi: datetime, opts: RenderOptions) -> Round:
        return self._round(box, DeltaState(box.address.casefold(), lo, hi, {}, -1), opts, first=True)

    def resume(self, box: Mailbox, deltatoken: str, opts: RenderOptions) -> Round:
        with self.store.lock:
            state = self._tokens.get(box.address.casefold(), OrderedDict()).get(deltatoken)
            if state is None:
                raise sync_state_not_found()
            return self._round(box, state, opts, first=False)

    def page(self, box: Mailbox, skiptoken: str) -> tuple[Round, int]:
        """The round and offset behind a nextLink; asking twice (a client retry) gives the same page."""
        with self.store.lock:
            found = self._skips.get(box.address.casefold(), OrderedDict()).get(skiptoken)
            if found is None:
                raise sync_state_not_found()
            return found

    def take(self, rnd: Round, offset: int, size: int) -> tuple[list[dict[str, Any]], str, bool]:
        """The page at `offset`, and the token for what follows: a skiptoken, or the deltatoken."""
        with self.store.lock:
            if rnd.empty_first:  # Graph may open a round with an empty page that still has a nextLink
                rnd.empty_first = False
                rows, following, more = [], 0, True
            else:
                size = max(1, min(size, self.options.max_page_size))
                rows, following = rnd.rows[offset : offset + size], offset + size
                more = following < len(rnd.rows)
            token = secrets.token_urlsafe(24)
            mailbox = rnd.end.mailbox
            if more:
                pages = self._skips.setdefault(mailbox, OrderedDict())
                pages[token] = (rnd, following)
                _trim(pages, self.options.pages_per_mailbox)
                return rows, token, False
            tokens = self._tokens.setdefault(mailbox, OrderedDict())
            tokens[token] = rnd.end
            _trim(tokens, self.options.tokens_per_mailbox)
            return rows, token, True

    def invalidate(self, mailbox: str | None = None) -> None:
        with self.store.lock:
            for table in (self._tokens, self._skips):
                if mailbox is None:
                    table.clear()
                else:
                    table.pop(mailbox.casefold(), None)

    def _round(self, box: Mailbox, previous: DeltaState, opts: RenderOptions, *, first: bool) -> Round:
        with self.store.lock:
            current: dict[str, str] = {}
            changed: list[EventView] = []
            for copy in self.store.copies(box):
                for view in visible_rows(copy, previous.lo, previous.hi):
                    current[view.id] = f"{view.change_key}|{view.start.isoformat()}|{view.end.isoformat()}"
                    if previous.snapshot.get(view.id) != current[view.id]:
                        changed.append(view)
            rows = [] if first else self._removed(box, previous, current)
            rows += [self._row(v, opts) for v in sorted(changed, key=lambda v: (v.start, v.id))]
            end = DeltaState(previous.mailbox, previous.lo, previous.hi, current, box.seq)
            return Round(rows, end, empty_first=first and self.options.leading_empty_page)

    def _row(self, view: EventView, opts: RenderOptions) -> dict[str, Any]:
        if self.options.sparse_occurrences and view.type == "occurrence":
            return render_sparse(view, opts)
        return {"@odata.type": "#microsoft.graph.event", **render(view, opts)}

    def _removed(self, box: Mailbox, previous: DeltaState, current: dict[str, str]) -> list[dict[str, Any]]:
        gone = [i for i in previous.snapshot if i not in current]
        if not self.options.removed_for_cancelled_occurrence:
            gone = [i for i in gone if not self._cancelled_occurrence(box, i)]
        if self.options.removed_for_changes_outside_window:  # documented: changes outside the window
            known = set(previous.snapshot) | set(current) | set(gone)
            for copy in box.copies.values():
                if copy.seq > previous.seq and not copy.is_series and copy.id not in known:
                    gone.append(copy.id)
        return [removed_row(i) for i in gone]

    def _cancelled_occurrence(self, box: Mailbox, event_id: str) -> bool:
        key, original = parse_id(event_id)
        copy = next((c for c in box.copies.values() if c.key == key), None)
        if copy is None or original is None or copy.deleted or copy.meeting.cancelled:
            return False
        return instance_view(copy, original) is None


def _trim(table: OrderedDict[str, Any], keep: int) -> None:
    """Keep the newest tokens; older ones answer 410, as Graph's older sync generations do."""
    while len(table) > keep:
        table.popitem(last=False)


def sync_state_not_found() -> GraphError:
    return GraphError(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired or invalid; start a new round.",
    )
