"""The due-time index on the local database (streams/kafka/due_index.py): the same users due at
every day as the in-memory index (streams/core/schedule.py), through writes, recovery, erasure and
crashes; and due keys that always match the stored states."""

import random

import pytest

from streams.core.features import UserState
from streams.core.schedule import DueIndex
from streams.kafka.codecs import UserStateCodec
from streams.kafka.due_index import DiskDueIndex
from streams.kafka.local_store import (DUE_INDEXED, DUE_PREFIX, INDEX_PREFIX, RECORD_PREFIX, LocalPartition,
                                       due_key_parts, index_due, index_headers, summary)
from tests.unit.kafka.test_local_store import changelog_event, local_tables

CODEC = UserStateCodec()
HORIZON_MS = 30 * 86_400_000
# User ids as the contract allows them (any text, 1-128 characters), the store's own keys and
# prefixes included; and the latest day an event's time allows (the year 3000).
USER_IDS = [f"u{i}" for i in range(52)] + ["d", "i", "r", "_due-indexed", "__faust\x00offset__", "\x00", "é✓ ü",
                                            "🙂" * 128]
LAST_DAY = 32503680000000 // 86_400_000


def due_keys(local):
    return sorted(due_key_parts(k) for k in local.db().keys(from_key=DUE_PREFIX) if k.startswith(DUE_PREFIX))


def stored_due(local):
    return sorted((due, uid) for uid, *_, due in local.stored_users() if due >= 0)


def write(local, users, offset, gone=()):
    records = [(u.user_id, CODEC.dumps(u)) for u in users] + [(uid, None) for uid in gone]
    entries = [summary(u) for u in users] + [None] * len(gone)
    assert local.write(records, offset, entries)
    return records, entries


class Partition:
    """What the engine does to its due-time index, on both indexes at once, with flushes that write
    the changed users to a real local database and crashes that lose what no flush wrote."""

    def __init__(self, tmp_path, seed):
        self.rng = random.Random(seed)
        self.local = LocalPartition(local_tables(tmp_path).user_table, 0)
        self.local.db()
        self.users, self.dirty, self.gone = {}, set(), set()
        self.offset, self.day = 0, 10  # the next day boundary
        self.restart(boundary=self.day)

    def restart(self, boundary):
        """A crash: the users and the boundary as last written."""
        self.users = {uid: CODEC.loads(raw) for uid, raw in self.local.items()}
        self.memory = DueIndex(self.users.values())
        self.disk = DiskDueIndex(self.local)
        self.dirty.clear()
        self.gone.clear()
        self.day = boundary

    def schedule(self, user, day):
        user.rescore_day = day
        twin = UserState(user.user_id, 0, next_due_day=user.next_due_day, rescore_day=day)
        self.memory.reschedule(twin, HORIZON_MS)  # each index moves its own copy of the field
        self.disk.reschedule(user, HORIZON_MS)
        assert twin.next_due_day == user.next_due_day
        self.dirty.add(user.user_id)

    def step(self):
        rng, day = self.rng, self.day
        roll = rng.random()
        if roll < 0.45:  # an event: the user's next due day moves (or a new user)
            uid = rng.choice(USER_IDS)
            user = self.users.setdefault(uid, UserState(uid, 0))
            self.gone.discard(uid)
            self.schedule(user, rng.choice([-1, day, day + 1, day + rng.randrange(1, 12), LAST_DAY]))
        elif roll < 0.5 and self.users:  # an erasure
            uid = rng.choice(sorted(self.users))
            user = self.users.pop(uid)
            twin = UserState(uid, 0, next_due_day=user.next_due_day)
            self.memory.remove(twin)
            self.disk.remove(user)
            self.dirty.discard(uid)
            self.gone.add(uid)
        elif roll < 0.8:  # a day boundary: the earliest due day is the same, and so are its users
            assert self.disk.first_day() == self.memory.first_day()
            due_disk, due_memory = self.disk.pop(day), self.memory.pop(day)
            assert due_disk == due_memory
            for uid in due_disk:
                user = self.users[uid]
                user.next_due_day = -1
                self.schedule(user, rng.choice([-1, day + 1, day + rng.randrange(1, 12)]))
            self.day += 1
        elif roll < 0.95:  # a flush whose writes the database took
            self.offset += 1
            records, entries = write(self.local, [self.users[u] for u in sorted(self.dirty)], self.offset,
                                     sorted(self.gone))
            self.disk.stored(records, entries)
            self.dirty.clear()
            self.gone.clear()
            self.boundary = self.day
            assert due_keys(self.local) == sorted((d, u) for u, d in ((u.user_id, u.next_due_day) for u in
                                                  self.users.values()) if d >= 0)
        else:
            self.restart(getattr(self, "boundary", 10))
        assert len(self.disk.moved) <= len(USER_IDS)


