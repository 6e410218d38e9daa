"""One life table for all partitions (streams/core/peers.py): the barrier makes what each boundary
uses a function of the input alone, however late the other partitions' records arrive."""

import random
from dataclasses import replace

import pytest

from streams.core.engine import PartitionEngine
from streams.core.events import INPUT_KINDS
from streams.core.peers import IDLE, PeerLedger, Peers
from streams.kafka.codecs import PartitionStateCodec, UserStateCodec
from streams.kafka.partitioner import kafka_partition
from streams.offline.runner import OfflineRun
from streams.offline.simulator import SimConfig, as_events, simulate
from streams.settings import Settings


def test_a_boundary_waits_until_every_other_partition_is_through_the_lagged_day():
    peers = Peers(0, 3, lag_days=1)
    assert not peers.ready(10)
    peers.offer(1, -1, 9, None)
    assert not peers.ready(10)  # partition 2 not through day 9 yet
    assert peers.offer(2, 9, 8, {"returns": [[1]], "closed": [[5]], "open": [[]], "open_long": [[0, 0]],
                                 "covariates": {}, "overall": [1, 0]})
    assert not peers.ready(10)
    peers.offer(2, -1, 9, None)
    assert peers.ready(10) and not peers.ready(11)
    total = peers.counts(10)
    assert total["returns"] == [[1]] and total["exposure"] == [[5]]


