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
"""

from __future__ import annotations

from typing import Any

from streams.core.rhythm import add_counts

PeerRecord = tuple[int, int, int, "dict[str, Any] | None"]
IDLE, ACTIVE, PROGRESS = -2, -3, -1  # a record's day when it carries no counts


class Peers:
    def __init__(self, partition: int, partitions: int, lag_days: int) -> None:
        self.partition = partition
        self.lag = lag_days
        self.all = list(range(partitions)) if lag_days > 0 and partitions > 1 else []
        self.others = [p for p in self.all if p != partition]
        self.through = {p: -(1 << 62) for p in self.all}  # every boundary through this day done
        self.tables: dict[int, list[tuple[int, dict[str, Any]]]] = {p: [] for p in self.all}  # (day, counts), ascending
        self.outbox: list[PeerRecord] = []
        self.waiting = False
        self.idle: set[int] = set()  # the other partitions that said they have nothing left to read
        self.idle_self = False
        self._published_through = -(1 << 62)
        self._chosen: tuple[int, ...] = ()
        self._total: dict[str, Any] | None = None

    def ready(self, day: int) -> bool:
        """Whether the boundary starting ``day`` may run: every other partition is through day - lag."""
        need = day - self.lag
        self.waiting = any(self.through[p] < need for p in self.others if p not in self.idle)
        return not self.waiting

    def offer(self, partition: int, day: int, through_day: int, counts: dict[str, Any] | None) -> bool:
        """Another partition's record; True if a boundary was waiting (try again)."""
        if partition not in self.through:
            return False
        if day == IDLE:
            self.idle.add(partition)
        elif day == ACTIVE:
            self.idle.discard(partition)
        rows = self.tables[partition]
        if counts is not None and (not rows or rows[-1][0] < day):  # a restarted partition repeats itself
            rows.append((day, counts))
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
        need = day - self.lag
        chosen = []
        for p in self.all:
            rows = self.tables[p]
            i = len(rows) - 1
            while i >= 0 and rows[i][0] > need:
                i -= 1
            if i > 0:
                del rows[:i]  # days only grow: the earlier ones are not needed again
                i = 0
            chosen.append(rows[i][0] if i >= 0 else -1)
        key = (need, *chosen)
        if key != self._chosen:
            total = None
            for p in self.all:
                rows = self.tables[p]
                if rows and rows[0][0] <= need:
                    total = add_counts(total, rows[0][1], need)
            self._chosen, self._total = key, total
        return self._total

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
