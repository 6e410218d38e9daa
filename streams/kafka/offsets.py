"""Two fixes to faust-streaming 0.15.3's offset handling, without which a restart loses records.

1. Commits never pass an in-flight record (faust-streaming issue #606, pull request #707).

faust-streaming 0.15.3 commits the longest run of acked offsets, and only withholds the commit when
the run starts *more than one* offset after the committed one: committed 100, acked 101-103 commits
104 although record 100 is still being processed. The single missing offset is taken for a
compacted or transaction-marker gap; when it is an unacked record, that record is lost on restart.
Our worker acks after the flush that made a record's effects durable, and records wait in the
reorder buffer for the watermark, so acks arrive out of offset order all the time.

The fix, in place of ``Consumer._filter_committable_offsets``: a commit is capped at the lowest
offset still in flight on that partition (fetched and tracked by the consumer, not yet acked).
A gap with no record behind it (compaction, transaction markers) is still committed over, as
upstream does.

2. A seek to the committed offsets delivers every record after them, once the seek is done, and
   a standby table partition still reads every changelog record after the last one it took in.

When table recovery completes, Faust resumes the input partitions and then seeks them to their
committed offsets (``Consumer.perform_seek``). Records fetched in between keep being delivered
while the seek runs; once it lands, the consumer's read offset is back at the committed offset,
but the rest of a batch fetched from the old position then moves it far ahead, and the records
refetched from the committed offset are dropped as already read ("DROPPED MESSAGE ROFF"): a few
records per partition were never delivered (measured: 1 to 43 records on one partition in about
half of the restarts). And a partition with no committed offset yet is not sought at all, so the
records of a batch cut short by a flow stop are not fetched again. Here a seek stops the flow
first (a batch being delivered ends at the next record), seeks, also sends partitions without a
committed offset back to their beginning, and standby changelog partitions back to the record
after the last one their recovery took in (a flow stop drops the rest of a batch, and Faust seeks
standbys only at a rebalance), and only then lets records flow again.

Both are installed once per process by ``install()`` (streams/kafka/app.py).
"""

from __future__ import annotations

from typing import Any, Iterable

from faust.transport.consumer import Consumer
from faust.types import TP
from faust.utils.functional import consecutive_numbers

_installed = False


def lowest_in_flight(unacked: Iterable[Any]) -> dict[TP, int]:
    """tp -> the lowest offset of a tracked message that is not acked yet."""
    lowest: dict[TP, int] = {}
    for message in list(unacked):
        if message.acked:
            continue
        tp, offset = message.tp, message.offset
        if offset < lowest.get(tp, offset + 1):
            lowest[tp] = offset
    return lowest


def safe_new_offset(consumer: Consumer, tp: TP, in_flight: int | None) -> int | None:
    """The offset to commit for ``tp`` (the next one to read), or None. Upstream's
    ``Consumer._new_offset`` with the commit capped below the lowest in-flight offset."""
    acked: list[int] = consumer._acked[tp]
    if not acked:
        return None
    gap_for_tp = consumer._gap[tp]
    if gap_for_tp:
        # Offsets the fetcher saw skipped (no record there) count as acked, as upstream.
        max_offset = max(acked)
        candidates = sorted(gap_for_tp.overlap(0, max_offset), key=lambda x: x.begin)
        if candidates:
            filled: list[int] = []
            for entry in candidates:
                filled.extend(range(entry.begin, entry.end))
            acked.extend(filled)
            gap_for_tp.chop(0, max(filled[-1], max_offset + 1))
    acked.sort()
    committed = consumer._committed_offset[tp]
    if committed and acked[0] - committed > 1:
        return None  # more than one offset missing at the head: wait for them, as upstream
    batch = next(consecutive_numbers(acked))
    end = batch[-1] + 1
    if in_flight is not None and in_flight < end and (committed is None or in_flight >= committed):
        end = in_flight  # (a message below the committed offset cannot be skipped by a commit)
    done = [offset for offset in batch if offset < end]
    if not done or (committed is not None and end <= committed):
        return None
    del acked[: len(done)]
    consumer._acked_index[tp].difference_update(done)
    return end


