"""``churnguard evaluate``: how good were a replay's scores and alerts? A self-contained HTML report
(inline SVG) and a JSON summary of the same figures.

Inputs: the replayed event files, the backfill's output directory (alerts.jsonl, holdout.jsonl)
and optionally the simulator's ground truth. Labels come from the events themselves: a moment t
is "churned" when the user shows no activity in (t, t + H].

- Scores: point-in-time at cuts every 15 days (from day 15) while a horizon of data is left after them (every known user
  scored from the state before the cut, as the workers' models would: streams/evaluation.py),
  pooled over cuts for ROC, precision-recall, lift by decile and calibration; and the
  progressive (prequential) figures of the served scores.
- Alerts: per day by tier, by top reason, share followed by H of silence per tier, lead time
  (alert to the moment the silence reaches H), and win-back (active again within H) of treated
  versus control users per tier. With a ground truth: alerted users who really churned, and
  churners alerted in time.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from html import escape
from pathlib import Path
from typing import Any

import orjson

from streams import svg
from streams.contracts import Event
from streams.engine import EngineConfig
from streams.evaluation import OfflineRun, activity_index, active_within, exact_auc
from streams.files import read_truth
from streams.report import alert_figures
from streams.settings import DAY_MS, Settings
from streams.sources import kind_of_file, merged

CUT_EVERY_DAYS = 15


def _curves(labels: list[int], scores: list[float]) -> dict[str, Any]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    pos = sum(labels)
    neg = len(labels) - pos
    roc, pr = [(0.0, 0.0)], []
    tp = fp = 0
    for rank, i in enumerate(order, 1):
        tp += labels[i]
        fp += 1 - labels[i]
        if rank == len(order) or scores[order[rank]] != scores[i]:
            roc.append((fp / neg if neg else 0.0, tp / pos if pos else 0.0))
            pr.append((tp / pos if pos else 0.0, tp / rank))
    base = pos / len(labels) if labels else 0.0
    deciles = []
    for d in range(10):
        chunk = order[d * len(order) // 10:(d + 1) * len(order) // 10]
        rate = sum(labels[i] for i in chunk) / len(chunk) if chunk else 0.0
        deciles.append(round(rate / base, 3) if base else None)
    calibration = []
    for b in range(10):
        members = [i for i in range(len(scores)) if min(int(scores[i] * 10), 9) == b]
        if members:
            calibration.append({"bucket": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "n": len(members),
                                "mean_score": round(statistics.fmean(scores[i] for i in members), 4),
                                "churn_rate": round(sum(labels[i] for i in members) / len(members), 4)})
    auc = exact_auc(labels, scores)
    return {"n": len(labels), "churned": pos, "roc_auc": round(auc, 4) if auc is not None else None,
            "roc": _thinned(roc), "precision_recall": _thinned(pr),
            "lift_by_decile": deciles, "calibration": calibration}


def _thinned(points: list[tuple[float, float]], keep: int = 200) -> list[tuple[float, float]]:
    """At most ~``keep`` points for a plot, always with the last one."""
    step = max(1, len(points) // keep)
    out = points[::step]
    if out and out[-1] != points[-1]:
        out.append(points[-1])
    return [(round(x, 4), round(y, 4)) for x, y in out]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def evaluate(files: list[Path], alerts_dir: Path, settings: Settings, truth_path: Path | None = None) -> dict[str, Any]:
    horizon = settings.label_horizon_ms
    events = [r for r in merged([(p, kind_of_file(p)) for p in files], {}) if r.error is None]
    decoded = [Event(r.kind, r.event_id, r.user_id, r.ts, orjson.loads(r.value)) for r in events]
    activity = activity_index(decoded)
    first_day, last_ts = decoded[0].ts // DAY_MS, max(e.ts for e in decoded)
    cuts = tuple((first_day + d) * DAY_MS for d in range(CUT_EVERY_DAYS, 10_000, CUT_EVERY_DAYS)
                 if (first_day + d) * DAY_MS + horizon <= last_ts)
    run = OfflineRun(EngineConfig.from_settings(settings), partitions=settings.partitions, cuts=cuts).feed(decoded)
    labels, scores, per_cut = [], [], []
    for cut in cuts:
        rows = [r for r in run.scores[cut].rows if r[3]]  # users active in the horizon before the cut
        cut_labels = [0 if active_within(activity.get(uid, []), cut, cut + horizon) else 1 for uid, *_ in rows]
        auc = exact_auc(cut_labels, [r[1] for r in rows])
        per_cut.append({"cut": time.strftime("%Y-%m-%d", time.gmtime(cut / 1000)), "users": len(rows),
                        "churned": sum(cut_labels), "roc_auc": round(auc, 4) if auc is not None else None})
        labels += cut_labels
        scores += [r[1] for r in rows]
    thresholds = [t for _, t in settings.alert_tiers]
    treated, control = _read_jsonl(alerts_dir / "alerts.jsonl"), _read_jsonl(alerts_dir / "holdout.jsonl")
    summary: dict[str, Any] = {
        "inputs": {"events": len(decoded), "users": len(activity), "files": [str(p) for p in files],
                   "alerts_dir": str(alerts_dir), "horizon_days": settings.label_horizon_days},
        "point_in_time": {"cuts": per_cut, "pooled": _curves(labels, scores)},
        "progressive": run.progressive().summary(thresholds),
        "alerts": _alerts_against_events(treated, control, activity, horizon, [n for n, _ in settings.alert_tiers]),
    }
    if truth_path is not None:
        truth = read_truth(truth_path)
        summary["ground_truth"] = alert_figures(treated + control, truth, horizon, tuple(n for n, _ in settings.alert_tiers))
    return summary


def _alerts_against_events(treated: list[dict[str, Any]], control: list[dict[str, Any]], activity: dict[str, list[int]],
                   horizon: int, tiers: list[str]) -> dict[str, Any]:
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for a in treated:
        per_day[time.strftime("%Y-%m-%d", time.gmtime(a["ts"] / 1000))][a["tier"]] += 1
    reasons = Counter(a["reasons"][0]["feature"] if a["reasons"] else "-" for a in treated)
    by_tier: dict[str, Any] = {}
    leads = []
    for tier in tiers:
        row: dict[str, Any] = {}
        for arm, alerts in (("treatment", treated), ("control", control)):
            mine = [a for a in alerts if a["tier"] == tier]
            returned = [active_within(activity.get(a["user_id"], []), a["ts"], a["ts"] + horizon) for a in mine]
            row[arm] = {"alerts": len(mine),
                        "win_back": round(sum(returned) / len(mine), 4) if mine else None,
                        "followed_by_silence": round(1 - sum(returned) / len(mine), 4) if mine else None}
        by_tier[tier] = row
    for a in treated + control:
        times = activity.get(a["user_id"], [])
        if not active_within(times, a["ts"], a["ts"] + horizon):
            before = [t for t in times if t <= a["ts"]]
            if before:
                leads.append((before[-1] + horizon - a["ts"]) / DAY_MS)
    return {"treatment": len(treated), "control": len(control), "by_tier": by_tier,
            "per_day": {day: dict(c) for day, c in sorted(per_day.items())},
            "top_reasons": dict(reasons.most_common()),
            "lead_days": {"n": len(leads), "median": round(statistics.median(leads), 1) if leads else None,
                          "histogram": {str(k): v for k, v in sorted(Counter(int(d // 5) * 5 for d in leads).items())}}}


def render_html(summary: dict[str, Any], tiers: list[str]) -> str:
    pit, prog, alerts = summary["point_in_time"], summary["progressive"], summary["alerts"]
    pooled = pit["pooled"]
    days = list(alerts["per_day"])
    charts = [
        svg.lines("ROC, point in time (pooled cuts)", "false positive rate", "true positive rate",
                  {f"model (AUC {pooled['roc_auc']})": pooled["roc"]}, (0, 1), (0, 1), diagonal=True),
        svg.lines("Precision-recall, point in time", "recall", "precision", {"model": pooled["precision_recall"]}, (0, 1), (0, 1)),
        svg.bars("Lift by score decile", "decile (1 = highest scores)", "churn rate / base rate",
                 [str(i + 1) for i in range(10)], {"lift": [v or 0.0 for v in pooled["lift_by_decile"]]}),
        svg.lines("Calibration", "mean score in bucket", "churn rate",
                  {"observed": [(c["mean_score"], c["churn_rate"]) for c in pooled["calibration"]]}, (0, 1), (0, 1), diagonal=True),
        svg.bars("Alerts per day by tier (treated)", "day", "alerts", days,
                 {tier: [float(alerts["per_day"][d].get(tier, 0)) for d in days] for tier in tiers}),
        svg.bars("Alerts by top reason (treated)", "feature", "alerts", list(alerts["top_reasons"]),
                 {"alerts": [float(v) for v in alerts["top_reasons"].values()]}),
        svg.bars("Lead time: alert to H days of silence", "days (bucket start)", "alerts",
                 [str(k) for k in alerts["lead_days"]["histogram"]], {"alerts": [float(v) for v in alerts["lead_days"]["histogram"].values()]}),
        svg.bars("Win-back within H, by tier", "tier", "share active again", tiers,
                 {arm: [alerts["by_tier"][t][arm]["win_back"] or 0.0 for t in tiers] for arm in ("treatment", "control")}),
    ]
    rows = "".join(f"<tr><td>{escape(c['cut'])}</td><td>{c['users']}</td><td>{c['churned']}</td><td>{c['roc_auc']}</td></tr>"
                   for c in pit["cuts"])
    tier_rows = "".join(
        f"<tr><td>{escape(t)}</td>" + "".join(f"<td>{alerts['by_tier'][t][arm]['alerts']}</td><td>{alerts['by_tier'][t][arm]['followed_by_silence']}</td>"
                                               f"<td>{alerts['by_tier'][t][arm]['win_back']}</td>" for arm in ("treatment", "control")) + "</tr>"
        for t in tiers)
    thresholds = "".join(f"<tr><td>{t['threshold']}</td><td>{t['flagged']}</td><td>{t['precision']}</td><td>{t['recall']}</td></tr>"
                         for t in prog["at_thresholds"])
    truth = summary.get("ground_truth")
    truth_html = "" if truth is None else (
        f"<h2>Against the ground truth</h2><p>{truth['alerted_users']} users alerted (both arms), "
        f"{truth['alerted_users_churned']} of them real churners; {truth['churners_caught_in_time']} of "
        f"{truth['churners']} churners alerted before {summary['inputs']['horizon_days']} days of silence, "
        f"median lead {truth['median_lead_days']} days.</p>")
    inputs = summary["inputs"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>churnguard evaluation</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}svg{{margin:6px}}</style></head><body>
<h1>churnguard evaluation</h1>
<p>{inputs['events']:,} events of {inputs['users']:,} users; alerts from {escape(inputs['alerts_dir'])};
label: no activity within {inputs['horizon_days']} days. Machine-readable: report.json.</p>
<h2>Scores</h2>
<p>Point in time (every known user active in the horizon before the cut, scored from the state at the cut):
pooled ROC AUC <b>{pooled['roc_auc']}</b> over {pooled['n']:,} user-cuts ({pooled['churned']:,} churned).
Progressive (each served score against its released label): ROC AUC <b>{prog['roc_auc']}</b>,
log loss {prog['log_loss']} over {prog['n']:,} labels.</p>
<table><tr><th>cut</th><th>users</th><th>churned</th><th>ROC AUC</th></tr>{rows}</table>
<table><tr><th>threshold</th><th>flagged</th><th>precision</th><th>recall</th></tr>{thresholds}</table>
{''.join(charts[:4])}
<h2>Alerts</h2>
<p>{alerts['treatment']} treated alerts, {alerts['control']} control records; median lead
{alerts['lead_days']['median']} days over {alerts['lead_days']['n']} alerts followed by silence.</p>
<table><tr><th>tier</th><th>treated alerts</th><th>followed by silence</th><th>win-back</th>
<th>control records</th><th>followed by silence</th><th>win-back</th></tr>{tier_rows}</table>
{''.join(charts[4:])}
{truth_html}
</body></html>"""


def write_report(files: list[Path], alerts_dir: Path, out: Path, settings: Settings,
                 truth_path: Path | None = None) -> dict[str, Any]:
    summary = evaluate(files, alerts_dir, settings, truth_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    (out / "report.html").write_text(render_html(summary, [n for n, _ in settings.alert_tiers]))
    return summary
