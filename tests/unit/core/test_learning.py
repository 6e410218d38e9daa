from streams.core.counters import Counters
from streams.core.events import DAY_MS
from streams.core.features import UserState
from streams.core.labels import add_snapshot
from streams.core.learning import Learner
from streams.core.scoring import ChurnModel

H = 30 * DAY_MS


def inputs(value):
    """A model input vector: the features, then the cold start's risk, log active days, log silence."""
    return [value] * 79 + [0.5, 1.0, 1.0]


def test_released_labels_are_learned_counted_and_published_once_per_boundary():
    model, counters, published = ChurnModel(0, min_labels=10), Counters({}), []
    learner = Learner(0, model, H, [0.6, 0.9], counters, published)
    user = UserState("u", 0)
    add_snapshot(user, 0, inputs(1.0), max_pending=10, score=0.7)
    add_snapshot(user, DAY_MS, inputs(2.0), max_pending=10, score=0.2)
    user.pending[1][1] = 1  # the user came back after the second snapshot
    learner.release(user, H, epoch=1)  # only the first horizon has ended
    learner.end_boundary(H)
    assert model.labels == [0, 1] and counters.values == {"labels_1": 1} and learner.dirty
    assert [d["event"] for d in published] == ["quality"] and published[0]["labels"]["released"] == 1
    learner.end_boundary(H + DAY_MS)  # nothing released: nothing published
    assert len(published) == 1
    learner.release(user, H + DAY_MS, epoch=2)
    learner.end_boundary(H + DAY_MS)
    assert model.labels == [1, 1] and published[-1]["progressive"]["n"] == 2 and user.pending == []
    assert [snap[-1] for snap in user.released] == [1, 2]  # journal, until those flushes complete


def test_releases_of_a_lost_flush_go_back_to_pending_and_completed_ones_are_forgotten():
    from streams.core.labels import forget_released, release_due, unlearn

    user = UserState("u", 0)
    for day in range(3):
        add_snapshot(user, day * DAY_MS, [float(day)], max_pending=10)
    list(release_due(user, H, H, epoch=4))
    list(release_due(user, H + DAY_MS, H, epoch=5))
    assert [s[0] for s in user.pending] == [2 * DAY_MS]
    forget_released(user, 4)
    assert [s[-1] for s in user.released] == [5]
    assert unlearn(user, 4) == 1  # the partition state of flush 5 never landed
    assert [s[0] for s in user.pending] == [DAY_MS, 2 * DAY_MS] and user.released == []


def test_labels_are_learned_against_the_cold_start_of_today_not_the_one_served():
    """The table the cold start comes from keeps learning; the model learns what the features add
    to today's, the one it will be used with (streams/core/scoring.py with_current_cold_start)."""
    import math

    from tests.factories import seeded

    model = ChurnModel(0, min_labels=10)
    seeded(model.rhythm)
    learned = []
    model.learn = lambda x, label, attributes=None: learned.append(x)  # type: ignore[method-assign]
    learner = Learner(0, model, H, [0.6, 0.9], Counters({}), [])
    user = UserState("u", 0)
    stale = [1.0] * 79 + [0.999, round(math.log1p(3), 4), round(math.log1p(5), 4)]  # 3 active days, 5 silent
    add_snapshot(user, 0, stale, max_pending=10, score=0.999)
    learner.release(user, H, epoch=1)
    assert learned[0][:79] == stale[:79] and learned[0][80:] == stale[80:]
    assert learned[0][79] == model.cold_start(3, 5, 30) == round(model.rhythm.p_no_return(3, 5, 30), 6) < 0.9
