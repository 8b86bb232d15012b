"""Persistence of the agenda: pair pages, their items, retention and `forget`.

Page ids are 192 random bits (URL-safe): they name a page in links and event text, which
delegates and forwarded invites can read, so they must be unguessable, but they grant nothing by
themselves (see `auth`). Every item keeps who wrote it and who last changed it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from sync.store.db import only_these
from sync.store.models import (
    AgendaItemRow,
    AgendaNudgeRow,
    AgendaOidcLoginRow,
    AgendaPairRow,
    AgendaSessionRow,
    AgendaSignInRow,
    AgendaWriteRow,
)

KINDS = ("topic", "note", "action")
MAX_TEXT = 4000
PAGE_ID_BYTES = 24  # 192 bits: comfortably above the 128 the link needs


ITEM_ERRORS = {
    "empty": "Write something first.",
    "too-long": f"That is longer than {MAX_TEXT} characters.",
    "unknown-kind": "That is not a kind of item the page knows.",
    "gone": "That item does not exist (any more).",
    "not-an-action": "Only action items can be done.",
    "bad-date": "The due date must be a date (YYYY-MM-DD).",
}


class ItemError(ValueError):
    """An edit the page refuses. It travels in the redirect as a `code` only: the page shows the code's
    own words (`ITEM_ERRORS`), never text from the URL, which anyone can put in a link."""

    def __init__(self, code: str) -> None:
        super().__init__(ITEM_ERRORS[code])
        self.code = code


_PAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what token_urlsafe produces


def new_page_id() -> str:
    return secrets.token_urlsafe(PAGE_ID_BYTES)


def page_url(base_url: str, page_id: str) -> str:
    return f"{base_url.rstrip('/')}/a/{page_id}"


def pair_pages(session: Session, base_url: str, managers: Iterable[str]) -> dict[tuple[str, str], str]:
    """The 1:1 page of each of these managers' pairs, by (manager, report): where a message sends them to act."""
    wanted = sorted(set(managers))
    if not base_url or not wanted:
        return {}
    found = session.execute(
        select(AgendaPairRow.manager, AgendaPairRow.report, AgendaPairRow.page_id).where(
            AgendaPairRow.manager.in_(wanted)
        )
    )
    return {(m, r): page_url(base_url, page) for m, r, page in found}


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    text: str
    owner: str | None
    due: date | None
    done: bool
    done_at: datetime | None
    done_by: str | None
    occurrence: datetime | None
    author: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


