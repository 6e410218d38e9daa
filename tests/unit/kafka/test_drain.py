"""The delivery of one fetched record (streams/kafka/drain.py): run in the loop's own task when it
does not block, otherwise continued under upstream's wait_first, which abandons it when the flow is
suspended; after one that filled a stream's buffer, the next waits until the stream has drained it.
The consumer here is a real mode Service (its wait_first is upstream's) on a real Faust app, whose
conductor indexes each partition's channels and compiles the delivery into their buffers."""

import asyncio
import inspect

import faust
import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.conductor import ConductorCompiler
from faust.types import TP, Message
from mode import Service

from streams.kafka import drain
from streams.kafka.drain import deliver


CLICKS_0 = TP("churnguard.clicks.v1", 0)


def record(offset: int) -> Message:
    return Message(CLICKS_0.topic, CLICKS_0.partition, offset, 0, 0, [], b"user-1", b"{}", None)


class Consumer(Service):
    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()
        self.app = faust.App("drain-test", broker="kafka://127.0.0.1:1", store="memory://", stream_buffer_maxsize=10)
        self.app.flow_control.resume()  # as after a rebalance

    def stream(self, blocked: list[int]):
        """An agent's stream on CLICKS_0: its buffer (10 records) and the delivery into it that
        Faust's conductor compiles (into the buffer, or, if it is full, waiting for a free slot).
        ``blocked`` lists the offsets that found the buffer full."""
        channel = self.app.topic(CLICKS_0.topic, key_serializer="raw", value_serializer="raw").clone(is_iterator=True)
        self.app.topics._tp_index[CLICKS_0].add(channel)
        conductor = ConductorCompiler().build(self.app.topics, CLICKS_0, {channel})
        queue = channel.queue

        async def on_message(message: Message) -> None:
            if queue.full():
                blocked.append(message.offset)
            await conductor(message)

        return queue, on_message


async def read_slowly(queue, taken: list[int]) -> None:
    """An agent's stream that takes one record per turn of the loop, slower than deliveries."""
    while True:
        taken.append((await queue.get()).message.offset)
        await asyncio.sleep(0)


async def test_a_delivery_that_does_not_block_runs_in_the_loops_own_task():
    consumer, ran_in = Consumer(), []

    async def decode(message):
        return message

    async def callback(message):
        ran_in.append((await decode(message), asyncio.current_task()))  # awaits, never blocks

    tasks_before, message = len(asyncio.all_tasks()), record(1)
    await deliver(consumer, callback, message)
    assert ran_in == [(message, asyncio.current_task())]
    assert len(asyncio.all_tasks()) == tasks_before  # no task made, none left behind


async def test_a_delivery_that_blocks_goes_on_from_where_it_stopped_until_it_is_done():
    consumer, steps = Consumer(), []
    room = asyncio.get_running_loop().create_future()

    async def callback(message):
        steps.append("decoded")
        await room  # a full stream buffer
        steps.append("buffered")
        return "done"

    delivery = asyncio.ensure_future(deliver(consumer, callback, record(1)))
    await asyncio.sleep(0.01)
    assert steps == ["decoded"] and not delivery.done()
    room.set_result(None)
    await asyncio.wait_for(delivery, 1)
    assert steps == ["decoded", "buffered"]  # each step once: the coroutine was continued, not restarted


async def test_a_blocked_delivery_is_abandoned_when_the_flow_is_suspended():
    consumer, steps = Consumer(), []

    async def callback(message):
        try:
            await asyncio.get_running_loop().create_future()  # never resolved
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    delivery = asyncio.ensure_future(deliver(consumer, callback, record(1)))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance stops the flow
    await asyncio.wait_for(delivery, 1)
    await asyncio.sleep(0.01)
    assert steps == ["cancelled"]  # upstream's wait_first cancelled the rest of it


async def test_with_the_flow_suspended_a_delivery_takes_upstreams_path():
    consumer, ran_in = Consumer(), []
    consumer.suspend_flow.set()

    async def callback(message):
        ran_in.append(asyncio.current_task())

    await deliver(consumer, callback, record(1))
    await asyncio.sleep(0.01)
    assert len(ran_in) <= 1 and asyncio.current_task() not in ran_in


