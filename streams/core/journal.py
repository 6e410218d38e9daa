"""Partition-level effects journaled in user states until the flush that persists them completes. Pure.

Some partition state is built from many users' steps: the population's return table
(streams/core/rhythm.py) and the risk histogram that places the alert tiers (streams/core/alerts.py).
The user states and the partition state are written one after the other, so a worker can die
between the two: the users then carry steps that the restored partition state never saw, and
their events are not applied again (they are redelivered copies). Each such step is journaled in
its user's state with the flush that will persist it and the day boundary whose work must see it;
after a restart from an older partition state, the steps of the users written ahead of it are
done again at those boundaries, so every boundary sees exactly what it saw the first time (the
same idea as labels.unlearn for released labels). Until then they stay in the user's state, marked
``PENDING``: a restart can complete flushes, or be killed, before their boundary comes.
"""

from __future__ import annotations

from typing import Any, Final

# Entry layout: [flush epoch, boundary (ms), kind, *arguments].
EPOCH: Final = 0
BOUNDARY: Final = 1
KIND: Final = 2
# The epoch of a step a restart has yet to do again: later than any flush, so every restart from any
# partition state takes it as lost until it is done; a user state holding one is written with this
# epoch too (it stays "ahead" of every partition state until then).
PENDING: Final = 1 << 53
RHYTHM: Final = 0  # arguments: active days, from silence, to silence, returned (0/1), returns expected (millionths), *covariates
RISK: Final = 1  # arguments: old risk bin, new risk bin
SILENCE: Final = 2  # arguments: active days, last active day, +1 (counted from now on) or -1 (ended), silences to un-expose
# An alert that used the day's contact budget. Arguments: the day, then where in that day's work it
# counted: the sort key of the event that fired it, or None and the priority among the boundary's
# ranked crossings (streams/core/snapshots.py). The boundary is the day's.
BUDGET: Final = 3
BUDGET_EVENT_KEY: Final = 4  # the firing event's sort key (a list), or None


def event_placed_budget(entry: list[Any]) -> bool:
    """A BUDGET step counted at its firing event's place in the day's order (not at a boundary)."""
    return entry[KIND] == BUDGET and entry[BUDGET_EVENT_KEY] is not None


def entry(epoch: int, boundary: int, kind: int, *args: Any) -> list[Any]:
    return [epoch, boundary, kind, *args]


def forget(journal: list[list[Any]], complete_epoch: int) -> None:
    """Drop entries persisted by a flush that has completed (entries are in flush order)."""
    done = 0
    while done < len(journal) and journal[done][EPOCH] <= complete_epoch:
        done += 1
    if done:
        del journal[:done]


def take_lost(journal: list[list[Any]], complete_epoch: int) -> list[list[Any]]:
    """The entries that the partition state of ``complete_epoch`` never saw, marked ``PENDING``
    where they are (the same objects): they stay in the user's state until done again, so a
    flush that completes before their boundary, or a second crash, cannot lose them."""
    lost = [e for e in journal if e[EPOCH] > complete_epoch]
    for e in lost:
        e[EPOCH] = PENDING
    return lost


def settle(journal: list[list[Any]], step: list[Any]) -> None:
    """A ``PENDING`` step is done again (or spent): no longer pending. Matched by value: the
    user state may have been read back from the store since."""
    for i, e in enumerate(journal):
        if e[EPOCH] == PENDING and e[1:] == step[1:]:
            del journal[i]
            return
