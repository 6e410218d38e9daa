"""Ten thousand bad records of more than twenty kinds, mixed into a valid stream, change nothing:
the valid events' per-user state, the labels learned and every alert equal a clean run's exactly,
and each bad record ends where its kind says (a dead letter with its reason, or a counted copy)."""

from collections import Counter
from dataclasses import replace

import pytest

from streams.kafka.admin import create_topics, topic_messages
from streams.offline.backfill import run_settings
from streams.offline.simulator import SimConfig, serialise, simulate
from streams.offline.workers import start_worker, stop_process
from tests.faults.bad_records import CANARY, inject
from tests.faults.harness import drained, log_tail, outcome, produce_records

pytestmark = pytest.mark.integration

BAD_RECORDS = 10_000


def run(settings, records, log_path):
    create_topics(settings)
    produce_records(settings, records)
    worker = start_worker(settings, log_path)
    try:
        status = drained(settings, len(records))
        result = outcome(settings)
    finally:
        stop_process(worker)
    assert worker.returncode == 0, log_tail(log_path)
    result["counters"] = Counter()
    for part in status["partitions"].values():
        result["counters"].update(part["counters"])
    result["dead_letter_docs"] = list(topic_messages(settings, settings.topic_dead_letter))
    result["dead_letters"] = Counter(d["reason"] for d in result["dead_letter_docs"])
    result["totals"] = status
    return result


def test_ten_thousand_bad_records_of_twenty_kinds_change_nothing(settings_for, tmp_path):
    # No daily budget: 150 users make about a sixth of an alert a day per partition, and the
    # comparison needs alerts.
    base = replace(settings_for("churnguard-faults"), source_idle_s=1.0, alert_daily_budget_share=1.0)
    cfg = SimConfig(users=150, days=45, seed=17, bad_rate=0.0)
    events, _ = simulate(cfg)
    valid = serialise(events, cfg)
    faulty, expected = inject(valid, BAD_RECORDS, base.partitions)
    assert expected["kinds"] >= 20 and len(faulty) - len(valid) == BAD_RECORDS

    clean = run(run_settings(base, "clean"), [(*r, None, None) for r in valid], tmp_path / "clean.log")
    dirty = run(run_settings(base, "faulty"), faulty, tmp_path / "faulty.log")

    assert clean["counters"]["applied"] == len(valid) and not clean["dead_letters"]
    # The valid events made exactly the same users, features, labels and alerts.
    assert dirty["users"] == clean["users"]
    assert dirty["digest"] == clean["digest"]
    assert dirty["labels"] == clean["labels"]
    assert dirty["alerts"] == clean["alerts"] and clean["alerts"]
    # Every bad record where its kind says: nothing lost, nothing counted twice, no crash.
    assert dirty["counters"]["applied"] == len(valid)
    assert dirty["counters"]["duplicates"] == expected.get("duplicate", 0)
    assert dirty["dead_letters"] == Counter({k: v for k, v in expected.items() if k not in ("duplicate", "kinds")})
    assert dirty["totals"]["dead_letters_failed"] == 0 and dirty["totals"]["offset_gaps"] == 0
    # Log hygiene: records carrying personal data were dead-lettered with their payload, and the
    # worker's log names them by position and rule only.
    assert any(CANARY in d.get("payload", "") for d in dirty["dead_letter_docs"])
    assert CANARY not in (tmp_path / "faulty.log").read_text()
