"""An engine's start from an index of its stored users (streams/core/start.py)."""

import pytest

from streams.core.engine import PartitionEngine, PartitionState
from streams.core.features import UserState
from streams.core.start import index_stored, stored_user
from streams.settings import Settings

CFG = Settings().engine_config()


def test_the_index_counts_every_user_and_leaves_those_ahead_of_the_partition_state_out():
    users = [UserState("a", 0, events_applied=5, epoch=2, risk_bin=7, next_due_day=20),
             UserState("b", 0, events_applied=3, epoch=3, risk_bin=7, next_due_day=21),
             UserState("c", 0, events_applied=1, epoch=4, risk_bin=9, next_due_day=22)]  # written by a lost flush
    index = index_stored(map(stored_user, users), epoch=3)
    assert (index.users_known, index.events_applied, index.ahead) == (3, 9, ["c"])
    assert index.population.counts[7] == 2 and index.population.counts[9] == 0
    assert index.due.pop(20) == ["a"] and index.due.pop(21) == ["b"] and index.due.pop(22) == []


def test_an_engine_starts_the_same_from_the_index_as_from_its_users():
    users = {u.user_id: u for u in (UserState("a", 0, events_applied=5, epoch=2, risk_bin=7, next_due_day=20),
                                    UserState("b", 0, events_applied=2, epoch=1, risk_bin=-1, next_due_day=-1))}
    state = PartitionState(0, epoch=2)
    scanned = PartitionEngine(0, CFG, state, dict(users))
    indexed = PartitionEngine(0, CFG, PartitionState(0, epoch=2), dict(users), index_stored(map(stored_user, users.values()), 2))
    for engine in (scanned, indexed):
        assert (engine.users_known, engine.events_applied) == (2, 7)
    assert indexed.population.counts == scanned.population.counts and indexed.due.pop(20) == scanned.due.pop(20) == ["a"]


def test_an_index_read_against_another_partition_state_is_refused():
    with pytest.raises(ValueError, match="epoch"):
        PartitionEngine(0, CFG, PartitionState(0, epoch=5), {}, index_stored([], epoch=4))
