"""``make run``: embedded broker, one worker, the simulator; alerts shown as they arrive; a summary.

Also the building blocks the integration tests use to drive real worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import structlog
from kafka import KafkaConsumer, TopicPartition

from streams.broker import EmbeddedBroker, create_topics, free_port
from streams.files import write_truth
from streams.produce import produce
from streams.report import alert_figures
from streams.settings import Settings
from streams.simulator import SimConfig, serialise, simulate

log = structlog.get_logger(__name__)


def start_worker(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **settings.to_env(), "CHURNGUARD_LOG_FORMAT": "json"}
    with open(log_path, "ab") as sink:
        # Own session: a Ctrl-C on the terminal reaches only us, and we stop the worker in order.
        return subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen[bytes], sig: int = 15, timeout_s: float = 30.0) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def worker_status(settings: Settings) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{settings.web_host}:{settings.web_port}/status/", timeout=2) as r:
            return orjson.loads(r.read())  # type: ignore[no-any-return]
    except OSError:
        return None


def _get(settings: Settings, path: str) -> bytes:
    with urllib.request.urlopen(f"http://{settings.web_host}:{settings.web_port}{path}", timeout=30) as r:
        return r.read()  # type: ignore[no-any-return]


def feature_digest(settings: Settings) -> str:
    return str(orjson.loads(_get(settings, "/debug/digest/"))["feature_digest"])


def run_worker_on(settings: Settings, records: list[tuple[str, str, int, bytes]], log_path: Path,
                  timeout_s: float, outcomes: list[tuple[str, str, int, bytes]] | None = None) -> dict[str, Any]:
    """Start a worker, produce ``outcomes`` and wait until it read them, then produce ``records``,
    wait until it processed them, stop it cleanly. Returns the worker's last status (with the
    table's feature digest) and its exit code."""
    worker = start_worker(settings, log_path)
    try:
        if outcomes:
            asyncio.run(produce(settings, outcomes))
            if not wait_until(lambda: (worker_status(settings) or {}).get("outcomes_received", 0) >= len(outcomes),
                              timeout_s):
                raise TimeoutError(f"worker did not read {len(outcomes)} outcomes in {timeout_s}s")
        asyncio.run(produce(settings, records))
        status = wait_processed(settings, len(records), timeout_s)
        status["table"]["feature_digest"] = feature_digest(settings)
        status["metrics"] = _get(settings, "/metrics").decode()
    finally:
        stop_process(worker)
    status["returncode"] = worker.returncode
    return status


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False


def wait_processed(settings: Settings, expected: int, timeout_s: float) -> dict[str, Any]:
    """Wait until the worker has received ``expected`` records and flushed everything it can."""
    last: dict[str, Any] = {}

    def done() -> bool:
        nonlocal last
        status = worker_status(settings)
        if status is None:
            return False
        last = status
        return status["received"] >= expected and status["unflushed"] == 0

    if not wait_until(done, timeout_s):
        raise TimeoutError(f"worker did not process {expected} records in {timeout_s}s; last status {last}")
    time.sleep(2 * settings.flush_interval_s)
    return worker_status(settings) or last


def topic_records(settings: Settings, topic: str, timeout_s: float = 3.0) -> list[tuple[int, int, bytes]]:
    """Every record of ``topic`` as (partition, offset, value), in partition then offset order."""
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False,
                             consumer_timeout_ms=int(timeout_s * 1000))
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(settings.partitions)])
        consumer.seek_to_beginning()
        out = [(r.partition, r.offset, r.value) for r in consumer]
    finally:
        consumer.close()
    return sorted(out)


def topic_messages(settings: Settings, topic: str, timeout_s: float = 3.0) -> Iterator[dict[str, Any]]:
    """Every message currently on ``topic`` (all partitions), decoded."""
    for _, _, value in topic_records(settings, topic, timeout_s):
        yield orjson.loads(value)


def _show_alert(doc: dict[str, Any]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(doc["ts"] / 1000))
    reasons = "; ".join(r["text"] for r in doc["reasons"]) or "-"
    sys.stdout.write(f"ALERT {when}  {doc['user_id']}  {doc['tier']:<8} risk {doc['risk_score']:.2f} "
                     f"({doc['model']['kind']})  {reasons}\n")
    sys.stdout.flush()


