"""Backfill mode: the engines over files or a topic range from scratch, their outputs collected and
summarised. By default in this process (streams/offline/inline.py). With worker processes, the
input is first replayed into the run's own topics and the workers run on a fresh app id until
everything is processed and the watermark has drained. Both give the same alerts and the same
states (tests/integration/test_replay.py compares them).

Isolated: every run has its own topics (the configured names behind a per-run prefix) and its own
application id, so a backfill against a cluster that carries live topics never reads or writes
them (never the live outreach topic); a second run never sees the first run's records. The run's
topics are deleted afterwards. Only an explicit ``topic_prefix=""`` uses the configured names.
With no broker configured it starts the embedded one for the run (memory only: the outputs are
written to ``out``). The workers start after the replay has finished producing, in
``drain_when_idle`` mode: they never see a topic go quiet before its input is complete, and once
every source is idle they release all they hold. So the outputs depend only on the files and the
partition count, not on timing or on how many workers share the partitions.
"""

from __future__ import annotations

import os
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import orjson
import structlog

from streams import gc_policy
from streams.core.engine import PartitionState
from streams.core.events import INPUT_KINDS
from streams.core.features import UserState
from streams.kafka.admin import create_topics, delete_app_topics, partition_ends, topic_records
from streams.kafka.app import changelog_topics
from streams.kafka.codecs import user_from_record
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.offline.inline import OUTPUTS, InlineBackfill, state_digest
from streams.offline.progress import Progress
from streams.offline.replay import Replay, ReplayStats, TopicRange
from streams.offline.workers import start_worker, stop_process, wait_until, worker_status
from streams.settings import Settings

log = structlog.get_logger(__name__)


def _drained(statuses: list[dict[str, Any] | None], expected: int) -> bool:
    if any(s is None for s in statuses):
        return False
    received = sum(s["received"] for s in statuses)  # type: ignore[index]
    partitions = [p for s in statuses for p in s["partitions"].values()]  # type: ignore[index]
    return (received >= expected and all(s["unflushed"] == 0 for s in statuses)  # type: ignore[index]
            and all(len(p["idle"]) == len(INPUT_KINDS) and p["buffered"] == 0 for p in partitions))


class BackfillRejected(Exception):
    """Too much of the input was rejected; the message says why, in one line."""


def run_settings(settings: Settings, run_id: str, topic_prefix: str | None = None) -> Settings:
    """The backfill run's own app id and topics: ``<app_id>-backfill-<run>.<topic>`` by default."""
    prefix = f"{settings.app_id}-backfill-{run_id}." if topic_prefix is None else topic_prefix
    topics = {f.name: prefix + getattr(settings, f.name) for f in fields(Settings) if f.name.startswith("topic_")}
    return replace(settings, app_id=f"{settings.app_id}-backfill-{run_id}", drain_when_idle=True, **topics)


def backfill(settings: Settings, files: list[Path], out: Path, workers: int = 0, kind: str | None = None,
             mapping: str | None = None, timeout_s: float = 3600.0, topic_range: TopicRange | None = None,
             topic_prefix: str | None = None) -> dict[str, Any]:
    """Run a backfill and write its outputs to ``out``. ``workers=0``: the engines in this process
    (streams/offline/inline.py; no broker needed, the fastest); ``workers=N``: the input replayed
    into the run's own topics and N worker processes on them. Both give the same outputs."""
    out.mkdir(parents=True, exist_ok=True)
    # A name, not logic: unique per run so that runs never share topics.
    run_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    settings = run_settings(settings, run_id, topic_prefix)
    started = time.monotonic()
    if workers == 0:
        summary = _inline(settings, files, out, kind, mapping, topic_range)
    else:
        summary = _with_workers(settings, files, out, workers, kind, mapping, timeout_s, topic_range, topic_prefix)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["gc"] = gc_policy.describe()  # what the seconds were measured under
    summary["rejected_share"] = round(summary["dead_letters"] / max(summary["replay"]["input_records"], 1), 6)
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    log.info("backfill_done", out=str(out), alerts=summary["alerts"], holdout=summary["holdout"],
             dead_letters=summary["dead_letters"], seconds=summary["seconds"], workers=workers)
    if summary["rejected_share"] > settings.max_rejected_share:
        raise BackfillRejected(
            f"{summary['dead_letters']:,} of {summary['replay']['input_records']:,} input records were dead-lettered "
            f"({summary['rejected_share']:.1%}: {', '.join(f'{n:,} {k}' for k, n in sorted(summary['dead_letter_reasons'].items()))}), "
            f"more than CHURNGUARD_MAX_REJECTED_SHARE={settings.max_rejected_share}; outputs in {out}")
    return summary