class LatePeers(OfflineRun):
    """The same run, but each life-table record reaches the other partitions only after a random
    number of later exchanges (in its partition's order), as records between workers would."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.rng = random.Random(5)
        self.in_flight: list[tuple[int, tuple]] = []

    def _exchange(self, final: bool = False) -> None:
        for engine in self.engines:
            self.in_flight += [(engine.partition, record) for record in engine.peers.take()]
        while self.in_flight:
            if not final and self.rng.random() < 0.999:
                return  # later
            source, record = self.in_flight.pop(0)
            for other in self.engines:
                if other.partition != source:
                    other.offer_peer(*record)
            for engine in self.engines:
                self.in_flight += [(engine.partition, r) for r in engine.peers.take()]

    def _finish(self) -> None:
        self._exchange(final=True)
        super()._finish()
        self._exchange(final=True)


def test_late_records_between_partitions_change_nothing():
    raw, _ = simulate(SimConfig(users=160, days=60, seed=3, bad_rate=0.0))
    events = as_events(raw)
    cfg = replace(Settings(alert_daily_budget_share=1.0, peer_lag_days=1).engine_config())
    on_time = OfflineRun(cfg, partitions=4, cuts=()).feed(events)
    late = LatePeers(cfg, partitions=4).feed(events)
    assert on_time.alerts and sorted(map(str, on_time.alerts)) == sorted(map(str, late.alerts))
    for a, b in zip(on_time.engines, late.engines):
        assert a.model.rhythm._hazard == b.model.rhythm._hazard
        assert a.state.next_boundary == b.state.next_boundary


def test_a_table_s_counts_give_its_exposure_at_any_later_day():
    """What another partition computes from a table's counts (its open silences observed at the
    day it needs) is what the table itself computes at that day."""
    from streams.core.rhythm import ReturnTable, exposure_at

    rng = random.Random(2)
    table = ReturnTable()
    for _ in range(300):
        last = rng.randrange(0, 400)
        table.silence(rng.randrange(1, 30), last, +1)
        table.add(rng.randrange(1, 30), 0, rng.randrange(1, 60), rng.random() < 0.5)
    counts = table.counts()
    for day in (401, 450, 800, 1200):
        assert exposure_at(counts, day) == table._exposure_at(day)


class RestartedPartition(OfflineRun):
    """Flushes every partition every ``every`` events, keeps what the flushes wrote, and at event
    ``crash_at`` restarts partition ``victim`` from the state written ``back`` flushes before (its
    engine's memory gone, its events since then delivered again), as a worker restarts: the new
    engine gets a ``PeerLedger``'s records, not every record there was (and none of its own
    partition's rows: its worker may not have read them back from the topic yet), and reads the
    history again only if it says it needs it."""

    def __init__(self, cfg, crash_at=None, victim=1, back=0, keep_days=3, every=400):
        super().__init__(cfg, partitions=4)
        self.crash_at, self.victim, self.back, self.every = crash_at, victim, back, every
        self.ledger = PeerLedger(keep_days)
        self.history: list[tuple] = []  # every record, as the topic keeps them
        self.history_reads = 0
        self.flushes: list[tuple[bytes, dict[str, bytes], int]] = []  # victim: state, its users, first unsettled
        self.settled: set[int] = set()  # the victim's offsets applied (or dropped) and flushed

    def _flush(self, engine) -> None:
        engine.set_idle(set(INPUT_KINDS))
        self._exchange()
        out = engine.drain()
        self.alerts += out.alerts
        engine.begin_flush(out.dirty_users)
        if engine.partition == self.victim:
            self.settled.update(out.settled)

    def _exchange(self) -> None:
        moved = True
        while moved:
            moved = False
            for engine in self.engines:
                for record in engine.peers.take():
                    moved = True
                    self.ledger.add(record)
                    self.history.append(record)
                    for other in self.engines:
                        if other is not engine:
                            other.offer_peer(*record)
            for engine in self.engines:
                if engine.peers.missing_history:  # the shell reads the topic from its beginning
                    self.history_reads += 1
                    for record in self.history:
                        engine.peers.offer(*record)
                    engine.peer_history_complete()
                    moved = True

    def run(self, events):
        sent: list[tuple[int, object]] = []  # the victim's (offset, event)
        for i, event in enumerate(events):
            p = kafka_partition(event.user_id, 4)
            self._offsets[p] += 1
            if p == self.victim:
                sent.append((self._offsets[p], event))
            self.engines[p].offer(event.kind, self._offsets[p], event, self._offsets[p])
            self._exchange()
            if i % self.every == self.every - 1:
                for engine in self.engines:
                    self._flush(engine)
                engine = self.engines[self.victim]
                self.flushes.append((PartitionStateCodec().dumps(engine.state),
                                     {u: UserStateCodec().dumps(s) for u, s in self.users.items() if s.partition == self.victim},
                                     min((i for i, (offset, _) in enumerate(sent) if offset not in self.settled),
                                         default=len(sent))))
            if i == self.crash_at:
                self._restart(sent)
        for engine in self.engines:
            self._flush(engine)
        self._finish()
        return self

    def _restart(self, sent):
        state, users, sent_then = self.flushes[-1 - self.back]
        for uid in [u for u, s in self.users.items() if s.partition == self.victim]:
            del self.users[uid]
        self.users.update({u: UserStateCodec().loads(b) for u, b in users.items()})
        engine = PartitionEngine(self.victim, self.cfg, PartitionStateCodec().loads(state), self.users, partitions=4)
        self.engines[self.victim] = engine
        for record in self.ledger.records():
            if record[0] != self.victim or record[3] is None:  # its own rows: not read back yet
                engine.offer_peer(*record)
        engine.peers.hold_from(self.ledger.held_from)
        for offset, event in sent[sent_then:]:  # from the committed offset: the first not settled
            engine.offer(event.kind, offset, event, offset)
            self._exchange()


@pytest.fixture(scope="module")
def shop():
    raw, _ = simulate(SimConfig(users=160, days=60, seed=3, bad_rate=0.0))
    cfg = Settings(alert_daily_budget_share=1.0, peer_lag_days=1).engine_config()
    events = as_events(raw)
    return cfg, events, RestartedPartition(cfg).run(events)


def same_run(a, b):
    assert a.alerts and {x["alert_id"] for x in a.alerts} == {x["alert_id"] for x in b.alerts}
    # Every user's state, the risks served with their pending snapshots included ("ep", "rl" and
    # "j" record write history: the restart's flushes differ).
    assert {u: {**s.to_dict(), "ep": 0, "rl": [], "j": []} for u, s in a.users.items()} == \
        {u: {**s.to_dict(), "ep": 0, "rl": [], "j": []} for u, s in b.users.items()}
    for x, y in zip(a.engines, b.engines):
        assert x.model.rhythm._hazard == y.model.rhythm._hazard
        assert x.state.next_boundary == y.state.next_boundary


def test_a_worker_keeps_the_latest_days_of_life_table_records_not_all_of_them(shop):
    _, _, whole = shop
    rows = [len(r) for r in whole.ledger.rows.values()]
    assert len(whole.history) > 4 * 50 and max(rows) <= 3 + 3  # keep_days, the lag, the one before
    assert set(whole.ledger.held_from) == {0, 1, 2, 3}


def test_an_idle_partition_does_not_hold_the_ledger_back():
    ledger = PeerLedger(keep_days=3)
    counts = {"returns": []}
    ledger.add((0, 1, 0, counts))
    ledger.add((0, IDLE, 0, None))
    for day in range(1, 30):
        ledger.add((1, day, day - 1, counts))
    assert [d for d, _ in ledger.rows[1]] == list(range(25, 30)) and ledger.held_from == {1: 25}
    assert (0, IDLE, 0, None) in ledger.records()


def test_a_partition_restarted_from_its_last_flush_needs_only_the_ledger(shop):
    cfg, events, whole = shop
    restarted = RestartedPartition(cfg, crash_at=len(events) * 2 // 3).run(events)
    assert restarted.history_reads == 0
    same_run(whole, restarted)


def test_a_partition_restarted_from_further_back_reads_the_history_again(shop):
    """Restored from a state written more days back than the ledger keeps, the engine waits for
    the records it misses instead of scoring with the wrong table (fails without held_from)."""
    cfg, events, whole = shop
    restarted = RestartedPartition(cfg, crash_at=len(events) * 2 // 3, back=12).run(events)
    same_run(whole, restarted)
    assert restarted.history_reads == 1


def test_every_partition_scores_with_the_same_pooled_model(shop):
    _, _, whole = shop
    pooled = [engine.model.pooled.summary() for engine in whole.engines]
    assert pooled[0]["labels"] > 0 and all(p == pooled[0] for p in pooled)
    own = [engine.model.learner.summary()["labels"] for engine in whole.engines]
    assert len(set(own)) > 1  # each learns from its own customers
