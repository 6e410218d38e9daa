"""The worker's status as a small HTML page (GET /status/ from a browser).

It renders the same status document that /status/ answers as JSON and /metrics exposes, so the
three never disagree: readiness, rates, input partitions with their lag, each engine partition's
watermark and model quality, dead letters by reason and the latest alerts. Every value from the
stream (user ids, tiers, actions) is escaped: hostile input is normal input. It reloads itself
every 10 seconds and needs no script.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable

from streams.kafka.metrics import event_time_lag_ms

REFRESH_S = 10

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1f2328; max-width: 72rem; }
h1 { font-size: 1.3rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.state { display: inline-block; padding: .1rem .5rem; border-radius: .25rem; color: #fff; font-weight: 600; }
.ready { background: #1a7f37; } .not-ready { background: #cf222e; }
.cards { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1rem; }
.card { border: 1px solid #d0d7de; border-radius: .4rem; padding: .5rem .8rem; min-width: 8rem; }
.card b { display: block; font-size: 1.2rem; } .card span { color: #59636e; font-size: .85rem; }
.scroll { overflow-x: auto; } table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #d0d7de; padding: .25rem .6rem; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; } td.text, th.text { text-align: left; }
.empty { color: #59636e; }
"""


def render_page(status: dict[str, Any], title: str = "churnguard worker") -> str:
    ready = status["ready"]
    rates = status.get("rates") or {}
    cards = [
        ("events received", _number(status["received"])),
        ("events/s (last minute)", _number(rates.get("events_per_s"))),
        ("alerts published", _number(status["alerts_sent"])),
        ("held out (control)", _number(status["holdout_recorded"])),
        ("dead letters", _number(status["dead_letters_sent"])),
        ("users in state", _number(status["table"]["users"])),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{REFRESH_S}'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)} <span class='state {'ready' if ready else 'not-ready'}'>"
        f"{'ready' if ready else 'not ready'}</span></h1>",
        "<div class='cards'>",
        *(f"<div class='card'><b>{value}</b><span>{escape(label)}</span></div>" for label, value in cards),
        "</div>",
        "<h2>Input partitions</h2>",
        _table(["topic", "partition", "position", "end", "lag (records)"], ["text"],
               ([s["topic"], s["partition"], s["position"], s["highwater"], s["lag"]] for s in status["sources"]),
               "no input partition assigned"),
        "<h2>Engines</h2>",
        _table(["partition", "watermark (event time, UTC)", "event-time lag (s)", "buffered", "model", "labels",
                "ROC AUC", "log loss", "calibration error", "drifts"], [],
               (_engine_row(p, part) for p, part in sorted(status["partitions"].items(), key=lambda kv: int(kv[0]))),
               "no engine running"),
        "<h2>Dead letters by reason</h2>",
        _table(["reason", "dead letters"], ["text"], ([r, n] for r, n in status["dead_letters_by_reason"].items()),
               "none"),
        "<h2>Latest alerts</h2>",
        _table(["event time (UTC)", "user", "tier", "from", "risk", "arm", "action"],
               ["text", "text", "text", "text", "", "text", "text"],
               ([_time(a["ts"]), a["user_id"], a["tier"], a["previous_tier"], f"{a['risk_score']:.3f}", a["arm"],
                 f"{a['action']['kind']} ({a['action']['channel']})"] for a in status["recent_alerts"]),
               "no alert since start"),
        "</body></html>",
    ]
    return "\n".join(parts)


def _engine_row(partition: str, part: dict[str, Any]) -> list[Any]:
    quality = part["model_quality"]
    released, lag_ms = part["released_until"], event_time_lag_ms(part)
    return [partition, _time(released) if released >= 0 else None, lag_ms / 1000 if lag_ms is not None else None,
            part["buffered"],
            "learned" if part["model_ready"] else "cold start", part["model_labels"], quality["roc_auc"],
            quality["log_loss"], quality["calibration_error"], quality["drifts"]]


def _table(headers: list[str], text_columns: list[str], rows: Iterable[list[Any]], empty: str) -> str:
    aligned = [text_columns[i] if i < len(text_columns) else "" for i in range(len(headers))]
    body = ["<tr>" + "".join(f"<td class='{a}'>{_cell(v)}</td>" for a, v in zip(aligned, row)) + "</tr>"
            for row in rows]
    if not body:
        return f"<p class='empty'>{escape(empty)}</p>"
    head = "<tr>" + "".join(f"<th class='{a}'>{escape(h)}</th>" for a, h in zip(aligned, headers)) + "</tr>"
    return f"<div class='scroll'><table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return escape(f"{value:,.4g}")
    return escape(_number(value) if isinstance(value, int) and not isinstance(value, bool) else str(value))


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _time(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, ValueError, OSError):  # beyond the calendar: show the number
        return str(ms)