def _filter_committable_offsets(self: Consumer, tps: Iterable[TP]) -> dict[TP, int]:
    tps = list(tps)
    lowest = lowest_in_flight(self._unacked_messages) if tps else {}
    out = {}
    for tp in tps:
        offset = safe_new_offset(self, tp, lowest.get(tp))
        if offset is not None and self._should_commit(tp, offset):
            out[tp] = offset
    return out


_perform_seek = Consumer.perform_seek


def standby_positions(recovery: Any) -> dict[TP, int]:
    """Where each standby changelog partition must be read from: the record after the last one its
    recovery took in (``standby_offsets``), the beginning if none. A batch cut short by the flow
    stop (or fetched before it) was never taken in, yet the fetch position had passed it, and a
    standby is not sought again until the next rebalance: its records were lost to the local table,
    whose offset then moved past them with the next ones (tests/faults/test_takeover.py, local
    tables: 1 to 35 events of a few users lost after the takeover)."""
    offsets = recovery.standby_offsets
    return {tp: (-1 if offsets.get(tp) is None else offsets[tp]) + 1 for tp in recovery.standby_tps}


async def seek_on_consumer_thread(consumer: Consumer, tp: TP, offset: int) -> None:
    """``Consumer.seek``, with aiokafka's seek run on the consumer's own thread. Faust's runs it on
    the caller's, the worker's event loop: aiokafka's seek drops the partition's fetched batch
    (``Fetcher.seek_to``) while the consumer thread may be going through the batches
    (``Fetcher.fetched_records``), which then crashed on the one gone (``KeyError`` on a standby
    changelog partition: a restarted worker died in tests/faults/test_takeover.py, 2026-12-07; the
    race of robinhood/aiokafka#19). Faust's own seeks in its recovery already go through the thread
    (``seek_wait``)."""
    thread = consumer._thread  # type: ignore[attr-defined]
    await thread.call_thread(thread.seek, tp, offset)
    consumer._read_offset[tp] = offset if offset else None  # what Consumer.seek sets after its seek


async def _perform_seek_with_the_flow_stopped(self: Consumer) -> None:
    flowing = self.flow_active
    if flowing:
        self.stop_flow()
    try:
        await _perform_seek(self)
        assigned = self.assignment()
        uncommitted = [tp for tp in assigned if not self._is_changelog_tp(tp) and not self._committed_offset.get(tp)]
        for tp in uncommitted:  # Faust seeks only partitions with a committed offset; 0 is before any
            await seek_on_consumer_thread(self, tp, 0)  # retained record, and the consumer resets to the earliest
        for tp, offset in standby_positions(self.app.tables.recovery).items():
            if tp in assigned:  # (a seek during a rebalance may find the standbys already gone)
                await seek_on_consumer_thread(self, tp, offset)
    finally:
        if flowing:
            self.resume_flow()


def install() -> None:
    """Replace Faust's commit-offset selection and its seek to the committed offsets (idempotent)."""
    global _installed
    if _installed:
        return
    from faust.transport.consumer import ThreadDelegateConsumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    if "_thread" not in ThreadDelegateConsumer.__annotations__ or not all(
            hasattr(AIOKafkaConsumerThread, name) for name in ("call_thread", "seek")):
        raise RuntimeError("faust's consumer thread has no call_thread or seek: seek_on_consumer_thread does not fit this faust version")
    for name in ("_filter_committable_offsets", "_acked", "_gap", "_unacked_messages", "perform_seek", "seek",
                 "stop_flow", "resume_flow", "flow_active", "_is_changelog_tp"):
        if not (hasattr(Consumer, name) or name in Consumer.__annotations__):
            raise RuntimeError(f"faust Consumer has no {name}: the offset fixes do not fit this faust version")
    Consumer._filter_committable_offsets = _filter_committable_offsets  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek_with_the_flow_stopped  # type: ignore[method-assign]
    _installed = True
