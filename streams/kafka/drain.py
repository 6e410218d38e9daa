"""Faust's delivery loop without four tasks per record (faust-streaming 0.15.3).

``Consumer._drain_messages`` hands every fetched record to the conductor with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: so that a rebalance that
suspends the flow can abandon a delivery blocked on a full stream buffer, each record gets four
tasks (the delivery, the flow's event, the consumer's stopped and crashed events), an
``asyncio.wait`` and three cancellations. A delivery almost never blocks: it decodes the record and
puts it into the stream's buffer. Here the delivery's coroutine first runs in the loop's own task;
only one that does block (flow stopped, full buffer, full producer buffer) goes on as a task under
the same ``wait_first``, from where it stopped, so every record that can wait still waits exactly
as upstream's. A record delivered on the fast path is one upstream's wait_first would also have
delivered, its callback having won the race without ever yielding. A delivery that blocked on a
full stream buffer is followed by a wait until the stream has taken that buffer down to its low
mark: upstream would otherwise block again on the very next record, and on nearly every record
after it while the worker catches up.

Everything else is upstream's loop unchanged. Installed once per process by ``install()``
(streams/kafka/app.py), only over the loop it copies: another faust release keeps its own loop (a
warning says so). ``bench/bare_faust.py`` (the floor) runs Faust as shipped.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
from typing import Any, AsyncIterator, Coroutine, Generator, cast

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
import structlog
from mode import Service, ServiceT

log = structlog.get_logger(__name__)

_installed = False
UPSTREAM = Consumer._drain_messages  # what this copies
UPSTREAM_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"  # its source in 0.15.3


class _Resumed:
    """An awaitable that continues a coroutine already started by ``send(None)`` which yielded
    ``pending`` (a future it waits on): a task awaiting this waits on that future, then resumes
    the coroutine, and forwards a cancellation into it, as if it had run in that task throughout."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro, self.pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self.coro, self.pending
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation (or an error) thrown into the task
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value


async def deliver(consumer: Any, callback: Any, message: Any) -> None:
    """Run the delivery of ``message``; only if it blocks, under upstream's ``wait_first``."""
    coro = callback(message)
    if consumer.suspend_flow.is_set():  # a rebalance is stopping the flow: upstream's path throughout
        await consumer.wait_first(coro, consumer.suspend_flow.wait())
        return
    try:
        pending = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise
    await consumer.wait_first(_Resumed(coro, pending), consumer.suspend_flow.wait())
    await _until_drained(consumer, message)


async def _until_drained(consumer: Any, message: Any) -> None:
    """After a delivery that blocked: while a stream's buffer is above its low mark (40 %), wait
    until the stream has taken it down there, or the flow is suspended. Upstream delivers the next
    record as soon as one slot frees, so a worker catching up blocks on nearly every record (16 %
    of deliveries measured), each one a task and a wait; with this, once per overrun. Only the
    delivery is held back: the fetcher keeps to the pauses the buffer's high mark already set."""
    for channel in consumer.app.topics._tp_index.get(message.tp, ()):
        queue = channel.queue
        if queue.qsize() > queue.pressure_drop_size:
            # Called back by the stream's get at the low mark, as Faust's resumption of fetching is.
            drained = asyncio.get_running_loop().create_future()
            queue._pending_pressure_drop_callbacks.add(functools.partial(_settle, drained))
            await consumer.wait_first(drained, consumer.suspend_flow.wait())


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():  # an abandoned wait cancelled it
        future.set_result(None)


async def _drain_messages(self: Consumer, fetcher: ServiceT) -> None:  # pragma: no cover - a worker's loop
    # faust-streaming 0.15.3's Consumer._drain_messages, with ``deliver`` in place of wait_first.
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set

    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for

    yield_every = 100
    num_since_yield = 0
    sleep = asyncio.sleep

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = cast(AsyncIterator, getmany(timeout=1.0))
            await self.sleep(0)
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset:
                            if acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None:
                            if self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                        await deliver(self, callback, message)
                        set_read_offset(tp, offset)
                    else:
                        self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)
                unset_flag(flag_consumer_fetching)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)


def upstream_digest() -> str:
    return hashlib.sha256(inspect.getsource(UPSTREAM).encode()).hexdigest()


def install() -> None:
    """Replace Faust's delivery loop if it is the one copied here (idempotent)."""
    global _installed
    if _installed:
        return
    if upstream_digest() != UPSTREAM_SHA256:
        log.warning("faust_delivery_loop_kept", reason="not the loop streams/kafka/drain.py copies")
        return
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    _installed = True