@pytest.mark.parametrize("blocks", [False, True])
async def test_a_delivery_error_reaches_the_loop(blocks):
    consumer = Consumer()
    loop = asyncio.get_running_loop()

    async def callback(message):
        if blocks:
            ready = loop.create_future()
            loop.call_later(0.01, ready.set_result, None)
            await ready
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await deliver(consumer, callback, record(1))


async def test_a_stream_that_falls_behind_blocks_a_delivery_once_per_overrun_not_once_per_record():
    consumer, blocked, taken = Consumer(), [], []
    queue, callback = consumer.stream(blocked)
    reader = asyncio.ensure_future(read_slowly(queue, taken))
    for offset in range(300):
        await deliver(consumer, callback, record(offset))
    while len(taken) < 300:
        await asyncio.sleep(0)
    reader.cancel()
    assert taken == list(range(300))  # each record once, in order
    # Each overrun is followed by a wait until the buffer is down to 4 of 10: the next 6 records go
    # straight in. Without the wait the buffer stays full and nearly every record blocks. The reader
    # is slower than the deliveries, so overruns recur (one per 9-10 records here: 29-33 of them;
    # the first 10 records fill the empty buffer, hence a lower bound well below 300 // 10).
    assert 300 // 20 <= len(blocked) <= 300 // 6
    assert all(b - a >= 6 for a, b in zip(blocked, blocked[1:]))


async def test_a_delivery_that_blocked_without_filling_the_buffer_does_not_wait():
    consumer = Consumer()
    queue, _ = consumer.stream([])
    flow = asyncio.get_running_loop().create_future()

    async def callback(message):
        await flow  # Faust's flow control or a full producer buffer, not the stream's buffer
        queue.put_nowait(message)

    delivery = asyncio.ensure_future(deliver(consumer, callback, record(1)))
    await asyncio.sleep(0.01)
    flow.set_result(None)
    await asyncio.wait_for(delivery, 1)  # nobody reads the buffer, and no wait for it
    assert queue.qsize() == 1


async def test_the_wait_for_a_drained_buffer_is_abandoned_when_the_flow_is_suspended():
    consumer, blocked, taken = Consumer(), [], []
    queue, callback = consumer.stream(blocked)
    for offset in range(10):
        await deliver(consumer, callback, record(offset))
    delivery = asyncio.ensure_future(deliver(consumer, callback, record(10)))
    await asyncio.sleep(0.01)
    taken.append(queue.get_nowait().message.offset)  # a slot frees: record 10 goes in, the buffer is full again
    await asyncio.sleep(0.01)
    assert blocked == [10] and queue.qsize() == 10 and not delivery.done()  # waiting for the drain
    consumer.suspend_flow.set()  # a rebalance stops the flow
    await asyncio.wait_for(delivery, 1)
    while not queue.empty():  # the abandoned wait's callback fires on a drained buffer, harmlessly
        taken.append(queue.get_nowait().message.offset)
    assert taken == list(range(11))


def test_the_copied_loop_is_faust_0_15_3s_and_is_installed():
    # A faust upgrade that changes the loop fails here (and its worker keeps Faust's loop): copy
    # it again, keeping ``deliver``.
    assert drain.upstream_digest() == drain.UPSTREAM_SHA256
    source = inspect.getsource(drain.UPSTREAM)
    assert "await self.wait_first(\n                                callback(message), self.suspend_flow.wait()" in source
    drain.install()
    assert FaustConsumer._drain_messages is drain._drain_messages
    # What the wait after an overrun reads: the conductor's channels per partition, each with a buffer
    # that calls back when it drains.
    app = faust.App("drain-test", broker="kafka://127.0.0.1:1", store="memory://")
    assert app.topics._tp_index[CLICKS_0] == set()
    queue = app.channel(maxsize=10).queue
    assert queue.pressure_drop_size == 4 and queue._pending_pressure_drop_callbacks == set()


def test_another_faust_loop_is_kept(monkeypatch):
    monkeypatch.setattr(drain, "_installed", False)
    monkeypatch.setattr(drain, "UPSTREAM_SHA256", "0" * 64)
    monkeypatch.setattr(FaustConsumer, "_drain_messages", drain.UPSTREAM)
    drain.install()
    assert FaustConsumer._drain_messages is drain.UPSTREAM
