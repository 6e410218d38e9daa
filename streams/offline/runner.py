"""Offline runs of the engine: events through one PartitionEngine per partition, in-process, no
broker, recording alerts and the scores of every known user at chosen cuts.

Users are routed to partitions like Kafka's default partitioner (murmur2 of the key), so each
partition's model learns from the same users as in production with the same partition count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TypeVar

from streams.core.engine import EngineConfig, PartitionEngine, PartitionState, have_peer_records
from streams.core.events import DAY_MS, INPUT_KINDS, Event
from streams.core.features import UserState
from streams.core.quality import ScoreHistogram
from streams.core.scoring import heuristic_risk
from streams.core.peers import exchange_own_records
from streams.core.snapshots import scoring_inputs
from streams.kafka.partitioner import kafka_partition

T = TypeVar("T")

FLUSH_EVERY_EVENTS = 2000  # the worker's default CHURNGUARD_FLUSH_EVERY_EVENTS


def with_next(items: Iterable[T]) -> Iterator[tuple[T, T | None]]:
    """Each item with the one after it (None for the last)."""
    it = iter(items)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield current, following
        current = following


def at_flush_point(unflushed: int, day: int, flushed_day: int, event: Any, following: Any,
                   every: int = FLUSH_EVERY_EVENTS) -> bool:
    """Whether an offline run over input in event-time order flushes a partition after ``event``:
    after so many events or at a new day of event time (as the worker flushes every half second,
    so a quiet stretch of the input does not pile up the journals of flushes in flight), and only
    before a later event time. A flush declares every source idle: each has passed ``event.ts``
    (the input is in order), but one idle at t would make a later event at t late."""
    return (unflushed >= every or day > flushed_day) and (following is None or following.ts > event.ts)


def exchange_peer_records(engines: list[PartitionEngine], carry: Callable[[Any], Any] = lambda record: record) -> None:
    """Each engine's life-table records to the others (streams/core/peers.py), until none is
    left: one that lets a waiting boundary run makes more. ``carry``: what the way between them
    does to a record (a test carries them through the topic's encoding)."""
    if not have_peer_records(engines):
        return

    def deliver(record: Any) -> None:
        for other in engines:
            if other.partition != record[0]:
                other.offer_peer(*carry(record))
    exchange_own_records(engines, deliver)


def finish_peers(engines: list[PartitionEngine], flush: Callable[[PartitionEngine], None]) -> None:
    """The end of the input: each partition says it has nothing left to read once it no longer
    waits for the others (streams/core/peers.py), which lets those waiting for it run; ``flush``
    each engine meanwhile, as the run flushes (it exchanges the records)."""
    while not all(engine.peers.idle_self or not engine.peers.all for engine in engines):
        for engine in engines:
            engine.peers.set_idle(True)
        for engine in engines:
            flush(engine)


@dataclass
class CutScores:
    cut: int
    rows: list[tuple[str, float, float, bool]] = field(default_factory=list)  # user, score, heuristic, recently active


@dataclass
class OfflineRun:
    """Events through one engine per partition, in event-time order, recording scores at cuts."""

    cfg: EngineConfig
    partitions: int = 4
    cuts: tuple[int, ...] = ()
    users: dict[str, UserState] = field(default_factory=dict)
    scores: dict[int, CutScores] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engines = [PartitionEngine(p, self.cfg, PartitionState(p), self.users, partitions=self.partitions)
                        for p in range(self.partitions)]
        for engine in self.engines:
            engine.boundary_observers.append(self._observe)
        self._offsets = [0] * self.partitions

    def _observe(self, engine: PartitionEngine, boundary: int) -> None:
        if boundary not in self.cuts:
            return
        cut = self.scores.setdefault(boundary, CutScores(boundary))
        for uid, user in self.users.items():
            if user.partition != engine.partition or user.last_activity_ts < 0:
                continue
            inputs = scoring_inputs(user, boundary, engine.model, self.cfg.horizon_ms)
            recent = boundary - user.last_activity_ts <= self.cfg.horizon_ms
            cut.rows.append((uid, engine.model.score(inputs, user.attributes).risk, heuristic_risk(inputs)[0], recent))

    def feed(self, events: Iterable[Event]) -> "OfflineRun":
        """The events, in event-time order (ValueError otherwise), through their partitions'
        engines, flushed as the worker flushes (streams/offline/inline.py: every so many events or
        each new day of event time, every source idle between event times)."""
        offsets, engines, partitions = self._offsets, self.engines, self.partitions
        unflushed, flushed_day = [0] * partitions, [-1] * partitions
        for event, following in with_next(events):
            if following is not None and following.ts < event.ts:
                raise ValueError(f"events out of event-time order: {following.ts} after {event.ts}")
            p = kafka_partition(event.user_id, partitions)
            offsets[p] += 1
            unflushed[p] += 1
            engines[p].offer(event.kind, offsets[p], event, None)
            self._exchange()
            day = event.ts // DAY_MS
            if at_flush_point(unflushed[p], day, flushed_day[p], event, following):
                unflushed[p], flushed_day[p] = 0, day
                self._flush(engines[p])
        for engine in engines:
            self._flush(engine)
        self._finish()
        return self

    def _exchange(self) -> None:
        exchange_peer_records(self.engines)

    def _finish(self) -> None:
        finish_peers(self.engines, self._flush)

    def _flush(self, engine: PartitionEngine) -> None:
        """As the worker does: release what every source has passed, take the outputs and stamp
        the flush, which lets the engine forget journals of completed flushes."""
        engine.set_idle(set(INPUT_KINDS))
        self._exchange()
        out = engine.drain()
        self.alerts += out.alerts
        engine.begin_flush(out.dirty_users)

    def progressive(self) -> ScoreHistogram:
        total = ScoreHistogram()
        for engine in self.engines:
            total = total.merge(engine.model.quality.total)
        return total
