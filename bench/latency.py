"""Live event-to-alert latency: a paced producer, one worker, the outreach topics read as they fill.

    .venv/bin/python bench/latency.py [--users 1000 --days 60 --runs 3 --rate 5000]

Per run: a fresh embedded broker, one worker started and given its partitions, then the simulated
population (event-time order, no bad records) produced at ``--rate`` records/s with event time
compressed to fit. A consumer in this process reads the alert and holdout topics meanwhile. An
alert at event time t can be published once the partition's watermark passes t, i.e. once a
record dated t + the allowed lateness has been sent: its latency is the time from that record's
send to the alert's arrival here (one clock: both are taken in this process). So it includes the
wait for the watermark, the worker's batching (a flush every 0.5 s or 2,000 events) and any
backlog if the worker cannot keep up with the rate. Alerts are made frequent with the golden
fixture's low tiers and no daily budget (tests/golden.py), so there are enough to measure; the
code path is the same. Reports p50 / p90 / p99 / max per run and their medians, the rate reached
and how long after the last send the worker had processed everything.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from bisect import bisect_left
from dataclasses import replace
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer

from streams.kafka.admin import create_topics
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.produce import topic_for_kind
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from streams.settings import Settings


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def paced(settings: Settings, records: list[tuple[str, str, int, bytes]], rate: float) -> list[float]:
    """Send the records at ``rate`` per second; the monotonic send time of each."""
    topics = topic_for_kind(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=5, acks=1, enable_idempotence=False)
    await producer.start()
    sent_at: list[float] = []
    try:
        start = time.monotonic()
        for i, (kind, user_id, ts, value) in enumerate(records):
            due = start + i / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            sent_at.append(time.monotonic())
            await producer.send(topics[kind], value=value, key=user_id.encode(), timestamp_ms=ts)
        await producer.flush()
    finally:
        await producer.stop()
    return sent_at


def run_once(records: list[tuple[str, str, int, bytes]], rate: float, workdir: Path) -> dict:
    with EmbeddedBroker() as broker:
        settings = replace(Settings.from_env({}), broker=broker.bootstrap, broker_flavor="tansu",
                           app_id="churnguard-latency", web_port=free_port(), data_dir=str(workdir / "data"),
                           alert_tiers=(("watch", 0.1), ("high", 0.15), ("critical", 0.2)),
                           alert_population_share=0.5, alert_daily_budget_share=1.0)
        create_topics(settings)
        worker = start_worker(settings, workdir / "worker.log")
        arrivals: list[tuple[int, float]] = []  # (alert event time, monotonic arrival)
        stop = threading.Event()

        def consume() -> None:
            # A short fetch wait: the embedded broker holds a fetch for its whole wait even when
            # records arrive (streams/kafka/compat.py, quirk 4), which would count our own reading.
            consumer = KafkaConsumer(settings.topic_alerts, settings.topic_holdout, bootstrap_servers=settings.broker,
                                     auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=200,
                                     fetch_max_wait_ms=10)
            try:
                while not stop.is_set():
                    for message in consumer:
                        arrivals.append((orjson.loads(message.value)["ts"], time.monotonic()))
            finally:
                consumer.close()

        reader = threading.Thread(target=consume, daemon=True)
        try:
            ready = wait_until(lambda: bool((worker_status(settings) or {}).get("ready")), 300, 0.2)
            if not ready:
                raise SystemExit("worker never got its partitions")
            reader.start()
            time.sleep(2.0)  # the reader's own group join
            began = time.monotonic()
            sent_at = asyncio.run(paced(settings, records, rate))
            sending_s = time.monotonic() - began
            wait_until(lambda: ((s := worker_status(settings)) is not None and s["received"] >= len(records)
                                and s["unflushed"] == 0), 1800, 0.05)
            caught_up_s = time.monotonic() - sent_at[-1]
            time.sleep(2.0)  # the last flush's alerts reach the reader
        finally:
            stop.set()
            reader.join(10)
            stop_process(worker)
    times = [ts for _, _, ts, _ in records]
    latencies = []
    for alert_ts, arrived in arrivals:
        i = bisect_left(times, alert_ts + settings.allowed_lateness_ms)
        if i < len(times):  # past the last record the watermark only moves when sources go idle
            latencies.append(arrived - sent_at[i])
    return {"alerts": len(latencies), "rate": round(len(records) / sending_s),
            "p50_s": round(quantile(latencies, 0.5), 3), "p90_s": round(quantile(latencies, 0.9), 3),
            "p99_s": round(quantile(latencies, 0.99), 3), "max_s": round(max(latencies), 3),
            "caught_up_after_last_send_s": round(caught_up_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=5000.0)
    args = ap.parse_args()
    cfg = SimConfig(users=args.users, days=args.days, bad_rate=0.0)
    records = sorted(serialise(simulate(cfg)[0], cfg), key=lambda r: r[2])
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            runs.append(run_once(records, args.rate, Path(tmp) / f"run{i}"))
    print(orjson.dumps({
        "events": len(records), "offered_per_s": args.rate, "runs": runs,
        **{f"median_{k}": statistics.median(r[k] for r in runs)
           for k in ("p50_s", "p90_s", "p99_s", "max_s", "rate", "caught_up_after_last_send_s")},
    }).decode())


if __name__ == "__main__":
    main()
