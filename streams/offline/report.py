"""``churnguard evaluate``'s report: a self-contained HTML page (inline SVG) and a JSON summary of
the same figures, which streams/offline/evaluation.py computes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Iterable

import orjson

from streams.offline import svg
from streams.offline.evaluation import evaluate
from streams.offline.sources import SourceRecord
from streams.settings import Settings


def render_html(summary: dict[str, Any], tiers: list[str]) -> str:
    pit, prog, alerts = summary["point_in_time"], summary["progressive"], summary["alerts"]
    pooled, recency = pit["pooled"], pit["recency_baseline"]
    days = list(alerts["per_day"])
    ranking = [
        svg.lines("ROC, point in time (pooled cuts)", "false positive rate", "true positive rate",
                  {f"model (AUC {pooled['roc_auc']})": pooled["roc"],
                   f"recency alone (AUC {recency['roc_auc']})": recency["roc"]}, (0, 1), (0, 1), diagonal=True),
        svg.lines("Precision-recall, point in time", "recall", "precision", {"model": pooled["precision_recall"]}, (0, 1), (0, 1)),
        svg.bars("Lift by score decile", "decile (1 = highest scores)", "churn rate / base rate",
                 [str(i + 1) for i in range(10)], {"lift": [v or 0.0 for v in pooled["lift_by_decile"]]}),
        svg.lines("Calibration", "mean score in bucket", "churn rate",
                  {"observed": [(c["mean_score"], c["churn_rate"]) for c in pooled["calibration"]]}, (0, 1), (0, 1), diagonal=True),
    ]
    if pooled["roc_auc"] is None:  # no churner (or no survivor) at the cuts: every ranking curve is flat
        reason = f"{pooled['churned']:,} of {pooled['n']:,} user-cuts churned: nothing to rank"
        ranking = [svg.empty(title, reason) for title in ("ROC, point in time (pooled cuts)", "Precision-recall, point in time",
                                                          "Lift by score decile", "Calibration")]
    charts = ranking + [
        svg.bars("Alerts per day by tier (treated)", "day", "alerts", days,
                 {tier: [float(alerts["per_day"][d].get(tier, 0)) for d in days] for tier in tiers}),
        svg.bars("Alerts by top reason (treated)", "reason", "alerts", list(alerts["top_reasons"]),
                 {"alerts": [float(v) for v in alerts["top_reasons"].values()]}),
        svg.bars("Lead time: alert to H days of silence", "days (bucket start)", "alerts",
                 [str(k) for k in alerts["lead_days"]["histogram"]], {"alerts": [float(v) for v in alerts["lead_days"]["histogram"].values()]}),
        svg.bars("Win-back within H, by tier", "tier", "share active again", tiers,
                 {arm: [alerts["by_tier"][t][arm]["win_back"] or 0.0 for t in tiers] for arm in ("treatment", "control")}),
    ]
    rows = "".join(f"<tr><td>{escape(c['cut'])}</td><td>{c['users']}</td><td>{c['churned']}</td><td>{c['roc_auc']}</td>"
                   f"<td>{c['recency_roc_auc']}</td></tr>" for c in pit["cuts"])
    tier_rows = "".join(
        f"<tr><td>{escape(t)}</td>" + "".join(f"<td>{alerts['by_tier'][t][arm]['alerts']}</td><td>{alerts['by_tier'][t][arm]['followed_by_silence']}</td>"
                                               f"<td>{alerts['by_tier'][t][arm]['lift']}</td>"
                                               f"<td>{alerts['by_tier'][t][arm]['win_back']}</td>" for arm in ("treatment", "control")) + "</tr>"
        for t in tiers)
    thresholds = "".join(f"<tr><td>{t['threshold']}</td><td>{t['flagged']}</td><td>{t['precision']}</td><td>{t['recall']}</td></tr>"
                         for t in prog["at_thresholds"])
    truth = summary.get("ground_truth")
    # Alert counts and lead time are quoted once, above; the ground truth adds who really churned.
    truth_html = "" if truth is None else (
        f"<h2>Against the ground truth</h2><p>{truth['alerted_users_churned']:,} of the {truth['alerted_users']:,} "
        f"alerted users (both arms) really churned; {truth['churners_caught_in_time']:,} of {truth['churners']:,} "
        f"churners were alerted before {summary['inputs']['horizon_days']} days of silence.</p>")
    inputs = summary["inputs"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>churnguard evaluation</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}svg{{margin:6px}}</style></head><body>
<h1>churnguard evaluation</h1>
<p>{inputs['events']:,} events of {inputs['users']:,} users; alerts from {escape(inputs['alerts_dir'])};
label: no activity within {inputs['horizon_days']} days. Machine-readable: report.json.</p>
<h2>Scores</h2>
<p>Point in time (every known user active in the horizon before the cut, scored from the state at the cut):
pooled ROC AUC <b>{pooled['roc_auc']}</b> over {pooled['n']:,} user-cuts ({pooled['churned']:,} churned);
ranking the same users by their silence alone: {recency['roc_auc']}.
Progressive (each served score against its released label): ROC AUC <b>{prog['roc_auc']}</b>,
log loss {prog['log_loss']} over {prog['n']:,} labels.</p>
<table><tr><th>cut</th><th>users</th><th>churned</th><th>ROC AUC</th><th>recency alone</th></tr>{rows}</table>
<table><tr><th>threshold</th><th>flagged</th><th>precision</th><th>recall</th></tr>{thresholds}</table>
{''.join(charts[:4])}
<h2>Alerts</h2>
<p>{alerts['treatment']} treated alerts, {alerts['control']} control records; median lead
{alerts['lead_days']['median']} days over {alerts['lead_days']['n']} alerts followed by silence.</p>
<p>Precision of an alert = the share followed by {inputs['horizon_days']} days of silence; lift = that share
over the base rate of the point-in-time view ({alerts['base_rate']}).</p>
<table><tr><th>tier</th><th>treated alerts</th><th>precision</th><th>lift</th><th>win-back</th>
<th>control records</th><th>precision</th><th>lift</th><th>win-back</th></tr>{tier_rows}</table>
{''.join(charts[4:])}
{truth_html}
</body></html>"""


def write_report(records: Iterable[SourceRecord], sources: list[str], alerts_dir: Path, out: Path, settings: Settings,
                 truth_path: Path | None = None) -> dict[str, Any]:
    summary = evaluate(records, sources, alerts_dir, settings, truth_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    (out / "report.html").write_text(render_html(summary, [n for n, _ in settings.alert_tiers]))
    return summary
