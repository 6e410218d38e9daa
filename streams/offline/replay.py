"""``churnguard replay``: files or a topic range into the input topics, fast, resumable, with progress.

Records are produced in the merged event-time order of streams/offline/sources.py, keyed by user_id to
the partition Kafka's default partitioner would choose (murmur2; explicit, so every client agrees),
with the event time as the record timestamp. Invalid records go to the dead-letter topic
(dead_letter.v1, ``source_topic = "file:<path>"``, ``source_offset`` = line number; for a topic
range the source topic, partition and offset) and are counted.

Resume: the first run records the end offsets of every target partition in a checkpoint file;
a rerun over the same files (same sizes and mtimes) reads the current ends, and skips, per
partition, as many records as already landed there. Produced in one deterministic order, those
are exactly the records already sent: nothing is duplicated. (Nothing else may write to these
topics meanwhile.) Speed: confluent-kafka (librdkafka) does the produce work in C; as fast as
possible by default, or paced at N x the speed of event time.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import orjson
import structlog
from confluent_kafka import KafkaException, Producer

from streams.contracts import dead_letter
from streams.kafka.partitioner import kafka_partition
from streams.settings import Settings
from streams.kafka import security
from streams.kafka.admin import partition_ends
from streams.offline.progress import Progress
from streams.offline.sources import (InputScan, KindMapping, SourceRecord, count_lines, kind_of_file, kind_of_topic, load_mapping, merged, sort_keyed,
                             read_topic_partition)

log = structlog.get_logger(__name__)

# More repeated (user_id, event_id) pairs than this share of the input is not redelivery noise.
REPEATED_IDS_SHARE = 0.01


class ReplayRefused(Exception):
    """The input cannot be replayed as it is; the message says why, in one line."""


@dataclass
class ReplayStats:
    produced: dict[str, int] = field(default_factory=dict)  # topic -> records
    invalid: dict[str, int] = field(default_factory=dict)  # reason -> records
    skipped: int = 0  # already sent by an interrupted run
    seconds: float = 0.0
    scan: InputScan | None = None

    @property
    def records(self) -> int:
        return sum(self.produced.values())

    def to_dict(self) -> dict[str, Any]:
        scan = self.scan or InputScan()
        return {"produced": self.produced, "invalid": self.invalid, "skipped_as_already_sent": self.skipped,
                "input_records": scan.records, "repeated_event_ids": scan.repeated_ids,
                "event_time_range": [scan.first_ts, scan.last_ts],
                "unmapped_columns": scan.unmapped,
                "lines_read_as_windows_1252": {f: {"lines": r.lines, "first_line": r.first}
                                               for f, r in scan.recoded.items() if r.lines},
                "seconds": round(self.seconds, 2),
                "records_per_s": round(self.records / self.seconds) if self.seconds else None}


def _fingerprint(paths: list[Path], mapping_path: str | None) -> str:
    h = hashlib.sha256()
    for p in [*paths, *([Path(mapping_path)] if mapping_path else [])]:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class TopicRange:
    """A range of source topics, on this or another cluster. Bounds are offsets (small integers)
    or times (epoch milliseconds or ISO 8601): from inclusive, to exclusive; open ends mean the
    beginning and the end as of the replay's start."""

    source: Settings  # the source cluster: its broker and how to connect to it
    topics: tuple[str, ...]
    start: str | None = None
    end: str | None = None

    @staticmethod
    def bound(text: str | None) -> tuple[int | None, int | None]:
        """(offset, epoch ms) for a bound given as text."""
        if text is None:
            return None, None
        if text.isdigit():
            value = int(text)
            return (value, None) if value < 10**11 else (None, value)
        return None, int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.source.broker}|{','.join(self.topics)}|{self.start}|{self.end}".encode()).hexdigest()[:16]

    def records(self, kind: str | None, mapping: dict[str, KindMapping],
                scan: InputScan | None = None) -> tuple[Iterator[SourceRecord], int]:
        from kafka import KafkaConsumer

        start_offset, ts_from = self.bound(self.start)
        end_offset, ts_to = self.bound(self.end)
        ends = partition_ends(self.source, list(self.topics))

        def consumer() -> KafkaConsumer:
            return KafkaConsumer(bootstrap_servers=self.source.broker, enable_auto_commit=False,
                                 **security.kafka_python(self.source))

        streams, total = [], 0
        for i, ((topic, partition), end) in enumerate(sorted(ends.items())):
            first = start_offset or 0
            last = min(end, end_offset) if end_offset is not None else end
            total += max(last - first, 0)
            k = kind or kind_of_topic(topic)
            streams.append(read_topic_partition(consumer, topic, partition, k, mapping.get(k, KindMapping()),
                                                first, last, ts_from, ts_to, i))
        return sort_keyed((item for stream in streams for item in stream), scan), total


