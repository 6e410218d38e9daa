"""Silent users are rescored from the due-time index; downstream outcomes and win-back (engine level)."""

from collections import Counter

import pytest

from streams.core.alerts import RiskPopulation, arm
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.schedule import next_rescore_day
from streams.settings import Settings
from streams.core.events import DAY_MS
from tests.factories import at, click, seeded

# 2,000 labels before the model scores: the cold start here. No daily budget for three users (two
# of them silent in step would share one alert a day; tests/unit/core/test_snapshots.py tests it).
CFG = Settings(alert_daily_budget_share=1.0).engine_config()
POLICY = CFG.policy
# Three users make no population: these tests fix the tiers' thresholds (test_alerts.py tests how
# they follow a population) and give the return table a prior: daily users come back the next
# day, and a user silent for a week has gone for good.
THRESHOLDS = (("watch", 0.55), ("high", 0.75), ("critical", 0.9))


@pytest.fixture(autouse=True)
def fixed_thresholds(monkeypatch):
    monkeypatch.setattr(RiskPopulation, "thresholds", lambda self, tiers, share: THRESHOLDS)


class Partition:
    """One engine where only clicks hold the watermark; 'bg' clicks daily to move event time."""

    def __init__(self):
        self.users = {}
        self.engine = PartitionEngine(0, CFG, PartitionState(0), self.users)
        seeded(self.engine.model.rhythm)
        self.engine.set_idle({"purchase", "support_ticket"})
        self.offset = 0
        self.alerts = []

    def click(self, user, day):
        self.offset += 1
        self.engine.offer("click", self.offset, click(user, at(day)), self.offset)
        self.alerts += self.engine.drain().alerts

    def run(self, days, active):
        """Days in order; ``active(user, day)`` says who clicks that day (besides 'bg')."""
        for day in days:
            for user in ("u1", "u2"):
                if active(user, day):
                    self.click(user, day)
            self.click("bg", day)

    def counter(self, name):
        return self.engine.state.counters.get(name, 0)


def steady_then_silent(last_day):
    return lambda user, day: day <= last_day


DAY0 = at(0) // DAY_MS  # day index of the first simulated day (events at noon)


def ladder_days(user, from_day, until_ms):
    days, day = [], next_rescore_day(user.last_activity_ts, user.gap_ewma_days, from_day)
    while day * DAY_MS <= until_ms:
        days.append(day)
        day = next_rescore_day(user.last_activity_ts, user.gap_ewma_days, day)
    return days


def test_a_silent_user_is_rescored_on_the_ratio_ladder_and_alerted_while_silent():
    p = Partition()
    p.run(range(0, 120), steady_then_silent(19))
    u1 = p.users["u1"]
    ladder = ladder_days(u1, DAY0 + 19, at(119))
    assert [d - DAY0 for d in ladder][:13] == [21, 22, 23, 24, 26, 28, 31, 34, 38, 43, 49, 56, 63]
    assert all(b - a <= 7 for a, b in zip(ladder, ladder[1:]) if b - DAY0 - 19 <= 60)  # then weekly within 2 H
    mine = [a for a in p.alerts if a["user_id"] == "u1"]
    # Escalating alerts, one tier up each time, all at rescore boundaries while silent.
    assert [a["tier"] for a in mine] == ["watch", "high", "critical"]
    assert {a["ts"] // DAY_MS for a in mine} <= set(ladder)
    assert all(a["ts"] % DAY_MS == 0 for a in mine)
    # However long the silence, u1 keeps a current score: rescored within the last week, due again.
    assert u1.last_snapshot_day >= DAY0 + 119 - 7 and u1.next_due_day > DAY0 + 119 and "u1" in p.engine.due


def test_a_customer_silent_for_a_year_is_still_rescored_weekly():
    """Weekly within two horizons or three years of silence (a two-year shop log with a five-week
    horizon left such customers' scores a month old at any cut), then every tenth of the silence."""
    p = Partition()
    p.run(range(0, 420), steady_then_silent(19))
    u1 = p.users["u1"]
    ladder = ladder_days(u1, DAY0 + 19, at(419))
    assert all(b - a <= 7 for a, b in zip(ladder, ladder[1:]))
    assert u1.last_snapshot_day >= DAY0 + 419 - 7 and u1.next_due_day <= DAY0 + 419 + 7


def test_silent_snapshots_are_taken_on_the_ladder_not_daily():
    p = Partition()
    p.run(range(0, 60), steady_then_silent(19))
    u1 = p.users["u1"]
    days = [t // DAY_MS for t, *_ in u1.pending if t > u1.last_activity_ts]  # labels not yet released
    released = p.engine.state.released_until
    ladder = [d for d in ladder_days(u1, DAY0 + 19, released) if d * DAY_MS > released - CFG.horizon_ms]
    # Labels are kept from ladder snapshots at least H/4 apart (a few per horizon, not one per rescore).
    assert set(days) <= set(ladder) and len(days) < len(ladder)
    assert all((b - a) * DAY_MS >= CFG.horizon_ms // 4 for a, b in zip(days, days[1:]))
    assert u1.last_snapshot_day == ladder[-1]


def test_an_unsubscribed_user_is_never_alerted_and_outcomes_count_once():
    p = Partition()
    outcome = {"schema": "outreach_outcome.v1", "alert_id": "0" * 32, "user_id": "u1", "status": "unsubscribed",
               "ts": at(0)}
    p.engine.offer_outcome(0, outcome, "token-a")
    p.engine.offer_outcome(0, outcome, "token-a-redelivered")
    out = p.engine.drain()
    assert out.settled == ["token-a", "token-a-redelivered"] and out.dirty_users == {"u1"}
    p.run(range(0, 60), lambda user, day: day <= 19)
    assert [a for a in p.alerts if a["user_id"] == "u1"] == []
    assert [a["tier"] for a in p.alerts if a["user_id"] == "u2"] == ["watch", "high", "critical"]
    assert p.counter("outcome_unsubscribed") == 1
    assert p.counter("suppressed_unsubscribed") == 3  # each crossing once, like u2's alerts


def test_win_back_counts_returns_within_the_horizon_per_arm_and_tier():
    p = Partition()
    # u1 goes quiet after day 19 and comes back on day 40; u2 never comes back.
    p.run(range(0, 130), lambda user, day: day <= 19 or (user == "u1" and day == 40))
    g1 = arm("u1", POLICY.holdout_share, POLICY.holdout_salt)
    g2 = arm("u2", POLICY.holdout_share, POLICY.holdout_salt)
    assert [a["tier"] for a in p.alerts if a["user_id"] == "u1"][:2] == ["watch", "high"]  # then back on day 40
    assert [a["tier"] for a in p.alerts if a["user_id"] == "u2"] == ["watch", "high", "critical"]
    verdicts = {k: v for k, v in p.engine.state.counters.items() if k.startswith("winback_")}
    returned = {k: v for k, v in verdicts.items() if k.endswith("_returned")}
    assert returned == {f"winback_{g1}_watch_returned": 1, f"winback_{g1}_high_returned": 1}
    # u2's three alerts were lost; so were those of u1's second silence (from day 41, alerted again).
    u1_again = [a["tier"] for a in p.alerts if a["user_id"] == "u1"][2:]
    lost = Counter({f"winback_{g2}_{t}_lost": 1 for t in ("watch", "high", "critical")})
    lost.update(f"winback_{g1}_{t}_lost" for t in u1_again)
    assert {k: v for k, v in verdicts.items() if k.endswith("_lost")} == dict(lost)
    assert p.users["u2"].open_alerts == []
