"""Per-user windowed state and the feature vector it yields, in event time, with bounded memory.

State is a set of daily buckets (at most ``KEEP_DAYS`` of them) plus a few scalars, so its size
does not grow with the number of events. Everything is a plain function of the user's events in
the order they are applied; the caller applies them in event-time order (see streams/engine.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.contracts import Event
from streams.settings import DAY_MS

KEEP_DAYS = 91
RECENT_IDS = 32
MAX_OPEN_TICKETS = 16
DEFAULT_GAP_DAYS = 3.0
GAP_EWMA_ALPHA = 0.3

# Daily bucket layout, commonest first: a bucket is stored without its trailing zeros.
ACTIVE, CLICKS, SESSIONS, INTERACTIONS, ERRORS, PURCHASES, SPEND, DISCOUNT, REFUNDS, TICKETS_OPENED = range(10)
BUCKET_WIDTH = 10
INTERACTION_ACTIONS = frozenset({"like", "comment", "share", "favourite", "review", "add_to_cart"})
ERROR_ACTIONS = frozenset({"error", "slow_page"})


DRIVERS = ("engagement", "price", "service", "onboarding")


@dataclass(frozen=True)
class Feature:
    name: str
    unit: str
    window: str
    meaning: str
    reason_text: str  # how an alert explains a high value to a person
    driver: str  # the kind of churn cause it points at (chooses the recommended action)


# The catalog: the one place a feature is named. Order = the model's input order.
CATALOG: tuple[Feature, ...] = (
    Feature("recency_days", "days", "now", "days since the last click or completed purchase", "inactive for a while", "engagement"),
    Feature("recency_ratio", "ratio", "now", "recency divided by the user's own typical gap between active days", "silent far longer than usual", "engagement"),
    Feature("typical_gap_days", "days", "lifetime", "EWMA of the gaps between the user's active days", "usually visits rarely", "engagement"),
    Feature("active_days_7", "days", "7d", "days with activity in the last 7 days", "few active days this week", "engagement"),
    Feature("active_days_30", "days", "30d", "days with activity in the last 30 days", "few active days this month", "engagement"),
    Feature("log_clicks_7", "log(1+n)", "7d", "clicks in the last 7 days", "little browsing this week", "engagement"),
    Feature("log_clicks_30", "log(1+n)", "30d", "clicks in the last 30 days", "little browsing this month", "engagement"),
    Feature("sessions_30", "count", "30d", "sessions started in the last 30 days", "few sessions", "engagement"),
    Feature("click_trend_7", "log ratio", "7d vs prior 7d", "log((clicks last 7d + 1) / (clicks the 7d before + 1))", "activity falling week on week", "engagement"),
    Feature("interactions_30", "count", "30d", "likes, comments, shares, favourites, reviews, add-to-carts", "stopped interacting", "engagement"),
    Feature("errors_30", "count", "30d", "error or slow pages seen", "hit errors or slow pages", "service"),
    Feature("purchases_30", "count", "30d", "completed purchases", "stopped buying", "price"),
    Feature("log_spend_30", "log(1+amount)", "30d", "spend on completed purchases", "spend dropped", "price"),
    Feature("days_since_purchase", "days", "now", "days since the last completed purchase (capped at 90)", "no purchase in a long time", "price"),
    Feature("refunds_30", "count", "30d", "refunded or cancelled orders", "refunds or cancellations", "service"),
    Feature("discount_share_30", "share", "30d", "share of purchases made with a discount", "buys only with discounts (price sensitive)", "price"),
    Feature("tickets_30", "count", "30d", "support tickets opened", "many support tickets", "service"),
    Feature("open_tickets", "count", "now", "tickets opened or reopened and not yet resolved", "unresolved support tickets", "service"),
    Feature("low_csat", "flag", "last", "1 if the last satisfaction score was 1 or 2", "unhappy with support", "service"),
    Feature("log_spend_90", "log(1+amount)", "90d", "spend on completed purchases (the user's value estimate)", "spend fell over the quarter", "price"),
    Feature("log_tenure_days", "log(1+days)", "lifetime", "days since the user's first event", "new user, not settled in", "onboarding"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in CATALOG)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(slots=True)
class UserState:
    user_id: str
    partition: int = -1
    first_ts: int = -1
    last_activity_ts: int = -1
    last_purchase_ts: int = -1
    last_active_day: int = -1
    gap_ewma_days: float = DEFAULT_GAP_DAYS
    last_session_id: str = ""
    last_csat: int = 0
    # day index -> bucket (list of BUCKET_WIDTH floats)
    days: dict[int, list[float]] = field(default_factory=dict)
    open_tickets: list[str] = field(default_factory=list)
    # Dedupe/ordering: the sort key of the last applied event and the ids of the latest few.
    last_key: tuple[int, int, str] = (-1, -1, "")
    recent_ids: list[str] = field(default_factory=list)
    events_applied: int = 0
    # Labelling and alerting state (streams/labels.py, streams/alerts.py, streams/engine.py).
    pending: list[list[Any]] = field(default_factory=list)
    last_snapshot_day: int = -1
    next_due_day: int = -1  # the day boundary at which the engine next visits this user (-1: none)
    rescore_day: int = -1  # the day boundary at which a silent user is next rescored (streams/schedule.py)
    tier: int = 0  # index into the settings' tiers + 1; 0 = below every tier
    alert_times: list[int] = field(default_factory=list)  # event times of the latest alerts
    open_alerts: list[list[int]] = field(default_factory=list)  # [ts, level] awaiting their win-back verdict
    unsubscribed: bool = False  # set by an 'unsubscribed' outcome: no further alerts
    epoch: int = 0  # the partition flush that last wrote this state (see engine.PartitionEngine)

    def to_dict(self) -> dict[str, Any]:
        return {
            "u": self.user_id, "pt": self.partition, "f": self.first_ts, "la": self.last_activity_ts, "lp": self.last_purchase_ts,
            "lad": self.last_active_day, "g": self.gap_ewma_days, "ls": self.last_session_id,
            "cs": self.last_csat, "d": [_pack(day, b) for day, b in self.days.items()], "ot": self.open_tickets,
            "lk": list(self.last_key), "ri": self.recent_ids, "n": self.events_applied, "p": self.pending,
            "lsd": self.last_snapshot_day, "nd": self.next_due_day, "rd": self.rescore_day, "t": self.tier, "at": self.alert_times,
            "oa": self.open_alerts, "un": self.unsubscribed, "ep": self.epoch,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UserState":
        return cls(
            user_id=d["u"], partition=d["pt"], first_ts=d["f"], last_activity_ts=d["la"], last_purchase_ts=d["lp"],
            last_active_day=d["lad"], gap_ewma_days=d["g"], last_session_id=d["ls"], last_csat=d["cs"],
            days={row[0]: _unpack(row) for row in d["d"]}, open_tickets=d["ot"], last_key=tuple(d["lk"]),  # type: ignore[arg-type]
            recent_ids=d["ri"], events_applied=d["n"], pending=d["p"], last_snapshot_day=d["lsd"],
            next_due_day=d["nd"], rescore_day=d["rd"], tier=d["t"], alert_times=d["at"], open_alerts=d["oa"],
            unsubscribed=d["un"], epoch=d["ep"],
        )


def _pack(day: int, bucket: list[float]) -> list[float]:
    """[day, *bucket] for the changelog, without trailing zeros and with whole numbers as ints:
    most days hold a few clicks, so this keeps a bucket to ~20 bytes of JSON instead of ~55."""
    values = [int(v) if v.is_integer() else v for v in bucket]
    while values and values[-1] == 0:
        values.pop()
    return [day, *values]


def _unpack(row: list[float]) -> list[float]:
    return [float(v) for v in row[1:]] + [0.0] * (BUCKET_WIDTH - len(row) + 1)


def is_activity(event: Event) -> bool:
    """Activity for recency and labels: clicks and completed purchases (tickets alone are not)."""
    return event.kind == "click" or (event.kind == "purchase" and event.data["status"] == "completed")


def _bucket(state: UserState, day: int) -> list[float]:
    bucket = state.days.get(day)
    if bucket is None:
        bucket = state.days[day] = [0.0] * BUCKET_WIDTH
        if len(state.days) > KEEP_DAYS:
            horizon = day - KEEP_DAYS
            for old in [d for d in state.days if d <= horizon]:
                del state.days[old]
    return bucket


def apply_event(state: UserState, event: Event) -> None:
    """Fold one event into the state. The caller guarantees event-time order and no duplicates."""
    ts = event.ts
    day = ts // DAY_MS
    data = event.data
    bucket = _bucket(state, day)
    if state.first_ts < 0:
        state.first_ts = ts
    if event.kind == "click":
        bucket[CLICKS] += 1
        if data["session_id"] != state.last_session_id:
            state.last_session_id = data["session_id"]
            bucket[SESSIONS] += 1
        action = data["action"]
        if action in INTERACTION_ACTIONS:
            bucket[INTERACTIONS] += 1
        elif action in ERROR_ACTIONS:
            bucket[ERRORS] += 1
    elif event.kind == "purchase":
        status = data["status"]
        if status == "completed":
            bucket[PURCHASES] += 1
            bucket[SPEND] += data["amount"]
            if data.get("discount", 0) > 0:
                bucket[DISCOUNT] += 1
            state.last_purchase_ts = ts
        else:
            bucket[REFUNDS] += 1
    else:
        status = data["status"]
        ticket = data["ticket_id"]
        if status in ("opened", "reopened"):
            if status == "opened":
                bucket[TICKETS_OPENED] += 1
            if ticket not in state.open_tickets:
                state.open_tickets.append(ticket)
                del state.open_tickets[:-MAX_OPEN_TICKETS]
        elif status in ("resolved", "closed") and ticket in state.open_tickets:
            state.open_tickets.remove(ticket)
        if "csat" in data:
            state.last_csat = data["csat"]
    if is_activity(event):
        if day > state.last_active_day:
            if state.last_active_day >= 0:
                gap = day - state.last_active_day
                state.gap_ewma_days += GAP_EWMA_ALPHA * (gap - state.gap_ewma_days)
            state.last_active_day = day
            bucket[ACTIVE] = 1.0
        state.last_activity_ts = ts
    state.last_key = event.sort_key
    state.recent_ids.append(event.event_id)
    del state.recent_ids[:-RECENT_IDS]
    state.events_applied += 1


def _window_sum(state: UserState, today: int, days: int, slot: int, skip: int = 0) -> float:
    lo, hi = today - skip - days + 1, today - skip
    return sum(b[slot] for d, b in state.days.items() if lo <= d <= hi)


def spend_90(state: UserState, t: int) -> float:
    """Spend on completed purchases in the 90 days up to t: the user's value estimate."""
    return _window_sum(state, t // DAY_MS, 90, SPEND)


def feature_vector(state: UserState, t: int) -> list[float]:
    """Features at event time ``t`` (the state must not contain events after t). Order = CATALOG."""
    today = t // DAY_MS
    recency = (t - state.last_activity_ts) / DAY_MS if state.last_activity_ts >= 0 else 90.0
    since_purchase = min((t - state.last_purchase_ts) / DAY_MS, 90.0) if state.last_purchase_ts >= 0 else 90.0
    clicks_7 = _window_sum(state, today, 7, CLICKS)
    clicks_prev_7 = _window_sum(state, today, 7, CLICKS, skip=7)
    purchases_30 = _window_sum(state, today, 30, PURCHASES)
    discounted_30 = _window_sum(state, today, 30, DISCOUNT)
    return [
        recency,
        recency / max(state.gap_ewma_days, 0.5),
        state.gap_ewma_days,
        _window_sum(state, today, 7, ACTIVE),
        _window_sum(state, today, 30, ACTIVE),
        math.log1p(clicks_7),
        math.log1p(_window_sum(state, today, 30, CLICKS)),
        _window_sum(state, today, 30, SESSIONS),
        math.log((clicks_7 + 1.0) / (clicks_prev_7 + 1.0)),
        _window_sum(state, today, 30, INTERACTIONS),
        _window_sum(state, today, 30, ERRORS),
        purchases_30,
        math.log1p(_window_sum(state, today, 30, SPEND)),
        since_purchase,
        _window_sum(state, today, 30, REFUNDS),
        discounted_30 / purchases_30 if purchases_30 else 0.0,
        _window_sum(state, today, 30, TICKETS_OPENED),
        float(len(state.open_tickets)),
        1.0 if 0 < state.last_csat <= 2 else 0.0,
        math.log1p(spend_90(state, t)),
        math.log1p(max(t - state.first_ts, 0) / DAY_MS) if state.first_ts >= 0 else 0.0,
    ]
