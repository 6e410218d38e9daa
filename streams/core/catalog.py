"""The feature catalog: the one place a feature is named, with its unit, window, meaning, the text
alerts use for it and the kind of churn cause it points at. Code (streams/core/features.py), the
reference recomputation in the tests, docs/features.md and alert reasons all use these names.

Windows are calendar days of event time (UTC) ending with the day of the instant just before the
scoring time t: "7d" at 14:00 on day D is days D-6..D; at midnight starting day D it is the seven
full days D-7..D-1. "7d vs prior 7d" compares that window with the seven days before it.
"""

from __future__ import annotations

from dataclasses import dataclass

DRIVERS = ("engagement", "price", "service", "onboarding")
ACTIVITY_WINDOWS = (1, 7, 30, 90)
LIFECYCLE_STAGES = ("new", "growth", "active", "declining", "dormant")


@dataclass(frozen=True)
class Feature:
    name: str
    unit: str
    window: str
    meaning: str
    reason_text: str  # how an alert explains a high value to a person
    driver: str  # the kind of churn cause it points at (chooses the recommended action)


def _window_text(days: int) -> str:
    return {1: "today", 7: "this week", 30: "this month", 90: "this quarter"}[days]


def _activity(days: int) -> tuple[Feature, ...]:
    w, when = f"{days}d", _window_text(days)
    return (
        Feature(f"active_days_{days}", "days", w, "days with a click or a completed purchase", f"few active days {when}", "engagement"),
        Feature(f"log_clicks_{days}", "log(1+n)", w, "clicks (page views and actions)", f"little browsing {when}", "engagement"),
        Feature(f"sessions_{days}", "count", w, "sessions started; a session ends after 30 minutes without a click", f"few visits {when}", "engagement"),
        Feature(f"pages_per_session_{days}", "clicks/session", w, "clicks divided by sessions started (0 without sessions)", f"short visits {when}", "engagement"),
        Feature(f"bounce_rate_{days}", "share", w, "share of the sessions started that had a single click", f"visits end after one page {when}", "engagement"),
        Feature(f"interactions_{days}", "count", w, "likes, comments, shares, favourites, reviews, add-to-carts", f"stopped interacting {when}", "engagement"),
        Feature(f"categories_{days}", "count", w, "distinct page categories browsed (counted up to 16)", f"browses a narrow range {when}", "engagement"),
        Feature(f"errors_{days}", "count", w, "error or slow pages seen", f"hit errors or slow pages {when}", "service"),
    )