def read_inputs(files: list[tuple[Path, str]], kind: str | None, mapping: dict[str, KindMapping],
                topic_range: TopicRange | None, scan: InputScan | None = None) -> tuple[Iterator[SourceRecord], int]:
    """The input of a replay (and of an evaluation): files or a topic range, mapped, in one
    deterministic event-time order; and how many records to expect."""
    if topic_range is not None:
        return topic_range.records(kind, mapping, scan)
    return merged(files, mapping, scan), count_lines(files, mapping)


class Replay:
    def __init__(self, settings: Settings, files: list[Path] | None = None, kind: str | None = None,
                 mapping: str | None = None, speed: float = 0.0, checkpoint_dir: Path | None = None,
                 topic_range: TopicRange | None = None) -> None:
        self.settings = settings
        self.files = [(p, kind or kind_of_file(p)) for p in files or []]
        self.kind = kind
        self.topic_range = topic_range
        self.mapping_path = mapping
        self.mapping = load_mapping(mapping)
        self.speed = speed
        fingerprint = topic_range.fingerprint() if topic_range else _fingerprint(files or [], mapping)
        self.checkpoint = (checkpoint_dir or Path(settings.data_dir)) / f"replay-{fingerprint}.json"
        self.topic_of_kind = {"click": settings.topic_clicks, "purchase": settings.topic_purchases,
                              "support_ticket": settings.topic_tickets}
        self.targets = [*self.topic_of_kind.values(), settings.topic_dead_letter]

    def _already_sent(self, ends: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Per target partition, how many of this replay's records landed before (resume)."""
        if self.checkpoint.exists():
            start = {(t, int(p)): o for t, parts in orjson.loads(self.checkpoint.read_bytes())["start"].items()
                     for p, o in parts.items()}
            sent = {tp: ends[tp] - start.get(tp, 0) for tp in ends}
            log.info("replay_resuming", checkpoint=str(self.checkpoint), already_sent=sum(sent.values()))
            return sent
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        doc: dict[str, dict[str, int]] = {}
        for (topic, p), offset in ends.items():
            doc.setdefault(topic, {})[str(p)] = offset
        source = self.topic_range.__dict__ if self.topic_range else [str(p) for p, _ in self.files]
        self.checkpoint.write_bytes(orjson.dumps({"source": source, "start": doc}))
        return {}

    def _dead_letter(self, r: SourceRecord, partitions: dict[str, int], stats: ReplayStats) -> tuple[str, int, bytes, bytes]:
        reason, detail = r.error or ("invalid", "")
        stats.invalid[reason] = stats.invalid.get(reason, 0) + 1
        doc = dead_letter(reason, detail, *r.dead_letter_source, r.line_number, r.value)
        topic = self.settings.topic_dead_letter
        key = f"{r.origin}:{r.position}"
        return topic, kafka_partition(key, partitions[topic]), key.encode(), orjson.dumps(doc)

    def _judge(self, scan: InputScan) -> None:
        """Refuse an input that is mostly rejected (a wrong mapping, the wrong file) before anything
        is produced; say once if it repeats ids far more than redeliveries would."""
        limit = self.settings.max_rejected_share
        if scan.records and scan.rejected > limit * scan.records:
            raise ReplayRefused(
                f"{scan.rejected:,} of {scan.records:,} records ({scan.rejected / scan.records:.1%}) fail their contract "
                f"({', '.join(f'{n:,} {reason}' for reason, n in sorted(scan.invalid.items()))}; first at "
                f"{scan.first_invalid}), more than CHURNGUARD_MAX_REJECTED_SHARE={limit}; nothing was produced")
        for path, recoded in scan.recoded.items():
            if recoded.lines:
                log.warning("input_lines_not_utf8", file=path, lines=recoded.lines, first_line=recoded.first,
                            hint="read as Windows-1252; if the export uses another encoding, set encoding in the mapping")
        if scan.repeated_ids > REPEATED_IDS_SHARE * max(scan.records - scan.rejected, 1):
            log.warning("input_repeats_event_ids", repeated=scan.repeated_ids, records=scan.records,
                        hint="these records repeat a (user_id, event_id) of an earlier one and will be counted as "
                             "duplicates, not applied; if the export has no unique event id, map one that is")

    def inputs(self) -> tuple[Iterator[SourceRecord], int, InputScan]:
        """The input records in the replay's order, judged (ReplayRefused) before the first one
        comes out; how many to expect; what the scan of the input found."""
        scan = InputScan()
        records, total = read_inputs(self.files, self.kind, self.mapping, self.topic_range, scan)
        # Sorting reads the whole input before the first record comes out: judge it before producing.
        first = next(records, None)
        self._judge(scan)
        return itertools.chain([first] if first is not None else [], records), total, scan

    def run(self, limit: int | None = None) -> ReplayStats:
        """Produce every record (or stop after ``limit`` new ones, e.g. to split a replay)."""
        stats = ReplayStats()
        ends = partition_ends(self.settings, self.targets)
        sent = self._already_sent(ends)
        partitions = {t: 1 + max(p for (topic, p) in ends if topic == t) for t in self.targets}
        records, total, stats.scan = self.inputs()
        with Progress("replay", total) as progress:
            return self._produce(records, sent, partitions, stats, progress, limit)

    def _produce(self, records: Iterator[SourceRecord], sent: dict[tuple[str, int], int], partitions: dict[str, int],
                 stats: ReplayStats, progress: Progress, limit: int | None) -> ReplayStats:
        errors: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            errors.append(str(err))

        # Delivery reports for failures only: a Python callback per record would cost more than the send.
        producer = Producer({"bootstrap.servers": self.settings.broker, "linger.ms": 20, "batch.size": 1_000_000,
                             "acks": 1, "enable.idempotence": False, "max.in.flight.requests.per.connection": 1,
                             "queue.buffering.max.messages": 500_000, "queue.buffering.max.kbytes": 1_048_576,
                             "delivery.report.only.error": True, "on_delivery": on_delivery,
                             **security.librdkafka(self.settings)})

        started = time.monotonic()
        first_ts: int | None = None
        done = 0
        produced: dict[str, int] = dict.fromkeys(self.targets, 0)
        budget = limit if limit is not None else -1
        topic_of_kind, produce, speed = self.topic_of_kind, producer.produce, self.speed
        for r in records:
            if budget == 0:
                break
            done += 1
            if r.error is None:
                topic = topic_of_kind[r.kind]
                partition, key, value, ts = kafka_partition(r.user_id, partitions[topic]), r.user_id.encode(), r.value, r.ts
            else:
                topic, partition, key, value = self._dead_letter(r, partitions, stats)
                ts = 0  # no event time: the broker stamps it
            if sent and sent.get((topic, partition), 0) > 0:
                sent[(topic, partition)] -= 1
                stats.skipped += 1
                continue
            if speed and ts:
                first_ts = ts if first_ts is None else first_ts
                wait = (ts - first_ts) / 1000 / speed - (time.monotonic() - started)
                if wait > 0:
                    producer.flush()
                    time.sleep(wait)
            try:
                produce(topic, value, key, partition=partition, timestamp=ts)
            except BufferError:  # the local queue is full: let librdkafka drain it
                while True:
                    producer.poll(0.05)
                    try:
                        produce(topic, value, key, partition=partition, timestamp=ts)
                        break
                    except BufferError:
                        pass
            produced[topic] += 1
            budget -= 1
            if done % 10_000 == 0:
                producer.poll(0)
                progress.update(done)
                if errors:
                    raise KafkaException(errors[0])
        stats.produced = {t: n for t, n in produced.items() if n}
        remaining = producer.flush(60)
        if remaining or errors:
            raise KafkaException(errors[0] if errors else f"{remaining} records not acknowledged")
        stats.seconds = time.monotonic() - started
        progress.update(done)
        log.info("replay_done", **stats.to_dict())
        return stats
