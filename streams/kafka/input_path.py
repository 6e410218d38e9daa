"""Faust's per-record work on the input path, reduced to what the worker uses.

Every fetched record passes Faust's schema decode and four calls of its Monitor sensor before the
agent sees it. The source topic's records are handed over as bytes (``streams/contracts.py``
decodes them), so the serializer registry's lookups for the raw codec only copy references; the
Monitor keeps counters (events by stream and task, runtimes, tables' reads and writes) that only
the statistics view of Faust's debug mode shows (the worker's figures are its status page and
``/metrics``: ``streams/kafka/status_page.py``, ``streams/kafka/metrics.py``). Without them the worker read
about 5 % more events per second (alternating runs of ``bench/worker_throughput.py``).

Two settings lookups per record go too: Faust's settings object records every attribute read in
Python (``Settings.__getattribute__``), and the conductor asks it, before each record, whether the
producer is threaded (to measure the producer's buffer), and ``create_event`` for the event class:
8 % of a worker's busy samples in py-spy (``--native``, over ``bench/worker_throughput.py``). Both
answers are fixed when the app is built, so they are read once.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any

import faust
from faust.sensors import Monitor
from faust.types import TP, AppT, CollectionT, EventT, Message, StreamT


class RawRecords(faust.Schema):
    """Records as they arrived: key and value bytes (or None), headers and the message, as
    Faust's raw codec gives them, without its registry lookups per record."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: AppT, *, default_propagate: bool = False, **_: Any) -> Any:
        event_class = app.conf.Event  # what app.create_event looks up per record

        async def decode(message: Message, *, propagate: bool = default_propagate) -> EventT:
            return event_class(app, message.key, message.value, message.headers, message)  # type: ignore[no-any-return]

        return decode


def check_producer_buffer_directly(app: AppT) -> None:
    """The conductor's wait, before each record, for the producer's buffer to ebb, without asking
    the settings per record whether the producer is threaded (it is not: the buffer is the
    ``pending`` queue). Upstream's wait runs as before when the buffer holds more than its limit."""
    buffer = app.producer.buffer
    if app.conf.producer_threaded or not isinstance(getattr(buffer, "pending", None), asyncio.Queue):
        return  # threaded, or not the buffer this reads (another faust release): upstream's wait
    upstream = buffer.wait_until_ebb

    async def wait_until_ebb() -> None:
        if len(buffer.pending._queue) > buffer.max_messages:  # ProducerBuffer.size, unthreaded
            await upstream()

    buffer.wait_until_ebb = wait_until_ebb  # type: ignore[method-assign]


class InboundMonitor(Monitor):
    """Faust's Monitor without its per-record bookkeeping. It keeps ``stream_inbound_time``, which
    Faust's consumer reads to warn of a stream that stopped processing, and everything per commit,
    send, rebalance and web request."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: TP, offset: int, stream: StreamT, event: EventT,
                            state: dict | None = None) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_table_get(self, table: CollectionT, key: Any) -> None:
        pass

    def on_table_set(self, table: CollectionT, key: Any, value: Any) -> None:
        pass

    def on_table_del(self, table: CollectionT, key: Any) -> None:
        pass
