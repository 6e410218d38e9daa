from streams.report import alert_figures
from streams.settings import DAY_MS

H = 30 * DAY_MS
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
