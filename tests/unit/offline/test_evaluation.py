from dataclasses import replace

import pytest
from hypothesis import given, strategies as st

from streams.offline.evaluation import _curves, active_within, alert_figures, evaluate, exact_auc, point_in_time, recency_ms
from streams.offline.runner import CutScores, OfflineRun
from streams.kafka.partitioner import kafka_partition
from streams.core.features import UserState, apply_event, feature_vector
from streams.settings import Settings
from streams.core.events import DAY_MS
from streams.offline.simulator import SimConfig, as_events, serialise, simulate
from streams.offline.sources import kind_of_file, merged, write_events
from tests.unit.core.test_quality import exact_auc as pairwise_auc

H = 30 * DAY_MS


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5).map(float)), min_size=2, max_size=40))
def test_rank_auc_equals_the_pairwise_definition(pairs):
    labels, scores = [y for y, _ in pairs], [s for _, s in pairs]
    auc = exact_auc(labels, scores)
    if 0 < sum(labels) < len(labels):
        assert abs(auc - pairwise_auc(pairs)) < 1e-9
    else:
        assert auc is None


def test_a_nan_score_is_refused_rather_than_ranked_forever():
    # NaN equals nothing, itself included: the tie loop never advanced (a benchmark hung for minutes).
    with pytest.raises(ValueError, match="NaN"):
        exact_auc([0, 1, 1], [0.2, float("nan"), 0.4])


def test_recency_is_the_time_since_the_last_activity_at_or_before_the_cut():
    times = [10, 20, 30]
    assert [recency_ms(times, cut) for cut in (20, 25, 100)] == [0, 5, 70]
    assert recency_ms(times, 5) > recency_ms(times, 100) - 100 and recency_ms([], 50) == 51  # none: the longest
    assert recency_ms(times, 5) == 6 > recency_ms(times, 10)  # nothing before the cut ranks above a fresh one


def test_the_report_ranks_the_same_users_by_silence_alone_beside_the_model(tmp_path):
    cfg = SimConfig(users=150, days=100, seed=4, bad_rate=0.0)
    raw, _ = simulate(cfg)
    write_events(tmp_path / "inputs", serialise(raw, cfg))
    inputs = sorted((tmp_path / "inputs").glob("*.jsonl"))
    summary = evaluate(merged([(p, kind_of_file(p)) for p in inputs], {}), [], tmp_path, Settings())
    pit = summary["point_in_time"]
    assert pit["recency_baseline"]["n"] == pit["pooled"]["n"] > 0 and pit["pooled"]["churned"] > 0
    # In the simulator churners fall silent: silence alone ranks them well above chance.
    assert pit["recency_baseline"]["roc_auc"] > 0.6
    assert all(c["recency_roc_auc"] is None or 0.5 < c["recency_roc_auc"] <= 1 for c in pit["cuts"])
    assert "calibration" not in pit["recency_baseline"]  # milliseconds of silence are no probability
    assert pit["pooled"]["calibration"]
    # An export newest first, as some tools write them: the same figures.
    for path in inputs:
        path.write_bytes(b"".join(reversed(path.read_bytes().splitlines(keepends=True))))
    backwards = evaluate(merged([(p, kind_of_file(p)) for p in inputs], {}), [], tmp_path, Settings())
    assert backwards["point_in_time"] == pit


def test_active_within_is_a_half_open_interval():
    times = [10, 20, 30]
    assert active_within(times, 10, 19) is False and active_within(times, 9, 10) is True
    assert active_within(times, 30, 100) is False and active_within([], 0, 100) is False


def test_partitioning_matches_kafkas_default_partitioner():
    # Partitions the Java client's default partitioner gives these keys with 1,000 partitions.
    java = {"": 681, "a": 524, "ab": 434, "abc": 107, "123456789": 566}
    assert {key: kafka_partition(key, 1000) for key in java} == java


def test_point_in_time_scores_see_only_the_past_and_labels_only_the_future():
    raw, _ = simulate(SimConfig(users=50, days=70, seed=9, bad_rate=0.0))
    events = as_events(raw)
    cut = (events[0].ts // DAY_MS + 35) * DAY_MS
    cfg = replace(Settings().engine_config(), min_labels=200)
    run = OfflineRun(cfg, cuts=(cut,)).feed(events)
    rows = run.scores[cut].rows
    assert len(rows) >= 40
    # The same cut from a run that never saw anything after it (one event just after the cut moves
    # event time past it): the same rows, so nothing after the cut reached a score.
    from tests.factories import click

    past = [e for e in events if e.ts < cut] + [click(f"sentinel-{i}", cut + 3 * 3_600_000) for i in range(40)]  # every partition, past the lateness
    blind = OfflineRun(cfg, cuts=(cut,)).feed(past)
    assert sorted(blind.scores[cut].rows) == sorted(rows)
    figures = point_in_time(run.scores[cut], {"u": []}, H)
    assert figures["all_known"]["churned"] == len(rows)  # nobody has activity in this index


def test_point_in_time_labels():
    cut = CutScores(100 * DAY_MS, [("a", 0.9, 0.9, True), ("b", 0.2, 0.1, True), ("c", 0.8, 0.5, False)])
    activity = {"b": [100 * DAY_MS + 1], "c": [131 * DAY_MS]}
    f = point_in_time(cut, activity, H)
    assert f["recently_active"] == {"users": 2, "churned": 1, "roc_auc": 1.0, "heuristic_roc_auc": 1.0}
    assert f["all_known"]["churned"] == 2


def test_curves_on_a_hand_example():
    c = _curves([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert c["roc_auc"] == 0.75
    assert c["roc"] == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    assert c["precision_recall"][0] == (0.5, 1.0)
    assert c["calibration"][-1] == {"bucket": "0.9-1.0", "n": 1, "mean_score": 0.9, "churn_rate": 1.0}


TRUTH = {"a": {"churned": True, "churn_ts": 10 * DAY_MS}, "b": {"churned": True, "churn_ts": 10 * DAY_MS},
         "c": {"churned": False, "churn_ts": None}, "d": {"churned": True, "churn_ts": 0}}


def alert(user, day, tier):
    return {"user_id": user, "ts": day * DAY_MS, "tier": tier}


def test_figures_per_tier_and_lead_time_to_the_churn_confirmation():
    alerts = [alert("a", 15, "watch"), alert("a", 20, "high"), alert("c", 5, "watch"), alert("b", 45, "watch")]
    f = alert_figures(alerts, TRUTH, H, ("watch", "high", "critical"))
    assert f["by_tier"]["watch"] == {"alerts": 3, "users": 3, "to_churners": 2, "churner_share": 0.6667}
    assert f["by_tier"]["critical"] == {"alerts": 0, "users": 0, "to_churners": 0, "churner_share": None}
    assert (f["alerted_users"], f["alerted_users_churned"], f["churners"]) == (3, 2, 3)
    # a: first alert day 15, confirmed at day 40 -> 25 days ahead; b alerted after its confirmation (day 40).
    assert (f["churners_caught_in_time"], f["median_lead_days"]) == (1, 25.0)
