"""Features recomputed from a user's full event list, without buckets, eviction or incremental
state: the reference the incremental feature store is checked against. Written from the
feature catalog's definitions (streams/features.py), not from its code paths."""

from __future__ import annotations

import math

from streams.contracts import Event
from streams.features import DEFAULT_GAP_DAYS, ERROR_ACTIONS, GAP_EWMA_ALPHA, INTERACTION_ACTIONS, MAX_OPEN_TICKETS
from streams.settings import DAY_MS


def _active(e: Event) -> bool:
    return e.kind == "click" or (e.kind == "purchase" and e.data["status"] == "completed")


def reference_features(events: list[Event], t: int, upto_key: tuple[int, int, str] | None = None) -> list[float]:
    """The feature vector at ``t`` from every distinct event at or before ``t`` (catalog order),
    or only those up to ``upto_key`` in the total order (a snapshot taken when that event arrived)."""
    seen, history = set(), []
    for e in sorted(events, key=lambda e: e.sort_key):
        if e.ts <= t and (upto_key is None or e.sort_key <= upto_key) and e.event_id not in seen:
            seen.add(e.event_id)
            history.append(e)
    today = t // DAY_MS

    def in_window(e: Event, days: int, skip: int = 0) -> bool:
        return today - skip - days + 1 <= e.ts // DAY_MS <= today - skip

    activity = [e for e in history if _active(e)]
    clicks = [e for e in history if e.kind == "click"]
    completed = [e for e in history if e.kind == "purchase" and e.data["status"] == "completed"]
    session_starts, last_session = [], ""
    for e in clicks:
        if e.data["session_id"] != last_session:
            session_starts.append(e)
            last_session = e.data["session_id"]
    active_days = sorted({e.ts // DAY_MS for e in activity})
    gap = DEFAULT_GAP_DAYS
    for a, b in zip(active_days, active_days[1:]):
        gap += GAP_EWMA_ALPHA * ((b - a) - gap)
    open_tickets: list[str] = []
    last_csat = 0
    for e in history:
        if e.kind != "support_ticket":
            continue
        status, ticket = e.data["status"], e.data["ticket_id"]
        if status in ("opened", "reopened") and ticket not in open_tickets:
            open_tickets.append(ticket)
            del open_tickets[:-MAX_OPEN_TICKETS]
        elif status in ("resolved", "closed") and ticket in open_tickets:
            open_tickets.remove(ticket)
        if "csat" in e.data:
            last_csat = e.data["csat"]
    last_activity = activity[-1].ts if activity else -1
    last_purchase = completed[-1].ts if completed else -1
    recency = (t - last_activity) / DAY_MS if activity else 90.0
    clicks_7 = sum(1 for e in clicks if in_window(e, 7))
    clicks_prev_7 = sum(1 for e in clicks if in_window(e, 7, skip=7))
    purchases_30 = sum(1 for e in completed if in_window(e, 30))
    spend_90 = sum(e.data["amount"] for e in completed if in_window(e, 90))
    return [
        recency,
        recency / max(gap, 0.5),
        gap,
        float(len({d for d in active_days if today - 6 <= d <= today})),
        float(len({d for d in active_days if today - 29 <= d <= today})),
        math.log1p(clicks_7),
        math.log1p(sum(1 for e in clicks if in_window(e, 30))),
        float(sum(1 for e in session_starts if in_window(e, 30))),
        math.log((clicks_7 + 1.0) / (clicks_prev_7 + 1.0)),
        float(sum(1 for e in clicks if in_window(e, 30) and e.data["action"] in INTERACTION_ACTIONS)),
        float(sum(1 for e in clicks if in_window(e, 30) and e.data["action"] in ERROR_ACTIONS)),
        float(purchases_30),
        math.log1p(sum(e.data["amount"] for e in completed if in_window(e, 30))),
        min((t - last_purchase) / DAY_MS, 90.0) if completed else 90.0,
        float(sum(1 for e in history if e.kind == "purchase" and e.data["status"] != "completed" and in_window(e, 30))),
        (sum(1 for e in completed if in_window(e, 30) and e.data.get("discount", 0) > 0) / purchases_30
         if purchases_30 else 0.0),
        float(sum(1 for e in history if e.kind == "support_ticket" and e.data["status"] == "opened" and in_window(e, 30))),
        float(len(open_tickets)),
        1.0 if 0 < last_csat <= 2 else 0.0,
        math.log1p(spend_90),
        math.log1p(max(t - history[0].ts, 0) / DAY_MS) if history else 0.0,
    ]
