"""One partition's event-time engine. Pure: no I/O and no wall clock.

The shell (agents/) offers decoded events with an opaque token, then drains the outputs: alerts
to send, dead letters, tokens that are settled (safe to ack once the dirty state has been
written), and which state is dirty. The engine coordinates small collaborators, each with one job:

- DuplicateFilter (dedupe.py): is this a copy of an event already taken?
- Watermark (watermark.py): how far event time has safely progressed;
- ReorderBuffer (reorder.py): events wait there until the watermark passes them;
- features.apply_event: the user's windowed state; labels/feedback: activity closes horizons;
- the due-time index (schedule.py; on disk: streams/kafka/due_index.py): which users are due at
  each day boundary (labels, win-back, rescores);
- Learner (learning.py): released labels -> model, quality figures, drift;
- Snapshotter (snapshots.py): score, pending label and alert decision at a snapshot.

Determinism: events are released to the per-user state in one total order (event time, kind,
event id) once the partition's watermark passes them, and daily work happens at day boundaries
in event time, interleaved with events in that same order. So the outputs depend only on the set
of events each partition receives, not on arrival order or batching, as long as nothing arrives
later than the allowed lateness.
"""

from __future__ import annotations

import base64
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, MutableMapping, NamedTuple

from streams.core import feedback, journal, labels
from streams.core.alerts import AlertPolicy, daily_budget
from streams.core.counters import Counters
from streams.core.erasure import user_key
from streams.core.dedupe import DuplicateFilter, remember
from streams.core.events import DAY_MS, Event
from streams.core.features import UserState, apply_event, compact, is_activity
from streams.core.learning import QUALITY_THRESHOLDS, Learner
from streams.core.reorder import ReorderBuffer
from streams.core.rhythm import covariates, observed_silence
from streams.core.peers import Peers
from streams.core.schedule import WEEKLY_WITHIN_HORIZONS, DueTimes, next_due_day, next_rescore_day
from streams.core.scoring import ChurnModel
from streams.core.snapshots import Snapshotter
from streams.core.start import StartIndex, index_stored, stored_user
from streams.core.watermark import Watermark


@dataclass(frozen=True)
class EngineConfig:
    horizon_ms: int
    lateness_ms: int
    min_labels: int
    policy: AlertPolicy
    model_kind: str = "logreg"
    drain_when_idle: bool = False
    # An event more than this ahead of its record's broker timestamp is dead-lettered as 'future'.
    max_skew_ms: int = 300_000
    # One life table for all partitions (streams/core/peers.py): every partition scores with all
    # partitions' counts as of this many event-time days before; 0: each its own table alone.
    peer_lag_days: int = 0


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
    erased: dict[str, int] = field(default_factory=dict)  # erasure.user_key(user_id) -> requested_at
    thresholds: list[list[Any]] = field(default_factory=list)  # [tier, risk threshold] set at the last boundary
    budget: list[int] = field(default_factory=lambda: [0, 0, 1 << 30])  # [day, alerts sent that day, the day's limit]
    # [day, counts] of the latest life-table record this partition published (streams/core/peers.py):
    # restored, its engine has its own row at once, not only once the topic is read again.
    peer_row: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"p": self.partition, "smt": self.source_max_ts, "mso": self.max_seen_offset,
                "ru": self.released_until, "nb": self.next_boundary,
                "m": base64.b64encode(self.model).decode(), "c": self.counters, "ep": self.epoch, "er": self.erased,
                "th": self.thresholds, "b": self.budget, "pr": self.peer_row}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PartitionState":
        return cls(d["p"], d["smt"], d["mso"], d["ru"], d["nb"], base64.b64decode(d["m"]), d["c"], d["ep"],
                   d.get("er", {}), d.get("th", []), d.get("b", [0, 0, 1 << 30]), d.get("pr", []))


