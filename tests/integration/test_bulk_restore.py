"""The bulk catch-up of local tables (streams/kafka/bulk_restore.py) against the embedded broker,
in process: it writes exactly the changelog records up to the end it was given, tombstones
included, with their summaries and offset, from wherever the local state ended."""

import asyncio

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from streams.core.features import UserState
from streams.kafka.app import changelog_topics, create_app
from streams.kafka.bulk_restore import catch_up
from streams.kafka.codecs import user_from_record, user_record
from streams.kafka.local_store import LocalPartition, index_headers, summary

pytestmark = pytest.mark.integration


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None, list | None]]) -> None:
    """(key, value, headers) records into partition 0."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send(topic, value, key=key, partition=0, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


def test_catch_up_writes_the_changelog_up_to_the_given_end_from_the_local_offset(settings_for):
    settings = settings_for("cg-bulk", table_store="rocksdb")
    wiring = create_app(settings)
    topic = changelog_topics(settings)[0]
    users = [UserState(f"u{i}", 0, events_applied=i) for i in range(300)]
    # Half the records carry their index entry in a header (as the pipeline writes them; here one
    # that differs from the record, to show that it is the one used), half do not (as before).
    carried = {u.user_id: UserState(u.user_id, 0, events_applied=u.events_applied, next_due_day=7) for u in users[::2]}
    # 300 states, u250 written again by a release before headers (in the same batch as its first
    # record: its index entry must be this record's), u0 erased (a tombstone), then a state no end
    # given covers.
    rewritten = UserState("u250", 0, events_applied=2500)
    asyncio.run(produce(settings.broker, topic,
                        [(u.user_id.encode(), user_record(u), index_headers(carried[u.user_id]) if u.user_id in carried else None)
                         for u in users]
                        + [(b"u250", user_record(rewritten), None), (b"u0", None, None),
                           (b"late", user_record(UserState("late", 0)), None)]))
    users[250] = rewritten
    del carried["u250"]
    local = LocalPartition(wiring.user_table, 0)
    local.db()  # opened, as on assignment
    tp = TP(topic, 0)

    assert asyncio.run(catch_up({tp: wiring.user_table}, {tp: 149}, settings.broker, {}, budget_s=60)) == {tp: 149}
    assert local.persisted_offset() == 149 and len(dict(local.items())) == 150
    assert wiring.user_table.records_restored == 150

    # From where the local state ends: the rest, the tombstone, not beyond the end.
    assert asyncio.run(catch_up({tp: wiring.user_table}, {tp: 301}, settings.broker, {}, budget_s=60)) == {tp: 301}
    stored = {uid: user_from_record(raw) for uid, raw in local.items()}
    assert sorted(stored) == sorted(u.user_id for u in users[1:]) and local.persisted_offset() == 301
    assert all(stored[u.user_id].events_applied == u.events_applied for u in users[1:])
    index = {s[0]: s[1:] for s in local.stored_users()}
    assert index == {u.user_id: tuple(orjson.loads(summary(carried.get(u.user_id, u)))) for u in users[1:]}
    assert {uid for uid, (_, _, _, due) in index.items() if due == 7} == {u.user_id for u in users[2::2]} - {"u250"}
    assert index["u250"] == (0, 2500, -1, -1)
    assert wiring.user_table.records_restored == 302


def test_a_catch_up_that_dies_between_batches_leaves_a_whole_prefix_and_the_next_one_finishes_it(settings_for, monkeypatch):
    """A worker killed during the catch-up: each batch is written whole with its offset, so the
    database holds an exact prefix of the changelog, and the next start reads on from there to
    the same state as an uninterrupted catch-up, nothing lost or written twice."""
    from streams.kafka import bulk_restore, local_store

    settings = settings_for("cg-bulk-killed", table_store="rocksdb")
    wiring = create_app(settings)
    topic = changelog_topics(settings)[0]
    users = [UserState(f"u{i}", 0, events_applied=i) for i in range(200)]
    asyncio.run(produce(settings.broker, topic, [(u.user_id.encode(), user_record(u), None) for u in users]))
    local = LocalPartition(wiring.user_table, 0)
    local.db()
    tp = TP(topic, 0)

    monkeypatch.setattr(bulk_restore, "MAX_RECORDS_PER_BATCH", 30)
    write, calls = local_store.LocalPartition.write, []

    def dies_at_the_third_batch(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SystemExit("killed")
        return write(self, *args, **kwargs)

    monkeypatch.setattr(local_store.LocalPartition, "write", dies_at_the_third_batch)
    try:
        asyncio.run(catch_up({tp: wiring.user_table}, {tp: 199}, settings.broker, {}, budget_s=60))
    except SystemExit:
        pass
    offset = local.persisted_offset()
    assert offset is not None and 0 <= offset < 199
    assert sorted(dict(local.items())) == sorted(u.user_id for u in users[: offset + 1])

    monkeypatch.setattr(local_store.LocalPartition, "write", write)
    assert asyncio.run(catch_up({tp: wiring.user_table}, {tp: 199}, settings.broker, {}, budget_s=60)) == {tp: 199}
    stored = {uid: user_from_record(raw).events_applied for uid, raw in local.items()}
    assert stored == {u.user_id: u.events_applied for u in users}
    assert wiring.user_table.records_restored == 200
