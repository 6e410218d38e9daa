"""Features recomputed from a user's full event list, without buckets, eviction or incremental
state: the reference the incremental feature store is checked against. Written from the
feature catalog's definitions (streams/core/catalog.py, docs/features.md), not from its code paths."""

from __future__ import annotations

import math

from streams.core.catalog import ACTIVITY_WINDOWS, FEATURE_NAMES
from streams.core.events import Event
from streams.core.features import (
    DEFAULT_GAP_DAYS, DEFAULT_PURCHASE_GAP_DAYS, ERROR_ACTIONS, FEATURE_DECIMALS, GAP_EWMA_ALPHA, INTERACTION_ACTIONS,
    MAX_CATEGORIES, MAX_OPEN_TICKETS, MIN_GAP_DAYS, NO_EVENT_DAYS, SESSION_GAP_MS, lifecycle_stage,
)
from streams.core.events import DAY_MS

HOUR = 3_600_000


def _ewma(prior: float, samples: list[float]) -> float:
    value = prior
    for s in samples:
        value += GAP_EWMA_ALPHA * (s - value)
    return value


def _share(a: float, b: float) -> float:
    return a / b if b else 0.0


def reference_values(events: list[Event], t: int, upto_key: tuple[int, int, str] | None = None) -> dict[str, float]:
    """The features at ``t`` from every distinct event at or before ``t``, or only those up to
    ``upto_key`` in the total order (a snapshot taken when that event arrived)."""
    seen, history = set(), []
    for e in sorted(events, key=lambda e: e.sort_key):
        if e.ts <= t and (upto_key is None or e.sort_key <= upto_key) and e.event_id not in seen:
            seen.add(e.event_id)
            history.append(e)
    today = t // DAY_MS

    def days_ago(ts: int) -> int:
        return today - ts // DAY_MS

    def within(ts: int, days: int, skip: int = 0) -> bool:
        return skip <= days_ago(ts) < skip + days

    clicks = [e for e in history if e.kind == "click"]
    purchases = [e for e in history if e.kind == "purchase"]
    completed = [e for e in purchases if e.data["status"] == "completed"]
    refunds = [e for e in purchases if e.data["status"] != "completed"]
    # Completed records under one order_id on one day are the lines of one order: it counts once,
    # at its first line, and as discounted at its first discounted line; every line's amount counts.
    orders, discounted, flagged = [], [], {}
    for e in completed:
        key = (e.data["order_id"], e.ts // DAY_MS)
        if key not in flagged:
            orders.append(e)
            flagged[key] = False
        if e.data.get("discount", 0) > 0 and not flagged[key]:
            discounted.append(e)
            flagged[key] = True
    activity = [e for e in history if e.kind == "click" or e in completed]
    tickets = [e for e in history if e.kind == "support_ticket"]

    # Sessions: a click more than 30 minutes after the previous click starts one.
    sessions: list[list[Event]] = []
    for e in clicks:
        if not sessions or e.ts - sessions[-1][-1].ts > SESSION_GAP_MS:
            sessions.append([e])
        else:
            sessions[-1].append(e)
    active_days = sorted({e.ts // DAY_MS for e in activity})

    # Tickets: open episodes from (re)opening to the first resolved/closed, the latest 16 tracked.
    open_eps: list[dict] = []
    responses, resolutions, csats = [], [], []  # (ts, duration ms), (ts, duration ms), scores
    for e in tickets:
        status, tid = e.data["status"], e.data["ticket_id"]
        ep = next((x for x in open_eps if x["id"] == tid), None)
        if status in ("opened", "reopened"):
            if ep is None:
                open_eps.append({"id": tid, "at": e.ts, "responded": False})
                del open_eps[:-MAX_OPEN_TICKETS]
        elif ep is not None and status == "responded":
            if not ep["responded"]:
                ep["responded"] = True
                responses.append((e.ts, e.ts - ep["at"]))
        elif ep is not None:
            resolutions.append((e.ts, e.ts - ep["at"]))
            open_eps.remove(ep)
        if "csat" in e.data:
            csats.append(e.data["csat"])

    f: dict[str, float] = {}
    last_activity = activity[-1].ts if activity else None
    recency = (t - last_activity) / DAY_MS if activity else NO_EVENT_DAYS
    gap = _ewma(DEFAULT_GAP_DAYS, [b - a for a, b in zip(active_days, active_days[1:])])
    starts = [s[0].ts for s in sessions]
    since_session = (t - starts[-1]) / DAY_MS if starts else NO_EVENT_DAYS
    session_gap = _ewma(DEFAULT_GAP_DAYS, [(b - a) / DAY_MS for a, b in zip(starts, starts[1:])])
    bought = [e.ts for e in orders]
    since_purchase = min((t - bought[-1]) / DAY_MS, NO_EVENT_DAYS) if bought else NO_EVENT_DAYS
    purchase_gap = _ewma(DEFAULT_PURCHASE_GAP_DAYS, [(b - a) / DAY_MS for a, b in zip(bought, bought[1:])])
    f.update(recency_days=recency, typical_gap_days=gap, recency_ratio=recency / max(gap, MIN_GAP_DAYS),
             days_since_session=since_session, typical_session_gap_days=session_gap,
             session_recency_ratio=since_session / max(session_gap, MIN_GAP_DAYS),
             days_since_purchase=since_purchase, typical_purchase_gap_days=purchase_gap,
             purchase_recency_ratio=since_purchase / max(purchase_gap, MIN_GAP_DAYS))

    # Categories: the latest day each was seen; only the 16 most recently seen are remembered,
    # so a window counts min(distinct, 16).
    last_seen: dict[str, int] = {}
    for e in clicks:
        if e.data.get("category"):
            last_seen[e.data["category"]] = e.ts // DAY_MS
    for days in ACTIVITY_WINDOWS:
        n_sessions = sum(1 for s in sessions if within(s[0].ts, days))
        n_clicks = sum(1 for e in clicks if within(e.ts, days))
        f[f"active_days_{days}"] = sum(1 for d in active_days if 0 <= today - d < days)
        f[f"log_clicks_{days}"] = math.log1p(n_clicks)
        f[f"sessions_{days}"] = n_sessions
        f[f"pages_per_session_{days}"] = _share(n_clicks, n_sessions)
        f[f"bounce_rate_{days}"] = _share(sum(1 for s in sessions if within(s[0].ts, days) and len(s) == 1), n_sessions)
        f[f"interactions_{days}"] = sum(1 for e in clicks if within(e.ts, days) and e.data["action"] in INTERACTION_ACTIONS)
        f[f"categories_{days}"] = min(sum(1 for d in last_seen.values() if 0 <= today - d < days), MAX_CATEGORIES)
        f[f"errors_{days}"] = sum(1 for e in clicks if within(e.ts, days) and e.data["action"] in ERROR_ACTIONS)

    for days in (30, 90):
        in_window = sum(1 for e in orders if within(e.ts, days))
        spend = sum(e.data["amount"] for e in completed if within(e.ts, days))
        f[f"purchases_{days}"] = in_window
        f[f"log_spend_{days}"] = math.log1p(spend)
        f[f"aov_{days}"] = _share(spend, in_window)
        f[f"discount_share_{days}"] = _share(sum(1 for e in discounted if within(e.ts, days)), in_window)
        f[f"refunds_{days}"] = sum(1 for e in refunds if within(e.ts, days))
    f["lifetime_purchases"] = len(orders)
    f["log_lifetime_spend"] = math.log1p(sum(e.data["amount"] for e in completed))
    f["lifetime_refunds"] = len(refunds)

    opened = [e for e in tickets if e.data["status"] == "opened"]
    for days in (7, 30, 90):
        f[f"tickets_{days}"] = sum(1 for e in opened if within(e.ts, days))
    f["open_tickets"] = len(open_eps)
    f["oldest_open_ticket_days"] = (t - min(x["at"] for x in open_eps)) / DAY_MS if open_eps else 0.0
    recent_responses = [ms for ts, ms in responses if within(ts, 90)]
    recent_resolutions = [ms for ts, ms in resolutions if within(ts, 90)]
    f["first_response_hours_90"] = _share(sum(recent_responses), len(recent_responses)) / HOUR
    f["resolution_hours_90"] = _share(sum(recent_resolutions), len(recent_resolutions)) / HOUR
    f["reopened_90"] = sum(1 for e in tickets if e.data["status"] == "reopened" and within(e.ts, 90))
    for category in ("complaint", "billing", "technical", "cancellation"):
        f[f"{category}_tickets_90"] = sum(1 for e in opened if e.data["category"] == category and within(e.ts, 90))
    f["last_csat"] = csats[-1] if csats else 0
    f["mean_csat"] = _share(sum(csats), len(csats))
    f["low_csat"] = 1.0 if csats and csats[-1] <= 2 else 0.0

    def clicks_in(days: int, skip: int = 0) -> int:
        return sum(1 for e in clicks if within(e.ts, days, skip))

    def spend_in(days: int, skip: int = 0) -> float:
        return sum(e.data["amount"] for e in completed if within(e.ts, days, skip))

    f["click_trend_7"] = math.log((clicks_in(7) + 1) / (clicks_in(7, 7) + 1))
    f["click_trend_30"] = math.log((clicks_in(30) + 1) / (clicks_in(30, 30) + 1))
    f["spend_trend_7"] = math.log((spend_in(7) + 1) / (spend_in(7, 7) + 1))
    f["spend_trend_30"] = math.log((spend_in(30) + 1) / (spend_in(30, 30) + 1))
    tenure = max(t - history[0].ts, 0) / DAY_MS if history else 0.0
    f["log_tenure_days"] = math.log1p(tenure)
    active_30 = sum(1 for d in active_days if 0 <= today - d < 30)
    active_prior_30 = sum(1 for d in active_days if 30 <= today - d < 60)
    stage = lifecycle_stage(tenure, recency, active_30, active_prior_30)
    for name in ("new", "growth", "active", "declining", "dormant"):
        f[f"stage_{name}"] = 1.0 if stage == name else 0.0
    assert set(f) == set(FEATURE_NAMES), set(f) ^ set(FEATURE_NAMES)
    return {name: round(float(f[name]), FEATURE_DECIMALS) for name in FEATURE_NAMES}


def reference_features(events: list[Event], t: int, upto_key: tuple[int, int, str] | None = None) -> list[float]:
    """reference_values in catalog order."""
    return list(reference_values(events, t, upto_key).values())