def _inline(settings: Settings, files: list[Path], out: Path, kind: str | None, mapping: str | None,
            topic_range: TopicRange | None) -> dict[str, Any]:
    replay = Replay(settings, files, kind, mapping, checkpoint_dir=out, topic_range=topic_range)
    began = time.monotonic()
    records, total, scan = replay.inputs()
    result = InlineBackfill(settings).run(records, total)
    stats = ReplayStats(produced=result.produced, invalid=result.invalid, seconds=time.monotonic() - began, scan=scan)
    counts: dict[str, Any] = {}
    reasons: dict[str, int] = {}
    for name in OUTPUTS:
        values = result.records(name)
        (out / f"{name}.jsonl").write_bytes(b"".join(v + b"\n" for v in values))
        counts[name] = len(values)
        if name == "dead_letters":
            for value in values:
                reason = orjson.loads(value)["reason"]
                reasons[reason] = reasons.get(reason, 0) + 1
    return {"replay": stats.to_dict(), "input_records": sum(result.produced.values()), **counts,
            "dead_letter_reasons": reasons, "counters": result.counters, "workers": 0,
            "partitions": settings.partitions, "partitions_per_worker": [list(range(settings.partitions))],
            "state_digest": result.state_digest}


def _with_workers(settings: Settings, files: list[Path], out: Path, workers: int, kind: str | None,
                  mapping: str | None, timeout_s: float, topic_range: TopicRange | None,
                  topic_prefix: str | None) -> dict[str, Any]:
    broker = None
    if not settings.broker:
        broker = EmbeddedBroker()
        settings = replace(settings, broker=broker.start(), broker_flavor="tansu")
    # Nothing between starting the broker and the try below may raise: the finally stops it.
    procs = []
    try:
        create_topics(settings)
        stats = Replay(settings, files, kind, mapping, checkpoint_dir=out, topic_range=topic_range).run()
        inputs = [settings.topic_clicks, settings.topic_purchases, settings.topic_tickets]
        expected = sum(partition_ends(settings, inputs).values())
        worker_settings = [replace(settings, web_port=free_port(), data_dir=str(out / f"worker-{i}"))
                           for i in range(workers)]
        procs = [start_worker(ws, out / f"worker-{i}.log") for i, ws in enumerate(worker_settings)]
        last: list[dict[str, Any] | None] = []
        with Progress("backfill", expected) as progress:

            def done() -> bool:
                nonlocal last
                last = [worker_status(ws) for ws in worker_settings]
                progress.update(sum(s["received"] for s in last if s))
                return _drained(last, expected)

            if not wait_until(done, timeout_s, interval_s=1.0):
                raise TimeoutError(f"backfill not drained in {timeout_s}s; last status {last}")
        time.sleep(3 * settings.flush_interval_s)  # the last flush's writes
        last = [worker_status(ws) for ws in worker_settings]
        summary = _collect(settings, out, last, stats.to_dict(), expected)
    finally:
        for proc in procs:
            stop_process(proc)
        if broker is not None:
            broker.stop()
        elif topic_prefix != "":
            delete_app_topics(settings)
    return summary


def _collect(settings: Settings, out: Path, statuses: list[dict[str, Any] | None], replay: dict[str, Any],
             expected: int) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    reasons: dict[str, int] = {}
    for name, topic in (("alerts", settings.topic_alerts), ("holdout", settings.topic_holdout),
                        ("dead_letters", settings.topic_dead_letter), ("model_quality", settings.topic_model_quality)):
        records = topic_records(settings, topic)
        with open(out / f"{name}.jsonl", "wb") as f:
            for _, _, value in records:
                f.write(value + b"\n")
                if name == "dead_letters":
                    reason = orjson.loads(value)["reason"]
                    reasons[reason] = reasons.get(reason, 0) + 1
        counts[name] = len(records)
    counts["dead_letter_reasons"] = reasons
    counters: dict[str, int] = {}
    for status in statuses:
        for part in (status or {}).get("partitions", {}).values():
            for k, v in part["counters"].items():
                counters[k] = counters.get(k, 0) + v
    return {"replay": replay, "input_records": expected, **counts, "counters": counters,
            "workers": len(statuses), "partitions": settings.partitions,
            "partitions_per_worker": [sorted(int(p) for p in (s or {}).get("partitions", {})) for s in statuses],
            "state_digest": _changelog_digest(settings)}


def _changelog_digest(settings: Settings) -> str:
    """inline.state_digest of the states the workers wrote: the latest record of each key."""
    user_topic, partition_topic = changelog_topics(settings)
    users: dict[str, UserState] = {}
    for _, _, value in topic_records(settings, user_topic):
        if value is not None:
            user = user_from_record(value)
            users[user.user_id] = user
    partitions: dict[int, PartitionState] = {}
    for _, _, value in topic_records(settings, partition_topic):
        if value is not None:
            state = PartitionState.from_dict(orjson.loads(value))
            partitions[state.partition] = state
    return state_digest(users.values(), partitions.values())
