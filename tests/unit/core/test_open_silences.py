"""No open silence is missing from the return table for more than a week, however rarely the
engine visits a silent user (engine level; streams/core/rhythm.py)."""

import random
from dataclasses import replace

from streams.core.events import DAY_MS
from streams.core.rhythm import SILENCE_EDGES, ReturnTable, _bucket, _class
from streams.core.schedule import MAX_RESCORE_INTERVAL_DAYS, WEEKLY_WITHIN_HORIZONS
from streams.offline.runner import OfflineRun
from streams.settings import Settings
from tests.factories import at, purchase

# A short horizon: after two horizons of silence the engine visits a user only every tenth of the
# silence, so a table that counted silences only at visits would lag weeks behind the returns.
HORIZON_DAYS = 7
# Idle sources drain, so every event of the log is applied.
CFG = replace(replace(Settings(), label_horizon_days=HORIZON_DAYS, partitions=1).engine_config(), drain_when_idle=True)


def purchase_log(seed: int, users: int = 150, days: int = 450) -> list:
    rng = random.Random(seed)
    events = []
    for u in range(users):
        day, mean_gap = rng.uniform(0, 60), rng.choice((4, 30, 150))
        while day < days:
            events.append(purchase(f"u{u}", at(day, rng.uniform(0, 23))))
            day += rng.expovariate(1 / mean_gap) + 0.5
    return sorted(events, key=lambda e: e.ts)


def exact_table(events: list, day: int, lag: int = 0) -> ReturnTable:
    """Every silence before ``day`` from the log itself: closed ones with their return, open ones
    observed up to the boundary starting ``day``, less ``lag`` days."""
    active: dict[str, list[int]] = {}
    for e in events:
        d = e.ts // DAY_MS
        if d < day and active.setdefault(e.user_id, [])[-1:] != [d]:
            active[e.user_id].append(d)
    table = ReturnTable()
    for days in active.values():
        for n, (last, then) in enumerate(zip(days, days[1:]), start=1):
            table.expose(n, 0, then - last)
            table.returns[_class(n)][_bucket(then - last)] += 1
        table.expose(len(days), 0, max(0, day - 1 - days[-1] - lag))
    return table


def assert_counted_within_a_week(table: ReturnTable, events: list, day: int) -> None:
    exact = exact_table(events, day)
    assert table.returns == exact.returns
    exposure, lagging = table._exposure_at(day), exact_table(events, day, lag=MAX_RESCORE_INTERVAL_DAYS).exposure
    for row, low, high in zip(exposure, lagging, exact.exposure):
        assert all(lo <= n <= hi for n, lo, hi in zip(row, low, high))
    # Silences the engine visits only every tenth of their length are counted exactly.
    counted_by_the_table = WEEKLY_WITHIN_HORIZONS * HORIZON_DAYS + MAX_RESCORE_INTERVAL_DAYS
    beyond = [i for i, edge in enumerate(SILENCE_EDGES) if edge > counted_by_the_table]
    assert [[row[i] for i in beyond] for row in exposure] == [[row[i] for i in beyond] for row in exact.exposure]
    assert sum(row[i] for row in exposure for i in beyond) > 10_000


def test_no_open_silence_lags_more_than_a_week_and_long_ones_not_at_all():
    events = purchase_log(1)
    run = OfflineRun(CFG, partitions=1).feed(events)
    assert_counted_within_a_week(run.engines[0].model.rhythm, events, events[-1].ts // DAY_MS + 1)


def test_states_written_before_open_silences_were_counted_register_theirs_when_visited():
    """Users whose silence the table counted only up to their last visit (states and tables
    written by the previous version) are registered at their next visit beyond two horizons."""
    events = purchase_log(2)
    half = len(events) // 2
    run = OfflineRun(CFG, partitions=1).feed(events[:half])
    engine = run.engines[0]
    table = engine.model.rhythm
    for user in run.users.values():  # as the previous version left them
        if user.silence_in_table:
            table.silence(user.active_days_total, user.last_active_day, -1)
            table.expose(user.active_days_total, 0, user.exposed_silence)
            user.silence_in_table = False
    run.feed(events[half:])
    assert_counted_within_a_week(table, events, events[-1].ts // DAY_MS + 1)
