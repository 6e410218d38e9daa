from streams.core.counters import Counters
from streams.core.features import UserState, apply_event
from streams.core.scoring import ChurnModel
from streams.core.snapshots import Snapshotter
from streams.core.events import DAY_MS
from streams.settings import Settings
from tests.factories import at, click, seeded

CFG = Settings().engine_config()


def test_a_snapshot_keeps_a_pending_label_and_alerts_on_a_tier_crossing_once():
    counters, alerts, moves = Counters({}), [], []
    model = ChurnModel(0, CFG.min_labels)
    seeded(model.rhythm)
    snaps = Snapshotter(model, CFG.policy, CFG.horizon_ms, counters, alerts, lambda *move: moves.append(move[1:]))
    snaps.set_thresholds([["watch", 0.6], ["high", 0.75], ["critical", 0.9]])
    user = UserState("u", 0)
    for day in range(5):
        apply_event(user, click("u", at(day)))
    user.active_days_total = 5
    snaps.take(user, at(5))  # a day after the last click: no risk
    assert alerts == [] and user.tier == 0 and len(user.pending) == 1
    assert moves == [(at(6) // DAY_MS * DAY_MS, -1, user.risk_bin)]  # the population histogram learns where u is
    snaps.take(user, at(60))  # silent for 55 days: the cold start says critical
    assert [a["tier"] for a in alerts] == ["critical"] and user.tier == 3 and user.alert_times == [at(60)]
    assert user.open_alerts == [[at(60), 3]]
    snaps.take(user, at(61))  # still critical: no new crossing; a day later: no new pending label either
    assert len(alerts) == 1 and [p[0] for p in user.pending] == [at(5), at(60)]
    assert counters.values == {"snapshots": 3, "alerts": 1}


def test_the_daily_budget_holds_crossings_back_to_a_later_day():
    counters, alerts = Counters({}), []
    model = ChurnModel(0, CFG.min_labels)
    seeded(model.rhythm)
    snaps = Snapshotter(model, CFG.policy, CFG.horizon_ms, counters, alerts)
    snaps.set_thresholds([["watch", 0.6], ["high", 0.75], ["critical", 0.9]])
    users = [UserState(u, 0) for u in ("a", "b")]
    for user in users:
        for day in range(5):
            apply_event(user, click(user.user_id, at(day)))
    snaps.budget[:] = [60, 0, 1]  # day 60: one alert allowed
    for user in users:
        snaps.take(user, at(60))
    assert [a["user_id"] for a in alerts] == ["a"] and counters.values["suppressed_budget"] == 1
    assert users[1].tier == 0  # not alerted: the crossing is still to come
    snaps.budget[:] = [61, 0, 1]
    snaps.take(users[1], at(61))
    assert [a["user_id"] for a in alerts] == ["a", "b"]
