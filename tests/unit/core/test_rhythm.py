"""The population's return table (streams/core/rhythm.py) and the tiers that follow the population."""

import math
import pickle
import random

from hypothesis import given, settings, strategies as st

from streams.core.alerts import RiskPopulation, level_for, risk_bin
from streams.core.events import DAY_MS
from streams.core.rhythm import (MAX_COVARIATES, MAX_REMEMBERED_RISKS, _bounded, MAX_P, MIN_P, ReturnTable, cold_start_risk,
                                 covariates, observed_silence)
from streams.core.scoring import ChurnModel


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


def test_risks_beyond_the_bounds_keep_their_order():
    """A daily user's P(no visit in 30 days) after one silent day is far below MIN_P, and below
    that of one silent for five: both still rank (they tied at MIN_P when it clipped), served and
    as the model reads them."""
    table = ReturnTable()
    rng = random.Random(2)
    for i in range(20_000):  # regulars: half come back on 80 % of their silent days, half on 30 %
        gap, hazard = 1, (0.8, 0.3)[i % 2]
        while rng.random() >= hazard:
            gap += 1
        table.add(20, 0, gap, True)
    table.refresh()
    risks = [table.p_no_return(20, s, 30) for s in (0, 1, 3, 5)]
    assert risks == sorted(risks) and len(set(risks)) == 4 and risks[-1] < MIN_P
    assert all(MIN_P / 2 <= r for r in risks)
    model = ChurnModel(0, min_labels=100)
    model.rhythm = table
    served = [model.cold_start(20, s, 30) for s in (0, 1, 3, 5)]
    assert served == sorted(served) and len(set(served)) == 4
    assert MAX_P < _bounded(1 - 5e-5) < _bounded(1 - 1e-9) < 1  # the upper bound the same way
    assert model.cold_start(1, 10, 30) == round(model.cold_start(1, 10, 30), 6)  # within the bounds: six decimals


def test_observed_silence_counts_whole_days_without_activity():
    assert observed_silence(5 * DAY_MS + 1, 5, DAY_MS) == 0  # on the active day
    assert observed_silence(6 * DAY_MS, 5, DAY_MS) == 0  # the boundary right after it
    assert observed_silence(9 * DAY_MS, 5, DAY_MS) == 3  # days 6, 7, 8


def test_tiers_are_risks_and_only_the_top_share_of_the_population_may_be_alerted():
    tiers = (("watch", 0.5), ("high", 0.7), ("critical", 0.85))
    population = RiskPopulation()
    assert population.thresholds(tiers, 0.15) == (("watch", 1.0), ("high", 1.0), ("critical", 1.0))  # nobody known
    for i in range(1000):
        population.move(-1, risk_bin(i / 1000))  # risks spread evenly over [0, 1)
    # The top 15 % start at 0.85: watch and high are reached only from there; critical keeps its risk.
    (_, w), (_, h), (_, c) = population.thresholds(tiers, 0.15)
    assert math.isclose(w, 0.85, abs_tol=0.002) and math.isclose(h, 0.85, abs_tol=0.002) and c == 0.85
    assert level_for(0.86, population.thresholds(tiers, 0.15)) == 3 and level_for(0.84, population.thresholds(tiers, 0.15)) == 0
    # With a broader gate each tier is its own risk: the same tier means the same risk every day.
    assert population.thresholds(tiers, 0.6) == tiers
    low = RiskPopulation()
    for i in range(1000):
        low.move(-1, risk_bin(i / 4000))  # everyone below 0.25: nobody reaches a tier
    assert low.thresholds(tiers, 0.15) == tiers
    population.move(risk_bin(0.999), risk_bin(0.1))  # a user's risk moved: the histogram follows
    assert sum(population.counts) == 1000


def _gap(rng, hazard, longest=10_000):
    gap = 1
    while rng.random() >= hazard and gap < longest:
        gap += 1
    return gap


def test_a_little_exposure_without_returns_does_not_end_all_hope():
    """Returns at 1 % a day for 200 days, then only 300 user-days seen at longer silences, none
    back yet (the log is not long enough): that is what a 1 % hazard predicts, not proof that
    nobody ever returns. Smoothing counted in user-days made such a bucket's hazard ~0, so every
    long-silent customer read as certain to churn (a CD shop's log: 0.96 served, 0.85 observed)."""
    table, rng = ReturnTable(), random.Random(1)
    for _ in range(2000):
        gap = _gap(rng, 0.01, 200)
        table.add(1, 0, gap, gap < 200)
    for _ in range(3):
        table.add(1, 0, 300, False)
    table.refresh()
    assert table.p_no_return(1, 270, 273) < 0.6  # with a hazard of 0.01: 0.06; it was 0.9999


def test_a_class_keeps_its_own_level_in_silences_it_has_not_reached():
    """Regulars come back four times as often as one-time buyers at every silence seen so far; at
    longer silences, not yet seen for regulars, they keep that relation instead of taking the
    population's hazard (which one-time buyers dominate)."""
    table, rng = ReturnTable(), random.Random(3)
    for _ in range(5000):
        table.add(1, 0, _gap(rng, 0.02, 120), True)
    for _ in range(300):
        table.add(20, 0, _gap(rng, 0.08, 20), True)
    table.refresh()
    assert table.p_no_return(20, 60, 30) < table.p_no_return(1, 60, 30) - 0.1


