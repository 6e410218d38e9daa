"""One partition's event-time engine: reorder, watermark, features, labels, learning, scoring, alerts.

Pure: no I/O and no wall clock. The shell (agents/) offers decoded events with an opaque token,
then drains the outputs: alerts to send, dead letters, tokens that are settled (safe to ack once
the dirty state has been written), and which state is dirty.

Determinism: events are released to the per-user state in one total order (event time, kind,
event id) once the partition's watermark passes them, and daily work (label release, learning,
rescoring idle users) happens at day boundaries in event time, interleaved with events in that
same order. So the outputs depend only on the set of events each partition receives, not on
arrival order or batching, as long as nothing arrives later than the allowed lateness.
"""

from __future__ import annotations

import base64
import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, MutableMapping

from streams import feedback, labels
from streams.alerts import ActionTable, AlertPolicy, arm, build_alert, decide
from streams.contracts import INPUT_KINDS, Event
from streams.features import UserState, apply_event, feature_vector, is_activity, spend_90
from streams.schedule import next_due_day, next_rescore_day
from streams.scoring import ChurnModel
from streams.settings import DAY_MS, Settings


@dataclass(frozen=True)
class EngineConfig:
    horizon_ms: int
    lateness_ms: int
    track_ms: int
    min_labels: int
    policy: AlertPolicy
    model_kind: str = "logreg"
    drain_when_idle: bool = False

    @classmethod
    def from_settings(cls, s: Settings) -> "EngineConfig":
        policy = AlertPolicy(
            s.alert_tiers, s.alert_rearm_margin, s.alert_cooldown_days * DAY_MS, s.alert_max_per_period,
            s.alert_cap_period_days * DAY_MS, s.alert_base_value, s.holdout_share, s.holdout_salt,
            ActionTable.load(s.actions_file))
        return cls(s.label_horizon_ms, s.allowed_lateness_ms,
                   s.label_horizon_ms + s.track_after_silence_days * DAY_MS, s.model_min_labels, policy,
                   s.model_kind, s.drain_when_idle)

    @property
    def max_pending(self) -> int:
        return self.horizon_ms // DAY_MS + 2


@dataclass
class PartitionState:
    """Durable per-partition state (a row of the partition table)."""

    partition: int
    source_max_ts: dict[str, int] = field(default_factory=dict)
    max_seen_offset: dict[str, int] = field(default_factory=dict)
    released_until: int = -1  # every event with ts <= this has been applied or rejected
    next_boundary: int = -1   # next day boundary (ms) whose daily work is due
    model: bytes = b""
    counters: dict[str, int] = field(default_factory=dict)
    epoch: int = 0  # flush sequence number; user states written in the same flush carry it

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.partition, "smt": self.source_max_ts, "mso": self.max_seen_offset,
                "ru": self.released_until, "nb": self.next_boundary,
                "m": base64.b64encode(self.model).decode(), "c": self.counters, "ep": self.epoch}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PartitionState":
        return cls(d["p"], d["smt"], d["mso"], d["ru"], d["nb"], base64.b64decode(d["m"]), d["c"], d["ep"])


@dataclass
class Outputs:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)  # model_quality.v1 documents (no emitted_at)
    dead_letters: list[tuple[Any, str, str]] = field(default_factory=list)  # (token, reason, detail)
    settled: list[Any] = field(default_factory=list)
    dirty_users: set[str] = field(default_factory=set)


