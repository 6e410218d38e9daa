"""How long a live record takes to reach a caught-up consumer, by the consumer's fetch wait.

    .venv/bin/python bench/fetch_wait.py [--records 15 --waits 1500,500,100]

On a fresh embedded broker, per wait: a consumer reads a topic to its end, then a record is sent
every 0.37 s (so it lands at a random point of a waiting fetch) and the time from its send to its
arrival is taken. A broker that answers a waiting fetch when records arrive (Kafka's long poll)
shows a few milliseconds whatever the wait; one that answers only when the wait ends shows about
half the wait (streams/kafka/compat.py, quirk 4). Prints the median and the maximum per wait.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka.broker import EmbeddedBroker


async def delays(bootstrap: str, wait_ms: int, records: int) -> list[float]:
    topic = f"fetch-wait-{wait_ms}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, fetch_max_wait_ms=wait_ms,
                                auto_offset_reset="earliest")
    try:
        await producer.send_and_wait(topic, b"first")
        await consumer.start()
        await consumer.getone()  # caught up from here on
        out = []
        for _ in range(records):
            await asyncio.sleep(0.37)
            sent = time.monotonic()
            await producer.send_and_wait(topic, b"x")
            await consumer.getone()
            out.append(time.monotonic() - sent)
        return out
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=15)
    ap.add_argument("--waits", default="1500,500,100", help="fetch waits to try, in ms")
    args = ap.parse_args()
    rows = {}
    with EmbeddedBroker() as broker:
        for wait_ms in map(int, args.waits.split(",")):
            seen = asyncio.run(delays(broker.bootstrap, wait_ms, args.records))
            rows[str(wait_ms)] = {"median_s": round(statistics.median(seen), 3), "max_s": round(max(seen), 3)}
    print(orjson.dumps({"records_per_wait": args.records, "by_fetch_wait_ms": rows}).decode())


if __name__ == "__main__":
    main()