def test_attributes_shift_the_hazard_by_the_returns_they_show():
    """Two groups, one returning four times as often: their attributes learn ratios from
    returns observed over returns expected, relative to everyone; unknown values stay neutral."""
    table, rng = ReturnTable(), random.Random(2)
    for _ in range(2):
        for group, hazard in (("tier=gold", 0.2), ("tier=basic", 0.05)):
            for _ in range(3000):
                gap = _gap(rng, hazard)
                table.add(3, 0, gap, True, (group,), table.expected(3, 0, gap))
        table.refresh()
    gold, everyone, basic = (table.p_no_return(3, 5, 10, c) for c in (("tier=gold",), (), ("tier=basic",)))
    assert gold < everyone - 0.1 and basic > everyone + 0.1
    assert table.p_no_return(3, 5, 10, ("tier=unseen",)) == everyone


def test_attribute_values_are_bounded():
    table = ReturnTable()
    for i in range(MAX_COVARIATES + 50):
        table.add(1, 0, 3, True, (f"zip={i}",), 500_000)
    table.refresh()
    assert len(table.covariates) == MAX_COVARIATES
    assert covariates({"b": "2", "a": "1"}) == ("a=1", "b=2")


def test_open_silences_are_counted_up_to_each_refresh_without_visits():
    """Users silent since a day are counted by the table itself at every refresh, as if each had
    been exposed up to that day: those silent for over a year too (kept in one sum per class),
    and a silence that ends stops being counted."""
    rng = random.Random(4)
    table = ReturnTable()
    silent = {}  # (active days, last active day) -> users
    for _ in range(3000):
        key = (rng.choice((1, 2, 5, 20)), rng.randrange(0, 900))
        silent[key] = silent.get(key, 0) + 1
        table.silence(*key, +1)
    for day in (300, 700, 1000):
        for key in rng.sample(sorted(k for k, n in silent.items() if n), 40):  # some come back
            silent[key] -= 1
            table.silence(*key, -1)
        table.refresh(day)
        explicit = ReturnTable()
        for (active_days, last), users in silent.items():
            if last < day:
                explicit.expose(active_days, 0, day - 1 - last, users)
        assert table._exposure_at(day) == explicit.exposure
    assert sum(users for users, _ in table.open_long) > 1500  # the year-long sums were used


def test_a_silence_registered_late_replaces_the_exposure_already_counted():
    table, explicit = ReturnTable(), ReturnTable()
    table.expose(3, 0, 40)  # counted the old way, by a visit, up to 40 days of silence
    table.silence(3, 100, +1, unexposed=40)  # registered at a later visit
    explicit.expose(3, 0, 59)
    table.refresh(160)
    assert table._exposure_at(160) == explicit.exposure


@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 400), st.booleans()), min_size=1, max_size=60),
       st.sampled_from([7, 30, 120]))
@settings(max_examples=60, deadline=None)
def test_within_a_class_a_longer_silence_never_reads_as_safer(steps, horizon):
    """Whatever a sparse table's hazards look like (a bucket's few returns can make it higher
    than the one before), the risk does not fall as the silence grows."""
    table = ReturnTable()
    for active_days, gap, returned in steps:
        table.add(active_days, 0, gap, returned)
    table.refresh()
    for active_days in (1, 3, 8, 20):
        risks = [table.p_no_return(active_days, s, horizon) for s in range(0, 500, 3)]
        assert all(a <= b + 1e-12 for a, b in zip(risks, risks[1:])), active_days  # (rounding error aside)


def test_a_late_bump_of_returns_does_not_make_long_silences_look_safer():
    # A choice: a real quarterly bump no longer lowers the risk of those about to reach it (the
    # horizon a log is given reaches past such bumps); noise in a sparse table did the same.
    table = ReturnTable()
    for _ in range(30):
        table.add(1, 0, 2, True)
    for _ in range(40):
        table.add(1, 0, 100, True)  # a cluster of returns after about three months
    table.refresh()
    assert table.p_no_return(1, 70, 60) >= table.p_no_return(1, 10, 60)


@given(st.lists(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 400), st.booleans(),
                                   st.sampled_from([(), ("tier=gold",), ("tier=basic", "zip=1")])),
                         min_size=1, max_size=30), min_size=1, max_size=4),
       st.lists(st.tuples(st.integers(0, 30), st.integers(0, 400), st.sampled_from([7, 30]),
                          st.sampled_from([None, {}, {"tier": "gold"}, {"zip": "1", "tier": "basic"},
                                           {"tier": "basic", "zip": "1"}])), min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_the_cold_start_risks_remembered_are_the_table_s_own_after_every_refresh(days, asks):
    """cold_start_risk remembers its answers until the next refresh: each is the one a table with
    the same counts and nothing remembered gives, and none is pickled."""
    table = ReturnTable()
    for steps in days:
        for active_days, gap, returned, names in steps:
            table.add(active_days, 0, gap, returned, names, table.expected(active_days, 0, gap))
        table.refresh()
        before = pickle.dumps(table)
        for active_days, silence, horizon, attributes in asks + asks:  # each asked twice
            assert cold_start_risk(table, active_days, silence, horizon, attributes) == \
                cold_start_risk(pickle.loads(before), active_days, silence, horizon, attributes)
        assert pickle.dumps(table) == before


def test_the_remembered_risks_are_bounded():
    """However many (class, silence, attributes) a day asks about (attributes can be as many as the
    customers), the table remembers at most MAX_REMEMBERED_RISKS answers, each still its own."""
    table = ReturnTable()
    seeded_steps = [(n, gap) for n in (1, 3, 8) for gap in (1, 2, 5, 30)]
    for active_days, gap in seeded_steps:
        table.add(active_days, 0, gap, True)
    table.refresh()
    fresh = pickle.dumps(table)
    for i in range(MAX_REMEMBERED_RISKS + 500):
        attributes = {"customer": str(i)}
        risk = cold_start_risk(table, 3, i % 400, 30, attributes)
        assert len(table._risks) <= MAX_REMEMBERED_RISKS
        if i % 997 == 0:
            assert risk == cold_start_risk(pickle.loads(fresh), 3, i % 400, 30, attributes)
