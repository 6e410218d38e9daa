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

2. Input partitions are sought to their committed offsets *before* they are resumed.

When table recovery completes, Faust resumes the input partitions and *then* seeks them to their
committed offsets (``Recovery.on_recovery_completed``, ``Recovery._resume_streams``). Records are
fetched and delivered while the seek runs; once it lands, the consumer's read offset is back at the
committed offset but records fetched from the old position keep coming and move it far ahead, and
the records refetched from the committed offset are then dropped as already read ("DROPPED
MESSAGE ROFF"): a few records per partition are never delivered (measured: 1 to 43 records on one
partition in about half of the restarts). Here those two methods resume the input partitions only
once the seek is done, so fetching starts at the committed offsets.

Both are installed once per process by ``install()`` (streams/kafka/app.py).
"""

from __future__ import annotations

import functools
from typing import Any, Iterable

from faust.tables.recovery import Recovery
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


_resume_partitions = Consumer.resume_partitions
_perform_seek = Consumer.perform_seek


def _resume_partitions_unless_deferred(self: Consumer, tps: Iterable[TP]) -> None:
    deferred = getattr(self, "_churnguard_deferred_resume", None)
    if deferred is None:
        _resume_partitions(self, tps)
    else:
        deferred.update(tps)


async def _perform_seek_then_resume(self: Consumer) -> None:
    await _perform_seek(self)
    deferred = getattr(self, "_churnguard_deferred_resume", None)
    if deferred:
        _resume_partitions(self, set(deferred))
        deferred.clear()


def _seek_before_resume(method: Any) -> Any:
    """Wrap a Recovery method that resumes the input partitions and then seeks them."""

    @functools.wraps(method)
    async def wrapper(recovery: Any, *args: Any, **kwargs: Any) -> Any:
        consumer = recovery.app.consumer
        consumer._churnguard_deferred_resume = set()
        try:
            return await method(recovery, *args, **kwargs)
        finally:
            deferred = consumer._churnguard_deferred_resume
            consumer._churnguard_deferred_resume = None
            if deferred:  # the method returned before its seek (e.g. rebalancing again): resume as it meant to
                _resume_partitions(consumer, deferred)

    return wrapper


def install() -> None:
    """Replace Faust's commit-offset selection and its resume-then-seek order (idempotent)."""
    global _installed
    if _installed:
        return
    for name in ("_filter_committable_offsets", "_acked", "_gap", "_unacked_messages", "resume_partitions",
                 "perform_seek"):
        if not (hasattr(Consumer, name) or name in Consumer.__annotations__):
            raise RuntimeError(f"faust Consumer has no {name}: the offset fixes do not fit this faust version")
    for name in ("on_recovery_completed", "_resume_streams"):
        if not hasattr(Recovery, name):
            raise RuntimeError(f"faust Recovery has no {name}: the offset fixes do not fit this faust version")
        setattr(Recovery, name, _seek_before_resume(getattr(Recovery, name)))
    Consumer._filter_committable_offsets = _filter_committable_offsets  # type: ignore[method-assign]
    Consumer.resume_partitions = _resume_partitions_unless_deferred  # type: ignore[method-assign]
    Consumer.perform_seek = _perform_seek_then_resume  # type: ignore[method-assign]
    _installed = True
