"""`make bench`: every benchmark, each the median of several runs with its spread, as one table.

    .venv/bin/python bench/table.py [--quick | --readme]

Runs each benchmark script in its own process (one after another: they share two cores), reads
the JSON line it prints, and prints a Markdown table of figure, median, runs and the command
that reproduces the row. --readme also writes the table, with when and where it was measured,
into the README's "Measured" section between its two markers (what `make bench` does: review the
diff and commit it). --quick runs smaller populations once each (a check that the benchmarks
run, not figures to quote; never written to the README). Takes about half an hour in full (the
worker runs with one and two workers, the restores of 200,000 users in memory and of 1,000,000 on
local disk dominate).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson

BENCH = Path(__file__).resolve().parent
README = BENCH.parent / "README.md"
BEGIN = "<!-- bench/table.py --readme writes from here -->"
END = "<!-- to here -->"

Row = tuple[str, Callable[[dict[str, Any]], str]]


def _runs(values: list[Any], unit: str = "") -> str:
    return " / ".join(f"{v:,}{unit}" for v in values)


def _cores(workers: list[float], broker: list[float]) -> str:
    return " / ".join(f"{w} + {b}" for w, b in zip(workers, broker))


# (script, full arguments, quick arguments, rows read from its JSON)
BENCHMARKS: list[tuple[str, list[str], list[str], list[Row]]] = [
    ("worker_throughput.py", ["--users", "600", "--runs", "3"], ["--users", "100", "--days", "30", "--runs", "1"], [
        ("bare-Faust floor, same topics and runs", lambda r: f"{r['median_floor_events_per_s']:,} events/s ({_runs(r['floor_runs'])})"),
        ("worker, all features, scoring and alerting", lambda r: f"{r['median_events_per_s']:,} events/s ({_runs(r['worker_runs'])})"),
        ("worker / floor", lambda r: f"{r['median_ratio']} (target 0.8)"),
        ("two workers / one worker", lambda r: f"{r['median_two_worker_ratio']} ({_runs(r['two_worker_runs'])} events/s; target 1.6; "
         f"two bare-Faust agents / one: {r['median_two_floor_ratio']}, {_runs(r['two_floor_runs'])} events/s; "
         f"cores busy, workers + broker: one worker {_cores(r['one_worker_cores'], r['one_worker_broker_cores'])}, "
         f"two {_cores(r['two_worker_cores'], r['two_worker_broker_cores'])} of 2)"),
    ]),
    ("engine_throughput.py", ["--runs", "3"], ["--users", "200", "--days", "30", "--runs", "1"], [
        ("engine alone, one core", lambda r: f"{r['median_events_per_s']:,} events/s ({_runs(r['runs'])}; target 100,000)"),
        ("state per user (simulated population)", lambda r: f"{r['state_bytes_per_user_mean']:,} bytes mean, {r['state_bytes_per_user_max']:,} max ({r['users']:,} users)"),
    ]),
    ("buffer_memory.py", [], ["--users", "100", "--days", "10"], [
        ("memory per event waiting for the watermark (x rate x allowed lateness)", lambda r: f"{r['bytes_per_buffered_event']:,} bytes, the record's {r['of_which_record_bytes']:,} included"),
    ]),
    ("feature_throughput.py", ["--runs", "3"], ["--users", "200", "--days", "30", "--runs", "1"], [
        ("feature vector (79 features)", lambda r: f"{r['median_feature_vector_us']} us ({_runs(r['feature_vector_us_runs'])})"),
    ]),
    ("learner_cost.py", ["--runs", "5"], ["--runs", "1"], [
        ("a label learned, a model score (linear model, 82 inputs)", lambda r: f"{r['median_learn_us']} us ({_runs(r['learn_us_runs'])}), "
         f"{r['median_score_us']} us ({_runs(r['score_us_runs'])})"),
    ]),
    ("recovery.py", ["--runs", "3"], ["--users", "200", "--days", "30", "--runs", "1"], [
        ("restart after SIGKILL, until processing again, memory tables (the default, which reads the whole changelog again; deploy/ runs local tables, the next rows, which the targets are for)",
         lambda r: f"{r['median_restart_processing_s']} s ({_runs(r['restart_processing_s_runs'])}; {r['events']:,} events processed before)"),
        ("takeover by a surviving worker, memory tables", lambda r: f"{r['median_takeover_processing_s']} s ({_runs(r['takeover_processing_s_runs'])})"),
    ]),
    ("recovery.py", ["--runs", "3", "--store", "rocksdb"], ["--users", "200", "--days", "30", "--runs", "1", "--store", "rocksdb"], [
        ("restart after SIGKILL, local tables (table_store=rocksdb)", lambda r: f"{r['median_restart_processing_s']} s ({_runs(r['restart_processing_s_runs'])}; target 10 s)"),
        ("takeover by a surviving worker, local tables", lambda r: f"{r['median_takeover_processing_s']} s ({_runs(r['takeover_processing_s_runs'])}; target 15 s)"),
    ]),
    ("backfill_time.py", ["--runs", "3"], ["--users", "100", "--days", "30", "--runs", "1"], [
        ("backfill end to end", lambda r: f"{r['median_s']} s for {r['events']:,} events ({_runs(r['runs_s'], ' s')}; target 120 s for 1,000,000)"),
    ]),
    ("restore.py", ["--users", "200000", "--runs", "3"], ["--users", "5000", "--runs", "1"], [
        ("restore of the user table, one worker, memory tables (the default: every user held in memory)", lambda r: (
            f"{r['users']:,} users ({r['median_state_bytes_per_user']:,.0f} B each in the changelog): ready after "
            f"{r['median_ready_s']} s ({_runs(r['ready_s_runs'], ' s')}), processing after {r['median_processing_s']} s; "
            f"worker memory {r['median_rss_mb']:,.0f} MB (the targets, 1,000,000 users in 60 s with memory bounded by settings, are for local tables: the next rows)")),
    ]),
    ("restore.py", ["--users", "1000000", "--runs", "3", "--store", "rocksdb"], ["--users", "5000", "--runs", "1", "--store", "rocksdb"], [
        ("local tables (table_store=rocksdb, 50,000 users cached): first start from the changelog (a new volume)", lambda r: (
            f"{r['users']:,} users ({r['median_state_bytes_per_user']:,.0f} B each in the changelog; target 2 KB): "
            f"ready after {r['median_ready_s']} s ({_runs(r['ready_s_runs'], ' s')}), processing after "
            f"{r['median_processing_s']} s ({_runs(r['processing_s_runs'], ' s')}; target 60 s); "
            f"worker memory {r['median_rss_mb']:,.0f} MB")),
        ("... restart after SIGKILL on its local state", lambda r: (
            f"ready after {r['median_restart_ready_s']} s ({_runs(r['restart_ready_s_runs'], ' s')}), processing after "
            f"{r['median_restart_processing_s']} s ({_runs(r['restart_processing_s_runs'], ' s')}; target 10 s), "
            f"{r['median_restart_changelog_records_read']:,.0f} changelog records read; worker memory {r['median_restart_rss_mb']:,.0f} MB")),
        ("... the restarted worker killed and restarted again", lambda r: (
            f"processing after {r['median_second_restart_processing_s']} s ({_runs(r['second_restart_processing_s_runs'], ' s')}; target 10 s)")),
        ("... takeover of a killed second worker's partitions", lambda r: (
            f"processing after {r['median_takeover_processing_s']} s ({_runs(r['takeover_processing_s_runs'], ' s')}; target 15 s), "
            f"{r['median_takeover_changelog_records_read']:,.0f} changelog records read; worker memory {r['median_takeover_rss_mb']:,.0f} MB")),
    ]),
    ("latency.py", ["--runs", "3", "--rate", "5000"], ["--users", "200", "--days", "20", "--runs", "1", "--rate", "2000"], [
        ("event-to-alert latency p50 / p99", lambda r: (
            f"{r['median_p50_s']} s / {r['median_p99_s']} s at {r['offered_per_s']:,.0f} events/s offered "
            f"({r['median_rate']:,} sent/s; worker caught up {r['median_caught_up_after_last_send_s']} s after the last send; target p99 1 s)")),
    ]),
]


def splice(readme: str, table: str) -> str:
    """The README with `table` in place of whatever stood between the two markers."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README needs the markers {BEGIN!r} and then {END!r}")
    return f"{readme[:start + len(BEGIN)]}\n{table.strip()}\n{readme[end:]}"


