"""The delivery of one fetched record (streams/kafka/drain.py): run in the loop's own task when it
does not block, otherwise continued under upstream's wait_first, which abandons it when the flow is
suspended. The consumer here is a real mode Service (its wait_first is upstream's)."""

import asyncio
import inspect

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from mode import Service

from streams.kafka import drain
from streams.kafka.drain import deliver


class Consumer(Service):
    def __init__(self) -> None:
        super().__init__()
        self.suspend_flow = asyncio.Event()


async def test_a_delivery_that_does_not_block_runs_in_the_loops_own_task():
    consumer, ran_in = Consumer(), []

    async def decode(message):
        return message

    async def callback(message):
        ran_in.append((await decode(message), asyncio.current_task()))  # awaits, never blocks

    tasks_before = len(asyncio.all_tasks())
    await deliver(consumer, callback, "m1")
    assert ran_in == [("m1", asyncio.current_task())]
    assert len(asyncio.all_tasks()) == tasks_before  # no task made, none left behind


async def test_a_delivery_that_blocks_goes_on_from_where_it_stopped_until_it_is_done():
    consumer, steps = Consumer(), []
    room = asyncio.get_running_loop().create_future()

    async def callback(message):
        steps.append("decoded")
        await room  # a full stream buffer
        steps.append("buffered")
        return "done"

    delivery = asyncio.ensure_future(deliver(consumer, callback, "m1"))
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

    delivery = asyncio.ensure_future(deliver(consumer, callback, "m1"))
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

    await deliver(consumer, callback, "m1")
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
        await deliver(consumer, callback, "m1")


def test_the_copied_loop_is_faust_0_15_3s_and_is_installed():
    # A faust upgrade that changes the loop fails here (and its worker keeps Faust's loop): copy
    # it again, keeping ``deliver``.
    assert drain.upstream_digest() == drain.UPSTREAM_SHA256
    source = inspect.getsource(drain.UPSTREAM)
    assert "await self.wait_first(\n                                callback(message), self.suspend_flow.wait()" in source
    drain.install()
    assert FaustConsumer._drain_messages is drain._drain_messages


def test_another_faust_loop_is_kept(monkeypatch):
    monkeypatch.setattr(drain, "_installed", False)
    monkeypatch.setattr(drain, "UPSTREAM_SHA256", "0" * 64)
    monkeypatch.setattr(FaustConsumer, "_drain_messages", drain.UPSTREAM)
    drain.install()
    assert FaustConsumer._drain_messages is drain.UPSTREAM
