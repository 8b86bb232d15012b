"""The daemon's real hour: a fresh install's first cycle, then 12 cycles of 5 minutes on an injected clock.

Everything a deployment runs is on: agenda links written back, nudges, warnings delivered over SMTP to
a local sink (in the parent, so its memory is not the step's). The hour holds the periodic full
evaluation (`rules.full_evaluation_minutes`, 30), so its average is what a 5-minute cycle costs over
time, not only its quiet case. A few series move before each cycle. At the end the step checks that
the findings the cycles kept equal a full evaluation's of the same rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

from bench.proc import vm_mb, wait_for

CYCLES = 12


def hour_step(args: dict[str, Any], provider: Any) -> dict[str, Any]:
    """Run in the child: the fresh install, then the hour; the parent moves series between cycles."""
    from sqlalchemy import select

    from rules.engine import evaluate
    from sync.config import parse_settings
    from sync.cycle import run_cycle
    from sync.evaluation import evaluation_context
    from sync.runtime import build_runtime
    from sync.store.events import load_events
    from sync.store.models import FindingRow, OutboxRow

    settings = parse_settings(
        {
            "database_url": args["database_url"],
            "concurrency": args["concurrency"],
            "smtp": {"host": "127.0.0.1", "port": args["smtp_port"], "security": "none", "from": "oneonone@acme.test"},
            "notify": {"mode": "send", "quiet_hours": "off"},
            "web": {"base_url": "http://127.0.0.1:9"},
        }
    )
    now = [datetime.fromisoformat(args["now"])]
    imported = vm_mb("VmRSS")
    start, cpu = time.perf_counter(), time.process_time()
    runtime = build_runtime(settings, clock=lambda: now[0], providers=[provider])
    first = run_cycle(runtime)
    first_wall, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    first_peak = vm_mb()
    cycles = []
    for n in range(CYCLES):
        Path(f"{args['ready_file']}-{n}").write_text("ready")
        wait_for(Path(f"{args['go_file']}-{n}"))
        now[0] += timedelta(minutes=5)
        before = provider.requests_made
        start, cpu = time.perf_counter(), time.process_time()
        report = run_cycle(runtime)
        cycles.append(
            {
                "wall": time.perf_counter() - start,
                "cpu": time.process_time() - cpu,
                "requests": provider.requests_made - before,
                "evaluated": report.evaluated,
                "judged": report.judged,
                "rss_mb": vm_mb("VmRSS"),
            }
        )
    with runtime.db.session() as session:
        kept = {
            (r.rule, r.manager, r.report, r.key)
            for r in session.scalars(select(FindingRow).where(FindingRow.status == "open"))
        }
        fresh = evaluate(load_events(session), evaluation_context(session, settings, now[0]))
        sent = session.query(OutboxRow).filter(OutboxRow.sent_at.is_not(None)).count()
    judged = {f.identity for f in fresh.findings}
    return {
        "imported_rss_mb": imported,
        "first_wall": first_wall,
        "first_cpu": first_cpu,
        "first_rss_mb": first_peak,
        "first_links_written": first.agenda.written,
        "first_judged": first.judged,
        "cycles": cycles,
        "rss_mb": vm_mb(),
        "sent": sent,
        "findings_kept": len(kept),
        "findings_full": len(judged),
        "findings_equal": kept == judged,
        "findings_only_kept": len(kept - judged),
        "findings_only_full": len(judged - kept),
    }


def simulated_hour(
    spawn: Callable[[dict[str, Any]], Any], base: dict[str, Any], workdir: Path, move: Callable[[int], int]
) -> dict[str, Any]:
    """In the parent: start the step with a local SMTP sink, move a few series before each cycle."""
    from emulators.smtp import MailSink

    sink = MailSink()
    _, port = sink.start()
    try:
        ready, go = workdir / "hour-ready", workdir / "hour-go"
        proc = spawn({**base, "step": "hour", "smtp_port": port, "ready_file": str(ready), "go_file": str(go)})
        moved = 0
        for n in range(CYCLES):
            while not Path(f"{ready}-{n}").exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"bench hour step failed:\n{proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.05)
            moved += move(n)
            Path(f"{go}-{n}").write_text("go")
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"bench hour step failed:\n{err[-3000:]}")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    finally:
        sink.stop()
    cycles = result.pop("cycles")
    walls, cpus = [c["wall"] for c in cycles], [c["cpu"] for c in cycles]
    return {
        **{
            k: (round(v) if k.endswith("_mb") else round(v, 2)) if isinstance(v, float) else v
            for k, v in result.items()
        },
        "cycles": len(cycles),
        "series_moved": moved,
        "average_s": round(sum(walls) / len(walls), 2),
        "average_cpu_s": round(sum(cpus) / len(cpus), 2),
        "median_s": round(median(walls), 2),
        "slowest_s": round(max(walls), 2),
        "full_evaluations": sum(1 for c in cycles if c["evaluated"] == "all"),
        "pairs_judged": [c["judged"] for c in cycles],
        "between_rss_mb": [round(min(c["rss_mb"] for c in cycles)), round(max(c["rss_mb"] for c in cycles))],
        "requests_per_cycle": round(sum(c["requests"] for c in cycles) / len(cycles)),
        "mails_delivered": len(sink.messages),
    }


def _spread(values: list[int]) -> str:
    return f"{min(values)}–{max(values)}, median {round(median(values))}" if values else "—"


def markdown_rows(h: dict[str, Any]) -> list[str]:
    equal = (
        "equal"
        if h["findings_equal"]
        else (f"NOT equal: {h['findings_only_kept']} kept only, {h['findings_only_full']} in the full evaluation only")
    )
    return [
        f"| fresh install, first cycle (agenda links, nudges, SMTP delivery on) | {h['first_wall']} s, "
        f"{h['first_cpu']} CPU s, peak RSS {h['first_rss_mb']} MB ({h['imported_rss_mb']} MB after imports) "
        f"| — | — | ≤ 45 s at 2,500 calendars; RSS ≤ 300 MB |",
        f"| average 5-minute cycle over a simulated hour ({h['cycles']} cycles, {h['full_evaluations']} full "
        f"evaluations, {h['series_moved']} series moved; pairs judged a cycle: {_spread(h['pairs_judged'])} of "
        f"{h['first_judged']}) | {h['average_s']} s ({h['average_cpu_s']} CPU s), median "
        f"{h['median_s']} s, slowest {h['slowest_s']} s, {h['requests_per_cycle']} requests a cycle, RSS between "
        f"cycles {h['between_rss_mb'][0]}–{h['between_rss_mb'][1]} MB, peak {h['rss_mb']} MB "
        f"| findings kept vs a full evaluation: {h['findings_kept']} vs {h['findings_full']}, {equal} "
        f"| — | ≤ 3 s at 2,500 calendars |",
    ]