def _utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smaller populations, one run each")
    mode.add_argument("--readme", action="store_true", help="write the table into the README too")
    args = ap.parse_args()
    began = _utc()
    lines = ["| figure | median (runs) | command |", "|---|---|---|"]
    print("\n".join(lines), flush=True)
    for script, full, small, rows in BENCHMARKS:
        script_args = small if args.quick else full
        command = " ".join([".venv/bin/python", f"bench/{script}", *script_args])
        done = subprocess.run([sys.executable, str(BENCH / script), *script_args], capture_output=True, text=True)
        results = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode or not results:
            rendered = [f"| {script} | failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]} | `{command}` |"]
        else:
            result = orjson.loads(results[-1])
            rendered = [f"| {name} | {render(result)} | `{command}` |" for name, render in rows]
        print("\n".join(rendered), flush=True)
        lines += rendered
    if args.readme:
        ended = _utc()
        if ended[:10] == began[:10]:
            ended = ended[11:]  # the same day: its time only
        where = (f"`make bench`, {began} to {ended} UTC: {os.cpu_count()} cores, Python {platform.python_version()}, "
                 "the embedded broker started by each benchmark.")
        README.write_text(splice(README.read_text(), where + "\n\n" + "\n".join(lines)))


if __name__ == "__main__":
    main()
