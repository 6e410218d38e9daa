"""Memory per event waiting in the reorder buffer, as a worker holds it.

    .venv/bin/python bench/buffer_memory.py [--users 300 --days 20]

A live worker keeps each partition's latest allowed lateness of events (an hour by default) in its
reorder buffer until the watermark passes them, each with its consumer record (Faust's event and
message, acked after the flush that wrote its effects). So the buffer's memory is the input rate x
the allowed lateness x this figure. Measured with tracemalloc: simulated records of every kind
decoded as the pipeline decodes them and pushed with a Faust event built around each record,
divided by the number of events; the record's own bytes (value and key) are reported apart.
"""

from __future__ import annotations

import gc
import tracemalloc

import orjson
from faust.events import Event as FaustEvent
from faust.types import TP, Message

from common import population_args  # bench/common.py (run as a script: its directory is on the path)
from streams.contracts import decode_event
from streams.core.reorder import ReorderBuffer
from streams.offline.simulator import SimConfig, serialise, simulate


def main() -> None:
    args = population_args(users=300, days=20)
    cfg = SimConfig(users=args.users, days=args.days, bad_rate=0.0)
    records = [(kind, value, user_id.encode()) for kind, user_id, _, value in serialise(simulate(cfg)[0], cfg)]
    for kind in {kind for kind, _, _ in records}:  # validators compiled outside the measurement
        decode_event(kind, next(value for k, value, _ in records if k == kind))
    tp = TP("churnguard.clicks.v1", 0)
    gc.collect()
    tracemalloc.start()
    buffer = ReorderBuffer()
    for offset, (kind, value, key) in enumerate(records):
        message = Message(tp.topic, tp.partition, offset, 1_767_247_320.0, 0, [], key, value, None, tp=tp)
        buffer.push(decode_event(kind, value), FaustEvent(None, key, value, {}, message))
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    record_bytes = sum(len(value) + len(key) + 66 for _, value, key in records)  # + two bytes objects' headers
    print(orjson.dumps({"events": len(buffer), "bytes_per_buffered_event": round((held + record_bytes) / len(buffer)),
                        "of_which_record_bytes": round(record_bytes / len(buffer))}).decode())


if __name__ == "__main__":
    main()
