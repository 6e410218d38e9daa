"""One life table for all partitions: what a partition's engine knows of the others'. Pure.

Each partition learns the population's rhythm of return (streams/core/rhythm.py) from its own
users only. Split four ways, the tables of a small shop disagree by orders of magnitude in their
tails, and a ranking pooled over partitions sorts by partition first (docs/model.md). So each
engine publishes its table's counts at every day boundary it runs, and scores with the sum of
every partition's counts (its own included) as of ``lag`` event-time days before: all partitions
score with one table. A boundary runs only once every
other partition has done its boundaries through that earlier day (a barrier): which counts a
boundary uses is then a function of the input alone, so a replay, a backfill and the live workers
decide alike, whatever order the partitions happen to progress in. It cannot deadlock: a
partition waiting at day D needs the others through D - lag, and they need it at most through
their own day - lag.

Records, in the order a partition produces them: (partition, day, through_day, counts): counts at
the boundary starting ``day`` (None in a record of progress only), and every boundary through
``through_day`` done. ``day`` IDLE or ACTIVE instead: the partition has nothing left to read (its
shell says so: caught up and quiet live, the end of the input offline), so the others stop waiting
for it, or it has again. Waiting is then the only thing that depends on timing: a partition whose
records stop for longer than the lag while the others' go on is passed once judged idle, and what
it sends later is counted from where the others are then (as an idle source's late records are
by the watermark).

A worker keeps what an engine it starts later may need in a ``PeerLedger``: each partition's
latest rows only (days, not all history), and the day before which it holds no more. An engine
restored further back than that says it needs the history (``Peers.missing_history``) and waits
until its shell has read the topic again from the beginning (``history_complete``): exact either way.
"""

from __future__ import annotations

import bisect
from typing import Any, Callable, Iterable, Protocol

from streams.core.rhythm import add_counts

PeerRecord = tuple[int, int, int, "dict[str, Any] | None"]
IDLE, ACTIVE, PROGRESS = -2, -3, -1  # a record's day when it carries no counts
NEVER = -(1 << 62)
# Days of rows a ledger keeps behind the slowest partition's progress: a restart resumes from the
# state its last flush wrote, in live operation less than a day behind; a crash in a fast backfill
# can fall further back, and then reads the history again (rare, and exact).
LEDGER_KEEP_DAYS = 14


class Peers:
    def __init__(self, partition: int, partitions: int, lag_days: int) -> None:
        self.partition = partition
        self.lag = lag_days
        self.all = list(range(partitions)) if lag_days > 0 and partitions > 1 else []
        self.others = [p for p in self.all if p != partition]
        self.through = {p: NEVER for p in self.all}  # every boundary through this day done
        self.tables: dict[int, list[tuple[int, dict[str, Any]]]] = {p: [] for p in self.all}  # (day, counts), ascending
        self.floor = NEVER  # no counts before this day will be asked for again: older rows are dropped
        self.held_from: dict[int, int] = {}  # rows before these days may be missing (a ledger's), until history_complete
        self.missing_history = False
        self.outbox: list[PeerRecord] = []
        self.waiting = False
        self.idle: set[int] = set()  # the other partitions that said they have nothing left to read
        self.idle_self = False
        self._published_through = NEVER
        self._chosen: tuple[int, ...] = ()
        self._total: dict[str, Any] | None = None
        self._models: list[Any] = []

    def ready(self, day: int) -> bool:
        """Whether the boundary starting ``day`` may run: every other partition is through day - lag."""
        need = day - self.lag
        self.missing_history = any(need < held for held in self.held_from.values())
        self.waiting = self.missing_history or any(self.through[p] < need for p in self.others if p not in self.idle)
        return not self.waiting

    def hold_from(self, held_from: dict[int, int]) -> None:
        """Rows before ``held_from[p]`` may be missing (this engine was given a ledger's records):
        a boundary that needs them waits for ``history_complete``."""
        self.held_from = dict(held_from)

    def history_complete(self) -> bool:
        """Every record there is was offered; True if a boundary was waiting (try again)."""
        self.held_from = {}
        self.missing_history = False
        return self.waiting

    def offer(self, partition: int, day: int, through_day: int, counts: dict[str, Any] | None) -> bool:
        """Another partition's record; True if a boundary was waiting (try again)."""
        if partition not in self.through:
            return False
        if day == IDLE:
            self.idle.add(partition)
        elif day == ACTIVE:
            self.idle.discard(partition)
        if counts is not None:
            rows = self.tables[partition]
            if not rows or rows[-1][0] < day:
                rows.append((day, counts))
            else:  # an old one: history read again, or a restarted partition repeating itself
                i = bisect.bisect_left(rows, day, key=lambda row: row[0])
                if i == len(rows) or rows[i][0] != day:
                    rows.insert(i, (day, counts))
            if len(rows) > 1 and rows[1][0] <= self.floor:
                _drop_before(rows, self.floor)
        self.through[partition] = max(self.through[partition], through_day)
        return self.waiting

    def counts(self, day: int) -> dict[str, Any] | None:
        """Every partition's counts for the boundary starting ``day``, this one's included: each
        one's latest at or before day - lag, its open silences observed at day - lag, summed (None
        if sharing is off). Every partition then scores with the same table, so a score means the
        same in each; and a partition that skipped day - lag (nothing happened in it) counts as
        if it had run it."""
        if not self.all:
            return None
        need = self.floor = day - self.lag  # days only grow: earlier rows are not needed again
        chosen = []
        for p in self.all:
            rows = self.tables[p]
            _drop_before(rows, need)
            chosen.append(rows[0][0] if rows and rows[0][0] <= need else -1)
        key = (need, *chosen)
        if key != self._chosen:
            total, models = None, []
            for p in self.all:
                rows = self.tables[p]
                if rows and rows[0][0] <= need:
                    total = add_counts(total, rows[0][1], need)
                    models.append(rows[0][1].get("model"))
            self._chosen, self._total, self._models = key, total, models
        return self._total

    def models(self) -> list[Any]:
        """The partitions' models (their ``model`` entries) in the counts of the last ``counts``."""
        return self._models

    def publish(self, day: int, counts: dict[str, Any]) -> None:
        """This partition's counts at the boundary starting ``day`` (not yet done)."""
        if self.all:
            self.outbox.append((self.partition, day, day - 1, counts))
            self.offer(self.partition, day, day - 1, counts)

    def done_through(self, day: int) -> None:
        """This partition has done every boundary through ``day``."""
        if self.all and day > self._published_through:
            self._published_through = day
            self.outbox.append((self.partition, PROGRESS, day, None))

    def set_idle(self, idle: bool) -> None:
        """This partition has nothing left to read (True), or has again. Not while a boundary
        waits for the others: it has more to publish then, and the others would pass it by an
        amount that depends on timing."""
        if idle and self.waiting:
            return
        if self.all and idle != self.idle_self:
            self.idle_self = idle
            self.outbox.append((self.partition, IDLE if idle else ACTIVE, self._published_through, None))

    def take(self) -> list[PeerRecord]:
        if not self.outbox:  # nearly always: asked after every event
            return []
        out, self.outbox = self.outbox, []
        return out


