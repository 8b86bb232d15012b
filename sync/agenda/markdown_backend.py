"""`agenda.backend: markdown`: each pair's page also lives as a Markdown file (for notes kept in git).

The database stays the source of the web page; the file is rewritten after every cycle and every
edit. What people change in the file is read back first, and only where Markdown has a clear
meaning: a ticked or unticked `- [ ]` action item (matched by its `<!-- item:N -->` id), and a
new `- [ ]` line, which becomes a new action item.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from sync.agenda.page import MeetingView, PageView
from sync.agenda.store import Item, add_item, items_of, set_done
from sync.agenda.views import template_helpers
from sync.store.models import AgendaPairRow

if TYPE_CHECKING:
    from sync.runtime import Runtime

log = logging.getLogger(__name__)

MARKDOWN_AUTHOR = "markdown"
_TASK = re.compile(r"^\s*[-*]\s+\[(?P<mark>[ xX])\]\s+(?P<body>.*?)\s*(?:<!--\s*item:(?P<id>\d+)\s*-->)?\s*$")
_META = re.compile(r"\s*_\((?P<meta>[^)]*)\)_\s*$")


@dataclass(frozen=True)
class Task:
    """A `- [ ]` line read back from the file."""

    done: bool
    text: str
    item_id: int | None
    owner: str | None = None  # a display name, as written
    due: date | None = None


def _file_part(address: str) -> str:
    """Percent-encoded outside a safe set, so different addresses never share a name (injective)."""
    return "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in address)


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._+-")


def file_for(folder: Path, manager: str, report: str) -> Path:
    """`manager,report.md`: the comma is encoded inside each part, so two pairs never share a file
    (`a@x.com__b` + `c@y.com` and `a@x.com` + `b__c@y.com` once did). A file under the old name is
    moved here the first time, keeping what people wrote in it."""
    path = folder / f"{_file_part(manager)},{_file_part(report)}.md"
    legacy = folder / (re.sub(r"[^A-Za-z0-9@._+-]", "_", f"{manager}__{report}") + ".md")
    if legacy.exists() and not path.exists():
        os.replace(legacy, path)
    return path


def _markdown_text(text: str) -> str:
    """User text on one line, unable to pose as an action item (`[x] ` first) or an item id (`<!--`)."""
    flat = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;")
    return "\\" + flat if flat.startswith("[") else flat


def _read_text(text: str) -> str:
    return text.removeprefix("\\").replace("&lt;", "<").replace("&amp;", "&")


def parse_tasks(text: str) -> list[Task]:
    tasks = []
    for line in text.splitlines():
        match = _TASK.match(line)
        if not match:
            continue
        body, owner, due = match.group("body"), None, None
        meta = _META.search(body)
        if meta:
            body = body[: meta.start()]
            for part in (p.strip() for p in meta.group("meta").split(",")):
                if part.lower().startswith("owner:"):
                    owner = part.split(":", 1)[1].strip() or None
                elif part.lower().startswith("due"):
                    try:
                        due = date.fromisoformat(part[3:].strip(" :"))
                    except ValueError:
                        due = None
        item_id = int(match.group("id")) if match.group("id") else None
        text_ = _read_text(body.strip())
        if text_:
            tasks.append(Task(match.group("mark").lower() == "x", text_, item_id, owner, due))
    return tasks


def _task_line(item: Item, name: Callable[[str | None], str]) -> str:
    meta = [f"owner: {name(item.owner)}"]
    if item.due:
        meta.append(f"due {item.due.isoformat()}")
    return f"- [{'x' if item.done else ' '}] {_markdown_text(item.text)} _({', '.join(meta)})_ <!-- item:{item.id} -->"


def _bullets(items: tuple[Item, ...], name: Callable[[str | None], str]) -> list[str]:
    return [f"- {_markdown_text(i.text)} _({name(i.author)})_" for i in items]


def _meeting(title: str, view: MeetingView, name: Callable[[str | None], str]) -> list[str]:
    lines = [title, ""]
    if view.topics:
        lines += ["**Talking points**", "", *_bullets(view.topics, name), ""]
    if view.notes:
        lines += ["**Notes**", "", *_bullets(view.notes, name), ""]
    if view.actions:
        lines += ["**Action items**", "", *(_task_line(a, name) for a in view.actions), ""]
    return lines


def render_markdown(page: PageView, zone: str) -> str:
    helpers = template_helpers(zone, page.manager, page.report)
    name, when = helpers["name"], helpers["when"]
    lines = [
        f"# 1:1 — {name(page.manager)} / {name(page.report)}",
        "",
        "<!-- Written by oneonone. Tick action items ([x]) or add new `- [ ]` lines: they are read back. "
        "Everything else is rewritten on each sync; edit it on the web page. -->",
        "",
    ]
    lines += _meeting(f"## Next 1:1 — {when(page.next.start) or 'not scheduled'} ({zone})", page.next, name)
    lines += ["## Review from last time", "", *(_task_line(a, name) for a in page.review), ""]
    if page.notes_target is not page.next:
        lines += _meeting(f"## Notes and action items — {when(page.notes_target.start)}", page.notes_target, name)
    if page.past:
        lines += ["## Earlier 1:1s", ""]
        for view in page.past:
            lines += _meeting(f"### {when(view.start)}", view, name)
    return "\n".join(lines).rstrip() + "\n"


def import_tasks(session: Session, pair: AgendaPairRow, path: Path, now: datetime, occurrence: datetime | None) -> int:
    """Apply the file's `- [ ]` changes to the store; returns how many items changed or were added."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    known = {i.id: i for i in items_of(session, pair.id) if i.kind == "action"}
    # A new line is keyed by its text: read again (a crash before the file was rewritten with the new
    # item's id, a second replica), it finds the item it made the first time instead of making another.
    made = {i.text: i for i in known.values() if i.author == MARKDOWN_AUTHOR}
    changed = 0
    owners = {_name(pair.manager): pair.manager, _name(pair.report): pair.report}
    for task in parse_tasks(text):
        if task.item_id is not None:
            item = known.get(task.item_id)
            if item is not None and item.done != task.done:
                set_done(session, pair.id, item.id, task.done, editor=MARKDOWN_AUTHOR, now=now)
                changed += 1
            continue
        if task.text in made:
            continue
        owner = owners.get((task.owner or "").lower(), pair.report)
        item = add_item(
            session,
            pair.id,
            "action",
            task.text,
            author=MARKDOWN_AUTHOR,
            now=now,
            occurrence=occurrence,
            owner=owner,
            due=task.due,
        )
        made[task.text] = item
        if task.done:
            set_done(session, pair.id, item.id, True, editor=MARKDOWN_AUTHOR, now=now)
        changed += 1
    return changed


def _name(address: str) -> str:
    return str(template_helpers("UTC", "", "")["name"](address)).lower()


def write_file(path: Path, text: str) -> None:
    """Atomically: a reader (or git) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".md.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def exporter(runtime: Runtime) -> Callable[[int], None]:
    """Re-export one pair's file after a web edit."""

    def export(pair_id: int) -> None:
        from sync.agenda.meetings import pair_history, zone_of
        from sync.agenda.page import build_page
        from sync.evaluation import evaluation_context

        settings = runtime.settings
        folder = settings.agenda.markdown_dir
        if folder is None:
            return
        now = runtime.clock()
        with runtime.db.session() as session:
            pair = session.get(AgendaPairRow, pair_id)
            if pair is None:
                return
            context = evaluation_context(session, settings, now)
            history = pair_history(session, context, pair.manager, pair.report)
            page = build_page(pair.manager, pair.report, history, items_of(session, pair.id), now, is_new=pair.is_new)
            text = render_markdown(page, zone_of(pair.manager, context, settings.time_zone))
            path = file_for(folder, pair.manager, pair.report)
        write_file(path, text)

    return export
