"""The population's return table (streams/core/rhythm.py) and the tiers that follow the population."""

import math
import random

from streams.core.alerts import MIN_TIER_GAP, RiskPopulation, risk_bin
from streams.core.events import DAY_MS
from streams.core.rhythm import ReturnTable, observed_silence


def test_the_table_recovers_a_known_daily_return_hazard():
    table = ReturnTable()
    rng = random.Random(1)
    hazard = 0.1  # each silent day, a tenth of the silent users come back
    for _ in range(20_000):
        gap = 1
        while rng.random() >= hazard:
            gap += 1
        table.add(3, 0, gap, True)
    table.refresh()
    # P(no return within 10 days) = 0.9^10, whatever the silence so far (a constant hazard).
    for silence in (0, 5, 20):
        assert math.isclose(table.p_no_return(3, silence, 10), 0.9 ** 10, abs_tol=0.03)


def test_longer_silence_means_higher_risk_when_some_never_return():
    table = ReturnTable()
    for _ in range(1000):
        table.add(1, 0, 2, True)  # most come back after two days
    for _ in range(200):
        table.add(1, 0, 200, False)  # some never do (silence still open at 200 days)
    table.refresh()
    risks = [table.p_no_return(1, s, 30) for s in (0, 3, 10, 60)]
    assert risks == sorted(risks) and risks[0] < 0.3 and risks[-1] > 0.9


def test_classes_learn_their_own_rhythm_and_an_empty_table_is_neutral():
    empty = ReturnTable()  # a prior hazard of 1/30 a day at first, falling with silence
    assert 0.3 < empty.p_no_return(1, 0, 30) < empty.p_no_return(1, 30, 30) < 1
    table = ReturnTable()
    for _ in range(500):
        table.add(1, 0, 60, True)   # one-time buyers come back after two months, if at all
        table.add(20, 0, 3, True)   # regulars every three days
    table.refresh()
    assert table.p_no_return(20, 0, 14) < table.p_no_return(1, 0, 14)


def test_observed_silence_counts_whole_days_without_activity():
    assert observed_silence(5 * DAY_MS + 1, 5, DAY_MS) == 0  # on the active day
    assert observed_silence(6 * DAY_MS, 5, DAY_MS) == 0  # the boundary right after it
    assert observed_silence(9 * DAY_MS, 5, DAY_MS) == 3  # days 6, 7, 8


def test_tier_thresholds_follow_the_population_and_never_go_below_the_floor():
    population = RiskPopulation()
    assert population.thresholds((("watch", 0.2),), 0.5) == (("watch", 1.0),)  # nobody known: nobody alerted
    for i in range(1000):
        population.move(-1, risk_bin(i / 1000))  # risks spread evenly over [0, 1)
    (watch, w), (high, h) = population.thresholds((("watch", 0.2), ("high", 0.05)), 0.5)
    assert (watch, high) == ("watch", "high") and math.isclose(w, 0.8, abs_tol=0.002) and math.isclose(h, 0.95, abs_tol=0.002)
    low = RiskPopulation()
    for i in range(1000):
        low.move(-1, risk_bin(i / 4000))  # everyone below 0.25
    assert low.thresholds((("watch", 0.2),), 0.5) == (("watch", 0.5),)
    population.move(risk_bin(0.999), risk_bin(0.1))  # a user's risk moved: the histogram follows
    assert sum(population.counts) == 1000


def test_tiers_stay_a_visible_risk_step_apart_when_many_customers_share_a_risk():
    population = RiskPopulation()
    for i in range(1000):  # half the customers at 0.78-0.79 (one-time buyers silent for as long)
        population.move(-1, risk_bin(0.78 + (i % 10) / 1000 if i % 2 else i / 2000))
    (_, w), (_, h), (_, c) = population.thresholds((("watch", 0.15), ("high", 0.07), ("critical", 0.02)), 0.5)
    assert w >= 0.78 and h >= w + MIN_TIER_GAP - 1e-9 and c >= h + MIN_TIER_GAP - 1e-9
