"""Backfills of the golden files into fresh brokers, through one worker twice, two workers sharing
the partitions, and in process: the same outputs and states byte for byte; and two backfills (the
files as they are and exported customer by customer) beside live topics. Heavy (five worker
backfills, about four minutes), so here rather than in `make test`; the other replay and backfill
tests are in tests/integration/test_replay.py."""

from dataclasses import replace

import orjson
import pytest

from streams.kafka.admin import topic_records
from streams.offline.backfill import backfill
from streams.offline.replay import Replay
from streams.offline.sources import kind_of_file, merged
from streams.settings import Settings
from tests.golden import INPUTS, canonical, expected_alerts, for_golden
from tests.integration.test_replay import without_emitted_at

pytestmark = pytest.mark.integration


def test_backfills_give_the_golden_alerts_and_states_byte_for_byte_whatever_the_run_and_worker_count(tmp_path):
    """Same files into fresh brokers: twice with one worker, once with two sharing the partitions
    (the same partition count throughout; that is the condition); and in this process, without a
    broker: the same outputs and the same user and partition states as the workers wrote to their
    changelogs."""
    runs = []
    for i, workers in enumerate((1, 1, 2, 0)):
        settings = replace(for_golden(Settings.from_env({})), broker="", data_dir=str(tmp_path / f"data-{i}"))
        summary = backfill(settings, INPUTS, tmp_path / f"run-{i}", workers=workers, timeout_s=300)
        runs.append((tmp_path / f"run-{i}", summary))
    bad_lines = sum(1 for p in INPUTS for r in merged([(p, kind_of_file(p))], {}) if r.error)
    first_dir, first = runs[0]
    assert first["counters"]["applied"] == first["input_records"] and first["dead_letters"] == bad_lines
    alerts = [orjson.loads(line) for name in ("alerts", "holdout") for line in (first_dir / f"{name}.jsonl").read_bytes().splitlines()]
    assert canonical(alerts) == expected_alerts()
    assert all(runs[2][1]["partitions_per_worker"]), "both workers must have owned partitions"
    for out, summary in runs[1:]:
        assert summary["counters"] == first["counters"]
        assert summary["state_digest"] == first["state_digest"]
        for name in ("alerts", "holdout", "model_quality", "dead_letters"):
            # In partition and offset order, byte for byte except the emission time.
            assert without_emitted_at(out / f"{name}.jsonl") == without_emitted_at(first_dir / f"{name}.jsonl"), name


def test_a_backfill_beside_live_topics_leaves_them_untouched_and_any_file_order_gives_the_golden_alerts(
        settings_for, tmp_path):
    """Against a cluster that carries live topics (with a record in each): two backfills, one of the
    golden files and one of the same records exported customer by customer. Both give the golden
    alerts; neither reads or writes a live topic, and each run's own topics are gone afterwards."""
    from kafka.admin import KafkaAdminClient

    from tests.unit.offline.test_sources import shuffled_copies

    live = settings_for("churnguard")
    for topic in (live.topic_alerts, live.topic_clicks, live.topic_dead_letter):
        Replay(replace(live, topic_clicks=topic), [INPUTS[0]], checkpoint_dir=tmp_path / topic).run(limit=3)
    before = {t: topic_records(live, t) for t in (*live.input_topics, live.topic_alerts, live.topic_holdout,
                                                   live.topic_dead_letter, live.topic_model_quality)}
    admin = KafkaAdminClient(bootstrap_servers=live.broker)
    topics_before = set(admin.list_topics())
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for i, files in enumerate((INPUTS, shuffled_copies(shuffled))):
        out = tmp_path / f"run-{i}"
        summary = backfill(for_golden(live), files, out, workers=1, timeout_s=300)
        alerts = [orjson.loads(line) for name in ("alerts", "holdout") for line in (out / f"{name}.jsonl").read_bytes().splitlines()]
        assert canonical(alerts) == expected_alerts(), i
        assert summary["counters"].get("late", 0) == 0 and summary["replay"]["input_records"] == 5071
    assert {t: topic_records(live, t) for t in before} == before
    assert set(admin.list_topics()) == topics_before
    admin.close()
