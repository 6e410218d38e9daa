"""Offline runs of the engine and the point-in-time evaluation of its scores. Pure (no broker).

Point in time: at a cut T (a day boundary of event time) every partition's model scores every
user it knows from the state as of T, exactly as a rescore at T would; each score is then
judged by whether the user is active in (T, T + H]. Nothing after T reaches a score, and the
labels are not the model's training labels, so this view cannot be flattered the way
progressive validation can (see streams/labels.py). Two populations are reported: users active
in the H before T (the ones outreach can still save; the headline figure) and every known user.

Offline runs route users to partitions like Kafka's default partitioner (murmur2 of the key), so
each partition's model learns from the same users as in production with the same partition count.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from kafka.partitioner.default import murmur2

from streams.contracts import INPUT_KINDS, Event
from streams.engine import EngineConfig, PartitionEngine, PartitionState
from streams.features import UserState, feature_vector, is_activity
from streams.quality import ScoreHistogram
from streams.scoring import heuristic_risk


@lru_cache(maxsize=1 << 20)
def kafka_partition(user_id: str, partitions: int) -> int:
    """The partition Kafka's default (Java) partitioner gives this key (murmur2; cached, it is pure Python)."""
    return (murmur2(user_id.encode()) & 0x7FFFFFFF) % partitions


def exact_auc(labels: list[int], scores: list[float]) -> float | None:
    """ROC AUC by ranks (ties count half)."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2  # ranks i+1..j
        rank_sum += mean_rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


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
            features = feature_vector(user, boundary)
            recent = boundary - user.last_activity_ts <= self.cfg.horizon_ms
            cut.rows.append((uid, engine.model.score(features).risk, heuristic_risk(features)[0], recent))

    def feed(self, events: Iterable[Event]) -> "OfflineRun":
        for event in events:
            p = kafka_partition(event.user_id, self.partitions)
            self._offsets[p] += 1
            engine = self.engines[p]
            engine.offer(event.kind, self._offsets[p], event, None)
            self.alerts += engine.drain().alerts
        for engine in self.engines:
            engine.set_idle(set(INPUT_KINDS))
            self.alerts += engine.drain().alerts
        return self

    def progressive(self) -> ScoreHistogram:
        total = ScoreHistogram()
        for engine in self.engines:
            total = total.merge(engine.model.quality.total)
        return total


def activity_index(events: Iterable[Event]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in events:
        if is_activity(e):
            out.setdefault(e.user_id, []).append(e.ts)
    for times in out.values():
        times.sort()
    return out


def active_within(times: list[int], start: int, end: int) -> bool:
    """Any activity in (start, end]."""
    i = bisect_right(times, start)
    return i < len(times) and times[i] <= end


def point_in_time(cut: CutScores, activity: dict[str, list[int]], horizon_ms: int) -> dict[str, Any]:
    """Figures for one cut: label 1 = no activity in (T, T + H]."""
    out: dict[str, Any] = {"cut": cut.cut}
    for population, rows in (("recently_active", [r for r in cut.rows if r[3]]), ("all_known", cut.rows)):
        labels = [0 if active_within(activity.get(uid, []), cut.cut, cut.cut + horizon_ms) else 1 for uid, *_ in rows]
        model_auc = exact_auc(labels, [r[1] for r in rows])
        heuristic_auc = exact_auc(labels, [r[2] for r in rows])
        out[population] = {"users": len(rows), "churned": sum(labels),
                           "roc_auc": round(model_auc, 4) if model_auc is not None else None,
                           "heuristic_roc_auc": round(heuristic_auc, 4) if heuristic_auc is not None else None}
    return out

