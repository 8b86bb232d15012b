"""The bench's results as the Markdown table the README quotes."""

from __future__ import annotations

from typing import Any

from bench.hour import markdown_rows


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("inf")


def _spread(row: dict[str, Any], side: str) -> str:
    low, high = row.get(f"{side}_spread_s") or (row[f"{side}_s"], row[f"{side}_s"])
    return f"{low}–{high} s"


def markdown(r: dict[str, Any]) -> str:
    org = r["org"]
    head = [
        f"Measured {r['date']} on {r['machine']} (`make bench{'-full' if r['mode'] == 'full' else ''}`): "
        f"{org['calendars']} calendars, {org['series']} series (~{org['instances_per_year']:,} instances a year), "
        f"{org['changes']:,} changed instances, {org['one_offs']:,} one-offs.",
        "",
        "| measurement | oneonone | baseline (same run) | ratio | target |",
        "|---|---|---|---|---|",
    ]
    hour = markdown_rows(r["hour"]) if "hour" in r else []
    if "full_sync" not in r:  # `--only hour`
        return "\n".join(head + hour) + "\n"
    f, i = r["full_sync"], r["incremental_no_change"]
    rules, lat = r["rules"], r["latency_50ms"]
    lines = (
        head
        + hour
        + [
            f"| full sync (median of {f.get('runs', 1)}) | {f['ours_s']} s ({_spread(f, 'ours')}), "
            f"{f['requests']} requests (min {f['min_pages']} pages), peak RSS {f['rss_mb']} MB "
            f"| bare fetch {f['bare_s']} s ({_spread(f, 'bare')}), RSS {f['bare_rss_mb']} MB | {f['ratio']}× "
            "| ≤ 1.5×, RSS < 300 MB |",
            f"| full sync, CPU | {f['ours_cpu_s']} CPU s | bare fetch {f['bare_cpu_s']} CPU s "
            f"| {f['cpu_ratio']}× | ≤ 2.5× |",
            f"| incremental, no change (median of {i.get('runs', 1)}) | {i['ours_s']} s ({_spread(i, 'ours')}), "
            f"{i['requests']} requests for {i['calendars']} calendars "
            f"| bare fetch {i['bare_s']} s ({_spread(i, 'bare')}) | {i['ratio']}× | ≤ 1.2× |",
            f"| incremental, no change, CPU | {i['ours_cpu_s']} CPU s | bare fetch {i['bare_cpu_s']} CPU s "
            f"| {i['cpu_ratio']}× | ≤ 1.3× |",
        ]
    )
    for row in r["incremental_changed"]:
        lines.append(
            f"| incremental, {row['changed']} of series changed ({row['series_moved']}) | {row['ours_s']} s, "
            f"{row['written']} rows written | bare fetch {row['bare_s']} s | {row['ratio']}× | grows with changes |"
        )
    d = r["rules_default_window"]
    lines.append(
        f"| rules, all {d['pairs']} pairs, default {d['history_days']}-day history ({d['occurrences']:,} occurrences) "
        f"| {d['evaluate_s']} s, {d['pairs_per_s']:,} pairs/s | loading the rows {d['load_s']} s | {d['ratio']}× "
        "| ≤ 1.0× |"
    )
    c = r["cycle"]
    lines.append(
        f"| whole cycle (sync, rules, email), steady state, no change | {c['no_change_s']} s, "
        f"{c['no_change_requests']} requests, rules judged {c['no_change_evaluated']} | first cycle {c['first_s']} s "
        f"(every pair judged; the daemon's peak RSS {c.get('rss_mb', '?')} MB) "
        f"| {ratio(c['no_change_s'], c['first_s'])}× | re-judge only what changed; RSS < 300 MB |"
    )
    lines.append(
        f"| whole cycle, {c['changed_series']} series changed | {c['changed_s']} s, rules judged "
        f"{c['changed_evaluated']} | first cycle {c['first_s']} s | {ratio(c['changed_s'], c['first_s'])}× | "
        "re-judge only what changed |"
    )
    lines.append(
        f"| rules, all {rules['pairs']} pairs ({rules['occurrences']:,} occurrences) | {rules['evaluate_s']} s, "
        f"{rules['pairs_per_s']:,} pairs/s, {rules['pair_years_per_s']:,} pair-years/s | loading the rows "
        f"{rules['load_s']} s | {rules['ratio']}× | ≤ 1.0× |"
    )
    lines.append(
        f"| no-change cycle, 50 ms latency, concurrency 8 | {lat['concurrent_s']} s ({lat['requests']} requests) "
        f"| sequential {lat['sequential_s']} s; ideal {lat['ideal_s']} s | {lat['speedup']}× faster; "
        f"{lat['vs_ideal']}× ideal | ≥ 5× faster; ≤ 1.5× ideal |"
    )
    for row in r.get("replicas", []):
        lines.append(
            f"| full sync, {row['replicas']} replica(s) on PostgreSQL, 50 ms latency | {row['wall_s']} s, "
            f"{row['calendars_per_s']} calendars/s | 1 replica | {row['scaling']}× throughput | grows with replicas |"
        )
    return "\n".join(lines) + "\n"
