"""A user's snapshot at event time t: the model's inputs are scored, the score goes through the
alert policy, and some snapshots are kept as pending labels with the score served for them. Pure.

Snapshots are taken at a user's first activity of a day and at rescores of silent users
(streams/core/schedule.py); the engine decides when. A snapshot becomes a pending label only if
the user's latest pending one is at least H / LABELS_PER_HORIZON older: a few labels per user
per horizon, so state and learning grow with users, not events. The choice depends only on
snapshot times, never on what happens after, so the labels stay unbiased.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Final

from streams.core import feedback, labels
from streams.core.alerts import AlertPolicy, Decision, build_alert, decide, risk_bin
from streams.core.counters import Counters
from streams.core.events import DAY_MS
from streams.core.features import UserState, feature_vector, round_feature, spend_90
from streams.core.rhythm import cold_start_risk, observed_silence
from streams.core.scoring import ChurnModel, Score


LABELS_PER_HORIZON: Final = 4


def scoring_inputs(user: UserState, t: int, model: ChurnModel, horizon_ms: int) -> list[float]:
    """The model's inputs at t (scoring.INPUT_NAMES): the features, then the population rhythm's
    cold-start risk for this user, active days and silence."""
    return _inputs_with(user, t, cold_start_input(user, t, model, horizon_ms))


def cold_start_input(user: UserState, t: int, model: ChurnModel, horizon_ms: int) -> float:
    """The population rhythm's cold-start risk for the user at t (model.cold_start, compiled)."""
    silence = observed_silence(t, user.last_active_day, DAY_MS)
    return cold_start_risk(model.rhythm, user.active_days_total, silence, horizon_ms // DAY_MS, user.attributes)


def _inputs_with(user: UserState, t: int, cold_start: float) -> list[float]:
    silence = observed_silence(t, user.last_active_day, DAY_MS)
    extra = [cold_start, round_feature(math.log1p(user.active_days_total)), round_feature(math.log1p(silence))]
    return feature_vector(user, t) + extra


def next_boundary_after(t: int) -> int:
    """The first day boundary after t: the one whose partition-level figures include a step at t."""
    return (t // DAY_MS + 1) * DAY_MS


class Snapshotter:
    def __init__(self, model: ChurnModel, policy: AlertPolicy, horizon_ms: int, counters: Counters,
                 alerts_out: list[dict[str, Any]],
                 on_risk: Callable[[UserState, int, int, int], None] = lambda *_: None,
                 on_budget: Callable[[UserState, int, "float | None"], None] = lambda *_: None) -> None:
        self.model = model
        self.on_budget = on_budget  # (user, t, priority if a ranked crossing): an alert used the day's budget
        self.policy = policy  # with the tiers' thresholds of the day (set_thresholds)
        self.on_risk = on_risk  # (user, boundary, old risk bin, new risk bin): the population moved
        self.budget = [0, 0, 1 << 30]  # [day, alerts sent that day, the day's limit]: the engine sets it
        self.horizon_ms = horizon_ms
        self.label_spacing_ms = horizon_ms // LABELS_PER_HORIZON
        self.max_pending = LABELS_PER_HORIZON + 1
        self.counters = counters
        self.alerts_out = alerts_out
        self.candidates: list[tuple[Any, ...]] = []  # a boundary's crossings until settle_ranked

    def set_thresholds(self, thresholds: list[list[Any]]) -> None:
        """The tiers' risk thresholds for the day (streams/core/alerts.py RiskPopulation)."""
        self.policy = replace(self.policy, tiers=tuple((name, float(t)) for name, t in thresholds))

    def take(self, user: UserState, t: int, ranked: bool = False) -> None:
        """Score the user at t, keep a pending label if it is time for one, and put the score
        through the alert policy. ``ranked`` (a boundary's rescores): a crossing waits for
        ``settle_ranked``, which spends the day's budget on the highest priorities first."""
        model = self.model
        cold_start = cold_start_input(user, t, model, self.horizon_ms)
        # The features only where something reads them: the model's score, a pending label, an
        # alert's reasons. While the cold start serves, most snapshots need its risk alone (a
        # feature vector costs about 8 us, most of a snapshot).
        features: list[float] | None = None
        if model.ready:
            features = _inputs_with(user, t, cold_start)
            score = model.score(features, user.attributes)
        else:
            score = model.cold_start_score(cold_start)
        # Still a customer: active within the horizon. Past it the user has churned by the label's
        # own definition: a win-back case, not an early warning, so out of the tiers' population
        # and of alerts (still scored and labelled); a return starts from level 0 again.
        live = 0 <= user.last_activity_ts and t - user.last_activity_ts < self.horizon_ms
        new_bin = risk_bin(score.risk) if live else -1
        if new_bin != user.risk_bin:
            self.on_risk(user, next_boundary_after(t), user.risk_bin, new_bin)
            user.risk_bin = new_bin
        if not user.pending or t - user.pending[-1][labels.T] >= self.label_spacing_ms:
            if features is None:
                features = _inputs_with(user, t, cold_start)
            labels.add_snapshot(user, t, features, self.max_pending, score.risk, score.kind != "heuristic")
        user.last_snapshot_day = t // DAY_MS
        self.counters.add("snapshots")
        if not live:
            user.tier = 0
            return
        decision = decide(self.policy, user.tier, user.alert_times, score.risk, t, user.unsubscribed)
        if decision.fire and features is None:  # the alert's reasons read them
            features = _inputs_with(user, t, cold_start)
        if decision.fire and ranked:
            value = spend_90(user, t)
            self.candidates.append((-score.risk * (value + self.policy.base_value), user.user_id, user, t, features,
                                    score, decision, value))
            return
        self._settle(user, t, features, score, decision, spend_90(user, t) if decision.fire else 0.0)

    def settle_ranked(self) -> None:
        """The boundary's crossings in priority order (risk x value, as the alerts' priority), each
        firing while the day's budget lasts; the others keep their level and may fire later."""
        self.candidates.sort(key=lambda c: (c[0], c[1]))
        for priority, _, user, t, features, score, decision, value in self.candidates:
            if user is None:  # an alert a restart does not make again (streams/core/engine.py): its budget
                self.budget[1] += 1
                continue
            self._settle(user, t, features, score, decision, value, priority)
        self.candidates.clear()

    def _settle(self, user: UserState, t: int, features: list[float] | None, score: Score, decision: Decision,
                value: float, priority: float | None = None) -> None:
        """``features``: the inputs scored, for a firing decision (take computes them for one)."""
        policy = self.policy
        if decision.fire and self.budget[1] >= self.budget[2]:
            self.counters.add("suppressed_budget")
            return  # the level stays: it fires on a later day if the risk is still there
        if decision.fire:
            self.budget[1] += 1
            self.on_budget(user, t, priority)
            assert features is not None
            explained = self.model.explain(features, score, user.attributes)
            self.alerts_out.append(build_alert(policy, user.user_id, t, explained, decision.level, user.tier, value))
            user.alert_times.append(t)
            del user.alert_times[:-policy.max_alerts]
            feedback.open_alert(user, t, decision.level)
            self.counters.add("alerts")
        elif decision.suppressed:
            self.counters.add(f"suppressed_{decision.suppressed}")
        user.tier = decision.level
