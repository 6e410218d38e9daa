"""Restore of a large user table: how long a worker takes, with N users in its changelog, to be
ready and then processing again, and how much memory it holds then.

    .venv/bin/python bench/restore.py [--users 1000000 --runs 1] [--store rocksdb --cache-users 50000]

Per run: a fresh embedded broker; the user-state changelog filled with N user states, one record
per user (as a compacted changelog holds them: the embedded broker never compacts, so there the
restore also grows with history, see bench/recovery.py), and the partition states. The user
states are copies, under new user ids in the partitions those ids hash to, of the states a
simulated population leaves (1,500 users x 90 days: 2.7 KB each on average, a dense population),
as the pipeline writes them (compressed, the index entry in a header).
Then one worker starts: the time to /ready/ (tables restored), the time to having processed a
click on every input partition (each partition's engine starts by indexing its users), and the
worker's resident memory then. With ``--store rocksdb`` (tables on local disk) the worker is then
killed (SIGKILL) and started again on its data directory, twice (``restart_*``, then
``second_restart_*``, the restarted worker killed in turn): the figures local tables are for, the
changelog read only from where the local state ends. Both are quoted: a worker that joins within
a second or two of a kill may find the dead member kept as the group's leader and wait about 13 s
instead of 5 (half the restarts on 2026-12-03 before workers rejoined as the member they replace,
streams/kafka/membership.py). Then
a second worker joins, takes half the partitions (restoring them from the changelog), and is
killed: the takeover's figures (``takeover_*``), measured from the kill until the first worker has
processed a click on every input partition again (it kept the partitions it had handed over as
standbys, Faust's default, so it reads only their changelog tail).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import orjson
from common import caught_up  # bench/common.py (run as a script: its directory is on the path)
from confluent_kafka import Producer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.kafka.admin import create_topics
from streams.kafka.app import changelog_topics
from streams.kafka.codecs import record_of_document
from streams.kafka.local_store import INDEX_HEADER, partition_key, summary_of_record
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.partitioner import kafka_partition
from streams.kafka.produce import produce
from streams.offline.runner import OfflineRun
from streams.offline.simulator import SimConfig, as_events, simulate
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from streams.settings import Settings


def templates(settings: Settings) -> tuple[list[dict], list[dict]]:
    """User and partition states (changelog documents) of a simulated population."""
    run = OfflineRun(settings.engine_config(), partitions=settings.partitions)
    run.feed(as_events(simulate(SimConfig(users=1500, days=90, bad_rate=0.0))[0]))
    users = []
    for user in run.users.values():
        doc = user.to_dict()
        doc["ep"], doc["j"], doc["rl"] = 0, [], []  # nothing in flight: no user ahead of its partition
        users.append(doc)
    return users, [e.state.to_dict() for e in run.engines]


def fill(settings: Settings, users: int, user_docs: list[dict], partition_docs: list[dict]) -> int:
    """Write the changelogs; the bytes of user states written."""
    user_topic, partition_topic = changelog_topics(settings)
    admin = KafkaAdminClient(bootstrap_servers=settings.broker)
    admin.create_topics([NewTopic(t, settings.partitions, 1) for t in (user_topic, partition_topic)])
    admin.close()
    producer = Producer({"bootstrap.servers": settings.broker, "linger.ms": 50, "batch.size": 1_000_000,
                         "queue.buffering.max.kbytes": 1_048_576, "queue.buffering.max.messages": 500_000})
    written = 0
    entries = [summary_of_record(record_of_document(doc)) for doc in user_docs]  # the same for each copy
    for i in range(users):
        doc = dict(user_docs[i % len(user_docs)])
        headers = [(INDEX_HEADER, entries[i % len(user_docs)])]  # as the pipeline writes them
        doc["u"] = f"restore-{i}"
        doc["pt"] = kafka_partition(doc["u"], settings.partitions)
        value = record_of_document(doc)
        written += len(value)
        while True:
            try:
                producer.produce(user_topic, value, doc["u"].encode(), partition=doc["pt"], headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    for doc in partition_docs:
        producer.produce(partition_topic, orjson.dumps(doc), partition_key(doc["p"]).encode(), partition=doc["p"])
    if producer.flush(600):
        raise SystemExit("changelog records not acknowledged")
    return written


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def ready(settings: Settings) -> bool:
    status = worker_status(settings)
    return bool(status and status["ready"])


def run_once(users: int, workdir: Path, store: str, cache_users: int) -> dict[str, float]:
    with EmbeddedBroker() as broker:
        settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu",
                           app_id="churnguard-restore", web_port=free_port(), data_dir=str(workdir / "data"),
                           table_store=store, state_cache_users=cache_users)
        create_topics(settings)
        user_docs, partition_docs = templates(settings)
        written = fill(settings, users, user_docs, partition_docs)
        last_ts = max(d["smt"].get("click", d["ru"]) for d in partition_docs)
        clicks = []  # one known user per partition, one second after everything
        for p in range(settings.partitions):
            uid = next(f"restore-{i}" for i in range(users) if kafka_partition(f"restore-{i}", settings.partitions) == p)
            clicks.append(("click", uid, last_ts + 1000, orjson.dumps(
                {"event_id": f"probe-{p}", "user_id": uid, "ts": last_ts + 1000, "session_id": "probe",
                 "action": "view", "page": "/home"})))
        figures, worker = start_and_measure(settings, probes(clicks, "first", 0), workdir / "worker.log")
        workers = [worker]
        try:
            if store == "rocksdb":
                for name, later_s in (("restart", 1), ("second_restart", 2)):
                    stop_process(workers.pop(), sig=signal.SIGKILL)
                    restart, worker = start_and_measure(settings, probes(clicks, name, later_s), workdir / f"{name}.log")
                    workers.append(worker)
                    figures |= {f"{name}_{k}": v for k, v in restart.items()}
                figures |= {f"takeover_{k}": v
                            for k, v in takeover(settings, probes(clicks, "takeover", 3), workdir, workers).items()}
        finally:
            for worker in workers:
                stop_process(worker)
        return figures | {"state_bytes_per_user": written / users}


def probes(clicks: list, name: str, later_s: int) -> list:
    """The clicks under new event ids, ``later_s`` seconds later."""
    return [(kind, uid, ts + later_s * 1000, orjson.dumps({**orjson.loads(v), "event_id": f"{name}-{i}", "ts": ts + later_s * 1000}))
            for i, (kind, uid, ts, v) in enumerate(clicks)]


def start_and_measure(settings: Settings, clicks: list, log: Path) -> tuple[dict[str, float], subprocess.Popen[bytes]]:
    """Start a worker: seconds to ready and to having processed ``clicks``, its memory then; the
    worker, still running."""
    started = time.monotonic()
    worker = start_worker(settings, log)
    try:
        if not wait_until(lambda: ready(settings), 3600, 0.2):
            raise SystemExit("worker never ready")
        ready_s = time.monotonic() - started
        received = (worker_status(settings) or {"received": 0})["received"]
        asyncio.run(produce(settings, clicks))
        if not wait_until(lambda: ((s := worker_status(settings)) is not None and s["received"] >= received + len(clicks)
                                   and s["unflushed"] == 0), 3600, 0.2):
            raise SystemExit("worker never processed the probes")
        processing_s = time.monotonic() - started
        table = (worker_status(settings) or {})["table"]
        return {"ready_s": ready_s, "processing_s": processing_s, "rss_mb": rss_mb(worker.pid),
                "users_restored": table["users"], "changelog_records_read": table["changelog_records_read"]}, worker
    except BaseException:
        stop_process(worker)
        raise


def takeover(settings: Settings, clicks: list, workdir: Path, workers: list[subprocess.Popen[bytes]]) -> dict[str, float]:
    """A second worker (its own data directory) joins and takes half the partitions; once it is
    ready it is killed: seconds from the kill until the first worker has processed ``clicks`` on
    every input partition again, and the changelog records it read for that."""
    other = replace(settings, web_port=free_port(), data_dir=str(workdir / "other"))
    workers.append(start_worker(other, workdir / "other.log"))
    if not wait_until(lambda: ready(settings) and ready(other) and bool((worker_status(other) or {}).get("sources")),
                      3600, 0.2):
        raise SystemExit("the second worker never took its partitions")
    read_before = (worker_status(settings) or {})["table"]["changelog_records_read"]
    stop_process(workers.pop(), sig=signal.SIGKILL)
    killed = time.monotonic()
    asyncio.run(produce(settings, clicks))
    if not wait_until(lambda: caught_up(settings, settings.partitions), 3600, 0.1):
        raise SystemExit("the first worker never took the partitions over")
    processing_s = time.monotonic() - killed
    status = worker_status(settings) or {}
    return {"processing_s": processing_s, "rss_mb": rss_mb(workers[0].pid),
            "changelog_records_read": status["table"]["changelog_records_read"] - read_before}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--store", choices=["memory", "rocksdb"], default="memory")
    ap.add_argument("--cache-users", type=int, default=Settings().state_cache_users)
    args = ap.parse_args()
    runs = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_once(args.users, Path(tmp), args.store, args.cache_users))
        print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
    print(orjson.dumps({"users": args.users, "store": args.store,
                        **{f"{key}_runs": [round(r[key], 1) for r in runs] for key in runs[0]},
                        **{f"median_{key}": round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}}).decode())


if __name__ == "__main__":
    main()
