"""`oneonone agenda attach|status|rotate` and `oneonone forget`: registered by `sync.cli.parser`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sync.config import Settings

if TYPE_CHECKING:
    from sync.runtime import Runtime

Load = Callable[[argparse.Namespace], Settings]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], load: Load) -> None:
    agenda = sub.add_parser("agenda", help="the 1:1 agenda pages and the links in 1:1 events")
    commands = agenda.add_subparsers(dest="agenda_command", required=True)
    attach = commands.add_parser("attach", help="write the agenda link into 1:1 events now (no sync first)")
    attach.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    attach.set_defaults(func=lambda a, c: cmd_attach(load(a), c, dry_run=a.dry_run))
    commands.add_parser("status", help="every pair's page, and the state of its links").set_defaults(
        func=lambda a, c: cmd_status(load(a), c)
    )
    rotate = commands.add_parser("rotate", help="new page ids: old links stop working, event links are rewritten")
    rotate.add_argument("pair", nargs="*", help="MANAGER REPORT, or one PERSON (all their pairs), or a page id")
    rotate.add_argument("--all", action="store_true", help="every pair")
    rotate.set_defaults(func=lambda a, c: cmd_rotate(load(a), c, a.pair, everything=a.all))
    forget = sub.add_parser("forget", help="delete a person's 1:1 notes, sessions and pages")
    forget.add_argument("person")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation (scripts)")
    forget.set_defaults(func=lambda a, c: cmd_forget(load(a), c, a.person, yes=a.yes))


def _runtime(settings: Settings) -> Runtime:
    from sync.runtime import build_runtime

    return build_runtime(settings)


def cmd_attach(settings: Settings, console: Console, *, dry_run: bool) -> int:
    from sync.agenda.admin import attach_now

    runtime = _runtime(settings)
    result = attach_now(runtime, dry_run=dry_run)
    table = Table(title="Agenda links" + (" (dry run: nothing written)" if dry_run else ""))
    for column in ("pair", "provider", "calendar", "event", "title", "action", "why"):
        table.add_column(column, overflow="fold")
    for decision in result.report.decisions:
        t = decision.target
        table.add_row(
            f"{t.manager} / {t.report}",
            t.provider,
            t.calendar,
            t.event_id,
            escape(t.summary),
            "would write" if dry_run and decision.action == "write" else decision.action,
            decision.reason,
        )
    for skipped in result.skipped:
        table.add_row(
            f"{skipped.manager} / {skipped.report}",
            skipped.provider,
            "",
            skipped.event_id,
            escape(skipped.summary),
            "not attached",
            skipped.reason,
        )
    console.print(table)
    if dry_run:
        for (provider, calendar, event_id), block in sorted(result.previews.items()):
            console.print(f"{provider} {calendar} {event_id}: appends {escape(block)}")
    else:
        r = result.report
        console.print(
            f"written {r.written}, already there {r.already}, removed by people {r.user_removed}, failed {r.failed}"
        )
    return 1 if result.report.failed else 0


def cmd_status(settings: Settings, console: Console) -> int:
    from sync.agenda.admin import status

    table = Table(title="1:1 agenda pages")
    for column in ("manager", "report", "page", "new", "links in events"):
        table.add_column(column, overflow="fold")
    runtime = _runtime(settings)
    for pair in status(runtime):
        links = "; ".join(f"{p} {c} {e}: {s}" for p, c, e, s in pair.writes) or "none"
        table.add_row(pair.manager, pair.report, pair.url, "yes" if pair.is_new else "", links)
    console.print(table)
    from sync.agenda.admin import attach_now

    for skipped in attach_now(runtime, dry_run=True).skipped:
        console.print(
            f"not attached: {skipped.manager} / {skipped.report} {skipped.provider} {skipped.event_id} "
            f"({escape(skipped.summary)}): {skipped.reason}"
        )
    return 0


def cmd_rotate(settings: Settings, console: Console, pair: list[str], *, everything: bool) -> int:
    from sync.agenda.admin import rotate_pages

    if not everything and not pair:
        console.print("name a pair (MANAGER REPORT), a person, a page id, or --all")
        return 2
    runtime = _runtime(settings)
    rotated = rotate_pages(runtime, pair, everything=everything, now=runtime.clock())
    for manager, report, url in rotated:
        console.print(f"{manager} / {report}: {url}")
    console.print(f"rotated {len(rotated)} page(s); the links in their events are rewritten on the next cycle")
    return 0 if rotated else 1


def cmd_forget(settings: Settings, console: Console, person: str, *, yes: bool = False) -> int:
    """Delete a person's notes for good: asked first (or `--yes`), and never for someone unknown."""
    from sync.agenda.admin import forget, is_known

    runtime = _runtime(settings)
    if not is_known(runtime, person):
        sys.stderr.write(f"oneonone: nobody called {person} is known here (check the spelling); nothing deleted\n")
        return 1
    if not yes:
        if not sys.stdin.isatty():
            sys.stderr.write("oneonone: forget deletes notes for good; run it again with --yes to confirm\n")
            return 2
        answer = input(f"Delete every 1:1 note, session and page of {person}? This cannot be undone. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            console.print("nothing deleted")
            return 1
    result = forget(runtime, person)
    console.print(
        f"forgot {person}: {result.items} item(s), {result.sessions} session(s), {result.pairs} page(s) deleted"
    )
    return 0
