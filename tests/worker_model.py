"""A worker running four partitions, killed again and again and restarted, in-process: what it
wrote survives (each flush writes its outputs, then the users, then the partition states and
offsets; a kill may come before a flush, after one, between its user and partition writes, or
partway through the user writes), nothing else does. Its engines start as their partitions' first
records come again and read the life-table topic back in chunks between them, as a worker does.
Seeded kill points; the end must be an uninterrupted run's: every user's state, the labels learned,
every copy of every partition's published table and model, every alert and every dead letter.

Each partition reads three sources (its partition of each input topic), each with its own offsets
and committed offset. Two inputs: the simulator's events in event-time order without record
timestamps, and the same events as three topics would hold them: each record sent up to most of
the allowed lateness after its event (so a topic is out of event-time order), stamped with that
send time, a few sent far too late or by a clock far ahead (dead-lettered by their record
timestamps), a few sent twice, soon or days later, a few with amounts or ids at the contract's
extremes; the sources read in a random interleaving, a different one by every run and restart.

Also two workers of two partitions each, reading in turns at random (so their partitions progress
apart, held together by the life table's barrier) and exchanging life-table records only through
the topic, as flushed: one killed, the other taking its partitions over with its own ledger, a new
one taking them back; the end must be the single uninterrupted worker's.

No erasure requests: one is applied when read, with the events of its user still waiting in the
reorder buffer discarded and the partition's figures changed between two day boundaries, so what
it removes depends on how far event time had got when it was read (docs/operations.md, "Erasure
requests"), which a restart or another worker's pace changes.

Used by tests/unit/core/test_worker_restarts.py (a few seeds, in `make test`) and
tests/faults/test_worker_model.py (many more, in `make faults`).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from streams.core.engine import PartitionEngine, PartitionState
from streams.core.features import UserState
from streams.core.events import DAY_MS, INPUT_KINDS, Event
from streams.core.peers import PeerLedger, PeerRecord, exchange_own_records
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec
from streams.kafka.partitioner import kafka_partition
from streams.offline.simulator import SimConfig, as_events, simulate
from streams.settings import Settings

PARTITIONS = 4
STATES, USERS = PartitionStateCodec(), UserStateCodec()
KILLS = ("before_flush", "after_flush", "between_writes", "partway_through_users")
Source = tuple[int, str]  # (partition, input kind): one partition of one input topic
SOURCES = [(p, kind) for p in range(PARTITIONS) for kind in INPUT_KINDS]
Record = tuple[Event, int]  # an event and its record timestamp (-1: none)


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


class Worker:
    """One worker process: its engines, life-table ledger and exchange as agents/pipeline.py's
    shell has them (``engine``, ``exchange_peer_records``), its flush in the same three phases."""

    def __init__(self, cfg, disk: Disk, rng: random.Random, partitions: frozenset[int] = frozenset(range(PARTITIONS))) -> None:
        self.cfg, self.disk, self.rng = cfg, disk, rng
        self.users: dict[str, UserState] = {}
        self.engines: dict[int, PartitionEngine] = {}
        self.ledger = PeerLedger(keep_days=0)  # no memory to spare: engines it starts later often read the history again
        self.read = 0  # how far this worker has read the life-table topic
        self.unsent: list[PeerRecord] = []
        self.partitions: set[int] = set()
        self.assign(partitions)

    def assign(self, partitions: frozenset[int] | set[int]) -> None:
        """A rebalance, after the flush on revocation: every engine goes (the consumer revokes
        every partition, as Faust's does), the users of partitions it no longer has too, and those
        of partitions new to it are read from the changelog. Its ledger stays."""
        self.engines.clear()
        for uid in [uid for uid, user in self.users.items() if user.partition not in partitions]:
            del self.users[uid]
        for p in partitions - self.partitions:
            self.users.update((uid, USERS.loads(b)) for uid, b in self.disk.users[p].items())
        self.partitions = set(partitions)
        self.settled: dict[Source, set[int]] = {source: set() for source in SOURCES if source[0] in partitions}

    def engine(self, p: int) -> PartitionEngine:
        assert p in self.partitions
        if p not in self.engines:
            state = STATES.loads(self.disk.states[p]) if p in self.disk.states else PartitionState(p)
            engine = self.engines[p] = PartitionEngine(p, self.cfg, state, self.users, partitions=PARTITIONS)
            for record in self.ledger.records():
                engine.offer_peer(*record)
            engine.peers.hold_from(self.ledger.held_from)
        return self.engines[p]

    def offer(self, source: Source, offset: int) -> None:
        event, record_ts = self.disk.inputs[source][offset]
        self.engine(source[0]).offer(source[1], offset, event, (source, offset), record_ts)
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
            written = sorted(out.dirty_users)
            if kill == "partway_through_users":
                written = self.rng.sample(written, len(written) // 2)
            for uid in written:
                self.disk.users[p][uid] = USERS.dumps(self.users[uid])
        if kill is not None:
            return
        for p, out in outs.items():
            for source, offset in [*out.settled, *(token for token, _, _ in out.dead_letters)]:
                self.settled[source].add(offset)
            self.disk.states[p] = STATES.dumps(self.engines[p].state)
        for source, settled in self.settled.items():
            committed = self.disk.committed[source]
            while committed < len(self.disk.inputs[source]) and committed in settled:
                committed += 1
            self.disk.committed[source] = committed


def finish(workers: list[Worker], disk: Disk) -> None:
    """The end of the input: every source idle, then every partition, the workers' life-table
    records passed through the topic, until no partition waits for another."""
    for worker in workers:
        for p in worker.partitions:  # a partition with nothing left to read has its engine too
            worker.engine(p)
    while True:
        for worker in workers:
            worker.flush()
        for worker in workers:
            worker.read_peer_topic(len(disk.peer_topic))
            for engine in worker.engines.values():
                engine.set_idle(set(INPUT_KINDS))
            worker.exchange()
        if all(engine.peers.idle_self for worker in workers for engine in worker.engines.values()):
            break
        for worker in workers:
            for engine in worker.engines.values():
                engine.peers.set_idle(True)
            worker.exchange()
    for worker in workers:
        worker.flush()


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


def on_disk(records: list[Record]) -> tuple[Disk, dict[tuple[Source, int], int]]:
    """The records in their sources, and each one's place in the order sent."""
    disk = Disk({source: [] for source in SOURCES})
    place = {}
    for i, (event, record_ts) in enumerate(records):
        source = (kafka_partition(event.user_id, PARTITIONS), event.kind)
        place[(source, len(disk.inputs[source]))] = i
        disk.inputs[source].append((event, record_ts))
    return disk, place


def to_read(disk: Disk, place: dict[tuple[Source, int], int], partitions: set[int], interleave: bool,
            rng: random.Random) -> list[tuple[Source, int]]:
    """What a worker reads of its partitions' sources from their committed offsets, in order."""
    pending = {source: list(range(disk.committed[source], len(disk.inputs[source])))
               for source in SOURCES if source[0] in partitions}
    if interleave:
        return interleaving(pending, rng)
    return sorted(((source, o) for source, offsets in pending.items() for o in offsets), key=place.__getitem__)


def run(records: list[Record], cfg, seed: int, kills: int, interleave: bool) -> tuple[list[Worker], Disk]:
    """``records`` (event, record timestamp) in the order they were sent, read in that order or,
    if ``interleave``, in a random interleaving of the sources, a new one at every restart. Killed
    ``kills`` times at a random point of what is left to read, then run to the end."""
    rng = random.Random(seed)
    disk, place = on_disk(records)
    while True:
        worker = Worker(cfg, disk, rng)
        again = to_read(disk, place, worker.partitions, interleave, rng)
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
            finish([worker], disk)
            return [worker], disk


def run_two_workers(records: list[Record], cfg, seed: int, interleave: bool) -> tuple[list[Worker], Disk]:
    """Two workers, two partitions each, reading in turns at random and exchanging life-table
    records only through the topic; the second is killed at a random point, the first takes over
    its partitions (from their changelogs, with its own ledger), then a new second worker joins
    and takes them back; run to the end."""
    rng = random.Random(seed)
    disk, place = on_disk(records)
    halves = ({0, 1}, {2, 3})
    workers = {0: Worker(cfg, disk, rng, halves[0]), 1: Worker(cfg, disk, rng, halves[1])}
    plans = {i: to_read(disk, place, w.partitions, interleave, rng)[::-1] for i, w in workers.items()}
    total = sum(map(len, plans.values()))
    kill_at, kill = rng.randrange(total // 2), rng.choice(KILLS)
    back_at = kill_at + rng.randrange(1, total // 2)
    every = rng.randrange(200, 1500)
    read = dict.fromkeys(workers, 0)

    def rebalance(assignment: dict[int, set[int]]) -> None:
        for i, worker in workers.items():
            worker.flush()
            worker.assign(assignment[i])
            plans[i] = to_read(disk, place, worker.partitions, interleave, rng)[::-1]

    for step in itertools.count():
        busy = [i for i in workers if plans[i]]
        if not busy:
            break
        i = rng.choice(busy)
        worker = workers[i]
        if rng.random() < 0.05:
            worker.read_peer_topic(rng.randrange(1, 200))
        worker.offer(*plans[i].pop())
        read[i] += 1
        if read[i] % every == 0:
            worker.flush()
        if step == kill_at:
            if kill != "before_flush":
                workers[1].flush(None if kill == "after_flush" else kill)
            del workers[1], plans[1]
            rebalance({0: halves[0] | halves[1]})
        elif step == back_at and 1 not in workers:
            workers[1], read[1] = Worker(cfg, disk, rng, set()), 0
            rebalance({0: halves[0], 1: halves[1]})
    finish(list(workers.values()), disk)
    return list(workers.values()), disk


# The contract's bounds for an amount (schemas/purchase.v1.json), and a step just above zero.
EXTREME_AMOUNTS = (0.0, 1e-9, 1_000_000_000_000.0)
MAX_ID_CHARS = 128


def at_the_extremes(event: Event, rng: random.Random) -> Event:
    """5 % of purchases with an amount at the contract's extremes and 0.25 % of events with an id of
    the longest length the contract allows; the others as they are."""
    r = rng.random()
    if r < 0.05 and event.kind == "purchase":
        data = {**event.data, "amount": rng.choice(EXTREME_AMOUNTS)}
    elif r > 0.9975:
        data = {**event.data, "event_id": event.event_id.ljust(MAX_ID_CHARS, "~")}
    else:
        return event
    return Event(event.kind, data["event_id"], event.user_id, event.ts, data)


def as_sent(events: list[Event], cfg, seed: int) -> list[tuple[Event, int]]:
    """The events as producers send them: each up to 0.8 of the allowed lateness after it happened
    (stamped with that time, in that order), 0.3 % sent later than the lateness allows, 0.3 % by a
    clock far ahead (both dead-lettered by their record timestamps), 0.5 % sent twice (half of those
    again days later: dead-lettered too, whether or not the first copy's id is still remembered);
    a few at the contract's extremes (``at_the_extremes``)."""
    rng = random.Random(seed)
    sent = []
    for event in events:
        event = at_the_extremes(event, rng)
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


def end_state(workers: list[Worker], disk: Disk) -> tuple[Any, ...]:
    # "ep", "rl" and "j" record write history: a restart's flushes differ.
    users = {u: {**s.to_dict(), "ep": 0, "rl": [], "j": []}
             for u, s in sorted((item for worker in workers for item in worker.users.items()))}
    engines = [next(worker.engines[p] for worker in workers if p in worker.engines) for p in range(PARTITIONS)]
    # Every copy of each partition's life table and model as of each boundary, as the others got
    # them (a table's own counts at the end may still miss steps a restart does again at the next
    # boundary, which the input does not reach).
    rows: dict[tuple[int, int], set[bytes]] = {}
    for p, day, _, counts in disk.peer_topic:
        if counts is not None:
            rows.setdefault((p, day), set()).add(orjson.dumps(counts, option=orjson.OPT_SORT_KEYS))
    return (users, [e.model.labels for e in engines], rows, [e.state.next_boundary for e in engines],
            disk.dead_letters)


def population() -> tuple[list[Event], Any]:
    """200 simulated users over 60 days, some events with attributes that change."""
    raw, _ = simulate(SimConfig(users=200, days=60, seed=29, bad_rate=0.0))
    for i, e in enumerate(raw):
        if i % 5 == 0:  # attributes that change: labels must be learned with the ones scored
            e["attributes"] = {"region": f"r{i % 3}", "plan": "gold" if i % 2 else "basic"}
    return as_events(raw), config()


def uninterrupted(events: list[Event], cfg, inputs: str) -> tuple[Any, ...]:
    """The records of ``inputs`` ('in_order' or 'as_sent') and an uninterrupted run's end state
    and alerts."""
    interleave = inputs == "as_sent"
    records = as_sent(events, cfg, 1) if interleave else [(event, -1) for event in events]
    workers, disk = run(records, cfg, 0, kills=0, interleave=interleave)
    return records, interleave, end_state(workers, disk), disk.alerts


def differences(events: list[Event], cfg, reference: tuple[Any, ...], seed: int, two_workers: bool = False) -> list[str]:
    """What a run killed three times (at points chosen by ``seed``), or two workers of which one is
    killed and taken over, end with that the uninterrupted run did not."""
    records, interleave, expected, expected_alerts = reference
    if two_workers:
        workers, disk = run_two_workers(records, cfg, seed, interleave)
    else:
        workers, disk = run(records, cfg, seed, kills=3, interleave=interleave)
    got = end_state(workers, disk)
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
    # Alerts published again after a restart are the same alerts: same id, same content.
    if {a["alert_id"]: a for a in disk.alerts} != {a["alert_id"]: a for a in expected_alerts}:
        found.append("alerts differ")
    return found
