"""A backfill in this process: the replay's records straight into one engine per partition, no
broker and no worker process, with the outputs the worker path would publish.

The same engine (streams/core/engine.py) sees the same events in the same partitions with the
same offsets as the worker path: records in the replay's merged event-time order, each routed to
the partition the replay would produce it to (murmur2 of the user id), offsets counted per
topic partition from 0 as on fresh topics, the event time as the record timestamp. Engine
outputs are kept per output topic partition in the order the worker would produce them (its
alert, holdout and dead-letter keys are user ids, so a partition's records come from one
engine), so each output file reads like the topic would: in partition, then offset order.

Sources hold the watermark back until all three have shown an event, as in the worker. The
input is in one total order, so every source has passed a time once a later time is read: at
each flush point before a later event time, every source is declared idle (as the worker does
for a topic it has read to the end), which releases what is buffered and bounds the buffer.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from streams.contracts import dead_letter
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.events import DAY_MS, INPUT_KINDS, Event
from streams.core.features import UserState
from streams.kafka.partitioner import kafka_partition
from streams.offline.progress import Progress
from streams.offline.runner import at_flush_point, exchange_peer_records, finish_peers, with_next
from streams.offline.sources import SourceRecord
from streams.settings import Settings

OUTPUTS = ("alerts", "holdout", "dead_letters", "model_quality")


@dataclass
class InlineResult:
    outputs: dict[str, dict[int, list[bytes]]] = field(default_factory=lambda: {name: {} for name in OUTPUTS})
    counters: dict[str, int] = field(default_factory=dict)
    produced: dict[str, int] = field(default_factory=dict)  # input topic -> records (as the replay would produce)
    invalid: dict[str, int] = field(default_factory=dict)  # reason -> records the replay rejected
    rejected: dict[int, list[bytes]] = field(default_factory=dict)  # the replay's dead letters, by partition
    state_digest: str = ""

    def records(self, name: str) -> list[bytes]:
        """An output's records in partition, then production order (as topic_records reads a topic):
        the replay's dead letters come before the engines' (the replay ends before workers start)."""
        by_partition = self.outputs[name]
        if name == "dead_letters":
            by_partition = {p: [*self.rejected.get(p, []), *by_partition.get(p, [])]
                            for p in {*self.rejected, *by_partition}}
        return [value for p in sorted(by_partition) for value in by_partition[p]]


class InlineBackfill:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.engine_config()
        self.users: dict[str, UserState] = {}
        self.engines = [PartitionEngine(p, self.cfg, PartitionState(p), self.users, partitions=settings.partitions)
                        for p in range(settings.partitions)]
        self.topic_of_kind = {"click": settings.topic_clicks, "purchase": settings.topic_purchases,
                              "support_ticket": settings.topic_tickets}
        self.offsets: dict[tuple[str, int], int] = {}
        self.result = InlineResult()
        self.unflushed = [0] * settings.partitions

    def run(self, records: Iterable[SourceRecord], total: int | None) -> InlineResult:
        partitions, every = self.settings.partitions, self.settings.flush_every_events
        flushed_day = [-1] * partitions
        done = 0
        with Progress("backfill", total) as progress:
            for record, following in with_next(records):
                done += 1
                if record.error is not None:
                    self._rejected(record)
                else:
                    p = kafka_partition(record.user_id, partitions)
                    self._offer(p, record)
                    day = record.ts // DAY_MS
                    if at_flush_point(self.unflushed[p], day, flushed_day[p], record, following, every):
                        flushed_day[p] = day
                        self._flush(p)
                if done % 10_000 == 0:
                    progress.update(done)
            for p in range(partitions):
                self._flush(p)
            finish_peers(self.engines, lambda engine: self._flush(engine.partition))
            progress.update(done)
        self.result.counters = _summed(e.state.counters for e in self.engines)
        self.result.state_digest = state_digest(self.users.values(), [e.state for e in self.engines])
        return self.result

    def _offer(self, p: int, record: SourceRecord) -> None:
        topic = self.topic_of_kind[record.kind]
        offset = self.offsets.get((topic, p), 0)
        self.offsets[topic, p] = offset + 1
        self.result.produced[topic] = self.result.produced.get(topic, 0) + 1
        event = Event(record.kind, record.event_id, record.user_id, record.ts, orjson.loads(record.value))
        # The token is what a dead letter of this record names (the worker's event.message).
        self.engines[p].offer(record.kind, offset, event, (topic, p, offset, record.value), record.ts)
        exchange_peer_records(self.engines)
        self.unflushed[p] += 1

    def _rejected(self, record: SourceRecord) -> None:
        """As the replay does: the record goes to the dead-letter topic, keyed by its position."""
        reason, detail = record.error or ("invalid", "")
        self.result.invalid[reason] = self.result.invalid.get(reason, 0) + 1
        key = f"{record.origin}:{record.position}"
        doc = dead_letter(reason, detail, *record.dead_letter_source, record.line_number, record.value)
        self.result.rejected.setdefault(kafka_partition(key, self.settings.partitions), []).append(orjson.dumps(doc))

    def _flush(self, p: int) -> None:
        """Every source has passed the current event time: release, then take the outputs as the
        worker's flush does."""
        engine = self.engines[p]
        engine.set_idle(set(INPUT_KINDS))
        exchange_peer_records(self.engines)
        out = engine.drain()
        now_ms = int(time.time() * 1000)  # emission time: metadata, never logic
        for doc in out.alerts:
            doc["emitted_at"] = now_ms
            name = "alerts" if doc["arm"] == "treatment" else "holdout"
            self._emit(name, kafka_partition(doc["user_id"], self.settings.partitions), doc)
        for doc in out.quality:
            doc["emitted_at"] = now_ms
            self._emit("model_quality", p, doc)
        for (topic, partition, offset, value), reason, detail in out.dead_letters:
            self._emit("dead_letters", partition, dead_letter(reason, detail, topic, partition, offset, value))
        engine.begin_flush(out.dirty_users)
        self.unflushed[p] = 0

    def _emit(self, name: str, partition: int, doc: dict[str, Any]) -> None:
        self.result.outputs[name].setdefault(partition, []).append(orjson.dumps(doc))


def _summed(counters: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counters:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


def state_digest(users: Iterable[UserState], partitions: Iterable[PartitionState]) -> str:
    """A hash of every user and partition state as the changelogs hold them, without what depends
    on when flushes happened (flush epochs, journals and releases of flushes in flight): equal
    digests mean the same state, however the run was batched."""
    h = hashlib.sha256()
    for user in sorted(users, key=lambda u: u.user_id):
        doc = user.to_dict()
        for key in ("ep", "j", "rl"):
            doc.pop(key)
        h.update(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    for state in sorted(partitions, key=lambda s: s.partition):
        doc = state.to_dict()
        doc.pop("ep")
        h.update(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()
