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
