import random

from hypothesis import given, strategies as st

from streams import contracts
from streams.core.quality import Quality, ScoreHistogram


def exact_auc(pairs):
    pos = [s for y, s in pairs if y]
    neg = [s for y, s in pairs if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 99).map(lambda b: b / 100 + 0.005)), min_size=2, max_size=60))
def test_histogram_auc_equals_the_exact_auc_for_scores_in_distinct_bins(pairs):
    h = ScoreHistogram()
    for y, s in pairs:
        h.add(y, s)
    if all(y for y, _ in pairs) or not any(y for y, _ in pairs):
        assert h.auc() is None
    else:
        assert abs(h.auc() - exact_auc(pairs)) < 1e-9


def test_precision_recall_at_thresholds_and_calibration():
    h = ScoreHistogram()
    for y, s in [(1, 0.95), (1, 0.8), (0, 0.7), (1, 0.65), (0, 0.3), (0, 0.1), (1, 0.05)]:
        h.add(y, s)
    assert h.at_threshold(0.75) == {"threshold": 0.75, "flagged": 2, "precision": 1.0, "recall": 0.5}
    assert h.at_threshold(0.6) == {"threshold": 0.6, "flagged": 4, "precision": 0.75, "recall": 0.75}
    cal = h.calibration()
    assert [c["n"] for c in cal] == [1, 1, 0, 1, 0, 0, 1, 1, 1, 1]
    assert [cal[i]["positive_rate"] for i in (0, 2, 6, 7)] == [1.0, None, 1.0, 0.0]
    # Decile gaps |churn share - mean score| weighted by count: 0.05 vs 1, 0.1 vs 0, 0.3 vs 0,
    # 0.65 vs 1, 0.7 vs 0, 0.8 vs 1, 0.95 vs 1 (mid-bin scores: +0.005 each).
    gaps = [1 - 0.055, 0.105, 0.305, 1 - 0.655, 0.705, 1 - 0.805, 1 - 0.955]
    assert h.calibration_error() == round(sum(gaps) / 7, 4)
    assert ScoreHistogram().calibration_error() is None
    merged = h.merge(h)
    assert merged.n == 14 and merged.auc() == h.auc()
    assert ScoreHistogram.from_dict(h.to_dict()) == h


def test_drift_is_detected_when_the_error_regime_changes_and_not_before():
    rng = random.Random(3)
    q = Quality()
    fired = []
    for i in range(6000):
        y = int(rng.random() < 0.3)
        good = min(max(0.7 * y + 0.15 + rng.gauss(0, 0.1), 0.0), 1.0)
        bad = min(max(0.7 * (1 - y) + 0.15 + rng.gauss(0, 0.1), 0.0), 1.0)  # the world flipped
        if q.update(y, good if i < 4000 else bad, by_model=True):
            fired.append(i)
    assert fired and fired[0] >= 4000 and fired[0] < 4300
    assert q.since_drift.n < 2000 and q.total.n == 6000


def test_heuristic_scores_are_measured_but_do_not_feed_the_drift_detector():
    q = Quality()
    for i in range(3000):
        assert not q.update(i % 2, 0.0 if i < 1500 else 1.0, by_model=False)
    assert q.total.n == 3000


def test_the_engine_publishes_valid_quality_events(tmp_path):
    from tests.unit.core.test_engine import Run
    from streams.offline.simulator import SimConfig, as_events, simulate

    events, _ = simulate(SimConfig(users=40, days=70, seed=4, bad_rate=0.0))
    run = Run()
    for e in as_events(events):
        run.offer(e)
    docs = run.quality
    assert len(docs) >= 30  # one per day boundary that released labels
    for doc in docs:
        contracts.validate("model_quality", {**doc, "emitted_at": 0})
    assert [d["ts"] for d in docs] == sorted(d["ts"] for d in docs)
    assert docs[-1]["progressive"]["n"] == docs[-1]["labels"]["learned"]
