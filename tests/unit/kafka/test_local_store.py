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


def local_tables(tmp_path):
    """The worker's tables with the RocksDB store, opened without a broker."""
    from streams.kafka.app import create_app
    from streams.settings import Settings

    return create_app(Settings(table_store="rocksdb", data_dir=str(tmp_path), broker="127.0.0.1:1"))


def changelog_event(topic, partition, offset, key, value, headers=None):
    from types import SimpleNamespace

    from faust.types import TP

    return SimpleNamespace(message=SimpleNamespace(tp=TP(topic, partition), offset=offset, partition=partition,
                                                   key=key.encode(), value=value, headers=headers or []))


def test_local_partition_keeps_records_summaries_and_offset_together(tmp_path):
    from streams.kafka.local_store import LocalPartition, index_headers, summary

    wiring = local_tables(tmp_path)
    local = LocalPartition(wiring.user_table, 1)
    assert not local.write([], 0)  # not assigned: nothing written (the new owner reads the changelog)
    local.db()  # opened, as Faust does on assignment
    a, b = UserState("a", 1, events_applied=5, epoch=3, next_due_day=20), UserState("b", 1, risk_bin=4)
    assert local.write([("a", CODEC.dumps(a)), ("b", CODEC.dumps(b))], 41, [summary(a), summary(b)])
    assert local.persisted_offset() == 41
    assert {uid for uid, _ in local.items()} == {"a", "b"}  # neither the offset nor the index
    assert set(local.stored_users()) == {
        ("a", 3, 5, -1, 20), ("b", 0, 0, 4, -1)}
    assert local.write([("a", None)], 42, [None])  # a tombstone removes the record and its summary
    assert [uid for uid, *_ in local.stored_users()] == ["b"] and local.get("a") is None

    # Recovery writes what the changelog holds, and the table indexes each record as it goes: from
    # the index entry in its header (not decompressing the record), or from the record without one.
    topic = wiring.user_table.changelog_topic.get_topic_name()
    c, d = UserState("c", 1, events_applied=7), UserState("d", 1, events_applied=8, next_due_day=30)
    carried = index_headers(UserState("c", 1, events_applied=70))  # differs from the record: shows which is used
    wiring.user_table.apply_changelog_batch([changelog_event(topic, 1, 43, "c", CODEC.dumps(c), carried),
                                            changelog_event(topic, 1, 44, "b", None),
                                            changelog_event(topic, 1, 45, "d", CODEC.dumps(d))])
    assert [(uid, applied, due) for uid, _, applied, _, due in local.stored_users()] == [("c", 70, -1), ("d", 8, 30)]
    assert local.persisted_offset() == 45 and wiring.user_table.records_restored == 3
    assert UserCache(local)["c"].events_applied == 7
    # Faust's offset key is not a user's: a user of that id keeps their record, the offset its own.
    odd = UserState("__faust\x00offset__", 1, events_applied=2)
    assert local.write([(odd.user_id, CODEC.dumps(odd))], 46, [None])
    assert UserCache(local)[odd.user_id].events_applied == 2 and local.persisted_offset() == 46


def test_records_a_local_table_already_holds_are_not_applied_again(tmp_path):
    """Faust applies buffered changelog records late (when a buffer fills, at a rebalance), maybe
    after the pipeline wrote newer states with their offsets: older records must not put older
    states back, nor move the database's offset back."""
    from streams.kafka.local_store import LocalPartition, summary

    wiring = local_tables(tmp_path)
    local = LocalPartition(wiring.user_table, 2)
    local.db()
    newer = UserState("a", 2, events_applied=9)
    assert local.write([("a", CODEC.dumps(newer))], 50, [summary(newer)])
    topic = wiring.user_table.changelog_topic.get_topic_name()
    wiring.user_table.apply_changelog_batch([
        changelog_event(topic, 2, 47, "a", CODEC.dumps(UserState("a", 2, events_applied=3))),
        changelog_event(topic, 2, 50, "z", CODEC.dumps(UserState("z", 2))),
        changelog_event(topic, 2, 51, "e", CODEC.dumps(UserState("e", 2, events_applied=1)))])
    assert UserCache(local)["a"].events_applied == 9 and "z" not in UserCache(local)
    assert UserCache(local)["e"].events_applied == 1
    assert local.persisted_offset() == 51 and wiring.user_table.records_restored == 1


def test_buffered_changelog_records_are_in_the_tables_before_recovery_completes(tmp_path, monkeypatch):
    """Records a recovery has taken in wait in Faust's buffer with their offsets already counted as
    read (a standby's last ones, say, before the rebalance that made its partition active); when
    nothing is left to read, Faust completes recovery without applying them. They must be in the
    database before the engine reads it."""
    import asyncio

    from faust.tables.recovery import Recovery

    from streams.kafka.local_store import LocalPartition

    wiring = local_tables(tmp_path)
    local = LocalPartition(wiring.user_table, 3)
    local.db()
    topic = wiring.user_table.changelog_topic.get_topic_name()
    seen = {}

    async def completed(self, generation_id=0):  # Faust's own completion: streams resume after it
        seen["users"] = sorted(uid for uid, *_ in local.stored_users())
        seen["offset"] = local.persisted_offset()

    monkeypatch.setattr(Recovery, "on_recovery_completed", completed)
    recovery = wiring.app.tables.recovery
    recovery.buffers[wiring.user_table].extend(
        changelog_event(topic, 3, offset, uid, CODEC.dumps(UserState(uid, 3))) for offset, uid in ((7, "a"), (8, "b")))
    asyncio.run(recovery.on_recovery_completed(0))
    assert seen == {"users": ["a", "b"], "offset": 8}
