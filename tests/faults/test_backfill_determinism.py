"""Backfills of the golden files into fresh brokers, through one worker twice, two workers sharing
the partitions, and in process: the same outputs and states byte for byte. Heavy (three worker
backfills, about two minutes), so here rather than in `make test`; the other replay and
backfill tests are in tests/integration/test_replay.py."""

from dataclasses import replace

import orjson
import pytest

from streams.offline.backfill import backfill
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
