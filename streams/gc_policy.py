"""The garbage collector's policy for a worker process, set once its start-up is done.

A worker keeps tens of thousands of objects alive for seconds: records fetched ahead, the agent's
buffer, events waiting in the reorder buffer until the watermark passes them, each with its Faust
event, message and weak reference until it is acked. They outlive CPython's young generations, so
with the default thresholds (700, 10, 10) they keep being promoted, and a full collection, which
walks every tracked object including the ~150,000 of the imported modules, ran every 3 s or so:
8 % of the worker's CPU time (measured with a gc.callbacks timer: docs/performance.md).

- freeze: what start-up allocated (modules, classes, functions, the app) moves to the permanent
  generation and is never walked again. Frozen objects are still freed by reference counting;
  only a reference cycle among them would stay, and they live as long as the process anyway.
- young threshold 20,000: a young collection runs after 20,000 more container objects were
  allocated than freed. Records die by reference counting when acked, so in steady state few
  collections run and few objects are promoted; cyclic garbage waits for at most that many
  allocations (a few MB), a bound that does not grow with users or traffic.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000
_frozen_objects = 0  # counted once: gc.get_freeze_count() walks the whole frozen list


def settle_after_startup() -> None:
    """Freeze the start-up heap and collect young objects less often (see the module's doc)."""
    global _frozen_objects
    gc.collect()
    gc.freeze()
    _frozen_objects = gc.get_freeze_count()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def describe() -> dict[str, int | list[int]]:
    """What the collector runs under now, for the worker's status."""
    return {"frozen_objects": _frozen_objects, "thresholds": list(gc.get_threshold())}
