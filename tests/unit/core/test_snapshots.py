from streams.core.counters import Counters
from streams.core.features import UserState, apply_event
from streams.core.scoring import ChurnModel
from streams.core.snapshots import Snapshotter
from streams.settings import Settings
from tests.factories import at, click

CFG = Settings().engine_config()


def test_a_snapshot_keeps_a_pending_label_and_alerts_on_a_tier_crossing_once():
    counters, alerts = Counters({}), []
    snaps = Snapshotter(ChurnModel(0, CFG.min_labels), CFG.policy, CFG.max_pending, counters, alerts)
    user = UserState("u", 0)
    for day in range(5):
        apply_event(user, click("u", at(day)))
    snaps.take(user, at(5))  # a day after the last click: no risk
    assert alerts == [] and user.tier == 0 and len(user.pending) == 1
    snaps.take(user, at(60))  # silent for 55 days, ~55x the usual gap: the heuristic says critical
    assert [a["tier"] for a in alerts] == ["critical"] and user.tier == 3 and user.alert_times == [at(60)]
    assert user.open_alerts == [[at(60), 3]]
    snaps.take(user, at(61))  # still critical: no new crossing
    assert len(alerts) == 1
    assert counters.values == {"snapshots": 3, "alerts": 1}
