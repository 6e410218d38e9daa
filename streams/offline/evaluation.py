"""Point-in-time evaluation of the engine's scores and alerts, and the figures of the evaluation
report (streams/offline/report.py renders them). No broker: the engine runs in-process
(streams/offline/runner.py).

Point in time: at a cut T (a day boundary of event time) every partition's model scores every
user it knows from the state as of T, exactly as a rescore at T would; each score is then
judged by whether the user is active in (T, T + H]. Nothing after T reaches a score, and the
labels are not the model's training labels, so this view cannot be flattered the way
progressive validation can (see streams/core/labels.py). Two populations are reported: users active
in the H before T (the ones outreach can still save; the headline figure) and every known user.

The report's figures (``evaluate``): scores at cuts every 15 days (from day 15) while a horizon of
data is left after them, pooled over cuts for ROC, precision-recall, lift by decile and
calibration, beside the ranking by silence alone (recency: what every churn score must beat); the
progressive (prequential) figures of the served scores; alerts per day by tier, by top reason,
share followed by H of silence per tier, lead time (alert to the moment the silence reaches H),
and win-back (active again within H) of treated versus control users per tier. With a ground
truth: alerted users who really churned, and churners alerted in time.
"""

from __future__ import annotations

import statistics
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import orjson

from streams.core.events import DAY_MS, Event
from streams.core.catalog import CATALOG, FEATURE_INDEX
from streams.core.features import is_activity
from streams.core.learning import QUALITY_THRESHOLDS
from streams.offline.runner import CutScores, OfflineRun
from streams.offline.sources import SourceRecord, read_truth
from streams.settings import Settings


