"""Offline runs of the engine: events through one PartitionEngine per partition, in-process, no
broker, recording alerts and the scores of every known user at chosen cuts.

Users are routed to partitions like Kafka's default partitioner (murmur2 of the key), so each
partition's model learns from the same users as in production with the same partition count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from streams.core.engine import EngineConfig, PartitionEngine, PartitionState
from streams.core.events import INPUT_KINDS, Event
from streams.core.features import UserState
from streams.core.quality import ScoreHistogram
from streams.core.scoring import heuristic_risk
from streams.core.snapshots import scoring_inputs
from streams.kafka.partitioner import kafka_partition

FLUSH_EVERY_EVENTS = 2000


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
        self.engines = [PartitionEngine(p, self.cfg, PartitionState(p), self.users) for p in range(self.partitions)]
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
        offsets, engines, partitions = self._offsets, self.engines, self.partitions
        for event in events:
            p = kafka_partition(event.user_id, partitions)
            offsets[p] += 1
            engines[p].offer(event.kind, offsets[p], event, None)
            if offsets[p] % FLUSH_EVERY_EVENTS == 0:
                self._flush(engines[p])
        for engine in engines:
            engine.set_idle(set(INPUT_KINDS))
            self._flush(engine)
        return self

    def _flush(self, engine: PartitionEngine) -> None:
        """As the worker does every so many events: take the outputs (alerts keep their order) and
        stamp the flush, which lets the engine forget journals of completed flushes."""
        out = engine.drain()
        self.alerts += out.alerts
        engine.begin_flush(out.dirty_users)

    def progressive(self) -> ScoreHistogram:
        total = ScoreHistogram()
        for engine in self.engines:
            total = total.merge(engine.model.quality.total)
        return total
