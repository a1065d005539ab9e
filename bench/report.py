"""Merge the per-database partial results into bench/results.json and print a table.

Usage: python -m bench.report --out bench/results.json [--merge] partial.json ...
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ORDER = [
    "task_completion_ratio_sqlite", "task_completion_ratio_postgres",
    "history_growth_ratio", "history_growth_ratio_postgres",
    "inbox_p95_ms_1m_sqlite", "inbox_p95_ms_1m_postgres",
    "inbox_scale_ratio_sqlite", "inbox_scale_ratio_postgres",
    "scoring_ratio_sqlite", "scoring_ratio_postgres", "scoring_seconds_sqlite", "scoring_seconds_postgres",
    "pdf_overhead_ratio", "pdf_rss_growth_mb",
    "timer_tick_ratio_sqlite", "timer_tick_ratio_postgres", "timer_latency_s",
]


def note(name: str, entry: dict[str, Any]) -> str:
    d = entry.get("detail") or {}
    if name.startswith("task_completion_ratio"):
        return (f"project {d['project']['median_ms']} ms / minimal {d['minimal']['median_ms']} ms (medians, "
                f"n={d['project']['n']}); {d['statements_per_completion']['min']}-"
                f"{d['statements_per_completion']['max']} SQL statements per completion")
    if name.startswith("history_growth_ratio"):
        return (f"{d['after_50_loops']['median_ms']} / {d['after_1_loop']['median_ms']} ms; state_json "
                f"{d['state_json_bytes_after_1_loop']} B -> {d['state_json_bytes_after_50_loops']} B "
                f"(bare engine {d['bare_engine_full_json_bytes_after_1_loop']} B -> "
                f"{d['bare_engine_full_json_bytes_after_50_loops']} B)")
    if name.startswith("inbox_p95_ms_1m"):
        large = d["at_large"]
        return (f"{d['rows_large']['rows']:,} rows / {d['rows_large']['open']:,} open; median {large['median_ms']} ms; "
                f"{large['statements_per_request']} statements/request; pool indexes used: "
                f"{large['plan']['uses_pool_indexes']}; unit-role probe user p95 "
                f"{d['probe_user']['at_large']['p95_ms']} ms")
    if name == "pdf_overhead_ratio":
        return (f"render+sign+archive {d['project']['median_ms']} ms / bare WeasyPrint "
                f"{d['bare_weasyprint']['median_ms']} ms (medians, n={d['project']['n']}, {d['pages']} pages)")
    if name == "pdf_rss_growth_mb":
        return f"VmRSS by render {d['rss_mb_by_render']}; {d['seconds_per_render_and_sign']} s per render + sign"
    if name.startswith("inbox_scale_ratio"):
        return f"p95 {d['p95_ms_large']} ms at 1M vs {d['p95_ms_small']} ms at 10k"
    if name.startswith("scoring_ratio"):
        return (f"compute {d['compute_seconds']} s / GROUP BY {d['group_by_seconds']} s (medians, "
                f"{d['entries']:,} entries); API items with evidence {d['api_items_with_evidence']['median_ms']} ms")
    if name.startswith("timer_tick_ratio"):
        return (f"tick firing {d['due_per_tick']} with {d['waiting_large']:,} waiting {d['large']['median_ms']} ms / "
                f"with {d['waiting_small']} waiting {d['small']['median_ms']} ms (medians, n={d['large']['n']})")
    if name == "timer_latency_s":
        return (f"{d['fired']}/{d['timers']} fired by the real worker + beat (sweep every {d['sweep_seconds']} s); "
                f"delays {d['delays_s']} s")
    if name.startswith("scoring_seconds"):
        return f"GROUP BY alone {d['group_by_seconds']} s"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--merge", action="store_true", help="keep entries of the existing file not re-measured")
    parser.add_argument("partials", nargs="*", type=Path)
    args = parser.parse_args()

    results: dict[str, Any] = {}
    if args.merge and args.out.exists():
        results.update(json.loads(args.out.read_text(encoding="utf-8")))
    for path in args.partials:
        results.update(json.loads(path.read_text(encoding="utf-8")))
    names = [n for n in ORDER if n in results] + sorted(n for n in results if n not in ORDER)
    ordered = {n: results[n] for n in names}
    args.out.write_text(json.dumps(ordered, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print()
    print(f"{'benchmark':32} {'value':>9} {'goal':>8}  {'':4}  notes")
    print("-" * 120)
    for name, entry in ordered.items():
        value, goal, unit = entry["value"], entry["goal"], entry["unit"]
        met = "ok" if value <= goal else "MISS"
        try:
            extra = note(name, entry)
        except (KeyError, TypeError):
            extra = ""
        print(f"{name:32} {value:>8.2f}{unit:<1} {'<= ' + format(goal, 'g'):>8}{unit:<1} {met:4}  {extra}")
    print()
    print("(figures, not assertions: a missed goal does not fail the run)")


if __name__ == "__main__":
    main()
