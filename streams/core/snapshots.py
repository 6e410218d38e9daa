"""A user's snapshot at event time t: the feature vector is scored, kept as a pending label with
the score served for it, and the score goes through the alert policy. Pure.

Snapshots are taken at a user's first activity of a day and at rescores of silent users
(streams/core/schedule.py); the engine decides when.
"""

from __future__ import annotations

from typing import Any

from streams.core import feedback, labels
from streams.core.alerts import AlertPolicy, build_alert, decide
from streams.core.counters import Counters
from streams.core.events import DAY_MS
from streams.core.features import UserState, feature_vector, spend_90
from streams.core.scoring import ChurnModel


class Snapshotter:
    def __init__(self, model: ChurnModel, policy: AlertPolicy, max_pending: int, counters: Counters,
                 alerts_out: list[dict[str, Any]]) -> None:
        self.model = model
        self.policy = policy
        self.max_pending = max_pending
        self.counters = counters
        self.alerts_out = alerts_out

    def take(self, user: UserState, t: int) -> None:
        features = feature_vector(user, t)
        score = self.model.score(features)
        labels.add_snapshot(user, t, features, self.max_pending, score.risk, score.kind != "heuristic")
        user.last_snapshot_day = t // DAY_MS
        self.counters.add("snapshots")
        policy = self.policy
        decision = decide(policy, user.tier, user.alert_times, score.risk, t, user.unsubscribed)
        if decision.fire:
            explained = self.model.explain(features, score)
            self.alerts_out.append(build_alert(policy, user.user_id, t, explained, decision.level, user.tier,
                                               spend_90(user, t)))
            user.alert_times.append(t)
            del user.alert_times[:-policy.max_alerts]
            feedback.open_alert(user, t, decision.level)
            self.counters.add("alerts")
        elif decision.suppressed:
            self.counters.add(f"suppressed_{decision.suppressed}")
        user.tier = decision.level
