"""Alert policy: tier crossings with hysteresis, cool-down and a cap, priority, recommended
action, and the experiment arm. Pure and deterministic in event time.

Alerts are early warnings: only for customers still active within the horizon (silent for less
than H). A user silent for H has churned by the label's own definition; they keep being scored,
but leave the tiers' population and get no alert (a win-back list is another product).

Tiers are calibrated risks, who may be alerted follows the population. A tier holds the customers
whose risk (a probability of no activity within the horizon) reaches its level, so "critical"
means the same churn rate on every day. Only the top ``population_share`` of the partition's
customers (active within the horizon) by current risk may be alerted at all: on a log where 70 %
of customers lapse, a fixed threshold would alert nearly everyone. That gate is recomputed from the
risk histogram (``RiskPopulation``) at each day boundary, so every decision of a day uses the same
thresholds: each tier's is its risk or the gate, whichever is higher. Tiers drawn as population
shares instead (before) meant different risks on different days as the population aged: on a CD
shop's log "critical" alerts churned less than "watch" ones.

Rules (all times are event times):
- a user's level is 0 (below every tier) or 1 + the index of the highest tier reached; an alert
  fires when the risk crosses into a higher tier than the user's level;
- a tier re-arms only once the risk has fallen below its threshold minus ``rearm_margin``;
- a user who unsubscribed (an 'unsubscribed' outcome) gets no further alert in either arm; the
  crossing still moves the level, so it is counted once as suppressed, not on every rescore;
- within ``cooldown_ms`` of the user's last alert, only an escalation (the user already had an
  alert at a lower tier) may fire;
- at most ``max_alerts`` alerts per user in any ``cap_period_ms``; a suppressed crossing leaves
  the level unchanged, so it fires once allowed if the risk is still there;
- a daily contact budget per partition: ``daily_budget_share`` of its customers are alerted per
  day on average, exactly over any run of days (``daily_budget``: a partition of 40 customers
  gets one alert every five days, not one a day); both arms; crossings on events first come, the
  boundary's rescores in priority order; beyond it a crossing is suppressed as ``budget`` and
  fires on a later day if the risk is still there;
- priority = risk x (spend over 90 days + ``base_value``): the costliest losses first, and users
  who have not bought yet still rank by risk;
- the recommended action comes from the driver of the top reason, through the action table
  (streams/defaults/actions.toml), with high-value users sent to personal contact;
- ``holdout_share`` of users, chosen by a stable hash of salt and user id, form the control arm:
  the same policy runs for them, but their alerts go to the holdout topic, never to outreach.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from streams.core.catalog import CATALOG, DRIVERS, FEATURE_INDEX
from streams.core.scoring import Score

Tiers = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class ActionTable:
    by_driver: dict[str, tuple[str, str]]  # driver -> (action, channel)
    high_value_min: float
    high_value: tuple[str, str]

    @classmethod
    def parse(cls, doc: dict[str, Any], origin: str = "action table") -> "ActionTable":
        """From the table's parsed TOML (the file is read by the caller: streams/defaults/actions.toml)."""
        by_driver = {d: (v["action"], v["channel"]) for d, v in doc["drivers"].items()}
        missing = set(DRIVERS) - set(by_driver)
        if missing:
            raise ValueError(f"{origin}: no action for drivers {sorted(missing)}")
        hv = doc["high_value"]
        return cls(by_driver, float(hv["min_value"]), (hv["action"], hv["channel"]))

    def recommend(self, driver: str, value: float) -> tuple[str, str]:
        return self.high_value if value >= self.high_value_min else self.by_driver[driver]


@dataclass(frozen=True)
class AlertPolicy:
    tiers: Tiers  # (name, risk from which a score is in this tier), lowest first
    rearm_margin: float
    cooldown_ms: int
    max_alerts: int
    cap_period_ms: int
    base_value: float
    holdout_share: float
    holdout_salt: str
    actions: ActionTable
    population_share: float = 0.15  # only this top share of the customers by risk may be alerted
    daily_budget_share: float = 0.005  # alerts per day: this share of the customers, on average


def daily_budget(share: float, customers: int, day: int) -> int:
    """The day's alerts: the whole alerts due by the end of the day minus those due before it, at
    ``share x customers`` a day. Over any run of days the sum stays within one of the rate, so a
    small partition is not given a whole alert every day (a floor of one let a shop of a few
    hundred customers alert over a third of them in a month); from the day alone, so a restart or
    a skipped day computes the same limit."""
    rate = share * customers
    return math.floor(rate * (day + 1)) - math.floor(rate * day)


