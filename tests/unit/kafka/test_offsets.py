"""Offset commits never pass an in-flight record (faust-streaming #606 / #707): the upstream case,
reproduced on a real Faust consumer object, and the gaps that may still be committed over."""

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


async def test_recovery_seeks_input_partitions_before_resuming_them(consumer, monkeypatch):
    calls = []
    monkeypatch.setattr(offsets, "_resume_partitions", lambda c, tps: calls.append(("resume", set(tps))))

    async def seek(c):
        calls.append(("seek",))

    monkeypatch.setattr(offsets, "_perform_seek", seek)

    class Recovery:  # the shape of faust's: resume the inputs, then seek them (on_recovery_completed)
        app = type("App", (), {"consumer": consumer})()

        async def on_recovery_completed(self):
            offsets._resume_partitions_unless_deferred(consumer, {TOPIC})
            await offsets._perform_seek_then_resume(consumer)

        async def returns_early(self):
            offsets._resume_partitions_unless_deferred(consumer, {TOPIC})

    recovery = Recovery()
    await offsets._seek_before_resume(Recovery.on_recovery_completed)(recovery)
    assert calls == [("seek",), ("resume", {TOPIC})]
    calls.clear()
    await offsets._seek_before_resume(Recovery.returns_early)(recovery)
    assert calls == [("resume", {TOPIC})]  # no seek came: resumed as faust meant to
    calls.clear()
    offsets._resume_partitions_unless_deferred(consumer, {TOPIC})  # outside recovery: at once
    assert calls == [("resume", {TOPIC})]
