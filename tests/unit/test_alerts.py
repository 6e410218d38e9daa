from streams.alerts import alert_id, build_alert, level_for, next_level
from streams.scoring import Reason, Score

TIERS = (("watch", 0.6), ("high", 0.75), ("critical", 0.9))


def test_levels():
    assert [level_for(r, TIERS) for r in (0.1, 0.6, 0.74, 0.75, 0.95)] == [0, 1, 1, 2, 3]


def test_crossing_upward_fires_once_then_rearms_below_the_margin():
    level, fired = next_level(0, 0.65, TIERS, 0.1)
    assert (level, fired) == (1, True)
    assert next_level(level, 0.62, TIERS, 0.1) == (1, False)  # still above: no repeat
    assert next_level(level, 0.55, TIERS, 0.1) == (1, False)  # inside the margin: not re-armed
    level, fired = next_level(level, 0.49, TIERS, 0.1)
    assert (level, fired) == (0, False)  # re-armed
    assert next_level(level, 0.61, TIERS, 0.1) == (1, True)


def test_escalation_fires_and_a_jump_skips_to_the_highest_tier():
    assert next_level(1, 0.8, TIERS, 0.1) == (2, True)
    assert next_level(0, 0.95, TIERS, 0.1) == (3, True)
    assert next_level(3, 0.7, TIERS, 0.1) == (2, False)  # fell below critical - margin


def test_alert_document_and_deterministic_id():
    score = Score(0.8, "heuristic", "heuristic-v1-p0-n0", (Reason("recency_ratio", 9.0, 0.8, "silent"),))
    doc = build_alert("u1", 123, score, 2, 1, TIERS)
    assert doc["alert_id"] == alert_id("u1", 2, 123) == build_alert("u1", 123, score, 2, 1, TIERS)["alert_id"]
    assert doc["alert_id"] != alert_id("u1", 2, 124)
    assert doc["tier"] == "high" and doc["previous_tier"] == "watch" and doc["threshold"] == 0.75
