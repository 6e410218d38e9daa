import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

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
    assert list(labels.release_due(s, T + H, H)) == [(T, [1.0], 0, 0.0, False, {})]
    assert s.pending == []


def test_silent_user_is_labelled_1_at_the_same_delay():
    s = state_with_snapshot()
    assert list(labels.release_due(s, T + H - 1, H)) == []
    assert list(labels.release_due(s, T + H, H)) == [(T, [1.0], 1, 0.0, False, {})]


def test_activity_outside_the_horizon_does_not_count():
    s = state_with_snapshot()
    labels.mark_activity(s, T, H)  # at t itself: not in (t, t + H]
    labels.mark_activity(s, T + H + 1, H)  # after the horizon
    assert list(labels.release_due(s, T + H + 1, H)) == [(T, [1.0], 1, 0.0, False, {})]


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


def test_a_label_carries_the_attributes_the_user_had_when_scored():
    """Learned with later attributes, a label would depend on when it is released, and a restart
    releases some again from a user state written ahead (tests/unit/core/test_engine.py)."""
    s = UserState("u1", 0)
    s.attributes = {"plan": "basic"}
    labels.add_snapshot(s, T, [1.0], max_pending=4)
    s.attributes["plan"] = "gold"
    assert [a for *_, a in labels.release_due(s, T + H, H, epoch=3)] == [{"plan": "basic"}]
    assert labels.unlearn(s, 2) == 1  # the release's flush never completed: released again, the same
    assert [a for *_, a in labels.release_due(s, T + H, H, epoch=4)] == [{"plan": "basic"}]


def test_snapshots_from_before_attributes_were_kept_fall_back_to_the_current_ones():
    old = {**UserState("u1", 0).to_dict(), "p": [[T, 0, [1.0], 0.5, 0]], "rl": [[T - DAY_MS, 1, [2.0], 0.4, 1, 7]], "a": {"plan": "gold"}}
    s = UserState.from_dict(orjson.loads(orjson.dumps(old)))
    labels.forget_released(s, 6)
    assert [r[-1] for r in s.released] == [7]  # an old release's epoch is still its last item
    assert labels.unlearn(s, 6) == 1 and [p[labels.T] for p in s.pending] == [T - DAY_MS, T]
    assert [(t, a) for t, *_, a in labels.release_due(s, T + H, H)] == [(T - DAY_MS, {"plan": "gold"}), (T, {"plan": "gold"})]


def marked_by_every_snapshot(pending, ts, horizon_ms):
    """The definition mark_activity keeps: every snapshot whose horizon (t, t + H] holds ts."""
    for snap in pending:
        if snap[labels.T] < ts <= snap[labels.T] + horizon_ms:
            snap[labels.RETURNED] = 1


# A user's history: steps forward in event time (0 to 40 days, often none), each a snapshot, an
# activity, or both (a snapshot at the same time as the activity that triggered it), with
# releases and a small cap so snapshots leave from both ends.
steps = st.lists(st.tuples(st.integers(0, 40 * DAY_MS).map(lambda d: d // 3 * 3) | st.just(0),
                           st.sampled_from(["snapshot", "activity", "both", "release"])), max_size=60)


@settings(max_examples=400, deadline=None)
@given(steps, st.sampled_from([1, 7 * DAY_MS, H]), st.integers(1, 8))
def test_marking_walks_back_from_the_newest_snapshot_to_the_same_labels(history, horizon_ms, cap):
    """mark_activity stops at the first snapshot already marked or out of reach: the labels are
    those of marking every snapshot in reach, for any history in event-time order."""
    walked, scanned = UserState("u1", 0), UserState("u1", 0)
    now = T
    for step, what in history:
        now += step
        for s in (walked, scanned):
            if what in ("snapshot", "both"):
                labels.add_snapshot(s, now, [1.0], max_pending=cap)
            if what == "release":
                list(labels.release_due(s, now, horizon_ms))
        if what in ("activity", "both"):
            labels.mark_activity(walked, now, horizon_ms)
            marked_by_every_snapshot(scanned.pending, now, horizon_ms)
        assert walked.pending == scanned.pending
    assert walked.released == scanned.released
