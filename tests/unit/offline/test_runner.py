"""The offline runner flushes as the worker does, so the states it leaves are the states a worker
would store (the real-data benchmark quotes their size)."""

import random

import pytest

from streams.offline.runner import OfflineRun
from streams.settings import Settings
from tests.factories import at, purchase


def test_a_purchase_only_log_with_quiet_months_leaves_no_backlog_of_journals():
    """No clicks or tickets ever: those sources hold the watermark until every source is declared
    idle. Declared only at the end, all 400 days were worked at once within one flush, and each
    silent customer kept a journal step for every rescore (up to 107 here); flushed at each new day
    of event time, a state keeps the steps since the latest flush before its latest visit (a quiet
    stretch with no event is worked at once when the next event comes, in the worker too)."""
    rng = random.Random(4)
    events = sorted((purchase(f"u{u}", at(rng.uniform(0, 400))) for u in range(60) for _ in range(3)),
                    key=lambda e: e.ts)
    run = OfflineRun(Settings(label_horizon_days=60).engine_config()).feed(events)
    journals = [len(u.journal) for u in run.users.values()]
    assert sum(journals) / len(journals) <= 4 and max(journals) <= 16
    assert max(len(u.released) for u in run.users.values()) <= 2


def test_events_out_of_time_order_are_refused():
    with pytest.raises(ValueError, match="out of event-time order"):
        OfflineRun(Settings().engine_config()).feed([purchase("a", at(2)), purchase("b", at(1))])
