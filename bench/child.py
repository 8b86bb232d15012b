"""One measured step, run in its own process so its peak RSS is its own (the emulators live elsewhere).

`python -m bench.child <json>` prints one JSON line: wall and CPU seconds, requests made, peak RSS in MB,
plus step-specific figures. Steps: `ours` (the daemon's sync of every calendar, full or
incremental), `bare` (the same pages fetched with googleapiclient and JSON-decoded, nothing
stored: the floor), `rules` (load the stored events vs evaluate every pair).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2

from bench.proc import vm_mb, wait_for
from providers.google import GoogleCalendarProvider, _discovery_document, service_account_info_credentials
from providers.retry import RetryPolicy


def _provider(args: dict[str, Any]) -> GoogleCalendarProvider:
    """Our Google provider for the seeded emulator, as every step that syncs builds it."""
    info = json.loads(Path(args["key_file"]).read_text())
    return GoogleCalendarProvider(
        credentials_for=service_account_info_credentials(info),
        watched=args["calendars"],
        api_endpoint=args["api_endpoint"],
        history_days=args["history_days"],
        retry=RetryPolicy(attempts=3),
    )


def _ours(args: dict[str, Any]) -> dict[str, Any]:
    from sync.config import parse_settings
    from sync.cycle import sync_all
    from sync.runtime import build_runtime

    provider = _provider(args)
    settings = parse_settings(
        {"database_url": args["database_url"], "concurrency": args["concurrency"], "rules": {"history_days": 400}}
    )
    runtime = build_runtime(settings, providers=[provider], send=lambda row: None)
    now = datetime.fromisoformat(args["now"])
    if args.get("warm"):
        _prime_tokens(lambda c: provider._http(c).credentials, args["calendars"])
    before = provider.requests_made
    if args.get("ready_file"):  # replicas: start together, once every process has imported and migrated
        Path(args["ready_file"]).write_text("ready")
        go = Path(args["go_file"])
        wait_for(go, 0.01)
    start, cpu_start = time.perf_counter(), time.process_time()
    fresh = timedelta(seconds=args["fresh_within"]) if args.get("fresh_within") else None
    results = sync_all(runtime, now, fresh_within=fresh)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    failed = [r.error for r in results if not r.ok]
    return {
        "wall": wall,
        "cpu": cpu,
        "requests": provider.requests_made - before,
        "calendars": len(results),
        "synced": sum(1 for r in results if r.ok and r.error_kind is None),
        "failed": len(failed),
        "first_error": failed[0] if failed else None,
        "written": sum(r.stats.inserted + r.stats.changed + r.stats.deleted for r in results),
        "finished_at": time.time(),
        "rss_mb": vm_mb(),
    }


def _prime_tokens(credentials_of: Callable[[str], Any], calendars: list[str]) -> None:
    """A running daemon holds an access token per calendar (they last an hour): start measured cycles so."""

    def refresh(calendar: str) -> None:
        credentials_of(calendar).refresh(google_auth_httplib2.Request(httplib2.Http(timeout=60)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(refresh, calendars))


def _bare(args: dict[str, Any]) -> dict[str, Any]:
    """The floor: the same listing calls, each page JSON-decoded and dropped."""
    from googleapiclient.discovery import build_from_document

    info = json.loads(Path(args["key_file"]).read_text())
    factory = service_account_info_credentials(info)
    tokens_path = Path(args["tokens_file"])
    tokens: dict[str, str] = json.loads(tokens_path.read_text()) if tokens_path.exists() else {}
    now = datetime.fromisoformat(args["now"])
    lock = threading.Lock()
    counts = {"requests": 0, "items": 0}
    new_tokens: dict[str, str] = {}

    # One client, as a careful hand-written fetcher would have: building it per calendar costs more than a page.
    service = build_from_document(
        _discovery_document(), http=httplib2.Http(), client_options={"api_endpoint": args["api_endpoint"]}
    )
    events = service.events()
    credentials = {calendar: factory(calendar) for calendar in args["calendars"]}
    if args.get("warm"):
        _prime_tokens(credentials.__getitem__, args["calendars"])

    def one(calendar: str) -> None:
        http = google_auth_httplib2.AuthorizedHttp(credentials[calendar], http=httplib2.Http(timeout=60))
        params: dict[str, Any] = {
            "calendarId": calendar,
            "singleEvents": False,
            "showDeleted": True,
            "maxResults": 2500,
        }
        if args["phase"] == "incremental":
            params["syncToken"] = tokens[calendar]
        else:
            params["timeMin"] = (now - timedelta(days=args["history_days"])).isoformat()
        request: Callable[..., Any] | None = events.list(**params)
        while request is not None:
            reply = request.execute(http=http)  # type: ignore[attr-defined]
            with lock:
                counts["requests"] += 1
                counts["items"] += len(reply.get("items", []))
            if reply.get("nextSyncToken"):
                with lock:
                    new_tokens[calendar] = reply["nextSyncToken"]
            request = events.list_next(request, reply)

    start, cpu_start = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=args["concurrency"]) as pool:
        list(pool.map(one, args["calendars"]))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    tokens_path.write_text(json.dumps(new_tokens))
    return {"wall": wall, "cpu": cpu, "requests": counts["requests"], "items": counts["items"], "rss_mb": vm_mb()}


def _rules(args: dict[str, Any]) -> dict[str, Any]:
    from rules.engine import evaluate, pair_histories
    from sync.config import parse_settings
    from sync.evaluation import evaluation_context
    from sync.heap import collector_paused
    from sync.store.db import Database
    from sync.store.events import load_events

    days = int(args.get("history_days", 400))
    settings = parse_settings({"database_url": args["database_url"], "rules": {"history_days": days}})
    db = Database(args["database_url"])
    db.migrate()
    now = datetime.fromisoformat(args["now"])
    # Each measured twice, the second kept: a daemon loads and judges every cycle, warm.
    loads, judges = [], []
    for _ in range(2):
        with db.session() as session, collector_paused():  # as the daemon's cycle does
            start = time.perf_counter()
            events = load_events(session)
            loads.append(time.perf_counter() - start)
            context = evaluation_context(session, settings, now)
        with collector_paused():
            start = time.perf_counter()
            evaluation = evaluate(events, context)
            judges.append(time.perf_counter() - start)
    load, judge = loads[-1], judges[-1]
    start = time.perf_counter()
    histories = pair_histories(events, context)
    history = time.perf_counter() - start
    occurrences = sum(len(h.occurrences) for h in histories)
    return {
        "load": load,
        "evaluate": judge,
        "histories": history,
        "events": len(events),
        "pairs": len(evaluation.judged_pairs),
        "occurrences": occurrences,
        "findings": len(evaluation.findings),
        "rss_mb": vm_mb(),
    }


def _cycle(args: dict[str, Any]) -> dict[str, Any]:
    """The daemon's whole cycle in steady state: one full cycle to warm up, then (once the parent has
    made its calendar changes) a measured one — sync, rules for what changed, notifications."""
    from sync.config import parse_settings
    from sync.cycle import run_cycle
    from sync.runtime import build_runtime

    provider = _provider(args)
    settings = parse_settings(
        {
            "database_url": args["database_url"],
            "concurrency": args["concurrency"],
            "agenda": {"attach": False, "nudges": False},
            "notify": {"mode": "observe"},
        }
    )
    now = [datetime.fromisoformat(args["now"])]
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider], send=lambda row: None)
    start = time.perf_counter()
    run_cycle(runtime)
    warm = time.perf_counter() - start
    Path(args["ready_file"]).write_text("ready")
    go = Path(args["go_file"])
    wait_for(go, 0.05)
    now[0] += timedelta(minutes=5)
    before = provider.requests_made
    start, cpu_start = time.perf_counter(), time.process_time()
    report = run_cycle(runtime)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "warm": warm,
        "wall": wall,
        "cpu": cpu,
        "requests": provider.requests_made - before,
        "evaluated": report.evaluated,
        "rss_mb": vm_mb(),
    }


def _hour(args: dict[str, Any]) -> dict[str, Any]:
    from bench.hour import hour_step

    return hour_step(args, _provider(args))


STEPS = {"ours": _ours, "bare": _bare, "rules": _rules, "cycle": _cycle, "hour": _hour}


def main() -> None:
    args = json.loads(sys.argv[1])
    result = STEPS[args["step"]](args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
