"""Alert figures against a ground truth (the simulator's): per tier, precision, and lead time. Pure."""

from __future__ import annotations

import statistics
from typing import Any, Mapping

from streams.settings import DAY_MS


def alert_figures(alerts: list[dict[str, Any]], truth: Mapping[str, Mapping[str, Any]], horizon_ms: int,
                  tiers: tuple[str, ...]) -> dict[str, Any]:
    """``truth``: user_id -> {"churned": bool, "churn_ts": start of the final silence or None}.

    A churner counts as caught in time when an alert reached them before their silence had
    lasted H (the moment the label would call them churned); lead time is measured to then.
    """
    per_tier: dict[str, Any] = {}
    for tier in tiers:
        mine = [a for a in alerts if a["tier"] == tier]
        to_churners = sum(1 for a in mine if truth[a["user_id"]]["churned"])
        per_tier[tier] = {"alerts": len(mine), "users": len({a["user_id"] for a in mine}),
                          "to_churners": to_churners, "churner_share": round(to_churners / len(mine), 4) if mine else None}
    first_alert: dict[str, int] = {}
    for a in alerts:
        first_alert[a["user_id"]] = min(a["ts"], first_alert.get(a["user_id"], a["ts"]))
    churners = [u for u, t in truth.items() if t["churned"]]
    leads = []
    for u in churners:
        confirmed = truth[u]["churn_ts"] + horizon_ms
        if u in first_alert and first_alert[u] < confirmed:
            leads.append((confirmed - first_alert[u]) / DAY_MS)
    alerted_users = set(first_alert)
    return {
        "alerts": len(alerts),
        "alerted_users": len(alerted_users),
        "alerted_users_churned": sum(1 for u in alerted_users if truth[u]["churned"]),
        "churners": len(churners),
        "churners_caught_in_time": len(leads),
        "median_lead_days": round(statistics.median(leads), 1) if leads else None,
        "by_tier": per_tier,
    }