def exact_auc(labels: list[int], scores: list[float]) -> float | None:
    """ROC AUC by ranks (ties count half). A NaN score has no rank: refused (it equals nothing,
    not even itself, so the tie loop below would never end)."""
    if any(score != score for score in scores):
        raise ValueError("a score is NaN: no rank to compare")
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mean_rank = (i + j + 1) / 2  # ranks i+1..j
        rank_sum += mean_rank * sum(label for _, label in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def activity_index(events: Iterable[Event]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in events:
        if is_activity(e):
            out.setdefault(e.user_id, []).append(e.ts)
    for times in out.values():
        times.sort()
    return out


def recency_ms(times: list[int], cut: int) -> int:
    """Time from the last activity at or before ``cut`` to it (the baseline every churn score must
    beat: who has been silent longest); a user with none ranks as silent since forever."""
    i = bisect_right(times, cut)
    return cut - times[i - 1] if i else cut + 1


def active_within(times: list[int], start: int, end: int) -> bool:
    """Any activity in (start, end]."""
    i = bisect_right(times, start)
    return i < len(times) and times[i] <= end


def point_in_time(cut: CutScores, activity: dict[str, list[int]], horizon_ms: int) -> dict[str, Any]:
    """Figures for one cut: label 1 = no activity in (T, T + H]."""
    out: dict[str, Any] = {"cut": cut.cut}
    for population, rows in (("recently_active", [r for r in cut.rows if r[3]]), ("all_known", cut.rows)):
        labels = [0 if active_within(activity.get(uid, []), cut.cut, cut.cut + horizon_ms) else 1 for uid, *_ in rows]
        model_auc = exact_auc(labels, [r[1] for r in rows])
        heuristic_auc = exact_auc(labels, [r[2] for r in rows])
        out[population] = {"users": len(rows), "churned": sum(labels),
                           "roc_auc": round(model_auc, 4) if model_auc is not None else None,
                           "heuristic_roc_auc": round(heuristic_auc, 4) if heuristic_auc is not None else None}
    return out


CUT_EVERY_DAYS = 15


def _curves(labels: list[int], scores: list[float]) -> dict[str, Any]:
    """The ranking figures of probabilities, and their calibration."""
    return {**_ranking(labels, scores), "calibration": _calibration(labels, scores)}


def _ranking(labels: list[int], scores: list[float]) -> dict[str, Any]:
    """ROC, precision-recall and lift by decile: what any score has, a probability or not (the
    recency baseline ranks by milliseconds of silence, which have no calibration)."""
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
    auc = exact_auc(labels, scores)
    return {"n": len(labels), "churned": pos, "roc_auc": round(auc, 4) if auc is not None else None,
            "roc": _thinned(roc), "precision_recall": _thinned(pr), "lift_by_decile": deciles}


def _calibration(labels: list[int], scores: list[float]) -> list[dict[str, Any]]:
    """Probabilities in tenths: their mean against the churn rate of each tenth."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, score in enumerate(scores):
        buckets[min(int(score * 10), 9)].append(i)
    return [{"bucket": f"{b / 10:.1f}-{(b + 1) / 10:.1f}", "n": len(members),
             "mean_score": round(statistics.fmean(scores[i] for i in members), 4),
             "churn_rate": round(sum(labels[i] for i in members) / len(members), 4)}
            for b, members in sorted(buckets.items())]


def _thinned(points: list[tuple[float, float]], keep: int = 200) -> list[tuple[float, float]]:
    """At most ~``keep`` points for a plot, always with the last one."""
    step = max(1, len(points) // keep)
    out = points[::step]
    if out and out[-1] != points[-1]:
        out.append(points[-1])
    return [(round(x, 4), round(y, 4)) for x, y in out]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


class NothingToEvaluate(ValueError):
    """The input holds no valid event, or too short a span for one cut and its horizon."""


def evaluate(records: Iterable[SourceRecord], sources: list[str], alerts_dir: Path, settings: Settings,
             truth_path: Path | None = None) -> dict[str, Any]:
    """``records``: the replay's input (streams/offline/replay.py read_inputs), in event-time order;
    invalid ones are counted and left out, as the worker would dead-letter them."""
    horizon = settings.label_horizon_ms
    decoded, rejected = [], 0
    for r in records:
        if r.error is None:
            decoded.append(Event(r.kind, r.event_id, r.user_id, r.ts, orjson.loads(r.value)))
        else:
            rejected += 1
    if not decoded:
        raise NothingToEvaluate(f"no valid event in {', '.join(sources) or 'the input'} ({rejected} rejected)")
    activity = activity_index(decoded)
    first_day, last_ts = decoded[0].ts // DAY_MS, max(e.ts for e in decoded)
    cuts = tuple((first_day + d) * DAY_MS for d in range(CUT_EVERY_DAYS, 10_000, CUT_EVERY_DAYS)
                 if (first_day + d) * DAY_MS + horizon <= last_ts)
    run = OfflineRun(settings.engine_config(), partitions=settings.partitions, cuts=cuts).feed(decoded)
    labels, scores, recencies, per_cut = [], [], [], []
    for cut in cuts:
        rows = [r for r in run.scores[cut].rows if r[3]]  # users active in the horizon before the cut
        cut_labels = [0 if active_within(activity.get(uid, []), cut, cut + horizon) else 1 for uid, *_ in rows]
        cut_recency = [recency_ms(activity.get(uid, []), cut) for uid, *_ in rows]
        auc, baseline = exact_auc(cut_labels, [r[1] for r in rows]), exact_auc(cut_labels, cut_recency)
        per_cut.append({"cut": time.strftime("%Y-%m-%d", time.gmtime(cut / 1000)), "users": len(rows),
                        "churned": sum(cut_labels), "roc_auc": round(auc, 4) if auc is not None else None,
                        "recency_roc_auc": round(baseline, 4) if baseline is not None else None})
        labels += cut_labels
        scores += [r[1] for r in rows]
        recencies += cut_recency
    thresholds = list(QUALITY_THRESHOLDS)
    treated, control = _read_jsonl(alerts_dir / "alerts.jsonl"), _read_jsonl(alerts_dir / "holdout.jsonl")
    summary: dict[str, Any] = {
        "inputs": {"events": len(decoded), "rejected": rejected, "users": len(activity), "sources": sources,
                   "alerts_dir": str(alerts_dir), "horizon_days": settings.label_horizon_days},
        "point_in_time": {"cuts": per_cut, "pooled": _curves(labels, scores),
                          "recency_baseline": _ranking(labels, [float(r) for r in recencies])},
        "progressive": run.progressive().summary(thresholds),
        "alerts": _alerts_against_events(treated, control, activity, horizon, [n for n, _ in settings.alert_tiers]),
    }
    base = sum(labels) / len(labels) if labels else None
    summary["alerts"]["base_rate"] = round(base, 4) if base else None
    for row in summary["alerts"]["by_tier"].values():
        for arm in row.values():
            silence = arm["followed_by_silence"]
            arm["lift"] = round(silence / base, 3) if silence is not None and base else None
    if truth_path is not None:
        truth = read_truth(truth_path)
        summary["ground_truth"] = alert_figures(treated + control, truth, horizon, tuple(n for n, _ in settings.alert_tiers))
    return summary


def _alerts_against_events(treated: list[dict[str, Any]], control: list[dict[str, Any]], activity: dict[str, list[int]],
                   horizon: int, tiers: list[str]) -> dict[str, Any]:
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for a in treated:
        per_day[time.strftime("%Y-%m-%d", time.gmtime(a["ts"] / 1000))][a["tier"]] += 1
    # By the top reason's feature, named in the catalog's words (values differ from alert to alert).
    reasons = Counter(CATALOG[FEATURE_INDEX[a["reasons"][0]["feature"]]].reason_text
                      if a["reasons"] and a["reasons"][0]["feature"] in FEATURE_INDEX else "-" for a in treated)
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