class PartitionEngine:
    def __init__(self, partition: int, cfg: EngineConfig, state: PartitionState,
                 users: MutableMapping[str, UserState]) -> None:
        self.partition = partition
        self.cfg = cfg
        self.state = state
        self.users = users
        self.model = ChurnModel.from_bytes(state.model) if state.model else ChurnModel(
            partition, cfg.min_labels, cfg.model_kind)
        self.model_dirty = False
        self.idle: set[str] = set()
        self._buffer: list[tuple[tuple[int, int, str], int, Event, Any]] = []
        self._buffered_ids: set[str] = set()
        self._seq = 0
        self._due: dict[int, set[str]] = {}
        # Users written by a flush whose partition state was lost (a crash between the two):
        # they are ahead of the partition state, so whatever they already applied is a duplicate.
        self._ahead: set[str] = set()
        for uid, user in users.items():
            if user.partition != partition:
                continue
            if user.next_due_day >= 0:
                self._due.setdefault(user.next_due_day, set()).add(uid)
            if user.epoch > state.epoch:
                self._ahead.add(uid)
        state.epoch = max([state.epoch, *(users[u].epoch for u in self._ahead)])
        # The reorder buffer died with the previous worker; its events will be redelivered, each
        # source at its own pace. Until a source shows newer events again, it must hold the
        # watermark where it was, or its redelivered events would be taken for already applied.
        if state.released_until >= 0:
            cap = state.released_until + cfg.lateness_ms
            for kind, ts in state.source_max_ts.items():
                state.source_max_ts[kind] = min(ts, cap)
        self.out = Outputs()
        # Called with (engine, boundary) at each day boundary before its work, when the state holds
        # exactly the events before it: how point-in-time evaluation (streams/evaluation.py) looks.
        self.boundary_observers: list[Callable[[PartitionEngine, int], None]] = []

    # -- inputs -------------------------------------------------------------------------------

    def offer(self, kind: str, offset: int, event: Event, token: Any) -> None:
        st = self.state
        redelivered = offset <= st.max_seen_offset.get(kind, -1)
        if not redelivered:
            st.max_seen_offset[kind] = offset
        self.idle.discard(kind)
        user = self.users.get(event.user_id)
        if (user is not None and event.sort_key <= user.last_key) or event.event_id in self._buffered_ids:
            if (redelivered or event.event_id in self._buffered_ids or event.user_id in self._ahead
                    or event.event_id in user.recent_ids):  # type: ignore[union-attr]
                self._count("duplicates")
                self.out.settled.append(token)
                return
        if event.ts <= st.released_until:
            # Not applied (an applied one would be at or before its user's last key, above), so it
            # is late, even when redelivered: never drop it silently. One dead-lettered as late
            # before a restart is dead-lettered again (at-least-once).
            self._count("late")
            self.out.dead_letters.append((token, "late", f"ts {event.ts} <= watermark {st.released_until}"))
            return
        self._seq += 1
        heapq.heappush(self._buffer, (event.sort_key, self._seq, event, token))
        self._buffered_ids.add(event.event_id)
        if event.ts > st.source_max_ts.get(kind, -1):
            st.source_max_ts[kind] = event.ts
        self._advance()

    def offer_outcome(self, offset: int, outcome: dict[str, Any], token: Any) -> None:
        """A downstream outcome (see streams/feedback.py): applied at once, counted once."""
        st = self.state
        if offset > st.max_seen_offset.get("outcome", -1):
            st.max_seen_offset["outcome"] = offset
            self._count(f"outcome_{outcome['status']}")
        uid = outcome["user_id"]
        user = self.users.get(uid)
        if user is None:
            user = self.users[uid] = UserState(uid, self.partition)
        if feedback.apply_outcome(user, outcome["status"]):
            self.out.dirty_users.add(uid)
        self.out.settled.append(token)

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def set_idle(self, idle: set[str]) -> None:
        """The shell's verdict on which sources are idle (caught up and quiet). Idle sources stop
        holding the watermark back; that is how event time advances when a topic goes quiet."""
        if idle != self.idle:
            self.idle = set(idle)
            self._advance()

    def watermark(self) -> int:
        """Min over the sources' newest event times (a backlog must not run ahead of a slower
        topic), ignoring idle sources; a source not seen yet holds it back until it is idle.
        The newest overall if all are idle. Minus the allowed lateness, unless all are idle in
        backfill mode (``drain_when_idle``): the input is finite and has all arrived."""
        smt = self.state.source_max_ts
        active = [kind for kind in INPUT_KINDS if kind not in self.idle]
        if any(kind not in smt for kind in active) or not smt:
            return -1
        if not active:
            return max(smt.values()) - (0 if self.cfg.drain_when_idle else self.cfg.lateness_ms)
        return min(smt[kind] for kind in active) - self.cfg.lateness_ms

    def drain(self) -> Outputs:
        out, self.out = self.out, Outputs()
        return out

    def begin_flush(self, dirty_users: set[str]) -> None:
        """Stamp the partition state and the users about to be written with a new epoch, and
        serialise the model into the partition state."""
        self.state.epoch += 1
        for uid in dirty_users:
            self.users[uid].epoch = self.state.epoch
        if self.model_dirty:
            self.state.model = self.model.to_bytes()
            self.model_dirty = False

    # -- event-time progress ------------------------------------------------------------------

    def _advance(self) -> None:
        wm = self.watermark()
        if wm <= self.state.released_until:
            return
        buf = self._buffer
        while buf and buf[0][0][0] <= wm:
            _, _, event, token = heapq.heappop(buf)
            self._buffered_ids.discard(event.event_id)
            self._run_boundaries_until(event.ts)
            self._apply(event)
            self.out.settled.append(token)
        self._run_boundaries_until(wm)
        self.state.released_until = wm

    def _run_boundaries_until(self, ts: int) -> None:
        st = self.state
        if st.next_boundary < 0:
            st.next_boundary = (ts // DAY_MS + 1) * DAY_MS
        while st.next_boundary <= ts:
            for observe in self.boundary_observers:
                observe(self, st.next_boundary)
            self._daily(st.next_boundary)
            st.next_boundary += DAY_MS

    def _apply(self, event: Event) -> None:
        user = self.users.get(event.user_id)
        if user is None:
            user = self.users[event.user_id] = UserState(event.user_id, self.partition)
        day = event.ts // DAY_MS
        active = is_activity(event)
        if active:
            labels.mark_activity(user, event.ts, self.cfg.horizon_ms)
            for level in feedback.returned(user, event.ts, self.cfg.horizon_ms):
                self._count_winback(user, level, "returned")
        apply_event(user, event)
        self._count("applied")
        if active:
            user.rescore_day = next_rescore_day(user.last_activity_ts, user.gap_ewma_days, day)
            if day > user.last_snapshot_day:
                self._snapshot(user, event.ts)
        elif event.kind == "support_ticket":
            # A ticket changes the risk without being activity: rescore at the next boundary.
            user.rescore_day = day + 1
        self._schedule(user)
        self.out.dirty_users.add(user.user_id)

    def _daily(self, boundary: int) -> None:
        """Work at a day boundary for the users due then (streams/schedule.py): release labels
        whose horizon ended and learn them, close expired win-back windows, rescore silent users."""
        day = boundary // DAY_MS
        horizon = self.cfg.horizon_ms
        released = 0
        for uid in sorted(self._due.pop(day, ())):
            user = self.users[uid]
            user.next_due_day = -1
            for _, features, label, served, by_model in labels.release_due(user, boundary, horizon):
                if self.model.quality.update(label, served, by_model):
                    self._quality_event("drift", boundary, released)
                self.model.learn(features, label)
                self.model_dirty = True
                released += 1
                self._count("labels_1" if label else "labels_0")
            for level in feedback.lost(user, boundary, horizon):
                self._count_winback(user, level, "lost")
            if 0 <= user.rescore_day <= day:
                if boundary - user.last_activity_ts > self.cfg.track_ms:
                    user.rescore_day = -1  # gone: rescored again when they come back
                else:
                    if user.last_snapshot_day < day:
                        self._snapshot(user, boundary)
                    user.rescore_day = next_rescore_day(user.last_activity_ts, user.gap_ewma_days, day)
            self._schedule(user)
            self.out.dirty_users.add(uid)
        if released:
            self._quality_event("quality", boundary, released)

    def _quality_event(self, event: str, ts: int, released: int) -> None:
        """A model_quality.v1 document: what the partition's served scores achieved so far."""
        model, quality = self.model, self.model.quality
        thresholds = [t for _, t in self.cfg.policy.tiers]
        doc = {"schema": "model_quality.v1", "event": event, "partition": self.partition, "ts": ts,
               "model": {"kind": f"river_{model.kind}" if model.ready else "heuristic", "version": model.version,
                         "ready": model.ready},
               "labels": {"learned": sum(model.labels), "positive": model.labels[1], "released": released},
               "progressive": quality.total.summary(thresholds),
               "since_drift": quality.since_drift.summary(thresholds), "drifts": quality.drifts}
        self.out.quality.append(doc)
        if event == "drift":
            self._count("drifts")

    def _schedule(self, user: UserState) -> None:
        day = next_due_day(user, self.cfg.horizon_ms)
        if user.next_due_day == day:
            return
        if user.next_due_day >= 0:
            self._due.get(user.next_due_day, set()).discard(user.user_id)
        user.next_due_day = day
        if day >= 0:
            self._due.setdefault(day, set()).add(user.user_id)

    def _snapshot(self, user: UserState, t: int) -> None:
        features = feature_vector(user, t)
        score = self.model.score(features)
        labels.add_snapshot(user, t, features, self.cfg.max_pending, score.risk, score.kind != "heuristic")
        user.last_snapshot_day = t // DAY_MS
        self._count("snapshots")
        policy = self.cfg.policy
        decision = decide(policy, user.tier, user.alert_times, score.risk, t, user.unsubscribed)
        if decision.fire:
            explained = self.model.explain(features, score)
            self.out.alerts.append(build_alert(policy, user.user_id, t, explained, decision.level, user.tier,
                                               spend_90(user, t)))
            user.alert_times.append(t)
            del user.alert_times[:-policy.max_alerts]
            feedback.open_alert(user, t, decision.level)
            self._count("alerts")
        elif decision.suppressed:
            self._count(f"suppressed_{decision.suppressed}")
        user.tier = decision.level

    def _count_winback(self, user: UserState, level: int, verdict: str) -> None:
        policy = self.cfg.policy
        group = arm(user.user_id, policy.holdout_share, policy.holdout_salt)
        self._count(f"winback_{group}_{policy.tiers[level - 1][0]}_{verdict}")

    def _count(self, name: str) -> None:
        c = self.state.counters
        c[name] = c.get(name, 0) + 1