@dataclass
class Outputs:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)  # model_quality.v1 documents (no emitted_at)
    dead_letters: list[tuple[Any, str, str]] = field(default_factory=list)  # (token, reason, detail)
    settled: list[Any] = field(default_factory=list)
    dirty_users: set[str] = field(default_factory=set)
    erased_users: set[str] = field(default_factory=set)  # to delete from the user table (tombstones)
    erasures: list[dict[str, Any]] = field(default_factory=list)  # erasure_audit.v1 documents (no emitted_at)

    def take(self) -> "Outputs":
        """Everything collected so far; this object starts empty again (collaborators keep
        references to its lists, so they are cleared in place)."""
        taken = Outputs(list(self.alerts), list(self.quality), list(self.dead_letters), list(self.settled),
                        set(self.dirty_users), set(self.erased_users), list(self.erasures))
        for collected in (self.alerts, self.quality, self.dead_letters, self.settled, self.dirty_users,
                          self.erased_users, self.erasures):
            collected.clear()
        return taken


class AppliedAhead(NamedTuple):
    """The token of a redelivered event that a user state written ahead has applied (a marker in
    the reorder buffer: it is released in order, not applied)."""

    token: Any


class PartitionEngine:
    def __init__(self, partition: int, cfg: EngineConfig, state: PartitionState,
                 users: MutableMapping[str, UserState], start: StartIndex | None = None,
                 due: DueTimes | None = None, partitions: int = 1) -> None:
        """``start``: the partition's stored users as the start needs them (streams/core/start.py),
        if the shell keeps such an index (streams/kafka/local_store.py); else read from ``users``.
        It must have been built against this partition state's epoch. ``due``: the due-time index,
        if the shell keeps it (with the stored users: streams/kafka/due_index.py); else the start's."""
        self.partition = partition
        self.cfg = cfg
        self.state = state
        self.users = users
        self.out = Outputs()
        self.counters = Counters(state.counters)
        self.model = ChurnModel.from_bytes(state.model) if state.model else ChurnModel(
            partition, cfg.min_labels, cfg.model_kind)
        if start is not None and start.epoch != state.epoch:
            raise ValueError(f"start index of epoch {start.epoch}, partition state at {state.epoch}")
        if start is None:
            # One pass over the stored users, holding none of them: with a disk-backed table the
            # mapping loads each on demand, and a million users must not all be in memory at once.
            start = index_stored((stored_user(u) for u in users.values() if u.partition == partition), state.epoch)
        chosen = due if due is not None else start.due
        if chosen is None:
            raise ValueError("no due-time index: the start index was built without one")
        self.population, self.due = start.population, chosen
        self.users_known, self.events_applied = start.users_known, start.events_applied  # tallies for the status page
        ahead = start.ahead
        # Steps of users written ahead of the partition state, done again at their boundaries
        # (streams/core/journal.py).
        again: list[tuple[str, list[Any]]] = []  # journal steps: ints, floats (priorities), strings (covariates)
        budget_again: list[tuple[tuple[Any, ...], str, list[Any]]] = []
        for uid in sorted(ahead):
            user = users[uid]
            # Written by a flush whose partition state was lost: its releases never reached the model.
            if labels.unlearn(user, state.epoch):
                user.next_due_day = next_due_day(user, cfg.horizon_ms)
            lost = journal.take_lost(user.journal, state.epoch)
            moves = [e for e in lost if e[journal.KIND] == journal.RISK]
            # Where the restored histogram last saw this user.
            self.population.move(-1, moves[0][3] if moves else user.risk_bin)
            self.due.add(uid, user.next_due_day)
            for e in lost:
                if journal.event_placed_budget(e):
                    budget_again.append((tuple(e[journal.BUDGET_EVENT_KEY]), uid, e))
                else:
                    again.append((uid, e))
            # Changed here: written again, or a table that keeps only some users in memory would
            # load the stored state back (releases not unlearned, lost steps done twice).
            self.out.dirty_users.add(uid)
        self._again = deque(sorted(again, key=lambda item: item[1][journal.BOUNDARY]))
        # The budget those users' event-fired alerts used, counted again where the event was in the
        # day's order (the events themselves come again as duplicates and decide nothing).
        self._budget_again = deque(sorted(budget_again, key=lambda item: item[0]))
        # Users with steps still to do again, and how many: written with the epoch PENDING.
        self._pending = Counter(uid for uid, _ in again) + Counter(uid for _, uid, _ in budget_again)
        self.dedupe = DuplicateFilter(state.max_seen_offset, users, ahead)
        state.epoch = max([state.epoch, *(users[u].epoch for u in ahead if users[u].epoch < journal.PENDING)])
        self.clock = Watermark(state, cfg.lateness_ms, cfg.drain_when_idle)
        self.buffer = ReorderBuffer()
        self.learner = Learner(partition, self.model, cfg.horizon_ms, list(QUALITY_THRESHOLDS),
                               self.counters, self.out.quality)
        self.snapshots = Snapshotter(self.model, cfg.policy, cfg.horizon_ms, self.counters, self.out.alerts,
                                     self._risk_moved, self._budget_used)
        if state.thresholds:
            self.snapshots.set_thresholds(state.thresholds)
        else:
            self._place_tiers()
        self.snapshots.budget = state.budget
        # Called with (engine, boundary) at each day boundary before its work, when the state holds
        # exactly the events before it: how point-in-time evaluation (streams/offline/evaluation.py) looks.
        self.boundary_observers: list[Callable[[PartitionEngine, int], None]] = []
        # Shared with the ``partitions`` - 1 others (their engines' records: offer_peer); an
        # engine made alone (a test, a tool) has its own table.
        self.peers = Peers(partition, partitions, cfg.peer_lag_days)
        if state.next_boundary >= 0:  # restored: no boundary before it runs again
            self.peers.floor = state.next_boundary // DAY_MS - cfg.peer_lag_days
        if state.peer_row:
            self.peers.offer(partition, state.peer_row[0], state.peer_row[0] - 1, state.peer_row[1])

    # -- inputs -------------------------------------------------------------------------------

    def offer(self, kind: str, offset: int, event: Event, token: Any, record_ts: int = -1) -> None:
        """An input event at ``offset`` of its source; ``record_ts``: the record's broker timestamp
        (epoch ms; -1 if none). It bounds event time: it is part of the record, so replays of the
        same records decide the same way."""
        if self.state.erased and user_key(event.user_id) in self.state.erased:
            self.counters.add("erased_user_events")  # dropped, not dead-lettered: that would keep it
            self.out.settled.append(token)
            return
        buffered = (event.user_id, event.event_id) in self.buffer
        copy = self.dedupe.classify(kind, offset, event, buffered)
        self.clock.heard_from(kind)
        if record_ts >= 0 and (rejected := self._out_of_record_bounds(event, record_ts)):
            # Decided by the record alone, before asking whether it is a copy: whether a copy is
            # recognised depends on what its user has applied by then (ids are remembered for a
            # day; a user written ahead takes everything before its latest event for redelivered),
            # and a record that was never applied must be dead-lettered again when it comes again.
            self.counters.add(rejected[0])
            self.out.dead_letters.append((token, *rejected))
            return
        if copy:
            self.counters.add("duplicates" if copy == "duplicate" else "redelivered")
            if (self.dedupe.ahead and event.user_id in self.dedupe.ahead and not buffered
                    and event.ts > self.state.released_until):
                # Applied by a user state written ahead of the partition state: not applied again,
                # but it still takes its place in the order, where the first run released it, so
                # the same day boundaries run (a day with an event is never skipped) and the
                # watermark moves as it did.
                self.buffer.push(event, AppliedAhead(token))
                self.clock.observe(kind, event.ts)
                self._advance()
                return
            self.out.settled.append(token)
            return
        if event.ts <= self.state.released_until:
            # Not applied (an applied one would be a duplicate, above), so it is late, even when
            # redelivered: never drop it silently. One dead-lettered as late before a restart is
            # dead-lettered again (at-least-once).
            self.counters.add("late")
            self.out.dead_letters.append((token, "late", f"ts {event.ts} <= watermark {self.state.released_until}"))
            return
        self.buffer.push(event, token)
        self.clock.observe(kind, event.ts)
        if self.peers.idle_self:
            self.peers.set_idle(False)
        self._advance()

    def _out_of_record_bounds(self, event: Event, record_ts: int) -> tuple[str, str] | None:
        """Why the event's record timestamp rules it out (reason, detail), if it does."""
        if event.ts > record_ts + self.cfg.max_skew_ms:
            # A clock far ahead (a device, a bad default) must not move the watermark for good.
            return "future", f"ts {event.ts} > record timestamp {record_ts} + {self.cfg.max_skew_ms} ms"
        if event.ts < record_ts - self.cfg.lateness_ms:
            # Sent longer after it happened than the allowed lateness: late by its own record,
            # whatever the watermark (which depends on how far the other topics have been read, so
            # it alone would decide differently from run to run on a backlog).
            return "late", f"ts {event.ts} < record timestamp {record_ts} - {self.cfg.lateness_ms} ms"
        return None

    def offer_outcome(self, offset: int, outcome: dict[str, Any], token: Any) -> None:
        """A downstream outcome (see streams/core/feedback.py): applied at once, counted once."""
        seen = self.state.max_seen_offset
        if offset > seen.get("outcome", -1):
            seen["outcome"] = offset
            self.counters.add(f"outcome_{outcome['status']}")
        uid = outcome["user_id"]
        if self.state.erased and user_key(uid) in self.state.erased:
            self.out.settled.append(token)
            return
        user = self.users.get(uid)
        if user is None:
            user = self.users[uid] = UserState(uid, self.partition)
            self.users_known += 1
        if feedback.apply_outcome(user, outcome["status"]):
            self.out.dirty_users.add(uid)
        self.out.settled.append(token)

    def offer_erasure(self, offset: int, request: dict[str, Any], token: Any) -> None:
        """An erasure request (schemas/erasure_request.v1.json), applied when read: everything held
        for the user goes (state, pending labels, alert history, remembered ids, events waiting in
        the buffer), and the user id is not processed again. The model keeps what it learned:
        weights over all users, no record of anyone."""
        uid = request["user_id"]
        user = self.users.pop(uid, None)
        if user is not None:
            if any(waiting == uid for waiting, _ in self._again):
                # Steps a restart is to do again (the user was written ahead of the partition
                # state): done now, so the user leaves the partition's figures from where they
                # count it, as an uninterrupted run would have.
                for step in [step for waiting, step in self._again if waiting == uid]:
                    self._partition_step(step)
                self._again = deque(item for item in self._again if item[0] != uid)
            if any(waiting == uid for _, waiting, _ in self._budget_again):
                for step in [step for _, waiting, step in self._budget_again if waiting == uid]:
                    self._partition_step(step)
                self._budget_again = deque(item for item in self._budget_again if item[1] != uid)
            self._pending.pop(uid, None)
            self.due.remove(user)
            self.population.move(user.risk_bin, -1)
            if user.silence_in_table:
                self.model.rhythm.silence(user.active_days_total, user.last_active_day, -1)
                self.learner.dirty = True
            self.users_known -= 1
            self.events_applied -= user.events_applied
        discarded = [t.token if type(t) is AppliedAhead else t for t in self.buffer.purge(uid)]
        self.dedupe.ahead.discard(uid)
        self.state.erased[user_key(uid)] = request["requested_at"]
        self.out.dirty_users.discard(uid)
        self.out.erased_users.add(uid)
        self.out.settled += [*discarded, token]
        if offset > self.state.max_seen_offset.get("erasure", -1):
            self.state.max_seen_offset["erasure"] = offset
            self.counters.add("erasures")
        self.out.erasures.append({
            "schema": "erasure_audit.v1", "request_id": request["request_id"], "user_id": uid,
            "partition": self.partition, "requested_at": request["requested_at"], "state_removed": user is not None,
            "pending_labels_removed": len(user.pending) + len(user.released) if user else 0,
            "alerts_forgotten": len(user.alert_times) if user else 0, "buffered_events_discarded": len(discarded)})

    @property
    def buffered(self) -> int:
        return len(self.buffer)

    @property
    def idle(self) -> set[str]:
        return self.clock.idle

    def set_idle(self, idle: set[str]) -> None:
        """The shell's verdict on which sources are idle (caught up and quiet). Idle sources stop
        holding the watermark back; that is how event time advances when a topic goes quiet."""
        if self.clock.set_idle(idle):
            self._advance()

    def watermark(self) -> int:
        return self.clock.current()

    def drain(self) -> Outputs:
        return self.out.take()

    def take_alerts(self) -> list[dict[str, Any]]:
        """The alerts made since the last take (the shell publishes them before the next flush)."""
        if not self.out.alerts:
            return []
        taken = list(self.out.alerts)
        self.out.alerts.clear()  # in place: the snapshotter holds this list
        return taken

    def begin_flush(self, dirty_users: set[str]) -> None:
        """Stamp the partition state and the users about to be written with a new epoch, and
        serialise the model into the partition state."""
        self.state.epoch += 1
        for uid in dirty_users:
            self.users[uid].epoch = self.state.epoch
        for uid in self._pending:
            if uid in dirty_users:
                self.users[uid].epoch = journal.PENDING
        if self.learner.dirty:
            self.state.model = self.model.to_bytes()
            self.learner.dirty = False

    # -- event-time progress ------------------------------------------------------------------

    def offer_peer(self, partition: int, day: int, through_day: int, counts: dict[str, Any] | None) -> None:
        """Another partition's life table (streams/core/peers.py): its ``counts`` at the boundary
        starting ``day`` if given, and that it has done every boundary through ``through_day``. A
        boundary waiting for it runs now."""
        if self.peers.offer(partition, day, through_day, counts):
            self._advance()

    def _published(self) -> dict[str, Any]:
        """What the other partitions get of this one at a boundary: its life table's counts and
        its model (streams/core/peers.py)."""
        return {**self.model.rhythm.counts(), "model": self.model.summary()}

    def _publish(self, day: int, row: dict[str, Any]) -> None:
        self.peers.publish(day, row)
        self.state.peer_row = [day, row]

    def peer_history_complete(self) -> None:
        """Every life-table record there is was offered (after ``peers.missing_history``)."""
        if self.peers.history_complete():
            self._advance()

    def _advance(self) -> None:
        wm = self.clock.current()
        st = self.state
        if wm <= st.released_until:
            return
        while (first := self.buffer.first_ts()) is not None and first <= wm:
            if not self._run_boundaries_until(first):
                st.released_until = max(st.released_until, st.next_boundary - 1)  # the events before the waiting boundary
                return
            event, token = self.buffer.pop()
            if self._budget_again:
                self._budget_again_before(event.sort_key)
            if type(token) is AppliedAhead:
                self.out.settled.append(token.token)
                continue
            self._apply(event)
            self.out.settled.append(token)
        if self._run_boundaries_until(wm):
            st.released_until = wm
        else:
            st.released_until = max(st.released_until, st.next_boundary - 1)

    def _run_boundaries_until(self, ts: int) -> bool:
        """Every boundary through ``ts``; False if one must wait for the other partitions' tables."""
        st = self.state
        if st.next_boundary < 0:
            st.next_boundary = (ts // DAY_MS + 1) * DAY_MS
        try:
            while st.next_boundary <= ts:
                if not self.boundary_observers:
                    # Days on which nobody is due do nothing: skip them (one event from 1970 and the
                    # next from today must not cost 20,000 empty days).
                    first_due = self.due.first_day()
                    last = ts // DAY_MS * DAY_MS
                    skip_to = max(st.next_boundary, min(last, first_due * DAY_MS if first_due is not None else last))
                    if skip_to > st.next_boundary and self.peers.all:
                        # The table as of each skipped day (nothing happens in them) for the others.
                        self._publish(st.next_boundary // DAY_MS, self._published())
                    st.next_boundary = skip_to
                if not self.peers.ready(st.next_boundary // DAY_MS):
                    return False
                for observe in self.boundary_observers:
                    observe(self, st.next_boundary)
                if self._budget_again:
                    self._budget_again_before((st.next_boundary,))
                self._daily(st.next_boundary)
                st.next_boundary += DAY_MS
            return True
        finally:
            self.peers.done_through(st.next_boundary // DAY_MS - 1)

    def _apply(self, event: Event) -> None:
        user = self.users.get(event.user_id)
        if user is None:
            user = self.users[event.user_id] = UserState(event.user_id, self.partition)
            self.users_known += 1
        day = event.ts // DAY_MS
        if user.released:
            labels.forget_released(user, self.state.epoch)
        if user.journal:
            journal.forget(user.journal, self.state.epoch)
        active = is_activity(event)
        if active and day > user.last_active_day:
            if user.last_active_day >= 0:
                self._rhythm(user, (day + 1) * DAY_MS, day - user.last_active_day, True)
            user.active_days_total += 1
            user.exposed_silence = 0
        if active:
            if user.pending:
                labels.mark_activity(user, event.ts, self.cfg.horizon_ms)
            if user.open_alerts:
                for level in feedback.returned(user, event.ts, self.cfg.horizon_ms):
                    self.counters.add(feedback.winback_counter(self.cfg.policy, user.user_id, level, "returned"))
        apply_event(user, event)
        remember(user, event)
        self.counters.add("applied")
        self.events_applied += 1
        if active:
            user.rescore_day = next_rescore_day(user.last_activity_ts, user.gap_ewma_days, day, self.cfg.horizon_ms // DAY_MS)
            if day > user.last_snapshot_day:
                self.snapshots.take(user, event.ts)
        elif event.kind == "support_ticket":
            # A ticket changes the risk without being activity: rescore at the next boundary.
            user.rescore_day = day + 1
        self.due.reschedule(user, self.cfg.horizon_ms)
        self.out.dirty_users.add(user.user_id)

    def _daily(self, boundary: int) -> None:
        """Work at a day boundary for the users due then (streams/core/schedule.py): release labels
        whose horizon ended and learn them, close expired win-back windows, rescore silent users."""
        day = boundary // DAY_MS
        # Partition-level figures first, from everything before this boundary: so a day skipped
        # because nothing happened in it changes nothing (the next boundary sees the same counts).
        ranked_again = []
        while self._again and self._again[0][1][journal.BOUNDARY] <= boundary:
            uid, step = self._again.popleft()
            if uid not in self.users:  # erased meanwhile
                continue
            self._settle(uid, step)
            if step[journal.KIND] != journal.BUDGET:
                self._journaled(self.users[uid], step)
            elif step[journal.BOUNDARY] == boundary:  # (an older day's budget is spent)
                ranked_again.append((uid, step))
        # The others get the table as of this boundary and the model once it has learned its labels.
        counts = self.model.rhythm.counts() if self.peers.all else None
        self.model.rhythm.refresh(day, self.peers.counts(day))
        if self.peers.all:
            self.model.pool(self.peers.models())
            self.learner.dirty = True  # the pooled model is persisted with the model
        self._place_tiers()
        customers = sum(self.population.counts)  # active within the horizon (snapshots.py)
        self.state.budget[:] = [day, 0, daily_budget(self.cfg.policy.daily_budget_share, customers, day)]
        for uid, step in ranked_again:
            # An alert among this boundary's ranked crossings that a restart does not make again
            # (its user was written ahead): it takes the budget at its priority, as it did.
            self.snapshots.candidates.append((step[5], uid, None, boundary, None, None, None, 0.0))
            self._journaled(self.users[uid], step, apply=False)
        for uid in self.due.pop(day):
            user = self.users[uid]
            user.next_due_day = -1
            labels.forget_released(user, self.state.epoch)
            journal.forget(user.journal, self.state.epoch)
            self.learner.release(user, boundary, self.state.epoch + 1)
            for level in feedback.lost(user, boundary, self.cfg.horizon_ms):
                self.counters.add(feedback.winback_counter(self.cfg.policy, user.user_id, level, "lost"))
            silence = observed_silence(boundary, user.last_active_day, DAY_MS)
            if not user.silence_in_table and silence > WEEKLY_WITHIN_HORIZONS * self.cfg.horizon_ms // DAY_MS:
                # Visited less often from some point on (schedule.py): the table counts this silence itself.
                self._silence(user, boundary + DAY_MS, user.last_active_day, +1, unexposed=user.exposed_silence)
            if silence > user.exposed_silence:
                self._rhythm(user, boundary + DAY_MS, silence, False)  # seen from the next boundary on
                user.exposed_silence = silence
            if 0 <= user.rescore_day <= day:
                # Every known user keeps a current score until erased, however long the silence;
                # what no window can use any more is dropped first.
                compact(user, boundary)
                if user.last_snapshot_day < day:
                    self.snapshots.take(user, boundary, ranked=True)
                user.rescore_day = next_rescore_day(user.last_activity_ts, user.gap_ewma_days, day, self.cfg.horizon_ms // DAY_MS)
            self.due.reschedule(user, self.cfg.horizon_ms)
            self.out.dirty_users.add(uid)
        self.snapshots.settle_ranked()
        self.learner.end_boundary(boundary)
        if counts is not None:
            self._publish(day, {**counts, "model": self.model.summary()})

    def _place_tiers(self) -> None:
        """The tiers' risk thresholds from the population now (kept in the partition state)."""
        policy = self.cfg.policy
        self.state.thresholds = [list(t) for t in self.population.thresholds(policy.tiers, policy.population_share)]
        self.snapshots.set_thresholds(self.state.thresholds)

    def _journaled(self, user: UserState, step: list[Any], apply: bool = True) -> None:
        """A step of partition-level state (streams/core/journal.py), journaled in the user's state
        until the flush that persists it completes; ``apply``: not done yet."""
        if apply:
            self._partition_step(step)
        step[journal.EPOCH] = self.state.epoch + 1
        user.journal.append(step)
        self.out.dirty_users.add(user.user_id)

    def _partition_step(self, step: list[Any]) -> None:
        if step[journal.KIND] == journal.RHYTHM:
            self.model.rhythm.add(step[3], step[4], step[5], bool(step[6]), step[8:], step[7])
            self.learner.dirty = True  # the table is persisted with the model
        elif step[journal.KIND] == journal.SILENCE:
            self.model.rhythm.silence(step[3], step[4], step[5], step[6])
            self.learner.dirty = True
        elif step[journal.KIND] == journal.BUDGET:
            if self.state.budget[0] == step[3]:
                self.state.budget[1] += 1
        else:
            self.population.move(step[3], step[4])

    def _budget_again_before(self, position: tuple[Any, ...]) -> None:
        """Count again the budget of alerts fired by events before ``position`` (an event's sort key,
        or a boundary) that a restart does not make again."""
        while self._budget_again and self._budget_again[0][0] < position:
            _, uid, step = self._budget_again.popleft()
            if uid in self.users:  # not erased meanwhile
                self._settle(uid, step)
                self._journaled(self.users[uid], step)

    def _settle(self, uid: str, step: list[Any]) -> None:
        """A step to do again is done (or spent) now: no longer pending in its user's state."""
        journal.settle(self.users[uid].journal, step)
        self._pending[uid] -= 1
        if not self._pending[uid]:
            del self._pending[uid]

    def _budget_used(self, user: UserState, t: int, priority: float | None) -> None:
        # Where in the day's work: the firing event (the user's last applied), or the boundary's ranking.
        day = t // DAY_MS
        position = None if priority is not None else list(user.last_key)
        self._journaled(user, journal.entry(0, day * DAY_MS, journal.BUDGET, day, position, priority or 0.0),
                        apply=False)

    def _rhythm(self, user: UserState, boundary: int, to_silence: int, returned: bool) -> None:
        # The returns expected are computed once, here, so a step done again after a restart adds
        # exactly what it added the first time.
        expected = self.model.rhythm.expected(user.active_days_total, user.exposed_silence, to_silence)
        # A silence the table counts itself (longer than two horizons): a return closes it with its
        # whole exposure, a visit adds none. Others: exposed from where the last visit left them.
        if user.silence_in_table:
            exposed_from = 0 if returned else to_silence
        else:
            exposed_from = user.exposed_silence
        self._journaled(user, journal.entry(0, boundary, journal.RHYTHM, user.active_days_total,
                                            exposed_from, to_silence, int(returned), expected,
                                            *covariates(user.attributes)))
        if returned and user.silence_in_table:
            self._silence(user, boundary, user.last_active_day, -1)

    def _silence(self, user: UserState, boundary: int, last_active_day: int, change: int, unexposed: int = 0) -> None:
        """The table counts the user's silence since ``last_active_day`` as open from now on (+1), or no more (-1)."""
        self._journaled(user, journal.entry(0, boundary, journal.SILENCE, user.active_days_total,
                                            last_active_day, change, unexposed))
        user.silence_in_table = change > 0

    def _risk_moved(self, user: UserState, boundary: int, old: int, new: int) -> None:
        self._journaled(user, journal.entry(0, boundary, journal.RISK, old, new))


def have_peer_records(engines: list[PartitionEngine]) -> bool:
    """Whether any engine has life-table records of its own to hand to the others (streams/core/
    peers.py). An offline run asks after every event and the answer is nearly always no (they come
    at day boundaries): compiled, the question costs a few native field reads."""
    for engine in engines:
        if engine.peers.outbox:
            return True
    return False
