"""``make run``: embedded broker, one worker, the simulator; alerts shown as they arrive; a summary.

Also the building blocks the integration tests use to drive real worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import structlog
from kafka import KafkaConsumer, TopicPartition

from streams.kafka import security
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.admin import create_topics
from streams.offline.sources import write_truth
from streams.kafka.produce import produce
from streams.kafka.admin import topic_messages
from streams.offline.workers import start_worker, stop_process, wait_processed
from streams.offline.evaluation import alert_figures
from streams.settings import Settings
from streams.offline.simulator import SimConfig, serialise, simulate

log = structlog.get_logger(__name__)


def _show_alert(doc: dict[str, Any]) -> None:
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(doc["ts"] / 1000))
    reasons = "; ".join(r["text"] for r in doc["reasons"]) or "-"
    sys.stdout.write(f"ALERT {when}  {doc['user_id']}  {doc['tier']:<8} risk {doc['risk_score']:.2f} "
                     f"({doc['model']['kind']})  {reasons}\n")
    sys.stdout.flush()


def _tail_alerts(settings: Settings, stop: threading.Event, seen: list[dict[str, Any]]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, consumer_timeout_ms=500,
                             **security.kafka_python(settings))
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
