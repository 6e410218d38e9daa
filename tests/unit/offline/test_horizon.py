"""The horizon proposal: a daily app and a shop visited every few months get their own scale."""

import random

import pytest

from streams.offline.horizon import propose
from tests.factories import at, click


def _log(gap_days, users=200, span=720, seed=3):
    rng = random.Random(seed)
    events = []
    for u in range(users):
        day = rng.randrange(10)
        while day < span:
            events.append(click(f"u{u}", at(day)))
            day += max(1, int(rng.expovariate(1 / gap_days)))
    return events


def test_a_daily_app_and_a_quarterly_shop_get_very_different_horizons():
    daily, quarterly = propose(_log(1.5)), propose(_log(90))
    assert daily["proposed_horizon_days"] <= 7
    assert 150 <= quarterly["proposed_horizon_days"] <= 300
    # At the proposal, at most the target share of returns came later; just before it, more did.
    curve = {c["silence_days"]: c["late_return_share"] for c in quarterly["curve"]}
    assert curve[quarterly["proposed_horizon_days"]] <= 0.10


def test_a_log_without_returns_is_refused():
    with pytest.raises(ValueError, match="no user came back"):
        propose([click("u1", at(0)), click("u2", at(3))])
