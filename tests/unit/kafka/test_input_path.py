"""The worker's input path in Faust (streams/kafka/input_path.py): its source records decode to what
Faust's raw codec gives, and its Monitor keeps only what Faust's consumer reads."""

from dataclasses import replace

import faust
import pytest
from faust.types import TP, Message

from streams.kafka.app import create_app
from streams.kafka.input_path import InboundMonitor, RawRecords, check_producer_buffer_directly
from streams.settings import Settings

CLICKS_0 = TP("churnguard.clicks.v1", 0)


@pytest.fixture
def wiring(tmp_path):
    return create_app(replace(Settings.from_env({}), broker_flavor="kafka", data_dir=str(tmp_path)))


def message(key, value, headers=()) -> Message:
    return Message(CLICKS_0.topic, CLICKS_0.partition, 7, 0, 0, list(headers), key, value, None)


@pytest.mark.parametrize("key, value, headers", [
    (b"user-1", b'{"user_id": "user-1"}', []),
    (None, b"\xff\x00not json", [("trace", b"x")]),
    (b"user-2", None, []),
    (b"", b"", []),
])
async def test_the_source_hands_over_the_records_bytes_as_fausts_raw_codec_does(wiring, key, value, headers):
    app = wiring.app
    assert isinstance(wiring.source.schema, RawRecords)
    record = message(key, value, headers)
    ours = await wiring.source.schema.compile(app)(record)
    fausts = await faust.Schema(key_serializer="raw", value_serializer="raw").compile(app)(record)
    assert fausts is not None
    assert (ours.key, ours.value, ours.headers, ours.message) == (fausts.key, fausts.value, fausts.headers, record)
    assert type(ours) is type(fausts)


def test_the_worker_app_keeps_the_inbound_time_and_no_per_record_counters(wiring):
    app = wiring.app
    monitor = app.monitor
    assert isinstance(monitor, InboundMonitor)
    record = message(b"user-1", b"{}")
    stream = app.stream([], loop=None)
    monitor.on_message_in(CLICKS_0, 7, record)
    state = monitor.on_stream_event_in(CLICKS_0, 7, stream, None)
    monitor.on_stream_event_out(CLICKS_0, 7, stream, None, state)
    monitor.on_message_out(CLICKS_0, 7, record)
    monitor.on_table_set(wiring.user_table, "user-1", b"")
    monitor.on_table_get(wiring.user_table, "user-1")
    # Faust's consumer warns of a stalled stream from this (transport/drivers/aiokafka.py).
    assert CLICKS_0 in monitor.stream_inbound_time
    assert (monitor.messages_received_total, monitor.events_total, len(monitor.events_runtime), monitor.tables) == \
        (0, 0, 0, {})


async def test_the_producer_buffer_is_measured_directly_and_upstreams_wait_runs_when_it_is_full(wiring):
    """The conductor awaits the buffer's ebb before every record: ours reads the pending queue
    instead of asking the settings whether the producer is threaded, and leaves a full buffer to
    upstream's wait (which, on a producer never started, refuses to flush)."""
    buffer = wiring.app.producer.buffer
    assert buffer.wait_until_ebb.__qualname__.startswith("check_producer_buffer_directly")
    for n in range(buffer.max_messages):
        buffer.pending.put_nowait(n)
    assert buffer.size == buffer.max_messages
    assert await buffer.wait_until_ebb() is None  # at the limit: no wait, as upstream
    buffer.pending.put_nowait("one more")
    with pytest.raises(RuntimeError, match="Producer not Running"):
        await buffer.wait_until_ebb()  # upstream's: flush down to the limit


def test_a_producer_buffer_of_another_kind_keeps_upstreams_wait(wiring):
    """Another faust release whose buffer holds no pending queue: its own wait stays."""
    buffer = wiring.app.producer.buffer
    upstream = object()
    buffer.pending, buffer.wait_until_ebb = None, upstream
    check_producer_buffer_directly(wiring.app)
    assert buffer.wait_until_ebb is upstream
