"""Offset commits never pass an in-flight record (faust-streaming #606 / #707): the upstream case,
reproduced on a real Faust consumer object, and the gaps that may still be committed over. Seeks to
the committed offsets run with the flow stopped."""

import faust
import pytest
from faust.transport.consumer import Consumer
from faust.types import TP

from streams.kafka import offsets

TOPIC = TP("churnguard.clicks.v1", 0)


class Msg:
    """The two things the commit logic reads of a tracked message."""

    def __init__(self, offset, acked=False):
        self.tp, self.offset, self.acked = TOPIC, offset, acked


@pytest.fixture
def consumer():
    app = faust.App("commit-test", broker="kafka://127.0.0.1:1", store="memory://")
    return app.consumer


def acked(consumer, committed, offsets):
    consumer._committed_offset[TOPIC] = committed
    consumer._acked[TOPIC] = list(offsets)
    consumer._acked_index[TOPIC] = set(offsets)


def test_upstream_commits_past_a_single_unacked_record_at_the_head(consumer):
    acked(consumer, 100, [101, 102, 103])
    assert Consumer._new_offset(consumer, TOPIC) == 104  # the bug: record 100 would be lost on restart


def test_the_fix_never_commits_past_the_lowest_in_flight_record(consumer):
    acked(consumer, 100, [101, 102, 103])
    assert offsets.safe_new_offset(consumer, TOPIC, in_flight=100) is None
    assert consumer._acked[TOPIC] == [101, 102, 103]  # kept for when 100 is acked
    consumer._acked[TOPIC].insert(0, 100)
    assert offsets.safe_new_offset(consumer, TOPIC, in_flight=None) == 104


def test_a_run_is_cut_at_an_in_flight_record_inside_it(consumer):
    # E.g. a redelivered copy of 102 is being processed again: the commit stops below it.
    acked(consumer, 100, [100, 101, 102, 103])
    assert offsets.safe_new_offset(consumer, TOPIC, in_flight=102) == 102
    assert consumer._acked[TOPIC] == [102, 103]


def test_a_gap_with_no_record_behind_it_is_still_committed_over(consumer):
    # A transaction marker or a compacted record at 100: nothing is in flight there.
    acked(consumer, 100, [101, 102])
    assert offsets.safe_new_offset(consumer, TOPIC, in_flight=None) == 103


def test_the_installed_filter_uses_the_consumers_unacked_messages(consumer):
    offsets.install()
    acked(consumer, 100, [101, 102, 103])
    head = Msg(100)
    consumer._unacked_messages.add(head)
    assert consumer._filter_committable_offsets([TOPIC]) == {}
    head.acked = True
    consumer._acked[TOPIC].insert(0, 100)
    assert consumer._filter_committable_offsets([TOPIC]) == {TOPIC: 104}


def test_lowest_in_flight_ignores_acked_messages():
    assert offsets.lowest_in_flight([Msg(7, acked=True), Msg(9), Msg(8)]) == {TOPIC: 8}


async def test_a_seek_runs_with_the_flow_stopped_and_covers_partitions_without_a_commit(consumer, monkeypatch):
    committed_tp, fresh_tp, changelog_tp = TOPIC, TP("churnguard.clicks.v1", 1), TP("app-user-state-changelog", 0)
    calls = []

    async def seek_to_committed(c):
        calls.append(("seek_to_committed", c.flow_active))
        c._committed_offset[committed_tp] = 40

    async def seek(c, tp, offset):
        calls.append(("seek", tp, offset, c.flow_active))

    monkeypatch.setattr(offsets, "_perform_seek", seek_to_committed)
    monkeypatch.setattr(consumer, "assignment", lambda: {committed_tp, fresh_tp, changelog_tp})
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: tp == changelog_tp)
    monkeypatch.setattr(offsets, "seek_on_consumer_thread", seek)

    consumer.resume_flow()
    await offsets._perform_seek_with_the_flow_stopped(consumer)
    # No record is delivered while the positions move, and a partition without a committed offset
    # goes back to its beginning (a batch cut short by the stop is fetched again).
    assert calls == [("seek_to_committed", False), ("seek", fresh_tp, 0, False)]
    assert consumer.flow_active

    calls.clear()
    consumer.stop_flow()  # e.g. during a rebalance: the seek must not start the flow
    await offsets._perform_seek_with_the_flow_stopped(consumer)
    assert calls == [("seek_to_committed", False), ("seek", fresh_tp, 0, False)]
    assert not consumer.flow_active


async def test_a_seek_sends_standby_changelogs_back_to_the_first_record_not_taken_in(consumer, monkeypatch):
    """The flow stop drops the rest of a batch being delivered, standby changelog records included,
    while the fetch position has passed them, and Faust seeks a standby only at a rebalance: its
    local table lost them, and took the next ones with their offsets (a takeover with local tables
    then lost events: tests/faults/test_takeover.py). The seek sends each standby back to the
    record after the last one its recovery took in."""
    read, fresh = TP("app-user-state-changelog", 2), TP("app-user-state-changelog", 3)
    calls = []

    async def seek_to_committed(c):
        pass

    async def seek(c, tp, offset):
        calls.append((tp, offset, c.flow_active))

    monkeypatch.setattr(offsets, "_perform_seek", seek_to_committed)
    monkeypatch.setattr(consumer, "assignment", lambda: {read, fresh})
    monkeypatch.setattr(consumer, "_is_changelog_tp", lambda tp: True)
    monkeypatch.setattr(offsets, "seek_on_consumer_thread", seek)
    recovery = consumer.app.tables.recovery
    recovery.standby_tps.update({read, fresh})
    recovery.standby_offsets[read] = 112  # took in up to 112 (its database, or buffered)
    recovery.standby_offsets[fresh] = None  # nothing yet: from the beginning
    consumer.resume_flow()
    await offsets._perform_seek_with_the_flow_stopped(consumer)
    assert sorted(calls, key=str) == sorted([(read, 113, False), (fresh, 0, False)], key=str)
    assert consumer.flow_active


async def test_a_seek_runs_aiokafkas_seek_on_the_consumer_thread(consumer):
    """Faust's Consumer.seek runs aiokafka's seek on the caller's thread, where it drops a fetched
    batch the consumer thread may be going through (a restarted worker crashed with KeyError:
    streams/kafka/offsets.py). Ours hands it to the consumer thread (mode's call_thread; here a
    stand-in that runs it on a thread of its own) and sets the read offset as Consumer.seek does."""
    import threading

    seen = []

    class ConsumerThread:
        def seek(self, tp, offset):
            seen.append((threading.current_thread().name, tp, offset))

        async def call_thread(self, fun, *args):
            worker = threading.Thread(target=fun, args=args, name="consumer-thread")
            worker.start()
            worker.join()

    consumer._thread = ConsumerThread()
    await offsets.seek_on_consumer_thread(consumer, TOPIC, 7)
    assert seen == [("consumer-thread", TOPIC, 7)] and consumer._read_offset[TOPIC] == 7
    await offsets.seek_on_consumer_thread(consumer, TOPIC, 0)
    assert consumer._read_offset[TOPIC] is None
