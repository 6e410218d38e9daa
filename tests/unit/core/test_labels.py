import orjson

from streams.core import labels
from streams.core.features import UserState
from streams.core.events import DAY_MS

H = 30 * DAY_MS
T = 1_000 * DAY_MS


def state_with_snapshot(t=T):
    s = UserState("u1", 0)
    labels.add_snapshot(s, t, [1.0], max_pending=40)
    return s


def test_returning_user_is_labelled_0_but_only_after_the_full_horizon():
    s = state_with_snapshot()
    labels.mark_activity(s, T + 2 * DAY_MS, H)  # back after two days
    assert list(labels.release_due(s, T + 2 * DAY_MS, H)) == []  # no early release of 0s
    assert list(labels.release_due(s, T + H - 1, H)) == []
    assert list(labels.release_due(s, T + H, H)) == [(T, [1.0], 0, 0.0, False)]
    assert s.pending == []


def test_silent_user_is_labelled_1_at_the_same_delay():
    s = state_with_snapshot()
    assert list(labels.release_due(s, T + H - 1, H)) == []
    assert list(labels.release_due(s, T + H, H)) == [(T, [1.0], 1, 0.0, False)]


def test_activity_outside_the_horizon_does_not_count():
    s = state_with_snapshot()
    labels.mark_activity(s, T, H)  # at t itself: not in (t, t + H]
    labels.mark_activity(s, T + H + 1, H)  # after the horizon
    assert list(labels.release_due(s, T + H + 1, H)) == [(T, [1.0], 1, 0.0, False)]


def test_pending_snapshots_are_bounded():
    s = UserState("u1", 0)
    for d in range(100):
        labels.add_snapshot(s, T + d * DAY_MS, [float(d)], max_pending=32)
    assert len(s.pending) == 32 and s.pending[0][0] == T + 68 * DAY_MS


def test_snapshot_features_are_stored_compactly_and_survive_the_changelog():
    state = UserState("u1", 0)
    labels.add_snapshot(state, 0, [3.0, 0.5, 1e20, 0.0], max_pending=4)
    assert state.pending[0][labels.FEATURES] == [3, 0.5, 1e20, 0]
    assert orjson.loads(orjson.dumps(state.to_dict()))["p"][0][labels.FEATURES] == [3, 0.5, 1e20, 0]
