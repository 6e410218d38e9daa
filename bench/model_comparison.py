"""Which online model? Progressive and point-in-time quality of each model kind on the simulator.

    .venv/bin/python bench/model_comparison.py [--users 3000 --days 120 --seed 7 --kinds logreg,arf]

Runs the simulated population through the pure engine (one engine per partition, users routed as
Kafka would) once per model kind, with everything else at the defaults, and prints one JSON line
per kind: progressive figures of the served scores, point-in-time ROC AUC at cuts on days 60, 75
and 90 (users active in the 30 days before the cut, and all known users), the heuristic's AUC at
the same cuts, alert precision against the simulator's ground truth, and the run's speed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import orjson

from streams.engine import EngineConfig
from streams.evaluation import OfflineRun, activity_index, point_in_time
from streams.report import alert_figures
from streams.scoring import MODEL_KINDS
from streams.settings import DAY_MS, Settings
from streams.simulator import SimConfig, as_events, simulate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kinds", default=",".join(MODEL_KINDS))
    ap.add_argument("--cut-days", default="60,75,90")
    args = ap.parse_args()

    raw, truths = simulate(SimConfig(users=args.users, days=args.days, seed=args.seed, bad_rate=0.0))
    events = as_events(raw)
    first_day = events[0].ts // DAY_MS
    cuts = tuple((first_day + int(d)) * DAY_MS for d in args.cut_days.split(","))
    activity = activity_index(events)
    truth = {t.user_id: t.to_dict() for t in truths}
    settings = Settings()
    base = EngineConfig.from_settings(settings)
    tiers = tuple(name for name, _ in settings.alert_tiers)
    thresholds = [t for _, t in settings.alert_tiers]
    for kind in args.kinds.split(","):
        started = time.perf_counter()
        run = OfflineRun(replace(base, model_kind=kind), cuts=cuts).feed(events)
        elapsed = time.perf_counter() - started
        treated = [a for a in run.alerts]
        figures = alert_figures(treated, truth, settings.label_horizon_ms, tiers)
        progressive = run.progressive().summary(thresholds)
        print(orjson.dumps({
            "model_kind": kind, "users": args.users, "days": args.days, "seed": args.seed, "events": len(events),
            "point_in_time": [point_in_time(run.scores[c], activity, settings.label_horizon_ms) for c in cuts],
            "progressive": {k: progressive[k] for k in ("n", "positives", "roc_auc", "log_loss", "at_thresholds")},
            "alerts": {k: figures[k] for k in ("alerts", "alerted_users", "alerted_users_churned", "churners",
                                                "churners_caught_in_time", "median_lead_days")},
            "drifts": sum(e.model.quality.drifts for e in run.engines),
            "seconds": round(elapsed, 1), "events_per_s": round(len(events) / elapsed),
        }).decode(), flush=True)


if __name__ == "__main__":
    main()
