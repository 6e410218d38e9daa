"""Where the time goes: py-spy profiles of the bare-Faust agent, the worker and the engine alone.

    .venv/bin/python bench/hot_paths.py [--users 1000 --days 90 --seconds 30 --top 25] [floor worker engine]

The floor and the worker read the same pre-loaded topics on one embedded broker (as in
bench/worker_throughput.py), each sampled for ``--seconds`` while it catches up; the engine is
sampled over one whole feed of the population (as in bench/engine_throughput.py). Samples are
taken only while a thread holds the GIL (py-spy ``--gil``), so they count Python work, not
waiting. For each target: events/s while sampled, the GIL time per event, the share of samples
with churnguard's own code on the stack, and the functions with the largest inclusive and self
shares. Sampling slows a process down a little; compare shares and the floor/worker pair, not
rates with bench/worker_throughput.py. Needs py-spy (the project's test extra installs it) and the
right to attach to a process (root, or kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from common import start_bare_agent  # bench/common.py (run as a script: its directory is on the path)
from streams.kafka.admin import create_topics
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.produce import produce
from streams.offline.simulator import SimConfig, as_events, serialise, simulate
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from streams.settings import Settings

OURS = ("(streams/", "(agents/")  # py-spy names a frame's file by its import path: churnguard's own modules
FAUSTS = ("(streams/kafka/drain.py",)  # ours, but Faust's delivery loop (under every record's path): not counted as ours
# The entry frames every sample of a thread shares: left out of the tables.
ENTRY = re.compile(r"^(<module>|main|_run_module_as_main|_run_code|cmd_worker|engine_child|\S*execute_from_commandline"
                   r"|BaseEventLoop\.(run_until_complete|run_forever|_run_once)) ")
RATE_HZ = 200
TARGETS = ("floor", "worker", "engine")


def py_spy() -> str:
    """The environment's py-spy (the test extra pins it), else one on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        sys.exit("py-spy not found: pip install py-spy (part of the test extra)")
    return found


def record(pid: int, out: Path, seconds: float | None) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` into ``out`` (collapsed stacks), for ``seconds`` or until it exits."""
    cmd = [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--gil", "--nonblocking",
           "--format", "raw", "-o", str(out)]
    if seconds is not None:
        cmd += ["--duration", str(int(seconds))]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def frame_name(frame: str) -> str:
    """'function (package/module.py:line)' -> 'function (package/module.py)'."""
    return frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") else frame


def summarise(raw: Path, events: int, seconds: float, top: int) -> dict:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = ours = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n, frames = int(count), stack.split(";")
        kept = [f for f in frames if not ENTRY.match(f)]
        total += n
        ours += n if any(path in f and not any(fw in f for fw in FAUSTS) for f in kept for path in OURS) else 0
        for name in {frame_name(f) for f in kept}:
            inclusive[name] += n
        own[frame_name(frames[-1])] += n

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    gil_s = total / RATE_HZ
    return {"samples": total, "events_per_s": round(events / seconds), "gil_us_per_event": round(1e6 * gil_s / events, 1),
            "churnguard_share": round(100 * ours / max(total, 1), 1), "inclusive": share(inclusive), "self": share(own)}


def sample_service(proc: subprocess.Popen[bytes], count: Callable[[], int], seconds: float, out: Path) -> tuple[int, float]:
    """Sample a started process for ``seconds`` from its first event read: (events it read
    meanwhile, seconds until the last of them). Once it has read everything it idles, and an
    idle process hardly holds the GIL: the samples are still those of the events read."""
    if not wait_until(lambda: count() > 0, 300, 0.05):
        sys.exit("never started reading")
    start, first = time.monotonic(), count()
    spy = record(proc.pid, out, seconds)
    read, last = first, start
    while spy.poll() is None:
        time.sleep(0.2)
        now = count()
        if now > read:
            read, last = now, time.monotonic()
    return read - first, last - start


def profile_services(targets: list[str], records: list, seconds: float, workdir: Path) -> dict[str, tuple[Path, int, float]]:
    results = {}
    with EmbeddedBroker() as broker:
        settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu",
                           app_id="churnguard-profile", web_port=free_port(), data_dir=str(workdir / "data"))
        create_topics(settings)
        asyncio.run(produce(settings, records))
        if "floor" in targets:
            bare, bare_read = start_bare_agent(settings, workdir)
            try:
                results["floor"] = (workdir / "floor.txt", *sample_service(bare, lambda: int(bare_read()["count"]), seconds,
                                                                           workdir / "floor.txt"))
            finally:
                stop_process(bare)
        if "worker" in targets:
            mine = replace(settings, app_id="churnguard-profile-worker", web_port=free_port(),
                           data_dir=str(workdir / "worker"))
            worker = start_worker(mine, workdir / "worker.log")
            try:
                results["worker"] = (workdir / "worker.txt", *sample_service(
                    worker, lambda: (worker_status(mine) or {}).get("received", 0), seconds, workdir / "worker.txt"))
            finally:
                stop_process(worker)
    return results


def engine_child(users: int, days: int) -> None:
    """Simulate, say so, wait for the go (the profiler attached), feed the engine once."""
    from streams.offline.runner import OfflineRun

    raw, _ = simulate(SimConfig(users=users, days=days, bad_rate=0.0))
    events = as_events(raw)
    run = OfflineRun(Settings().engine_config(), partitions=4)
    print(len(events), flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    run.feed(events)
    print(time.perf_counter() - start, flush=True)


def profile_engine(users: int, days: int, workdir: Path) -> tuple[Path, int, float]:
    child = subprocess.Popen([sys.executable, __file__, "--engine-child", "--users", str(users), "--days", str(days)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    events = int(child.stdout.readline())
    spy = record(child.pid, workdir / "engine.txt", None)
    time.sleep(1.0)  # py-spy does not say when it has attached; it takes milliseconds
    child.stdin.write("go\n")
    child.stdin.flush()
    seconds = float(child.stdout.readline())
    child.wait()
    spy.wait()
    return workdir / "engine.txt", events, seconds


def print_summary(target: str, s: dict) -> None:
    print(f"\n## {target}: {s['events_per_s']:,} events/s while sampled, {s['gil_us_per_event']} us of GIL time per event, "
          f"churnguard's code on the stack in {s['churnguard_share']} % of {s['samples']:,} samples\n")
    print("| inclusive % | function | | self % | function |\n|---:|---|---|---:|---|")
    for (name, pct), (own_name, own_pct) in zip(s["inclusive"], s["self"]):
        print(f"| {pct} | {name} | | {own_pct} | {own_name} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("targets", nargs="*", default=list(TARGETS), help=f"any of {', '.join(TARGETS)} (default: all)")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to sample the floor and the worker")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.engine_child:
        return engine_child(args.users, args.days)
    if set(args.targets) - set(TARGETS):
        ap.error(f"targets are {', '.join(TARGETS)}")
    py_spy()
    services = [t for t in args.targets if t != "engine"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        profiles = {}
        if services:
            cfg = SimConfig(users=args.users, days=args.days)
            profiles = profile_services(services, serialise(simulate(cfg)[0], cfg), args.seconds, workdir)
        if "engine" in args.targets:
            profiles["engine"] = profile_engine(args.users, args.days, workdir)
        for target in args.targets:
            raw, events, seconds = profiles[target]
            print_summary(target, summarise(raw, events, seconds, args.top))


if __name__ == "__main__":
    main()
