"""Silent users are rescored from the due-time index; downstream outcomes and win-back (engine level)."""

from streams.core.alerts import arm
from streams.core.engine import PartitionEngine, PartitionState
from streams.core.schedule import next_rescore_day
from streams.settings import Settings
from streams.core.events import DAY_MS
from tests.factories import at, click

CFG = Settings().engine_config()  # 2,000 labels before the model scores: the heuristic here
POLICY = CFG.policy


class Partition:
    """One engine where only clicks hold the watermark; 'bg' clicks daily to move event time."""

    def __init__(self):
        self.users = {}
        self.engine = PartitionEngine(0, CFG, PartitionState(0), self.users)
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
    ladder = ladder_days(u1, DAY0 + 19, u1.last_activity_ts + CFG.track_ms)
    assert [d - DAY0 for d in ladder] == [21, 22, 23, 24, 26, 28, 31, 34, 38, 43, 49, 56, 63]
    mine = [a for a in p.alerts if a["user_id"] == "u1"]
    # Escalating alerts, one tier up each time, all at rescore boundaries while silent.
    assert [a["tier"] for a in mine] == ["watch", "high", "critical"]
    assert {a["ts"] // DAY_MS for a in mine} <= set(ladder)
    assert all(a["ts"] % DAY_MS == 0 for a in mine)
    # Beyond the tracking period, with labels and win-back verdicts all settled, u1 is not due.
    assert u1.pending == [] and u1.open_alerts == [] and u1.next_due_day == -1 and u1.rescore_day == -1
    assert "u1" not in p.engine.due


def test_silent_snapshots_are_taken_on_the_ladder_not_daily():
    p = Partition()
    p.run(range(0, 60), steady_then_silent(19))
    u1 = p.users["u1"]
    days = [t // DAY_MS for t, *_ in u1.pending if t > u1.last_activity_ts]  # labels not yet released
    released = p.engine.state.released_until
    assert days == [d for d in ladder_days(u1, DAY0 + 19, released) if d * DAY_MS > released - CFG.horizon_ms]
    assert [d - DAY0 for d in days] == [31, 34, 38, 43, 49, 56]


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
    p.run(range(0, 100), lambda user, day: day <= 19 or (user == "u1" and day == 40))
    g1 = arm("u1", POLICY.holdout_share, POLICY.holdout_salt)
    g2 = arm("u2", POLICY.holdout_share, POLICY.holdout_salt)
    assert [a["tier"] for a in p.alerts if a["user_id"] == "u1"][:2] == ["watch", "high"]  # then back on day 40
    assert [a["tier"] for a in p.alerts if a["user_id"] == "u2"] == ["watch", "high", "critical"]
    verdicts = {k: v for k, v in p.engine.state.counters.items() if k.startswith("winback_")}
    assert verdicts == {f"winback_{g1}_watch_returned": 1, f"winback_{g1}_high_returned": 1,
                        f"winback_{g2}_watch_lost": 1, f"winback_{g2}_high_lost": 1, f"winback_{g2}_critical_lost": 1}
    assert p.users["u2"].open_alerts == []  # u1 has a new alert from its second silence, still open