CATALOG: tuple[Feature, ...] = (
    # Recency, each against the user's own rhythm (EWMA of gaps, alpha 0.3, prior 3 days).
    Feature("recency_days", "days", "now", "days since the last click or completed purchase (90 if none)", "inactive for a while", "engagement"),
    Feature("typical_gap_days", "days", "lifetime", "EWMA of the gaps between the user's active days", "usually visits rarely", "engagement"),
    Feature("recency_ratio", "ratio", "now", "recency_days / max(typical_gap_days, 0.5)", "silent far longer than usual", "engagement"),
    Feature("days_since_session", "days", "now", "days since the latest session started (90 if none)", "no visit in a while", "engagement"),
    Feature("typical_session_gap_days", "days", "lifetime", "EWMA of the gaps between session starts", "visits rarely", "engagement"),
    Feature("session_recency_ratio", "ratio", "now", "days_since_session / max(typical_session_gap_days, 0.5)", "no visit for far longer than usual", "engagement"),
    Feature("days_since_purchase", "days", "now", "days since the last completed purchase (capped at 90; 90 if none)", "no purchase in a long time", "price"),
    Feature("typical_purchase_gap_days", "days", "lifetime", "EWMA of the gaps between completed purchases (prior 14 days)", "buys rarely", "price"),
    Feature("purchase_recency_ratio", "ratio", "now", "days_since_purchase / max(typical_purchase_gap_days, 0.5)", "overdue for the usual purchase", "price"),
    # Activity over 1, 7, 30 and 90 days.
    *(f for days in ACTIVITY_WINDOWS for f in _activity(days)),
    # Purchases.
    Feature("purchases_30", "count", "30d", "completed purchases", "stopped buying", "price"),
    Feature("purchases_90", "count", "90d", "completed purchases", "few purchases this quarter", "price"),
    Feature("log_spend_30", "log(1+amount)", "30d", "spend on completed purchases", "spend dropped", "price"),
    Feature("log_spend_90", "log(1+amount)", "90d", "spend on completed purchases (the user's value estimate)", "spend fell over the quarter", "price"),
    Feature("aov_30", "amount", "30d", "average order value of completed purchases (0 if none)", "smaller orders", "price"),
    Feature("aov_90", "amount", "90d", "average order value of completed purchases (0 if none)", "smaller orders this quarter", "price"),
    Feature("discount_share_30", "share", "30d", "share of completed purchases made with a discount", "buys only with discounts (price sensitive)", "price"),
    Feature("discount_share_90", "share", "90d", "share of completed purchases made with a discount", "mostly buys on discount", "price"),
    Feature("refunds_30", "count", "30d", "refunded or cancelled orders", "refunds or cancellations", "service"),
    Feature("refunds_90", "count", "90d", "refunded or cancelled orders", "refunds or cancellations this quarter", "service"),
    Feature("lifetime_purchases", "count", "lifetime", "completed purchases since the first event", "few purchases ever", "price"),
    Feature("log_lifetime_spend", "log(1+amount)", "lifetime", "spend on completed purchases since the first event", "low lifetime spend", "price"),
    Feature("lifetime_refunds", "count", "lifetime", "refunded or cancelled orders since the first event", "many refunds over time", "service"),
    # Support.
    Feature("tickets_7", "count", "7d", "support tickets opened", "contacted support this week", "service"),
    Feature("tickets_30", "count", "30d", "support tickets opened", "many support tickets", "service"),
    Feature("tickets_90", "count", "90d", "support tickets opened", "many support tickets this quarter", "service"),
    Feature("open_tickets", "count", "now", "tickets opened or reopened and not yet resolved or closed (up to 16 tracked)", "unresolved support tickets", "service"),
    Feature("oldest_open_ticket_days", "days", "now", "age of the oldest open ticket since its (re)opening (0 if none)", "waiting long for support", "service"),
    Feature("first_response_hours_90", "hours", "90d", "mean time from (re)opening to the first 'responded', over first responses in the window (0 if none)", "slow first response from support", "service"),
    Feature("resolution_hours_90", "hours", "90d", "mean time from (re)opening to 'resolved' or 'closed', over resolutions in the window (0 if none)", "slow ticket resolution", "service"),
    Feature("reopened_90", "count", "90d", "tickets reopened", "support issues came back", "service"),
    Feature("complaint_tickets_90", "count", "90d", "tickets opened in category complaint", "complained to support", "service"),
    Feature("billing_tickets_90", "count", "90d", "tickets opened in category billing", "billing problems", "service"),
    Feature("technical_tickets_90", "count", "90d", "tickets opened in category technical", "technical problems", "service"),
    Feature("cancellation_tickets_90", "count", "90d", "tickets opened in category cancellation", "asked to cancel", "service"),
    Feature("last_csat", "score 1-5", "last", "the latest satisfaction score (0 if none)", "recent satisfaction score", "service"),
    Feature("mean_csat", "score 1-5", "lifetime", "mean of all satisfaction scores (0 if none)", "satisfaction with support", "service"),
    Feature("low_csat", "flag", "last", "1 if the latest satisfaction score was 1 or 2", "unhappy with support", "service"),
    # Trends against the user's own earlier level.
    Feature("click_trend_7", "log ratio", "7d vs prior 7d", "log((clicks last 7d + 1) / (clicks the 7d before + 1))", "activity falling week on week", "engagement"),
    Feature("click_trend_30", "log ratio", "30d vs prior 30d", "log((clicks last 30d + 1) / (clicks the 30d before + 1))", "activity falling month on month", "engagement"),
    Feature("spend_trend_7", "log ratio", "7d vs prior 7d", "log((spend last 7d + 1) / (spend the 7d before + 1))", "spend falling week on week", "price"),
    Feature("spend_trend_30", "log ratio", "30d vs prior 30d", "log((spend last 30d + 1) / (spend the 30d before + 1))", "spend falling month on month", "price"),
    # Tenure and lifecycle stage (rules: streams/core/features.py lifecycle_stage, docs/features.md).
    Feature("log_tenure_days", "log(1+days)", "lifetime", "days since the user's first event", "new user, not settled in", "onboarding"),
    Feature("stage_new", "flag", "now", "lifecycle stage is new (first 14 days)", "new user", "onboarding"),
    Feature("stage_growth", "flag", "now", "lifecycle stage is growth (under 60 days, or activity rising)", "still forming a habit", "onboarding"),
    Feature("stage_active", "flag", "now", "lifecycle stage is active", "settled user", "engagement"),
    Feature("stage_declining", "flag", "now", "lifecycle stage is declining (active days halved month on month)", "activity declining", "engagement"),
    Feature("stage_dormant", "flag", "now", "lifecycle stage is dormant (no activity for 30 days)", "dormant", "engagement"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in CATALOG)
FEATURE_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


# Reasons that read better with their value in them (alerts and reports show them to people).
_WITH_VALUE = {
    "recency_days": "no activity for {v:.0f} days",
    "recency_ratio": "silent {v:.1f}x longer than usual",
    "days_since_session": "no visit for {v:.0f} days",
    "session_recency_ratio": "no visit for {v:.1f}x the usual gap",
    "days_since_purchase": "no purchase for {v:.0f} days",
    "purchase_recency_ratio": "no purchase for {v:.1f}x the usual gap between purchases",
    "open_tickets": "{v:.0f} support tickets still open",
    "oldest_open_ticket_days": "waiting {v:.0f} days for support",
}


def plain_words(name: str, value: float) -> str:
    """A reason as a person reads it: "no purchase for 63 days", not "days_since_purchase"."""
    template = _WITH_VALUE.get(name)
    if template is None:
        return CATALOG[FEATURE_INDEX[name]].reason_text
    return template.format(v=value)


def markdown_table() -> str:
    """The catalog as the Markdown table in docs/features.md."""
    rows = ["| feature | unit | window | meaning | alert text | driver |", "|---|---|---|---|---|---|"]
    rows += [f"| `{f.name}` | {f.unit} | {f.window} | {f.meaning} | {f.reason_text} | {f.driver} |" for f in CATALOG]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown_table())
