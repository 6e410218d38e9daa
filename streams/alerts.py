"""Alert policy: fire when a user's risk crosses into a higher tier; re-arm with hysteresis."""

from __future__ import annotations

import hashlib
from typing import Any

from streams.scoring import Score

Tiers = tuple[tuple[str, float], ...]


def level_for(risk: float, tiers: Tiers) -> int:
    """0 below every tier, else 1 + index of the highest tier whose threshold the risk reaches."""
    level = 0
    for i, (_, threshold) in enumerate(tiers):
        if risk >= threshold:
            level = i + 1
    return level


def next_level(current: int, risk: float, tiers: Tiers, margin: float) -> tuple[int, bool]:
    """Return (new level, fired). A crossing upward fires; a tier re-arms only once the risk
    has fallen below its threshold minus ``margin``."""
    reached = level_for(risk, tiers)
    if reached > current:
        return reached, True
    while current > 0 and risk < tiers[current - 1][1] - margin:
        current -= 1
    return current, False


def alert_id(user_id: str, level: int, ts: int) -> str:
    return hashlib.sha256(f"{user_id}|{level}|{ts}".encode()).hexdigest()[:32]


def build_alert(user_id: str, ts: int, score: Score, level: int, previous: int, tiers: Tiers) -> dict[str, Any]:
    """The outreach_alert.v1 document, without ``emitted_at`` (the shell stamps it on sending)."""
    return {
        "schema": "outreach_alert.v1",
        "alert_id": alert_id(user_id, level, ts),
        "user_id": user_id,
        "ts": ts,
        "risk_score": round(score.risk, 6),
        "tier": tiers[level - 1][0],
        "previous_tier": tiers[previous - 1][0] if previous else None,
        "threshold": tiers[level - 1][1],
        "model": {"kind": score.kind, "version": score.version},
        "reasons": [r.to_dict() for r in score.reasons],
    }
