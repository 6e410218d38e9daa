import pytest

from streams.core.counters import Counters
from streams.core.features import UserState, apply_event, compact_numbers
from streams.core.scoring import ChurnModel
from streams.core.snapshots import Snapshotter, scoring_inputs
from streams.core.events import DAY_MS
from streams.settings import Settings
from tests.factories import at, click, seeded

CFG = Settings().engine_config()


def _snapshotter(moves: list | None = None) -> tuple[Snapshotter, Counters, list]:
    """A snapshotter on the seeded rhythm (risk climbs over a few weeks of silence), fixed tiers."""
    counters, alerts = Counters({}), []
    model = ChurnModel(0, CFG.min_labels)
    seeded(model.rhythm)
    on_risk = (lambda *move: moves.append(move[1:])) if moves is not None else (lambda *_: None)
    snaps = Snapshotter(model, CFG.policy, CFG.horizon_ms, counters, alerts, on_risk)
    snaps.set_thresholds([["watch", 0.6], ["high", 0.75], ["critical", 0.9]])
    return snaps, counters, alerts


def test_a_snapshot_keeps_a_pending_label_and_alerts_on_a_tier_crossing_once():
    moves = []
    snaps, counters, alerts = _snapshotter(moves)
    user = UserState("u", 0)
    for day in range(5):
        apply_event(user, click("u", at(day)))
    user.active_days_total = 5
    snaps.take(user, at(5))  # a day after the last click: no risk
    assert alerts == [] and user.tier == 0 and len(user.pending) == 1
    assert moves == [(at(6) // DAY_MS * DAY_MS, -1, user.risk_bin)]  # the population histogram learns where u is
    snaps.take(user, at(29))  # silent for 25 days: the cold start says critical
    assert [a["tier"] for a in alerts] == ["critical"] and user.tier == 3 and user.alert_times == [at(29)]
    assert user.open_alerts == [[at(29), 3]]
    snaps.take(user, at(30))  # still critical: no new crossing; a day later: no new pending label either
    assert len(alerts) == 1 and [p[0] for p in user.pending] == [at(5), at(29)]
    assert counters.values == {"snapshots": 3, "alerts": 1}


@pytest.mark.parametrize("model_serves", [False, True])
def test_labels_and_alerts_keep_the_inputs_scored_whoever_serves(model_serves):
    """A snapshot computes the features only when something reads them (the model's score, a
    pending label, an alert's reasons): what it keeps and explains are the inputs at t either way."""
    snaps, _, alerts = _snapshotter()
    model = snaps.model
    if model_serves:  # trained, and better than the cold start on its latest labels
        model.labels, model.log_loss = [CFG.min_labels] * 2, {"model": 0.0, "cold_start": 1.0}
    assert model.ready is model_serves
    user = UserState("u", 0)
    for day in range(5):
        apply_event(user, click("u", at(day)))
    user.active_days_total = 5
    labelled = explained = 0
    for day in (5, 6, 9, 13, 14, 29, 30, 38):
        t = at(day)
        inputs, pending, sent = scoring_inputs(user, t, model, CFG.horizon_ms), len(user.pending), len(alerts)
        score = model.score(inputs, user.attributes)
        snaps.take(user, t)
        assert score.kind == ("river_logreg" if model_serves else "heuristic")
        if len(user.pending) > pending:
            assert user.pending[-1][2] == compact_numbers(inputs) and user.pending[-1][3] == round(score.risk, 6)
            labelled += 1
        if len(alerts) > sent:
            expected = model.explain(inputs, score, user.attributes)
            assert alerts[-1]["reasons"] == [r.to_dict() for r in expected.reasons]
            explained += 1
    assert labelled >= 2 and explained >= 1


def test_a_user_silent_for_the_horizon_has_churned_so_leaves_the_tiers_and_gets_no_alert():
    moves = []
    snaps, counters, alerts = _snapshotter(moves)
    user = UserState("u", 0)
    for day in range(5):
        apply_event(user, click("u", at(day)))
    snaps.take(user, at(5))
    live_bin = user.risk_bin
    snaps.take(user, at(4) + CFG.horizon_ms)  # silent for exactly H: churned by the label's definition
    assert alerts == [] and user.tier == 0 and user.risk_bin == -1
    assert moves[-1][1:] == (live_bin, -1)  # out of the population the tiers are drawn from
    assert len(user.pending) == 2  # still scored and labelled: the model learns long silences too
    apply_event(user, click("u", at(40)))  # back: a customer again, from level 0
    snaps.take(user, at(40))
    assert user.risk_bin >= 0 and moves[-1][1:] == (-1, user.risk_bin)


def test_the_daily_budget_holds_crossings_back_to_a_later_day():
    snaps, counters, alerts = _snapshotter()
    users = [UserState(u, 0) for u in ("a", "b")]
    for user in users:
        for day in range(5):
            apply_event(user, click(user.user_id, at(day)))
    snaps.budget[:] = [25, 0, 1]  # day 25: one alert allowed
    for user in users:
        snaps.take(user, at(25))
    assert [a["user_id"] for a in alerts] == ["a"] and counters.values["suppressed_budget"] == 1
    assert users[1].tier == 0  # not alerted: the crossing is still to come
    snaps.budget[:] = [26, 0, 1]
    snaps.take(users[1], at(26))
    assert [a["user_id"] for a in alerts] == ["a", "b"]


def test_a_boundarys_budget_goes_to_the_highest_priorities_whatever_the_user_order():
    snaps, counters, alerts = _snapshotter()
    snaps.set_thresholds([["watch", 0.3], ["high", 0.75], ["critical", 0.9]])
    users = {}
    for name, last_day in (("a", 14), ("b", 4), ("c", 9)):  # at day 25: silent 11, 21 and 16 days
        users[name] = UserState(name, 0)
        apply_event(users[name], click(name, at(last_day)))
    snaps.budget[:] = [25, 0, 2]
    for name in sorted(users):
        snaps.take(users[name], at(25), ranked=True)
    assert alerts == []  # held until the boundary's crossings are all known
    snaps.settle_ranked()
    assert [a["user_id"] for a in alerts] == ["b", "c"]  # the longest silences: the highest risks
    assert users["a"].tier == 0 and counters.values["suppressed_budget"] == 1
