"""`make bench` / `make bench-full`: oneonone measured against the bare API floor, in one run.

Every figure is paired with its baseline from the same run: the daemon's sync vs the same pages
fetched bare (googleapiclient + JSON decode, nothing stored); rule evaluation vs merely loading
the rows; concurrent vs sequential with latency injected; 1, 2, 4 replicas on PostgreSQL.
Results go to bench/results/latest.json and bench/results/latest.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.hour import simulated_hour
from bench.table import markdown, ratio
from emulators.google import GoogleCalendarEmulator
from emulators.org import OrgPlan, google_instance_id, plan_org, seed_google
from emulators.org_churn import add_churn

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZES = {"quick": 150, "full": 1000}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}


def spawn(args: dict[str, Any]) -> subprocess.Popen[str]:
    """A step in its own process, so its peak memory is its own; under cProfile if ONEONONE_BENCH_PROFILE
    names a folder (one `{step}.prof` each, for `python -m pstats`)."""
    profile = os.environ.get("ONEONONE_BENCH_PROFILE")
    under = ["-m", "cProfile", "-o", str(Path(profile) / f"{args['step']}.prof")] if profile else []
    return subprocess.Popen(
        [sys.executable, *under, "-m", "bench.child", json.dumps(args)],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def child(**args: Any) -> dict[str, Any]:
    env = _env()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.child", json.dumps(args)], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench step {args['step']} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    what = " ".join(str(args[k]) for k in ("step", "phase") if k in args)
    print(f"  {what}: {time.perf_counter() - started:.1f} s (measured {result.get('wall', 0):.2f} s)", file=sys.stderr)
    return result


def children(runs: list[dict[str, Any]], go: Path) -> tuple[list[dict[str, Any]], float]:
    """Several steps at once (replicas), started together once all are ready: results in order, start time."""
    procs = [spawn(a) for a in runs]
    while not all(Path(a["ready_file"]).exists() for a in runs):
        failed = [p for p in procs if p.poll() not in (None, 0)]
        if failed:
            raise RuntimeError(
                f"bench replica failed:\n{(failed[0].stderr.read() if failed[0].stderr else '')[-3000:]}"
            )
        time.sleep(0.01)
    start_at = time.time()
    go.write_text("go")
    results = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bench replica failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    go.unlink(missing_ok=True)
    return results, start_at


def cycle_in_steady_state(base: dict[str, Any], db_url: str, workdir: Path, change: Any = None) -> dict[str, Any]:
    """Start the cycle step, wait for its warm-up, make the change (if any), let it measure."""
    ready, go = workdir / f"ready-{uuid.uuid4().hex}", workdir / f"go-{uuid.uuid4().hex}"
    proc = spawn({**base, "step": "cycle", "database_url": db_url, "ready_file": str(ready), "go_file": str(go)})
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"bench cycle step failed:\n{proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    moved = change() if change is not None else 0
    go.write_text("go")
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench cycle step failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["moved"] = moved
    return result


def change_series(emulator: GoogleCalendarEmulator, plan: OrgPlan, fraction: float, round_no: int) -> int:
    """Move the next upcoming slot of `fraction` of the series (a different slice each round)."""
    series = [s for s in plan.series if not s.monthly and s.until is None and s.interval_weeks == 1]
    count = max(1, int(len(plan.series) * fraction))
    offset = (round_no * 7919) % len(series)
    picked = [series[(offset + i) % len(series)] for i in range(min(count, len(series)))]
    for s in picked:
        slot = s.first_start
        while slot.astimezone(UTC) < plan.now + timedelta(days=1):
            slot = (slot.replace(tzinfo=None) + timedelta(weeks=1)).replace(tzinfo=slot.tzinfo)
        slot = (slot.replace(tzinfo=None) + timedelta(weeks=round_no)).replace(tzinfo=slot.tzinfo)
        new = slot + timedelta(hours=2)
        end = new + timedelta(minutes=s.duration_minutes)
        emulator.patch_event(
            s.organizer,
            google_instance_id(s.key, slot),
            {
                "start": {"dateTime": new.isoformat(), "timeZone": s.zone},
                "end": {"dateTime": end.isoformat(), "timeZone": s.zone},
            },
        )
    return len(picked)


def rules_figures(rules: dict[str, Any], days: int) -> dict[str, Any]:
    return {
        "history_days": days,
        "pairs": rules["pairs"],
        "occurrences": rules["occurrences"],
        "load_s": round(rules["load"], 2),
        "evaluate_s": round(rules["evaluate"], 2),
        "ratio": ratio(rules["evaluate"], rules["load"]),
        "pairs_per_s": round(rules["pairs"] / rules["evaluate"]),
        "pair_years_per_s": round(rules["pairs"] * days / 365 / rules["evaluate"]),
    }


def median_of(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[float]]:
    """The median run by wall time, and the spread [fastest, slowest] of the wall times: a ratio of two
    single runs on a 2-core machine with the emulator on it can move by a third between runs."""
    ordered = sorted(runs, key=lambda r: r["wall"])
    return ordered[len(ordered) // 2], [round(ordered[0]["wall"], 2), round(ordered[-1]["wall"], 2)]


def run(
    mode: str, workdir: Path, pg_url: str | None, calendars: int | None = None, only: str | None = None
) -> dict[str, Any]:
    n = calendars or SIZES[mode]
    now = datetime.now(UTC)
    started = time.perf_counter()
    plan = add_churn(plan_org(now, managers=n, reports_per_manager=8, weeks=52, seed=42), rate=0.08)
    emulator = GoogleCalendarEmulator()
    emulator.start()
    seed_google(emulator, plan)
    seeded = time.perf_counter() - started
    key = workdir / "key.json"
    key.write_text(json.dumps(emulator.service_account_info()))
    base = {
        "key_file": str(key),
        "api_endpoint": emulator.api_endpoint,
        "calendars": plan.managers,
        "history_days": 400,
        "now": now.isoformat(),
        "concurrency": 8,
    }
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    tokens = str(workdir / "tokens.json")
    out: dict[str, Any] = {
        "mode": mode,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": now.date().isoformat(),
        "org": {
            "calendars": n,
            "series": len(plan.series),
            "instances_per_year": len(plan.series) * 52,
            "changes": len(plan.changes),
            "one_offs": len(plan.one_offs),
            "seed_seconds": round(seeded, 1),
        },
    }
    try:
        # The hour is a fresh install (its own database, nothing synced yet); it runs last, as it moves series.
        def hour() -> dict[str, Any]:
            return simulated_hour(
                spawn,
                {**base, "database_url": f"sqlite:///{workdir / 'hour.db'}"},
                workdir,
                lambda n: change_series(emulator, plan, 0.002, 20 + n),
            )

        if only == "hour":
            out["hour"] = hour()
            return out
        # Three interleaved runs each (a fresh database for each of ours), the median kept: a 2-core machine
        # with the emulator on it is noisy. The last run's database and sync tokens are what follows uses.
        fulls, bares = [], []
        for attempt in range(3):
            if attempt:
                for suffix in ("", "-wal", "-shm"):
                    Path(db_url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            fulls.append(child(step="ours", database_url=db_url, **base))
            bares.append(child(step="bare", phase="full", tokens_file=tokens, **base))
        full, full_spread = median_of(fulls)
        bare_full, bare_full_spread = median_of(bares)
        out["full_sync"] = {
            "ours_s": round(full["wall"], 2),
            "bare_s": round(bare_full["wall"], 2),
            "ratio": ratio(full["wall"], bare_full["wall"]),
            "ours_cpu_s": round(full["cpu"], 2),
            "bare_cpu_s": round(bare_full["cpu"], 2),
            "cpu_ratio": ratio(full["cpu"], bare_full["cpu"]),
            "requests": full["requests"],
            "min_pages": n,
            "rss_mb": round(full["rss_mb"]),
            "bare_rss_mb": round(bare_full["rss_mb"]),
            "failed": full["failed"],
            "runs": len(fulls),
            "ours_spread_s": full_spread,
            "bare_spread_s": bare_full_spread,
        }
        idles, bare_idles = [], []
        for _ in range(3):  # interleaved, like the full sync: the median of three, with the spread
            idles.append(child(step="ours", database_url=db_url, warm=True, **base))
            bare_idles.append(child(step="bare", phase="incremental", tokens_file=tokens, warm=True, **base))
        idle, idle_spread = median_of(idles)
        bare_idle, bare_idle_spread = median_of(bare_idles)
        out["incremental_no_change"] = {
            "runs": len(idles),
            "ours_spread_s": idle_spread,
            "bare_spread_s": bare_idle_spread,
            "ours_s": round(idle["wall"], 2),
            "bare_s": round(bare_idle["wall"], 2),
            "ratio": ratio(idle["wall"], bare_idle["wall"]),
            "ours_cpu_s": round(idle["cpu"], 2),
            "bare_cpu_s": round(bare_idle["cpu"], 2),
            "cpu_ratio": ratio(idle["cpu"], bare_idle["cpu"]),
            "requests": idle["requests"],
            "calendars": n,
        }
        changed_rows = []
        for round_no, fraction in enumerate((0.01, 0.05, 0.25), start=1):
            moved = change_series(emulator, plan, fraction, round_no)
            ours = child(step="ours", database_url=db_url, warm=True, **base)
            bare = child(step="bare", phase="incremental", tokens_file=tokens, warm=True, **base)
            changed_rows.append(
                {
                    "changed": f"{int(fraction * 100)}%",
                    "series_moved": moved,
                    "ours_s": round(ours["wall"], 2),
                    "bare_s": round(bare["wall"], 2),
                    "ratio": ratio(ours["wall"], bare["wall"]),
                    "written": ours["written"],
                }
            )
        out["incremental_changed"] = changed_rows
        steady = cycle_in_steady_state(base, db_url, workdir)
        steady_changed = cycle_in_steady_state(
            base, db_url, workdir, change=lambda: change_series(emulator, plan, 0.01, 7)
        )
        out["cycle"] = {
            "first_s": round(steady["warm"], 2),
            "rss_mb": round(steady["rss_mb"]),
            "no_change_s": round(steady["wall"], 2),
            "no_change_evaluated": steady["evaluated"],
            "no_change_requests": steady["requests"],
            "changed_series": steady_changed["moved"],
            "changed_s": round(steady_changed["wall"], 2),
            "changed_evaluated": steady_changed["evaluated"],
        }
        out["rules_default_window"] = rules_figures(
            child(step="rules", database_url=db_url, now=now.isoformat(), history_days=120), 120
        )
        rules = child(step="rules", database_url=db_url, now=now.isoformat())
        pair_years = rules["pairs"] * 400 / 365
        out["rules"] = {
            "pairs": rules["pairs"],
            "events": rules["events"],
            "occurrences": rules["occurrences"],
            "load_s": round(rules["load"], 2),
            "evaluate_s": round(rules["evaluate"], 2),
            "ratio": ratio(rules["evaluate"], rules["load"]),
            "pairs_per_s": round(rules["pairs"] / rules["evaluate"]),
            "pair_years_per_s": round(pair_years / rules["evaluate"]),
            "rss_mb": round(rules["rss_mb"]),
        }
        emulator.server.faults.latency = 0.05
        concurrent = child(step="ours", database_url=db_url, warm=True, **base)
        requests = concurrent["requests"]
        sequential = child(step="ours", database_url=db_url, warm=True, **{**base, "concurrency": 1})
        ideal = requests * 0.05 / 8
        out["latency_50ms"] = {
            "requests": requests,
            "concurrent_s": round(concurrent["wall"], 2),
            "sequential_s": round(sequential["wall"], 2),
            "speedup": ratio(sequential["wall"], concurrent["wall"]),
            "ideal_s": round(ideal, 2),
            "vs_ideal": ratio(concurrent["wall"], ideal),
        }
        if pg_url:
            out["replicas"] = replicas(pg_url, base, workdir)
        emulator.server.faults.latency = 0.0
        out["hour"] = hour()
    finally:
        emulator.stop()
    return out


def replicas(pg_url: str, base: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    """A full sync of every calendar shared by 1, 2 and 4 replicas (leases split the work), 50 ms latency.

    Each replica syncs 2 calendars at a time: on a 2-core machine, more would make the test CPU-bound,
    and what replicas add is parallel waiting on the API, which is what this measures.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from sync.store.db import normalize_url

    rows = []
    admin_url = make_url(normalize_url(pg_url))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    for count in (1, 2, 4):
        name = f"oneonone_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            # Create the schema once, so the replicas don't race through migrations in the timing.
            child(step="rules", database_url=url, now=base["now"])
            # Each replica runs the daemon's cycle (calendars another replica just synced are left to it),
            # with 2 calendars at a time each, so one replica is bound by latency, not by this machine's 2 cores.
            go = workdir / f"go-{name}"
            runs = [
                {
                    "step": "ours",
                    "database_url": url,
                    "fresh_within": 60,
                    "ready_file": str(go.with_name(f"ready-{name}-{i}")),
                    "go_file": str(go),
                    **base,
                    "concurrency": 2,
                }
                for i in range(count)
            ]
            done, start_at = children(runs, go)
            wall = max(r["finished_at"] for r in done) - start_at
            assert sum(r["synced"] for r in done) == len(base["calendars"]), done
            rows.append(
                {
                    "replicas": count,
                    "wall_s": round(wall, 2),
                    "calendars_per_s": round(len(base["calendars"]) / wall, 1),
                }
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    base_rate = rows[0]["calendars_per_s"]
    for row in rows:
        row["scaling"] = ratio(row["calendars_per_s"], base_rate)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--mode", choices=tuple(SIZES), default="quick")
    parser.add_argument("--calendars", type=int, help="calendars (managers, 8 reports each); default by mode")
    parser.add_argument("--only", choices=("hour",), help="measure only the simulated hour")
    args = parser.parse_args()
    pg = os.environ.get("ONEONONE_BENCH_DATABASE_URL") or os.environ.get("ONEONONE_TEST_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="oneonone-bench-") as folder:
        result = run(args.mode, Path(folder), pg, args.calendars, args.only)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    name = args.mode
    if args.calendars is not None or args.only is not None:
        name = f"{args.mode}-{args.calendars or SIZES[args.mode]}" + (f"-{args.only}" if args.only else "")
    if os.environ.get("ONEONONE_BENCH_PROFILE"):
        name += "-profiled"  # under cProfile: slower, never to be quoted beside the others
    (results / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (results / f"{name}.md").write_text(table)
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
