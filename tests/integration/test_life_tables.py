"""The life-table topic between workers (streams/kafka/life_tables.py), on the embedded broker."""

import asyncio

import pytest
from aiokafka import AIOKafkaProducer

from streams.kafka.life_tables import encode, read_forever, read_history

pytestmark = pytest.mark.integration


async def send(producer, topic, record):
    key, value = encode(record)
    return await producer.send(topic, value, key=key)


def test_the_history_read_returns_every_record_the_topic_has_and_the_tail_reader_goes_on(settings_for):
    settings = settings_for("churnguard-life-tables")
    records = [(day % 4, day, day - 1, {"returns": [[day]]}) for day in range(1, 3001)]

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=20, enable_idempotence=False)
        await producer.start()
        try:
            # Batched, so the broker's ListOffsets answers short of the end (streams/kafka/compat.py).
            futures = [await send(producer, settings.topic_life_table, r) for r in records[:2000]]
            await asyncio.gather(*futures)
            history: list = []
            await asyncio.wait_for(read_history(settings, history.append), 30)
            tail: list = []
            reader = asyncio.ensure_future(read_forever(settings, tail.append))
            futures = [await send(producer, settings.topic_life_table, r) for r in records[2000:]]
            await asyncio.gather(*futures)
            for _ in range(300):
                if len(tail) == len(records):
                    break
                await asyncio.sleep(0.1)
            reader.cancel()
            return history, tail
        finally:
            await producer.stop()

    history, tail = asyncio.run(scenario())
    assert sorted(history) == sorted(records[:2000])
    assert sorted(tail) == sorted(records)
    for partition in range(4):  # each partition's records in the order it wrote them
        assert [r for r in tail if r[0] == partition] == [r for r in records if r[0] == partition]


def test_an_engine_restored_from_further_back_than_the_ledger_gets_the_whole_history(settings_for):
    """What a worker does for an engine whose ledger records begin after the days it needs
    (streams/core/peers.py): the topic read again, the rows into its table, then handed back."""
    from types import SimpleNamespace

    from streams.core.peers import Peers
    from streams.kafka.life_tables import HistoryReads

    settings = settings_for("churnguard-history-reads")
    records = [(day % 4, day, day - 1, {"returns": [[day]]}) for day in range(1, 201)]
    peers = Peers(1, 4, lag_days=1)
    for record in records[-8:]:  # what a ledger holding the latest days gives
        peers.offer(*record)
    peers.hold_from({p: 193 for p in range(4)})
    assert not peers.ready(100) and peers.missing_history
    engine = SimpleNamespace(partition=1, peers=peers)

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=settings.broker, linger_ms=20, enable_idempotence=False)
        await producer.start()
        try:
            await asyncio.gather(*[await send(producer, settings.topic_life_table, r) for r in records])
        finally:
            await producer.stop()
        reads = HistoryReads(settings)
        reads.want([engine])
        reads.want([engine])  # asked again before the read ends: one read
        assert list(reads.reading) == [1]
        for _ in range(300):
            done = reads.completed()
            if done:
                return done, reads
            await asyncio.sleep(0.1)
        return [], reads

    done, reads = asyncio.run(scenario())
    assert done == [engine] and not reads.reading
    for p in range(4):
        assert [day for day, _ in peers.tables[p]] == [r[1] for r in records if r[0] == p]
    assert peers.history_complete()  # a boundary was waiting: PartitionEngine.peer_history_complete runs it
    assert peers.held_from == {} and peers.ready(100)
