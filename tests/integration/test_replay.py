"""Replay and backfill on the embedded broker: golden output, determinism, exact resume."""

from dataclasses import replace

import orjson
import pytest

from streams.offline.backfill import backfill
from streams.kafka.admin import topic_records
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.admin import create_topics
from streams.kafka.partitioner import kafka_partition
from streams.offline.replay import Replay, TopicRange
from streams.settings import Settings
from streams.offline.sources import kind_of_file, merged
from tests.golden import INPUTS, for_golden

pytestmark = pytest.mark.integration


def without_emitted_at(path):
    out = []
    for line in path.read_bytes().splitlines():
        doc = orjson.loads(line)
        doc.pop("emitted_at", None)
        out.append(orjson.dumps(doc))
    return out


def test_a_purchase_only_export_backfills_the_same_in_process_and_through_a_worker(tmp_path):
    """A log of one kind only (most business exports): the worker sees the other topics empty and
    idle, the in-process run declares sources idle at its flush points; both must release the
    same events at the same boundaries."""
    purchases = [INPUTS[1]]
    runs = []
    for i, workers in enumerate((1, 0)):
        settings = replace(for_golden(Settings.from_env({})), broker="", data_dir=str(tmp_path / f"data-{i}"))
        runs.append((tmp_path / f"run-{i}", backfill(settings, purchases, tmp_path / f"run-{i}", workers=workers, timeout_s=300)))
    (worker_dir, worker), (inline_dir, inline) = runs
    assert worker["alerts"] > 0 and worker["counters"] == inline["counters"] and worker["counters"].get("late", 0) == 0
    assert worker["state_digest"] == inline["state_digest"]
    for name in ("alerts", "holdout", "model_quality"):
        assert without_emitted_at(inline_dir / f"{name}.jsonl") == without_emitted_at(worker_dir / f"{name}.jsonl"), name


def test_an_interrupted_replay_resumes_without_duplicates(settings_for, tmp_path):
    settings = settings_for("churnguard-replay")
    first = Replay(settings, INPUTS, checkpoint_dir=tmp_path).run(limit=1500)
    assert first.records == 1500
    rest = Replay(settings, INPUTS, checkpoint_dir=tmp_path).run()
    assert rest.skipped == 1500 and first.records + rest.records == sum(1 for _ in merged([(p, kind_of_file(p)) for p in INPUTS], {}))
    again = Replay(settings, INPUTS, checkpoint_dir=tmp_path).run()
    assert again.records == 0  # already complete: nothing is sent twice

    # Each partition holds exactly the files' records, in the merged order, once.
    for path in INPUTS:
        kind = kind_of_file(path)
        topic = {"click": settings.topic_clicks, "purchase": settings.topic_purchases,
                 "support_ticket": settings.topic_tickets}[kind]
        expected: dict[int, list[bytes]] = {}
        for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}):
            if r.error is None and r.kind == kind:
                expected.setdefault(kafka_partition(r.user_id, settings.partitions), []).append(r.value)
        landed: dict[int, list[bytes]] = {}
        for partition, _, value in topic_records(settings, topic):
            landed.setdefault(partition, []).append(value)
        assert landed == expected


def test_a_topic_range_replays_onto_another_cluster(settings_for, tmp_path):
    source = settings_for("churnguard-source")
    Replay(source, INPUTS, checkpoint_dir=tmp_path / "a").run()
    inputs = (source.topic_clicks, source.topic_purchases, source.topic_tickets)
    with EmbeddedBroker() as other:
        target = replace(source, broker=other.bootstrap)
        create_topics(target)
        stats = Replay(target, checkpoint_dir=tmp_path / "b", topic_range=TopicRange(source, inputs)).run()
        for topic in inputs:
            assert topic_records(target, topic) == topic_records(source, topic)  # same partitions, same order
        assert stats.records == sum(len(topic_records(source, t)) for t in inputs)

        # A time window of one day, into a third set of topics on the same target cluster.
        day = replace(target, topic_clicks="day.clicks", topic_purchases="day.purchases", topic_tickets="day.tickets")
        create_topics(day)
        window = TopicRange(source, inputs, "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z")
        Replay(day, checkpoint_dir=tmp_path / "c", topic_range=window).run()
        lo, hi = TopicRange.bound(window.start)[1], TopicRange.bound(window.end)[1]
        expected = [v for t in inputs for _, _, v in topic_records(source, t) if lo <= orjson.loads(v)["ts"] < hi]
        got = [v for t in ("day.clicks", "day.purchases", "day.tickets") for _, _, v in topic_records(day, t)]
        assert sorted(got) == sorted(expected) and len(got) > 50


def test_pacing_follows_event_time_at_the_requested_speed(settings_for, tmp_path):
    """Functional, not a benchmark: a paced replay may not run ahead of event time x speed."""
    settings = settings_for("churnguard-paced")
    valid = [r for r in merged([(p, kind_of_file(p)) for p in INPUTS], {}) if r.error is None]
    span_s = (valid[-1].ts - valid[0].ts) / 1000
    speed = span_s / 3.0  # the whole fixture in three seconds
    stats = Replay(settings, INPUTS, checkpoint_dir=tmp_path, speed=speed).run()
    assert stats.seconds >= 3.0 * 0.95


def test_a_partition_without_users_holds_no_other_back_through_a_worker(tmp_path):
    """One life table for all partitions (streams/core/peers.py): a partition with nothing to read
    says it is idle, so the three others do not wait for it; the worker then gives what the
    in-process run gives."""
    inputs = []
    for path in INPUTS:
        kept = []
        for line in path.read_bytes().splitlines():
            try:
                user = orjson.loads(line)["user_id"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            if kafka_partition(str(user), 4) != 3:
                kept.append(line)
        inputs.append(tmp_path / path.name)
        inputs[-1].write_bytes(b"\n".join(kept) + b"\n")
    runs = []
    for i, workers in enumerate((1, 0)):
        settings = replace(for_golden(Settings.from_env({})), broker="", data_dir=str(tmp_path / f"data-{i}"))
        assert settings.partitions == 4 and settings.peer_lag_days > 0
        runs.append((tmp_path / f"run-{i}", backfill(settings, inputs, tmp_path / f"run-{i}", workers=workers, timeout_s=300)))
    (worker_dir, worker), (inline_dir, inline) = runs
    assert worker["alerts"] > 0 and worker["counters"] == inline["counters"]
    assert worker["state_digest"] == inline["state_digest"]
    for name in ("alerts", "holdout", "model_quality"):
        assert without_emitted_at(inline_dir / f"{name}.jsonl") == without_emitted_at(worker_dir / f"{name}.jsonl"), name