def _tail_alerts(settings: Settings, stop: threading.Event, seen: list[dict[str, Any]]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, consumer_timeout_ms=500)
    consumer.assign([TopicPartition(settings.topic_alerts, p) for p in range(settings.partitions)])
    consumer.seek_to_beginning()
    while not stop.is_set():
        for record in consumer:
            doc = orjson.loads(record.value)
            seen.append(doc)
            _show_alert(doc)
    consumer.close()


def _share(counters: dict[str, int], group: str, tier: str) -> str:
    returned = counters.get(f"winback_{group}_{tier}_returned", 0)
    closed = returned + counters.get(f"winback_{group}_{tier}_lost", 0)
    return f"{returned}/{closed}" + (f" ({returned / closed:.0%})" if closed else "")


def run_demo(users: int, days: int, seed: int, out: Path) -> int:
    started = time.monotonic()
    # The alert tail's client would report the broker going away at shutdown as errors.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    broker = EmbeddedBroker()
    worker = None
    stop_tail = threading.Event()
    tail: threading.Thread | None = None
    alerts: list[dict[str, Any]] = []
    try:
        bootstrap = broker.start()
        settings = replace(Settings.from_env(), broker=bootstrap, broker_flavor="tansu",
                           app_id="churnguard-demo", web_port=free_port(), data_dir=str(out / "worker-data"))
        create_topics(settings)
        worker = start_worker(settings, out / "worker.log")
        cfg = SimConfig(users=users, days=days, seed=seed)
        events, truths = simulate(cfg)
        write_truth(out / "ground_truth.jsonl", truths)
        records = serialise(events, cfg)
        sys.stdout.write(f"churnguard demo: broker {bootstrap}, {users} users over {days} days, "
                         f"{len(records)} events; worker log {out / 'worker.log'}\n")
        tail = threading.Thread(target=_tail_alerts, args=(settings, stop_tail, alerts), daemon=True)
        tail.start()
        asyncio.run(produce(settings, records))
        status = wait_processed(settings, len(records), timeout_s=900)
        time.sleep(2)
        stop_tail.set()
        tail.join(5)
        tail = None
        truth = {t.user_id: t.to_dict() for t in truths}
        held_out = list(topic_messages(settings, settings.topic_holdout))
        tiers = tuple(name for name, _ in settings.alert_tiers)
        treated = alert_figures(alerts, truth, settings.label_horizon_ms, tiers)
        control = alert_figures(held_out, truth, settings.label_horizon_ms, tiers)
        counters: dict[str, int] = {}
        for p in status["partitions"].values():
            for k, v in p["counters"].items():
                counters[k] = counters.get(k, 0) + v
        elapsed = time.monotonic() - started
        by_tier = "\n".join(
            f"    {tier:<9} {f['alerts']:>5} alerts to {f['users']:>4} users, {f['churner_share'] or 0:.0%} to real churners"
            f" (control: {control['by_tier'][tier]['alerts']} recorded)"
            for tier, f in treated["by_tier"].items())
        winback = "\n".join(
            f"    {tier:<9} treated {_share(counters, 'treatment', tier)}, control {_share(counters, 'control', tier)}"
            for tier in tiers)
        sys.stdout.write(
            "\nSummary\n"
            f"  events received      {status['received']} ({counters.get('applied', 0)} applied, "
            f"{status['dead_letters_sent']} dead-lettered, {sum(p['buffered'] for p in status['partitions'].values())} "
            "awaiting the watermark)\n"
            f"  labels learned       {counters.get('labels_0', 0) + counters.get('labels_1', 0)}\n"
            f"  alerts sent          {treated['alerts']} to {treated['alerted_users']} users, "
            f"{treated['alerted_users_churned']} of them ({treated['alerted_users_churned'] / max(treated['alerted_users'], 1):.0%}) "
            f"real churners; {control['alerts']} more recorded for the control group\n{by_tier}\n"
            f"  churners             {treated['churners']} in the ground truth; "
            f"{treated['churners_caught_in_time'] + control['churners_caught_in_time']} alerted (either arm) before "
            f"{settings.label_horizon_days} days of silence, median lead {treated['median_lead_days']} days (treated)\n"
            f"  win-back (active again within {settings.label_horizon_days} days of an alert; the simulator has no "
            f"treatment effect)\n{winback}\n"
            f"  wall time            {elapsed:.0f} s\n")
        return 0
    except KeyboardInterrupt:
        sys.stdout.write("\ninterrupted; stopping\n")
        return 130
    finally:
        stop_tail.set()
        if tail is not None:
            tail.join(5)
        if worker is not None:
            stop_process(worker)
        broker.stop()