def _drop_before(rows: list[tuple[int, dict[str, Any]]], day: int) -> None:
    """Every row before the latest at or before ``day`` (it alone answers for that day and later)."""
    i = bisect.bisect_right(rows, day, key=lambda row: row[0]) - 1
    if i > 0:
        del rows[:i]


class PeerLedger:
    """What a worker keeps of the life-table records for the engines it starts later: per
    partition its progress, whether it is idle, and its rows from ``keep_days`` behind the
    slowest active partition's progress on (with the latest one before: it answers for those days).
    Memory follows the partitions, not the days. ``held_from`` says where each partition's rows
    begin, for an engine given ``records()`` (``Peers.hold_from``)."""

    def __init__(self, keep_days: int = LEDGER_KEEP_DAYS) -> None:
        self.keep_days = keep_days
        self.through: dict[int, int] = {}
        self.idle: dict[int, bool] = {}
        self.rows: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        self.held_from: dict[int, int] = {}

    def add(self, record: PeerRecord) -> None:
        partition, day, through_day, counts = record
        self.through[partition] = max(self.through.get(partition, NEVER), through_day)
        if day in (IDLE, ACTIVE):
            self.idle[partition] = day == IDLE
        rows = self.rows.setdefault(partition, [])
        if counts is not None and (not rows or rows[-1][0] < day):
            rows.append((day, counts))
            self._prune()

    def _prune(self) -> None:
        # An idle partition is not waited for, so it does not hold the others' rows back either:
        # restarted, it reads the history again.
        started = [t for p, t in self.through.items() if t > NEVER and not self.idle.get(p)]
        if not started:
            return
        cut = min(started) - self.keep_days
        for partition, rows in self.rows.items():
            if len(rows) > 1 and rows[1][0] <= cut:
                _drop_before(rows, cut)
                self.held_from[partition] = cut

    def records(self) -> list[PeerRecord]:
        """Records that give an engine what this ledger knows: rows, progress, idleness."""
        out: list[PeerRecord] = []
        for partition, through_day in self.through.items():
            out += [(partition, day, day - 1, counts) for day, counts in self.rows.get(partition, [])]
            out.append((partition, PROGRESS, through_day, None))
            if self.idle.get(partition):
                out.append((partition, IDLE, through_day, None))
        return out


class HasPeers(Protocol):
    peers: Peers


def exchange_own_records(engines: Iterable[HasPeers], deliver: Callable[[PeerRecord], None]) -> list[PeerRecord]:
    """The engines' own new records, each delivered (to every engine, by ``deliver``) as it is
    taken, until no engine has more: a delivery may let another engine's waiting boundary run and
    publish. Returns them in the order taken, for the topic."""
    taken: list[PeerRecord] = []
    engines = list(engines)
    moved = True
    while moved:
        moved = False
        for engine in engines:
            for record in engine.peers.take():
                moved = True
                taken.append(record)
                deliver(record)
    return taken
