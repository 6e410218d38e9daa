"""A worker running four partitions, killed again and again and restarted, in-process: what it
wrote survives (each flush writes its outputs, then the users, then the partition states and
offsets; a kill may come before a flush, after one, between its user and partition writes, or
partway through the user writes), nothing else does. Its engines start as their partitions' first
records come again and read the life-table topic back in chunks between them, as a worker does.
Seeded kill points; the end must be an uninterrupted run's: every user's state, the labels learned,
every copy of every partition's published table and model, every alert and every dead letter.

Each partition reads four sources (its partition of each input topic and of the erasure
requests), each with its own offsets and committed offset. Two inputs: the simulator's events in
event-time order without record timestamps, with erasure requests for a few users, and the same events as three topics would hold them: each record sent up to most of
the allowed lateness after its event (so a topic is out of event-time order), stamped with that
send time, a few sent far too late or by a clock far ahead (dead-lettered by their record
timestamps), a few sent twice, soon or days later; the sources read in a random interleaving, a
different one by every run and restart.

Used by tests/unit/core/test_worker_restarts.py (a few seeds, in `make test`) and
tests/faults/test_worker_model.py (many more, in `make faults`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from streams.core.engine import PartitionEngine, PartitionState
from streams.core.events import DAY_MS, INPUT_KINDS, Event
from streams.core.peers import PeerLedger, PeerRecord, exchange_own_records
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec
from streams.kafka.partitioner import kafka_partition
from streams.offline.simulator import SimConfig, as_events, simulate
from streams.settings import Settings

PARTITIONS = 4
STATES, USERS = PartitionStateCodec(), UserStateCodec()
KILLS = ("before_flush", "after_flush", "between_writes", "partway_through_users")
Source = tuple[int, str]  # (partition, input kind or "erasure"): one partition of one topic
SOURCES = [(p, kind) for p in range(PARTITIONS) for kind in (*INPUT_KINDS, "erasure")]
Record = tuple["Event | dict[str, Any]", int]  # an event or an erasure request, and its record timestamp


@dataclass
class Disk:
    """What outlives a worker: the changelogs, the committed offsets and the life-table topic."""

    inputs: dict[Source, list[Record]]  # each source's records, by offset
    states: dict[int, bytes] = field(default_factory=dict)
    users: dict[int, dict[str, bytes]] = field(default_factory=lambda: {p: {} for p in range(PARTITIONS)})
    committed: dict[Source, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    peer_topic: list[PeerRecord] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # published
    dead_letters: set[tuple[Source, int, str]] = field(default_factory=set)  # published: (source, offset, reason)
    erasure_audits: set[str] = field(default_factory=set)  # request ids confirmed


class Worker:
    """One worker process: its engines, life-table ledger and exchange as agents/pipeline.py's
    shell has them (``engine``, ``exchange_peer_records``), its flush in the same three phases."""

    def __init__(self, cfg, disk: Disk, rng: random.Random) -> None:
        self.cfg, self.disk, self.rng = cfg, disk, rng
        self.users = {uid: USERS.loads(b) for stored in disk.users.values() for uid, b in stored.items()}
        self.engines: dict[int, PartitionEngine] = {}
        self.ledger = PeerLedger()
        self.read = 0  # how far this worker has read the life-table topic
        self.unsent: list[PeerRecord] = []
        self.settled: dict[Source, set[int]] = {source: set() for source in SOURCES}

    def engine(self, p: int) -> PartitionEngine:
        if p not in self.engines:
            state = STATES.loads(self.disk.states[p]) if p in self.disk.states else PartitionState(p)
            engine = self.engines[p] = PartitionEngine(p, self.cfg, state, self.users, partitions=PARTITIONS)
            for record in self.ledger.records():
                engine.offer_peer(*record)
            engine.peers.hold_from(self.ledger.held_from)
        return self.engines[p]

    def offer(self, source: Source, offset: int) -> None:
        item, record_ts = self.disk.inputs[source][offset]
        if isinstance(item, Event):
            self.engine(source[0]).offer(source[1], offset, item, (source, offset), record_ts)
        else:
            self.engine(source[0]).offer_erasure(offset, item, (source, offset))
        self.exchange()

    def read_peer_topic(self, records: int) -> None:
        upto = min(len(self.disk.peer_topic), self.read + records)
        for record in self.disk.peer_topic[self.read:upto]:
            self._deliver(record)
        self.read = upto
        self.exchange()

    def _deliver(self, record: PeerRecord) -> None:
        self.ledger.add(record)
        for engine in list(self.engines.values()):
            engine.offer_peer(*record)

    def exchange(self) -> None:
        while True:
            self.unsent += exchange_own_records(self.engines.values(), self._deliver)
            missing = [engine for engine in self.engines.values() if engine.peers.missing_history]
            if not missing:
                return
            for engine in missing:  # read the topic from its beginning
                for record in self.disk.peer_topic:
                    engine.peers.offer(*record)
                engine.peer_history_complete()

    def flush(self, kill: str | None = None) -> None:
        outs = {}
        for p, engine in self.engines.items():
            outs[p] = out = engine.drain()
            engine.begin_flush(out.dirty_users)
            self.disk.alerts += out.alerts
            self.disk.dead_letters.update((*token, reason) for token, reason, _ in out.dead_letters)
        self.disk.peer_topic += self.unsent
        self.unsent = []
        for p, out in outs.items():
            written = sorted(out.dirty_users | out.erased_users)
            if kill == "partway_through_users":
                written = self.rng.sample(written, len(written) // 2)
            for uid in written:
                if uid in out.erased_users:  # a tombstone
                    self.disk.users[p].pop(uid, None)
                else:
                    self.disk.users[p][uid] = USERS.dumps(self.users[uid])
        if kill is not None:
            return
        for p, out in outs.items():
            self.disk.erasure_audits.update(doc["request_id"] for doc in out.erasures)
            for source, offset in [*out.settled, *(token for token, _, _ in out.dead_letters)]:
                self.settled[source].add(offset)
            self.disk.states[p] = STATES.dumps(self.engines[p].state)
        for source, settled in self.settled.items():
            committed = self.disk.committed[source]
            while committed < len(self.disk.inputs[source]) and committed in settled:
                committed += 1
            self.disk.committed[source] = committed

    def finish(self) -> None:
        for p in range(PARTITIONS):  # a partition with nothing left to read has its engine too
            self.engine(p)
        self.read_peer_topic(len(self.disk.peer_topic))
        while True:
            for engine in self.engines.values():
                engine.set_idle(set(INPUT_KINDS))
            self.exchange()
            if all(engine.peers.idle_self for engine in self.engines.values()):
                break
            for engine in self.engines.values():
                engine.peers.set_idle(True)
            self.exchange()
        self.flush()


def interleaving(pending: dict[Source, list[int]], rng: random.Random) -> list[tuple[Source, int]]:
    """The sources' records in an order a consumer of three topics may read them: each source in
    offset order, the sources in random runs, each source picked as often as it has records left."""
    order: list[tuple[Source, int]] = []
    left = {source: offsets[::-1] for source, offsets in pending.items() if offsets}
    while left:
        sources = list(left)
        source = rng.choices(sources, weights=[len(left[s]) for s in sources])[0]
        for _ in range(rng.choice((1, 5, 50, 500))):
            order.append((source, left[source].pop()))
            if not left[source]:
                del left[source]
                break
    return order


def run(records: list[Record], cfg, seed: int, kills: int, interleave: bool) -> tuple[Worker, Disk]:
    """``records`` (event, record timestamp) in the order they were sent, read in that order or,
    if ``interleave``, in a random interleaving of the sources, a new one at every restart. Killed
    ``kills`` times at a random point of what is left to read, then run to the end."""
    rng = random.Random(seed)
    disk = Disk({source: [] for source in SOURCES})
    place = {}
    for i, (item, record_ts) in enumerate(records):
        source = ((kafka_partition(item.user_id, PARTITIONS), item.kind) if isinstance(item, Event)
                  else (kafka_partition(item["user_id"], PARTITIONS), "erasure"))
        place[(source, len(disk.inputs[source]))] = i
        disk.inputs[source].append((item, record_ts))
    while True:
        worker = Worker(cfg, disk, rng)
        pending = {source: list(range(disk.committed[source], len(disk.inputs[source]))) for source in SOURCES}
        if interleave:
            again = interleaving(pending, rng)
        else:
            again = sorted(((source, o) for source, offsets in pending.items() for o in offsets), key=place.__getitem__)
        # Soon after the start (a kill during a restart's catch-up) or anywhere.
        kill_at = rng.randrange(min(len(again), rng.choice((1000, len(again))))) if kills else None
        kills -= 1
        kill = rng.choice(KILLS)
        every = rng.randrange(200, 1500)
        for n, (source, offset) in enumerate(again):
            if rng.random() < 0.05:
                worker.read_peer_topic(rng.randrange(1, 200))
            worker.offer(source, offset)
            if n % every == every - 1:
                worker.flush()
            if n == kill_at:
                if kill != "before_flush":
                    worker.flush(None if kill == "after_flush" else kill)
                break
        else:
            worker.finish()
            return worker, disk


def as_sent(events: list[Event], cfg, seed: int) -> list[tuple[Event, int]]:
    """The events as producers send them: each up to 0.8 of the allowed lateness after it happened
    (stamped with that time, in that order), 0.3 % sent later than the lateness allows, 0.3 % by a
    clock far ahead (both dead-lettered by their record timestamps), 0.5 % sent twice (half of those
    again days later: dead-lettered too, whether or not the first copy's id is still remembered)."""
    rng = random.Random(seed)
    sent = []
    for event in events:
        r = rng.random()
        if r < 0.003:
            sent.append((event.ts + cfg.lateness_ms + rng.randrange(1, 3 * DAY_MS), event))
        elif r < 0.006:
            sent.append((event.ts - cfg.max_skew_ms - rng.randrange(1, 3 * DAY_MS), event))
        else:
            sent.append((event.ts + rng.randrange(int(0.8 * cfg.lateness_ms)), event))
            if r > 0.995:  # a producer's retry soon after, or a copy sent again days later
                again = rng.randrange(int(0.8 * cfg.lateness_ms)) if r > 0.9975 else cfg.lateness_ms + rng.randrange(3 * DAY_MS)
                sent.append((event.ts + again, event))
    sent.sort(key=lambda item: item[0])
    return [(event, record_ts) for record_ts, event in sent]


def config():
    """As tests/faults/harness.py serves: a week's horizon, so the model serves and silences pass
    two horizons within the 60 days."""
    return replace(Settings(), label_horizon_days=7, model_min_labels=300, alert_daily_budget_share=0.02,
                   alert_tiers=(("watch", 0.2), ("high", 0.35), ("critical", 0.5))).engine_config()


def end_state(worker: Worker, disk: Disk) -> tuple[Any, ...]:
    # "ep", "rl" and "j" record write history: a restart's flushes differ.
    users = {u: {**s.to_dict(), "ep": 0, "rl": [], "j": []} for u, s in sorted(worker.users.items())}
    engines = [worker.engines[p] for p in range(PARTITIONS)]
    # Every copy of each partition's life table and model as of each boundary, as the others got
    # them (a table's own counts at the end may still miss steps a restart does again at the next
    # boundary, which the input does not reach).
    rows: dict[tuple[int, int], set[bytes]] = {}
    for p, day, _, counts in disk.peer_topic:
        if counts is not None:
            rows.setdefault((p, day), set()).add(orjson.dumps(counts, option=orjson.OPT_SORT_KEYS))
    return (users, [e.model.labels for e in engines], rows, [e.state.next_boundary for e in engines],
            disk.dead_letters, disk.erasure_audits)


def population() -> tuple[list[Event], Any]:
    """200 simulated users over 60 days, some events with attributes that change."""
    raw, _ = simulate(SimConfig(users=200, days=60, seed=29, bad_rate=0.0))
    for i, e in enumerate(raw):
        if i % 5 == 0:  # attributes that change: labels must be learned with the ones scored
            e["attributes"] = {"region": f"r{i % 3}", "plan": "gold" if i % 2 else "basic"}
    return as_events(raw), config()


def with_erasures(events: list[Event], seed: int) -> list[Record]:
    """The events in order, with erasure requests for six users, each somewhere in the second half
    of the log. (Not in the input as sent: an erasure is applied when read, so what it removes
    depends on how far the other topics have been read.)"""
    rng = random.Random(seed)
    records: list[Record] = [(event, -1) for event in events]
    for n, uid in enumerate(rng.sample(sorted({e.user_id for e in events}), 6)):
        at = rng.randrange(len(records) // 2, len(records))
        request = {"schema": "erasure_request.v1", "request_id": f"r{n}", "user_id": uid, "requested_at": 0}
        records.insert(at, (request, -1))
    return records


def uninterrupted(events: list[Event], cfg, inputs: str) -> tuple[Any, ...]:
    """The records of ``inputs`` ('in_order' or 'as_sent') and an uninterrupted run's end state
    and alerts."""
    interleave = inputs == "as_sent"
    records = as_sent(events, cfg, 1) if interleave else with_erasures(events, 1)
    worker, disk = run(records, cfg, 0, kills=0, interleave=interleave)
    return records, interleave, end_state(worker, disk), disk.alerts


def differences(events: list[Event], cfg, reference: tuple[Any, ...], seed: int) -> list[str]:
    """What a run killed three times (at points chosen by ``seed``) ends with that the
    uninterrupted one did not."""
    records, interleave, expected, expected_alerts = reference
    worker, disk = run(records, cfg, seed, kills=3, interleave=interleave)
    got = end_state(worker, disk)
    found = []
    differ = [u for u in expected[0] if expected[0][u] != got[0].get(u)]
    if differ:
        found.append(f"{len(differ)} users differ, e.g. {differ[:3]}")
    if got[1] != expected[1]:
        found.append(f"labels learned {got[1]} != {expected[1]}")
    if got[3] != expected[3]:
        found.append(f"next boundaries {got[3]} != {expected[3]}")
    rows = sorted(k for k, copies in got[2].items() if copies != expected[2].get(k))
    if rows:
        found.append(f"{len(rows)} life-table rows differ, from (partition, day) {rows[0]}")
    if got[4] != expected[4]:
        found.append(f"dead letters differ: {sorted(got[4] ^ expected[4])[:3]}")
    if got[5] != expected[5]:
        found.append(f"erasures confirmed {sorted(got[5])} != {sorted(expected[5])}")
    # Alerts published again after a restart are the same alerts: same id, same content.
    if {a["alert_id"]: a for a in disk.alerts} != {a["alert_id"]: a for a in expected_alerts}:
        found.append("alerts differ")
    return found
