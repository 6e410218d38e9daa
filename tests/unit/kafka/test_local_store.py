"""The bounded cache of live users in front of a table partition's local database."""

import pytest

from streams.core.features import UserState
from streams.kafka.codecs import UserStateCodec
from streams.kafka.local_store import UserCache, rocksdb_options
from tests.factories import Disk

CODEC = UserStateCodec()


def stored(*users):
    return Disk({u.user_id: CODEC.dumps(u) for u in users})


def test_users_load_on_first_use_and_only_written_unchanged_ones_are_evicted():
    disk = stored(UserState("a", 0, events_applied=3), UserState("b", 0))
    cache = UserCache(disk)
    a = cache["a"]
    assert a.events_applied == 3 and cache["a"] is a  # the same live object until evicted
    assert cache.get("missing") is None and "missing" not in cache
    cache["c"] = UserState("c", 0)
    a.events_applied += 1  # changed, not yet written: pinned
    assert cache.evict(0, pinned={"a", "c"}) == 0
    disk.records["a"] = CODEC.dumps(a)  # a flush wrote it
    assert cache.evict(1, pinned={"c"}) == 1 and set(cache.live) == {"c"}
    assert cache["a"].events_applied == 4 and cache["a"] is not a  # read back as written


def test_the_least_recently_used_go_first():
    cache = UserCache(stored(*(UserState(u, 0) for u in "abcd")))
    for uid in "abcd":
        cache[uid]
    cache["a"]  # used again: now the most recent
    cache.evict(2, pinned=set())
    assert list(cache.live) == ["d", "a"]


def test_an_erased_user_stays_gone_until_its_tombstone_is_stored():
    disk = stored(UserState("a", 0))
    cache = UserCache(disk)
    assert cache.pop("a").user_id == "a"
    assert "a" not in cache and cache.get("a") is None and list(cache) == []  # the disk still has it
    with pytest.raises(KeyError):
        del cache["a"]
    disk.records.pop("a")
    cache.stored([("a", None)])
    cache["a"] = UserState("a", 0)  # a new user of that id (the engine refuses erased ids itself)
    assert "a" in cache


def test_iteration_reads_every_user_once_and_keeps_none_of_the_others():
    cache = UserCache(stored(UserState("a", 0), UserState("b", 0, events_applied=2)))
    a = cache["a"]
    cache["c"] = UserState("c", 0)  # new, not yet on disk
    users = {u.user_id: u for u in cache.values()}
    assert sorted(users) == ["a", "b", "c"] and users["a"] is a and users["b"].events_applied == 2
    assert set(cache.live) == {"a", "c"} and len(cache) == 3


def test_rocksdb_caches_are_bounded_by_the_setting():
    options = rocksdb_options(16)
    assert options["block_cache_size"] == options["write_buffer_size"] == 16 * 1024 * 1024
    assert options["driver"] == "rocksdict"
