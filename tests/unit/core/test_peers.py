"""One life table for all partitions (streams/core/peers.py): the barrier makes what each boundary
uses a function of the input alone, however late the other partitions' records arrive."""

import random
from dataclasses import replace

from streams.core.peers import Peers
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