@pytest.mark.parametrize("seed", range(6))
def test_the_index_on_disk_takes_the_same_users_as_the_one_in_memory(tmp_path, seed):
    partition = Partition(tmp_path, seed)
    for _ in range(1500):
        partition.step()
    # Memory holds only the moves since the last write.
    partition.offset += 1
    records, entries = write(partition.local, list(partition.users.values()), partition.offset, sorted(partition.gone))
    partition.disk.stored(records, entries)
    assert partition.disk.moved == {} and partition.disk.moved_on == {}


def test_due_keys_follow_every_write_recovery_and_tombstone(tmp_path):
    wiring = local_tables(tmp_path)
    local = LocalPartition(wiring.user_table, 1)
    local.db()
    a, b = UserState("a", 1, next_due_day=20), UserState("b", 1, next_due_day=21)
    write(local, [a, b], 1)
    assert due_keys(local) == [(20, "a"), (21, "b")] and local.db().get(DUE_INDEXED) is not None
    a.next_due_day, b.next_due_day = 25, -1
    write(local, [a, b], 2)
    assert due_keys(local) == [(25, "a")]

    # Recovery from the changelog, one user twice in a batch: only the last state's key stays.
    topic = wiring.user_table.changelog_topic.get_topic_name()
    c1, c2 = UserState("c", 1, next_due_day=30), UserState("c", 1, next_due_day=31)
    b.next_due_day = 22
    wiring.user_table.apply_changelog_batch([
        changelog_event(topic, 1, 3, "c", CODEC.dumps(c1), index_headers(c1)),
        changelog_event(topic, 1, 4, "a", None),
        changelog_event(topic, 1, 5, "c", CODEC.dumps(c2), index_headers(c2)),
        changelog_event(topic, 1, 6, "b", CODEC.dumps(b))])  # no header: summarised from the record
    assert due_keys(local) == stored_due(local) == [(22, "b"), (31, "c")]
    # The same batch again (Faust's offset was not persisted before a crash): nothing changes.
    wiring.user_table.apply_changelog_batch([changelog_event(topic, 1, 5, "c", CODEC.dumps(c2), index_headers(c2))])
    assert due_keys(local) == [(22, "b"), (31, "c")]
    # A database that recovery fills from nothing is marked as it goes: every user it gets has a key.
    fresh = LocalPartition(wiring.user_table, 3)
    wiring.user_table.apply_changelog_batch([changelog_event(topic, 3, 0, "e", CODEC.dumps(c1))])
    assert fresh.db().get(DUE_INDEXED) is not None and due_keys(fresh) == [(30, "e")]


def test_a_database_written_before_due_keys_gets_them_once(tmp_path):
    from rocksdict import WriteBatch

    local = LocalPartition(local_tables(tmp_path).user_table, 2)
    db = local.db()
    batch = WriteBatch(raw_mode=True)  # as the previous version wrote: records and summaries only
    for user in (UserState("a", 2, next_due_day=7), UserState("b", 2), UserState("c", 2, next_due_day=5)):
        batch.put(RECORD_PREFIX + user.user_id.encode(), CODEC.dumps(user))
        batch.put(INDEX_PREFIX + user.user_id.encode(), summary(user))
    db.write(batch)
    # A write before the start (recovery of a tail) does not mark it: other users still lack keys.
    write(local, [UserState("d", 2, next_due_day=9)], 1)
    assert db.get(DUE_INDEXED) is None and due_keys(local) == [(9, "d")]
    assert index_due(db) == 3 and due_keys(local) == stored_due(local) == [(5, "c"), (7, "a"), (9, "d")]
    assert index_due(db) == 0  # once
    index = DiskDueIndex(local)
    assert index.first_day() == 5 and index.pop(5) == ["c"] and index.first_day() == 7
