"""The partitions' life-table records between workers (streams/core/peers.py).

Each worker publishes its engines' records with the first phase of its flush, keyed by partition,
to ``topic_life_table``, and reads that topic whole, from its beginning, outside the consumer
group: every engine needs every other partition's records, and an engine started again (a
restart, a takeover) needs the old ones again. A record read twice, or read back by the worker
that wrote it, changes nothing (streams/core/peers.py ignores a day it already has).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable

import orjson
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.core.peers import PeerRecord
from streams.kafka import security
from streams.kafka.compat import FETCH_MAX_WAIT_MS, true_end_offsets
from streams.settings import Settings

log = structlog.get_logger()


def encode(record: PeerRecord) -> tuple[bytes, bytes]:
    """(key, value) of a record on the topic."""
    return str(record[0]).encode(), orjson.dumps(list(record))


def decode(value: bytes) -> PeerRecord:
    partition, day, through, counts = orjson.loads(value)
    return int(partition), int(day), int(through), counts


async def read_forever(settings: Settings, deliver: Callable[[PeerRecord], None]) -> None:
    """Every record of the topic, from its beginning, to ``deliver``; then each new one as it comes."""
    await _read(settings, deliver, "life-tables", until_end=False)


async def read_history(settings: Settings, deliver: Callable[[PeerRecord], None]) -> None:
    """Every record the topic has now, from its beginning, to ``deliver``; then return. For an
    engine restored from further back than the worker's ledger keeps (streams/core/peers.py)."""
    await _read(settings, deliver, "life-table-history", until_end=True)


def consumer_for(settings: Settings, name: str) -> AIOKafkaConsumer:
    """A reader of the topic outside any group (not started). Its fetches wait at most
    FETCH_MAX_WAIT_MS for records, as the worker's input does: a broker that does not answer a
    waiting fetch when records arrive (the embedded one: streams/kafka/compat.py, quirk 4) held
    each record for aiokafka's default 500 ms, and a partition waiting for another worker's record
    (peer_lag_days) sat idle meanwhile: two workers catching up kept stopping for each other."""
    return AIOKafkaConsumer(bootstrap_servers=settings.broker, enable_auto_commit=False, group_id=None,
                            client_id=f"{settings.app_id}-{name}", fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                            **security.aiokafka(settings))


async def _read(settings: Settings, deliver: Callable[[PeerRecord], None], name: str, until_end: bool) -> None:
    topic = settings.topic_life_table
    consumer = consumer_for(settings, name)
    await consumer.start()
    try:
        partitions: Any = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                await consumer._client.force_metadata_update()  # the topic may be created after us
                await asyncio.sleep(0.5)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[Any, int] = {}
        if until_end:  # the ends as fetches see them (the embedded broker's ListOffsets can fall short)
            ends = await true_end_offsets(settings.broker, await consumer.end_offsets(tps), security.aiokafka(settings))
        left = {tp for tp in tps if ends.get(tp, 1) > 0}
        while left:
            fetched = await consumer.getmany(*left, timeout_ms=100)
            for tp, records in fetched.items():
                for r in records:
                    if until_end and r.offset >= ends[tp]:
                        break
                    try:
                        deliver(decode(r.value))
                    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
                        log.warning("life_table_record_unreadable", partition=r.partition, offset=r.offset,
                                    error=type(exc).__name__)
            if until_end:
                for tp in list(left):
                    if await consumer.position(tp) >= ends[tp]:
                        left.discard(tp)
    finally:
        await consumer.stop()


class HistoryReads:
    """The topic read again for engines restored from further back than the worker's ledger keeps
    (``peers.missing_history``; rare: a crash far behind in a fast backfill). Only the rows go to
    them, straight into their tables (the ledger gave them progress and idleness); ``completed``
    hands them back once the read reached the topic's end, to run again."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.reading: dict[int, Any] = {}  # partition -> engine whose history is being read
        self.done: list[Any] = []

    def want(self, engines: Iterable[Any]) -> None:
        wanting = [e for e in engines if e.peers.missing_history and e.partition not in self.reading]
        if wanting:
            self.reading.update((e.partition, e) for e in wanting)
            asyncio.ensure_future(self._read(wanting))

    def completed(self) -> list[Any]:
        done, self.done = self.done, []
        return done

    async def _read(self, engines: list[Any]) -> None:
        log.info("life_table_history_read", partitions=[e.partition for e in engines])

        def deliver(record: PeerRecord) -> None:
            if record[3] is not None:
                for engine in engines:
                    engine.peers.offer(*record)

        try:
            await read_history(self.settings, deliver)
            self.done += engines
        except Exception as exc:  # the broker away: asked again at the next exchange, a second on
            log.warning("life_table_history_read_failed", error=type(exc).__name__)
            await asyncio.sleep(1)
        finally:
            for engine in engines:
                self.reading.pop(engine.partition, None)