RISK_BINS = 1000


def risk_bin(risk: float) -> int:
    return min(int(risk * RISK_BINS), RISK_BINS - 1)


class RiskPopulation:
    """How many of the partition's known customers are at each current risk (bins of 0.001).
    Rebuilt from the user states after a restart (each records its bin)."""

    def __init__(self, bins: "list[int] | None" = None) -> None:
        self.counts = bins or [0] * RISK_BINS

    def move(self, old: int, new: int) -> None:
        if old >= 0:
            self.counts[old] -= 1
        if new >= 0:
            self.counts[new] += 1

    def thresholds(self, tiers: Tiers, share: float) -> Tiers:
        """Each tier's risk threshold today: its risk, or the gate if higher (the lowest bin edge
        with at most ``share`` of the population at or above it). 1.0 (nobody) before anyone is known."""
        total = sum(self.counts)
        if not total:
            return tuple((name, 1.0) for name, _ in tiers)
        gate, above = 1.0, 0
        for b in range(RISK_BINS - 1, -1, -1):
            if above + self.counts[b] > share * total:
                break
            above += self.counts[b]
            gate = b / RISK_BINS
        return tuple((name, round(max(risk, gate), 3)) for name, risk in tiers)


def level_for(risk: float, tiers: Tiers) -> int:
    level = 0
    for i, (_, threshold) in enumerate(tiers):
        if risk >= threshold:
            level = i + 1
    return level


def rearmed(current: int, risk: float, tiers: Tiers, margin: float) -> int:
    while current > 0 and risk < tiers[current - 1][1] - margin:
        current -= 1
    return current


@dataclass(frozen=True)
class Decision:
    level: int          # the user's level after this score
    fire: bool
    suppressed: str = ""  # "unsubscribed" | "cap" | "cooldown" | "budget" when a crossing did not fire


def decide(policy: AlertPolicy, level: int, alert_times: list[int], risk: float, ts: int,
           unsubscribed: bool = False) -> Decision:
    """What a new risk score at event time ``ts`` does, given the user's level and past alert times."""
    reached = level_for(risk, policy.tiers)
    if reached <= level:
        return Decision(rearmed(level, risk, policy.tiers, policy.rearm_margin), False)
    if unsubscribed:
        return Decision(reached, False, "unsubscribed")
    recent = [t for t in alert_times if ts - t < policy.cap_period_ms]
    if len(recent) >= policy.max_alerts:
        return Decision(level, False, "cap")
    in_cooldown = bool(alert_times) and ts - alert_times[-1] < policy.cooldown_ms
    if in_cooldown and level == 0:
        return Decision(level, False, "cooldown")
    return Decision(reached, True)


def arm(user_id: str, share: float, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}|{user_id}".encode()).digest()
    return "control" if int.from_bytes(digest[:8], "big") / 2**64 < share else "treatment"


def alert_id(user_id: str, level: int, ts: int) -> str:
    return hashlib.sha256(f"{user_id}|{level}|{ts}".encode()).hexdigest()[:32]


def build_alert(policy: AlertPolicy, user_id: str, ts: int, score: Score, level: int, previous: int,
                value: float) -> dict[str, Any]:
    """The outreach_alert.v1 document, without ``emitted_at`` (the shell stamps it on sending)."""
    top = score.reasons[0].feature if score.reasons else "recency_ratio"
    action, channel = policy.actions.recommend(CATALOG[FEATURE_INDEX[top]].driver, value)
    return {
        "schema": "outreach_alert.v1",
        "alert_id": alert_id(user_id, level, ts),
        "user_id": user_id,
        "ts": ts,
        "risk_score": round(score.risk, 6),
        "tier": policy.tiers[level - 1][0],
        "previous_tier": policy.tiers[previous - 1][0] if previous else None,
        "threshold": policy.tiers[level - 1][1],
        "model": {"kind": score.kind, "version": score.version},
        "reasons": [r.to_dict() for r in score.reasons],
        "action": {"kind": action, "channel": channel},
        "value_estimate": round(value, 2),
        "priority": round(score.risk * (value + policy.base_value), 4),
        "arm": arm(user_id, policy.holdout_share, policy.holdout_salt),
    }
