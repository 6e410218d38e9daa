"""Bad records of many kinds, built from valid ones: what the fault-injection suite mixes into a
valid stream. Each kind says which dead-letter reason it must end with, or that it is a copy.

A record is (kind, user_id, ts, value, key, record_ts): ``key`` and ``record_ts`` default to the
user id and the event time when None (streams/kafka/produce.py produces them so).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from streams.kafka.partitioner import kafka_partition

Record = tuple[str, str, int, bytes, "bytes | None", "int | None"]
YEAR_2500_MS = 16_725_225_600_000
# Personal data in bad records: it may reach the dead-letter topic (the payload), never a log line.
CANARY = "jane.canary@example.com"


@dataclass(frozen=True)
class BadKind:
    name: str
    outcome: str  # the dead-letter reason it must get, or "duplicate"
    make: Callable[[random.Random, str, dict[str, Any], int], Record]


def _raw(kind: str, doc: dict[str, Any], value: bytes) -> Record:
    return (kind, doc["user_id"], doc["ts"], value, doc["user_id"].encode(), doc["ts"])


def _without(field: str) -> Callable[[random.Random, str, dict[str, Any], int], Record]:
    def make(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
        d = dict(doc)
        del d[field]
        return (kind, doc["user_id"], doc["ts"], orjson.dumps(d), doc["user_id"].encode(), doc["ts"])
    return make


def _with(**changes: Any) -> Callable[[random.Random, str, dict[str, Any], int], Record]:
    def make(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
        return (kind, doc["user_id"], doc["ts"], orjson.dumps({**doc, **changes}), doc["user_id"].encode(), doc["ts"])
    return make


def _wrong_partition(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    right = kafka_partition(doc["user_id"], partitions)
    key = next(k for k in (f"{doc['user_id']}#{i}" for i in range(1000)) if kafka_partition(k, partitions) != right)
    return (kind, doc["user_id"], doc["ts"], orjson.dumps(doc), key.encode(), doc["ts"])


def _new_event_on_wrong_partition(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    # A copy with a fresh event id on another partition: if it were applied, the state would differ.
    record = _wrong_partition(rng, kind, {**doc, "event_id": doc["event_id"] + "-elsewhere"}, partitions)
    return record


def _future(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    d = {**doc, "event_id": doc["event_id"] + "-future", "ts": YEAR_2500_MS}
    return (kind, doc["user_id"], doc["ts"], orjson.dumps(d), doc["user_id"].encode(), doc["ts"])


LATE_BY_MS = 20 * 86_400_000


def _late(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    # A new event of the same user 20 days older than the record it travels with: far beyond the
    # allowed lateness, so it must be dead-lettered, never applied out of order.
    d = {**doc, "event_id": doc["event_id"] + "-late", "ts": doc["ts"] - LATE_BY_MS}
    return (kind, doc["user_id"], doc["ts"], orjson.dumps(d), doc["user_id"].encode(), doc["ts"])


def _copy(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    return (kind, doc["user_id"], doc["ts"], orjson.dumps(doc), doc["user_id"].encode(), doc["ts"])


def _copy_later(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    # The producer sent it again, restamped a few hours later: the same event.
    d = {**doc, "ts": doc["ts"] + rng.randrange(1, 6 * 3_600_000)}
    return (kind, doc["user_id"], d["ts"], orjson.dumps(d), doc["user_id"].encode(), d["ts"])


def _copy_with_extra_field(rng: random.Random, kind: str, doc: dict[str, Any], partitions: int) -> Record:
    return (kind, doc["user_id"], doc["ts"], orjson.dumps({**doc, "added_later": {"x": 1}}),
            doc["user_id"].encode(), doc["ts"])


KINDS = (
    BadKind("truncated_json", "undecodable", lambda r, k, d, p: _raw(k, d, orjson.dumps(d)[: r.randrange(1, 30)])),
    BadKind("binary_noise", "undecodable", lambda r, k, d, p: _raw(k, d, bytes(r.randrange(256) for _ in range(40)))),
    BadKind("invalid_utf8", "undecodable", lambda r, k, d, p: _raw(k, d, b'{"event_id": "\xff\xfe"}')),
    BadKind("empty_value", "undecodable", lambda r, k, d, p: _raw(k, d, b"")),
    BadKind("json_array", "invalid", lambda r, k, d, p: _raw(k, d, b"[1, 2, 3]")),
    BadKind("json_null", "invalid", lambda r, k, d, p: _raw(k, d, b"null")),
    BadKind("json_string", "invalid", lambda r, k, d, p: _raw(k, d, b'"a click"')),
    BadKind("missing_user_id", "invalid", _without("user_id")),
    BadKind("missing_event_id", "invalid", _without("event_id")),
    BadKind("missing_ts", "invalid", _without("ts")),
    BadKind("ts_as_text", "invalid", _with(ts="2026-01-05T10:00:00Z")),
    BadKind("ts_negative", "invalid", _with(ts=-5)),
    BadKind("ts_beyond_year_3000", "invalid", _with(ts=40_000_000_000_000)),
    BadKind("ts_fractional", "invalid", _with(ts=1_767_225_600_000.5)),
    BadKind("empty_event_id", "invalid", _with(event_id="")),
    BadKind("event_id_too_long", "invalid", _with(event_id="e" * 129)),
    BadKind("user_id_too_long", "invalid", _with(user_id="u" * 129)),
    BadKind("user_id_not_text", "invalid", _with(user_id=12345)),
    BadKind("personal_data_invalid", "invalid", _with(ts="soon", email=CANARY, name="Jane Canary")),
    BadKind("personal_data_undecodable", "undecodable",
            lambda r, k, d, p: _raw(k, d, b'{"email": "' + CANARY.encode() + b'", "ts": ')),
    # ~900 KB (under the producer's 1 MiB) in a field every kind bounds: an unknown field would be ignored.
    BadKind("oversize_record", "invalid", _with(event_id="e" * 900_000)),
    BadKind("wrong_partition", "wrong_partition", _wrong_partition),
    BadKind("wrong_partition_new_event", "wrong_partition", _new_event_on_wrong_partition),
    BadKind("dated_year_2500", "future", _future),
    BadKind("twenty_days_late", "late", _late),
    BadKind("exact_copy", "duplicate", _copy),
    BadKind("copy_restamped_later", "duplicate", _copy_later),
    BadKind("copy_with_unknown_field", "duplicate", _copy_with_extra_field),
)
# Kinds that only apply to one event kind (their fields).
KIND_SPECIFIC = {
    "click": (BadKind("unknown_action", "invalid", _with(action="teleport")),),
    "purchase": (BadKind("negative_amount", "invalid", _with(amount=-1)),
                 BadKind("amount_beyond_1e12", "invalid", _with(amount=1e13)),
                 BadKind("lowercase_currency", "invalid", _with(currency="eur"))),
    "support_ticket": (BadKind("csat_six", "invalid", _with(csat=6)),
                       BadKind("unknown_status", "invalid", _with(status="escalated"))),
}


def inject(records: list[tuple[str, str, int, bytes]], n_bad: int, partitions: int,
           seed: int = 1) -> tuple[list[Record], dict[str, int]]:
    """The valid records with ``n_bad`` bad ones mixed in, each right after the valid record it was
    made from (so it travels at that record's time); and how many of each outcome to expect."""
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(records)), n_bad))
    at_most = {"oversize_record": 3}  # each is ~1 MB on the broker
    expected: dict[str, int] = {}
    kinds_used: set[str] = set()
    out: list[Record] = []
    j = 0
    for i, (kind, uid, ts, value) in enumerate(records):
        out.append((kind, uid, ts, value, None, None))
        while j < len(chosen) and chosen[j] == i:
            j += 1
            doc = orjson.loads(value)
            candidates = KINDS + KIND_SPECIFIC[kind]
            # Late only where the watermark is sure to be past it: clicks carry the partition's event
            # time in a backlog (purchases and tickets are few, read to their end at once).
            if kind != "click" or doc["ts"] - LATE_BY_MS < records[0][2] + 2 * 86_400_000:
                candidates = tuple(c for c in candidates if c.name != "twenty_days_late")
            bad = candidates[rng.randrange(len(candidates))]
            while expected.get(f"kind:{bad.name}", 0) >= at_most.get(bad.name, n_bad):
                bad = candidates[rng.randrange(len(candidates))]
            expected[f"kind:{bad.name}"] = expected.get(f"kind:{bad.name}", 0) + 1
            out.append(bad.make(rng, kind, doc, partitions))
            expected[bad.outcome] = expected.get(bad.outcome, 0) + 1
            kinds_used.add(bad.name)
    expected = {k: v for k, v in expected.items() if not k.startswith("kind:")} | {"kinds": len(kinds_used)}
    return out, expected
