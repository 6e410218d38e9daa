import math

import orjson

from streams.features import FEATURE_NAMES, KEEP_DAYS, UserState, apply_event, feature_vector
from streams.settings import DAY_MS
from tests.factories import at, click, purchase, ticket


def features(state, t):
    return dict(zip(FEATURE_NAMES, feature_vector(state, t)))


def build(events):
    state = UserState("u1", 0)
    for e in events:
        apply_event(state, e)
    return state


def test_hand_computed_activity_and_recency():
    events = [
        click("u1", at(0), session="a"), click("u1", at(0, 12.1), session="a", action="like"),
        click("u1", at(2), session="b", action="error"),
        click("u1", at(9), session="c"),
        purchase("u1", at(9, 13), amount=30.0, discount=5.0),
        purchase("u1", at(10, 9), amount=10.0),
    ]
    state = build(events)
    f = features(state, at(12))
    assert f["recency_days"] == (at(12) - at(10, 9)) / DAY_MS
    # active days 0, 2, 9, 10 -> gaps 2, 7, 1; EWMA(alpha 0.3) from a 3-day prior
    gap = 3.0
    for g in (2, 7, 1):
        gap += 0.3 * (g - gap)
    assert math.isclose(f["typical_gap_days"], gap)
    assert f["active_days_7"] == 2  # days 9 and 10 (window is days 6..12)
    assert f["active_days_30"] == 4
    assert f["log_clicks_7"] == math.log1p(1)
    assert f["log_clicks_30"] == math.log1p(4)
    assert f["sessions_30"] == 3
    assert f["click_trend_7"] == math.log((1 + 1) / (3 + 1))  # 1 click in days 6..12 vs 3 in days -1..5
    assert f["interactions_30"] == 1 and f["errors_30"] == 1
    assert f["purchases_30"] == 2 and f["discount_share_30"] == 0.5
    assert f["log_spend_30"] == math.log1p(40.0)
    assert f["days_since_purchase"] == (at(12) - at(10, 9)) / DAY_MS
    assert f["log_tenure_days"] == math.log1p(12.0)


def test_support_and_refunds():
    events = [
        click("u1", at(0)),
        ticket("u1", at(1), "opened", "t1"), ticket("u1", at(1, 14), "opened", "t2"),
        ticket("u1", at(3), "resolved", "t1"), ticket("u1", at(4), "reopened", "t1"),
        ticket("u1", at(5), "closed", "t2", csat=1),
        purchase("u1", at(6), status="refunded"),
    ]
    f = features(build(events), at(7))
    assert f["tickets_30"] == 2  # reopen is not a new ticket
    assert f["open_tickets"] == 1  # t1 reopened, t2 closed
    assert f["low_csat"] == 1.0
    assert f["refunds_30"] == 1
    assert f["recency_days"] == (at(7) - at(0)) / DAY_MS  # tickets and refunds are not activity


def test_windows_slide_and_memory_is_bounded():
    state = UserState("u1", 0)
    for day in range(200):
        apply_event(state, click("u1", at(day)))
    assert len(state.days) <= 92
    f = features(state, at(199, 23))
    assert f["active_days_30"] == 30 and f["active_days_7"] == 7
    assert features(state, at(199 + 40))["active_days_30"] == 0
    assert min(state.days) > 199 - 92


def test_state_round_trips_through_its_dict():
    state = build([click("u1", at(0)), purchase("u1", at(1)), ticket("u1", at(2))])
    again = UserState.from_dict(state.to_dict())
    assert again == state and feature_vector(again, at(3)) == feature_vector(state, at(3))


def test_the_90_day_window_keeps_old_buckets_exactly_long_enough():
    daily = [click("u1", at(d)) for d in range(1, 89)]
    state = build([purchase("u1", at(0), amount=40.0), *daily, purchase("u1", at(89), amount=2.0)])
    assert features(state, at(89))["log_spend_90"] == math.log1p(42.0)  # days 0..89, 90 buckets
    assert features(state, at(90))["log_spend_90"] == math.log1p(2.0)  # day 0 left the window
    # Bounded: a user active every day for 200 days keeps at most KEEP_DAYS buckets.
    state = build([click("u1", at(d)) for d in range(200)])
    assert len(state.days) == KEEP_DAYS


def test_state_round_trips_through_its_compact_changelog_form():
    state = build([click("u1", at(0), action="like"), purchase("u1", at(1), amount=12.34, discount=1.0),
                   ticket("u1", at(2), csat=2), purchase("u1", at(3), status="refunded")])
    doc = orjson.loads(orjson.dumps(state.to_dict()))
    assert UserState.from_dict(doc) == state
    assert all(isinstance(v, float) for b in UserState.from_dict(doc).days.values() for v in b)
    assert [1, 1, 1, 1] == doc["d"][0][1:]  # active, 1 click, 1 session, 1 interaction; zeros trimmed
