from dataclasses import replace

import pytest
from hypothesis import given, strategies as st

from streams.core.alerts import AlertPolicy, alert_id, arm, build_alert, daily_budget, decide, level_for
from streams.core.scoring import Reason, Score
from streams.settings import Settings, load_action_table
from streams.core.events import DAY_MS

TIERS = (("watch", 0.6), ("high", 0.75), ("critical", 0.9))
ACTIONS = load_action_table(Settings().actions_file)
POLICY = AlertPolicy(TIERS, 0.1, 7 * DAY_MS, 3, 30 * DAY_MS, 10.0, 0.1, "salt", ACTIONS)
NOW = 1_000 * DAY_MS


def test_levels():
    assert [level_for(r, TIERS) for r in (0.1, 0.6, 0.74, 0.75, 0.95)] == [0, 1, 1, 2, 3]


def test_crossing_upward_fires_once_then_rearms_below_the_margin():
    d = decide(POLICY, 0, [], 0.65, NOW)
    assert (d.level, d.fire) == (1, True)
    assert decide(POLICY, 1, [NOW], 0.62, NOW + DAY_MS) == decide(POLICY, 1, [NOW], 0.55, NOW + DAY_MS)
    assert decide(POLICY, 1, [NOW], 0.55, NOW + DAY_MS).level == 1  # inside the margin: not re-armed
    assert decide(POLICY, 1, [NOW], 0.49, NOW + DAY_MS).level == 0  # re-armed
    assert decide(POLICY, 0, [NOW], 0.61, NOW + 8 * DAY_MS).fire  # after the cool-down


def test_cooldown_blocks_a_repeat_but_not_an_escalation():
    repeat = decide(POLICY, 0, [NOW], 0.65, NOW + 3 * DAY_MS)
    assert (repeat.fire, repeat.suppressed, repeat.level) == (False, "cooldown", 0)
    escalation = decide(POLICY, 1, [NOW], 0.8, NOW + DAY_MS)
    assert (escalation.fire, escalation.level) == (True, 2)
    assert decide(POLICY, 0, [NOW], 0.95, NOW + DAY_MS).level == 0  # a jump from 0 is no escalation
    assert decide(POLICY, 1, [NOW], 0.95, NOW + DAY_MS).level == 3


def test_cap_per_period():
    times = [NOW, NOW + 8 * DAY_MS, NOW + 16 * DAY_MS]
    capped = decide(POLICY, 0, times, 0.7, NOW + 25 * DAY_MS)
    assert (capped.fire, capped.suppressed) == (False, "cap")
    assert decide(POLICY, 0, times, 0.7, NOW + 31 * DAY_MS).fire  # the oldest left the period


def test_holdout_arm_is_stable_and_near_its_share():
    arms = [arm(f"u{i}", 0.1, "salt") for i in range(20_000)]
    assert arms == [arm(f"u{i}", 0.1, "salt") for i in range(20_000)]
    assert 0.09 < arms.count("control") / len(arms) < 0.11
    assert [arm(f"u{i}", 0.1, "other") for i in range(200)] != arms[:200]


@pytest.mark.parametrize("feature, value, expected", [
    ("open_tickets", 0.0, ("service_recovery", "phone")),
    ("discount_share_30", 10.0, ("targeted_offer", "email")),
    ("recency_ratio", 0.0, ("re_engagement", "app_push")),
    ("log_tenure_days", 0.0, ("onboarding_guidance", "in_app")),
    ("recency_ratio", 400.0, ("personal_contact", "phone")),
])
def test_action_follows_the_top_reason_and_the_value(feature, value, expected):
    score = Score(0.8, "river_logreg", "v", (Reason(feature, 1.0, 0.5, "t"),))
    doc = build_alert(POLICY, "u1", NOW, score, 2, 1, value)
    assert (doc["action"]["kind"], doc["action"]["channel"]) == expected
    assert doc["priority"] == round(0.8 * (value + 10.0), 4)


def test_alert_document_and_deterministic_id():
    score = Score(0.8, "heuristic", "heuristic-v1-p0-n0", (Reason("recency_ratio", 9.0, 0.8, "silent"),))
    doc = build_alert(POLICY, "u1", 123, score, 2, 1, 0.0)
    assert doc["alert_id"] == alert_id("u1", 2, 123) == build_alert(POLICY, "u1", 123, score, 2, 1, 0.0)["alert_id"]
    assert doc["alert_id"] != alert_id("u1", 2, 124)
    assert doc["tier"] == "high" and doc["previous_tier"] == "watch" and doc["threshold"] == 0.75
    assert doc["arm"] == arm("u1", 0.1, "salt")


def test_action_table_must_cover_every_driver(tmp_path):
    path = tmp_path / "actions.toml"
    path.write_text('[high_value]\nmin_value = 1\naction = "a"\nchannel = "b"\n[drivers.price]\naction = "x"\nchannel = "y"\n')
    with pytest.raises(ValueError, match="engagement"):
        load_action_table(path)
    assert replace(POLICY, holdout_share=0.0).holdout_share == 0.0


def test_an_unsubscribed_user_gets_no_alert_and_the_crossing_is_counted_once():
    d = decide(POLICY, 0, [], 0.8, NOW, unsubscribed=True)
    assert (d.fire, d.suppressed, d.level) == (False, "unsubscribed", 2)
    again = decide(POLICY, d.level, [], 0.85, NOW + DAY_MS, unsubscribed=True)
    assert (again.fire, again.suppressed) == (False, "")


# Days up to the contracts' latest event time (year 3000) and shops of up to ten million customers.
@given(st.floats(0.0, 1.0), st.integers(0, 10_000_000), st.integers(0, 32_503_680_000_000 // 86_400_000),
       st.integers(1, 400))
def test_the_daily_budget_spends_the_share_exactly_over_any_run_of_days(share, customers, start, days):
    budgets = [daily_budget(share, customers, day) for day in range(start, start + days)]
    assert min(budgets) >= 0
    assert abs(sum(budgets) - share * customers * days) < 1 + 1e-6 * share * customers * days


def test_a_small_partition_gets_an_alert_every_few_days_not_one_a_day():
    # 40 customers at 0.5 % a day: one alert every five days. A floor of one alert a day let a
    # shop of a few hundred customers alert over a third of them in 30 days.
    month = [daily_budget(0.005, 40, day) for day in range(20_000, 20_030)]
    assert sum(month) == 6 and max(month) == 1
    assert daily_budget(0.005, 0, 20_000) == 0 and daily_budget(1.0, 37, 20_000) == 37
