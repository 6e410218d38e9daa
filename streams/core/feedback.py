"""Feedback from downstream and from the stream itself. Pure.

- Outcomes (schemas/outreach_outcome.v1.json) are the downstream's record of what it did with an
  alert. They are applied when read, not in event time: they happen on the downstream's clock,
  after the alert, and an unsubscribe must take effect at once. 'unsubscribed' stops further
  alerts for the user (streams/core/alerts.py); every status is counted for the metrics.
- Win-back: every alert, in both arms, stays open for H after its event time. Activity in
  (alert, alert + H] closes it as 'returned'; reaching alert + H without any closes it as 'lost'.
  Treated versus control return shares per tier measure what outreach achieves. Like labels,
  the verdict for a silent user waits for the full horizon, so both outcomes have one delay.
"""

from __future__ import annotations

from typing import Iterator

from streams.core.alerts import AlertPolicy, arm
from streams.core.features import UserState

OUTCOME_STATUSES = ("sent", "delivered", "opened", "converted", "unsubscribed", "failed")
MAX_OPEN_ALERTS = 8  # more than the alert cap allows within one horizon with the default policy


def apply_outcome(user: UserState, status: str) -> bool:
    """Fold one outcome into the user's state; True if the state changed."""
    if status == "unsubscribed" and not user.unsubscribed:
        user.unsubscribed = True
        return True
    return False


def open_alert(user: UserState, ts: int, level: int) -> None:
    user.open_alerts.append([ts, level])
    del user.open_alerts[:-MAX_OPEN_ALERTS]


def returned(user: UserState, activity_ts: int, horizon_ms: int) -> Iterator[int]:
    """Close the open alerts that activity at ``activity_ts`` wins back; yield their levels."""
    keep = []
    for ts, level in user.open_alerts:
        if ts < activity_ts <= ts + horizon_ms:
            yield level
        else:
            keep.append([ts, level])
    user.open_alerts[:] = keep


def lost(user: UserState, now: int, horizon_ms: int) -> Iterator[int]:
    """Close the open alerts whose horizon ended at or before ``now`` without activity; yield their levels."""
    keep = []
    for ts, level in user.open_alerts:
        if ts + horizon_ms <= now:
            yield level
        else:
            keep.append([ts, level])
    user.open_alerts[:] = keep


def winback_counter(policy: AlertPolicy, user_id: str, level: int, verdict: str) -> str:
    """The counter name of a win-back verdict: by arm, tier and verdict ('returned' or 'lost')."""
    group = arm(user_id, policy.holdout_share, policy.holdout_salt)
    return f"winback_{group}_{policy.tiers[level - 1][0]}_{verdict}"