def _item(row: AgendaItemRow) -> Item:
    return Item(
        id=row.id,
        kind=row.kind,
        text=row.text,
        owner=row.owner,
        due=row.due,
        done=row.done,
        done_at=row.done_at,
        done_by=row.done_by,
        occurrence=row.occurrence,
        author=row.author,
        created_at=row.created_at,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def pair_row(session: Session, manager: str, report: str) -> AgendaPairRow | None:
    return session.scalar(select(AgendaPairRow).where(AgendaPairRow.manager == manager, AgendaPairRow.report == report))


def ensure_pair(session: Session, manager: str, report: str, now: datetime, *, is_new: bool) -> AgendaPairRow:
    """The pair's page, created on first sight; `is_new` is decided then and never again."""
    row = pair_row(session, manager, report)
    if row is not None:
        return row
    return ensure_pairs(session, [((manager, report), is_new)], now, {})[(manager, report)]


PairKey = tuple[str, str]


def pairs_by_key(session: Session, keys: Collection[PairKey] | None = None) -> dict[PairKey, AgendaPairRow]:
    """The pages of `keys` (None: all) in one query: one query per pair costs seconds at scale, and a
    cycle that judged a few pairs reads only their managers' pages."""
    managers = {m for m, _ in keys} if keys is not None else None
    query = only_these(select(AgendaPairRow), AgendaPairRow.manager, managers)
    return {(r.manager, r.report): r for r in session.scalars(query)}


def ensure_pairs(
    session: Session, wanted: Iterable[tuple[PairKey, bool]], now: datetime, known: dict[PairKey, AgendaPairRow]
) -> dict[PairKey, AgendaPairRow]:
    """`ensure_pair` for many: the new ones added together and flushed once; `known` is updated in place."""
    first: dict[PairKey, bool] = {}
    for key, is_new in wanted:
        if key not in known:
            first.setdefault(key, is_new)
    fresh = [
        AgendaPairRow(manager=m, report=r, page_id=new_page_id(), previous_page_ids=[], is_new=is_new, created_at=now)
        for (m, r), is_new in first.items()
    ]
    if fresh:
        session.add_all(fresh)
        session.flush()
        known.update({(row.manager, row.report): row for row in fresh})
    return known


def items_by_pair(session: Session, pair_ids: Collection[int] | None = None) -> dict[int, list[Item]]:
    """The live items of `pair_ids` (None: all) in one query, each pair's in the order `items_of` gives."""
    grouped: dict[int, list[Item]] = {}
    query = only_these(select(AgendaItemRow).where(AgendaItemRow.deleted_at.is_(None)), AgendaItemRow.pair_id, pair_ids)
    rows = session.scalars(query.order_by(AgendaItemRow.pair_id, AgendaItemRow.created_at, AgendaItemRow.id))
    for row in rows:
        grouped.setdefault(row.pair_id, []).append(_item(row))
    return grouped


def pair_by_page(session: Session, page_id: str) -> AgendaPairRow | None:
    if not _PAGE_ID.fullmatch(page_id):  # not one we issue (PostgreSQL refuses some characters, e.g. NUL)
        return None
    return session.scalar(select(AgendaPairRow).where(AgendaPairRow.page_id == page_id))


def pairs_of(session: Session, person: str) -> list[AgendaPairRow]:
    return list(
        session.scalars(
            select(AgendaPairRow)
            .where(or_(AgendaPairRow.manager == person, AgendaPairRow.report == person))
            .order_by(AgendaPairRow.manager, AgendaPairRow.report)
        )
    )


def rotate(session: Session, row: AgendaPairRow, now: datetime) -> str:
    """A new page id: old links stop working, pending sign-in links die, event links are rewritten."""
    row.previous_page_ids = [*(row.previous_page_ids or []), row.page_id][-20:]
    row.page_id = new_page_id()
    row.rotated_at = now
    session.execute(delete(AgendaSignInRow).where(AgendaSignInRow.pair_id == row.id))
    for write in session.scalars(select(AgendaWriteRow).where(AgendaWriteRow.pair_id == row.id)):
        if write.state in ("done", "failed"):
            write.state = "intended"  # the link in the event must follow the new id
            write.attempts = 0
            write.updated_at = now
    return row.page_id


def items_of(session: Session, pair_id: int) -> list[Item]:
    return items_by_pair(session, [pair_id]).get(pair_id, [])


def _clean_text(text: str) -> str:
    cleaned = "".join(ch for ch in text.replace("\r\n", "\n") if ch == "\n" or ch.isprintable()).strip()
    if not cleaned:
        raise ItemError("empty")
    if len(cleaned) > MAX_TEXT:
        raise ItemError("too-long")
    return cleaned


def add_item(
    session: Session,
    pair_id: int,
    kind: str,
    text: str,
    *,
    author: str,
    now: datetime,
    occurrence: datetime | None,
    owner: str | None = None,
    due: date | None = None,
) -> Item:
    if kind not in KINDS:
        raise ItemError("unknown-kind")
    row = AgendaItemRow(
        pair_id=pair_id,
        kind=kind,
        text=_clean_text(text),
        owner=owner if kind == "action" else None,
        due=due if kind == "action" else None,
        done=False,
        occurrence=occurrence,
        author=author,
        created_at=now,
        updated_by=author,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return _item(row)


def _own_row(session: Session, pair_id: int, item_id: int, *, deleted: bool = False) -> AgendaItemRow:
    row = session.get(AgendaItemRow, item_id)
    if row is None or row.pair_id != pair_id or (row.deleted_at is not None) != deleted:
        raise ItemError("gone")
    return row


def edit_item(
    session: Session,
    pair_id: int,
    item_id: int,
    text: str,
    *,
    editor: str,
    now: datetime,
    owner: str | None = None,
    due: date | None = None,
) -> None:
    row = _own_row(session, pair_id, item_id)
    row.text = _clean_text(text)
    if row.kind == "action":
        row.owner, row.due = owner or row.owner, due
    row.updated_by, row.updated_at = editor, now


def set_done(session: Session, pair_id: int, item_id: int, done: bool, *, editor: str, now: datetime) -> None:
    row = _own_row(session, pair_id, item_id)
    if row.kind != "action":
        raise ItemError("not-an-action")
    row.done = done
    row.done_at, row.done_by = (now, editor) if done else (None, None)
    row.updated_by, row.updated_at = editor, now


UNDO_FOR = timedelta(days=1)  # how long a deleted item can be brought back


def delete_item(session: Session, pair_id: int, item_id: int, now: datetime) -> str:
    """Deleted from the page at once, kept for `UNDO_FOR` so "Undo" can bring it back; returns its text."""
    row = _own_row(session, pair_id, item_id)
    row.deleted_at = now
    return row.text


def deleted_text(session: Session, pair_id: int, item_id: int, now: datetime) -> str | None:
    """The text of an item deleted in the undo window (for the page's "Deleted … Undo"), else None."""
    row = session.get(AgendaItemRow, item_id)
    if row is None or row.pair_id != pair_id or row.deleted_at is None or row.deleted_at < now - UNDO_FOR:
        return None
    return row.text


def restore_item(session: Session, pair_id: int, item_id: int, now: datetime) -> None:
    row = _own_row(session, pair_id, item_id, deleted=True)
    if row.deleted_at is not None and row.deleted_at < now - UNDO_FOR:
        raise ItemError("gone")
    row.deleted_at = None


def apply_retention(session: Session, now: datetime, days: int | None) -> int:
    """Delete items older than the retention period, and dead sign-in links, OIDC sign-ins and sessions."""
    session.execute(delete(AgendaSignInRow).where(AgendaSignInRow.expires_at < now - timedelta(days=1)))
    session.execute(delete(AgendaSessionRow).where(AgendaSessionRow.expires_at < now))
    session.execute(delete(AgendaOidcLoginRow).where(AgendaOidcLoginRow.expires_at < now - timedelta(days=1)))
    session.execute(delete(AgendaItemRow).where(AgendaItemRow.deleted_at < now - UNDO_FOR))
    if days is None:
        return 0
    cutoff = now - timedelta(days=days)
    old = select(AgendaItemRow.id).where(AgendaItemRow.created_at < cutoff)
    ids = list(session.scalars(old))
    if ids:
        session.execute(delete(AgendaItemRow).where(AgendaItemRow.id.in_(ids)))
    return len(ids)


@dataclass
class Forgotten:
    items: int = 0
    sessions: int = 0
    pairs: int = 0


def forget_person(session: Session, person: str) -> Forgotten:
    """Remove a person's notes: every item of their 1:1 pages and every item they wrote elsewhere,
    their sessions and sign-in links, and the pages themselves (a fresh one appears if they still meet)."""
    result = Forgotten()
    pairs = pairs_of(session, person)
    pair_ids = [p.id for p in pairs]
    items = select(AgendaItemRow.id).where(
        or_(AgendaItemRow.pair_id.in_(pair_ids), AgendaItemRow.author == person, AgendaItemRow.owner == person)
    )
    ids = list(session.scalars(items))
    if ids:
        session.execute(delete(AgendaItemRow).where(AgendaItemRow.id.in_(ids)))
    result.items = len(ids)
    sessions = list(session.scalars(select(AgendaSessionRow.id).where(AgendaSessionRow.email == person)))
    session.execute(delete(AgendaSessionRow).where(AgendaSessionRow.email == person))
    result.sessions = len(sessions)
    session.execute(delete(AgendaSignInRow).where(AgendaSignInRow.email == person))
    if pair_ids:
        session.execute(delete(AgendaNudgeRow).where(AgendaNudgeRow.pair_id.in_(pair_ids)))
        session.execute(delete(AgendaSignInRow).where(AgendaSignInRow.pair_id.in_(pair_ids)))
        for pair in pairs:
            session.delete(pair)
    result.pairs = len(pairs)
    return result
