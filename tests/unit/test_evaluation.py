from dataclasses import replace

from hypothesis import given, strategies as st

from streams.engine import EngineConfig
from streams.evaluation import CutScores, OfflineRun, active_within, exact_auc, kafka_partition, point_in_time
from streams.features import UserState, apply_event, feature_vector
from streams.settings import DAY_MS, Settings
from streams.simulator import SimConfig, as_events, simulate
from tests.unit.test_quality import exact_auc as pairwise_auc

H = 30 * DAY_MS


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5).map(float)), min_size=2, max_size=40))
def test_rank_auc_equals_the_pairwise_definition(pairs):
    labels, scores = [y for y, _ in pairs], [s for _, s in pairs]
    auc = exact_auc(labels, scores)
    if 0 < sum(labels) < len(labels):
        assert abs(auc - pairwise_auc(pairs)) < 1e-9
    else:
        assert auc is None


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
    cfg = replace(EngineConfig.from_settings(Settings()), min_labels=200)
    run = OfflineRun(cfg, cuts=(cut,)).feed(events)
    rows = run.scores[cut].rows
    assert len(rows) >= 40
    # Recompute the heuristic score of each user from exactly the events before the cut.
    from streams.scoring import heuristic_risk
    for uid, _, heuristic, _ in rows:
        fresh = UserState(uid)
        for e in sorted((e for e in events if e.user_id == uid and e.ts < cut), key=lambda e: e.sort_key):
            apply_event(fresh, e)
        assert heuristic_risk(feature_vector(fresh, cut))[0] == heuristic
    figures = point_in_time(run.scores[cut], {"u": []}, H)
    assert figures["all_known"]["churned"] == len(rows)  # nobody has activity in this index


def test_point_in_time_labels():
    cut = CutScores(100 * DAY_MS, [("a", 0.9, 0.9, True), ("b", 0.2, 0.1, True), ("c", 0.8, 0.5, False)])
    activity = {"b": [100 * DAY_MS + 1], "c": [131 * DAY_MS]}
    f = point_in_time(cut, activity, H)
    assert f["recently_active"] == {"users": 2, "churned": 1, "roc_auc": 1.0, "heuristic_roc_auc": 1.0}
    assert f["all_known"]["churned"] == 2
