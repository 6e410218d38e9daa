"""Which online model? Progressive and point-in-time quality of each model kind on the simulator.

    .venv/bin/python bench/model_comparison.py [--users 3000 --days 120 --seed 7 --kinds logreg,arf]
        [--logreg-step 0.002] [--only former|name,name,...]

Runs the simulated population through the pure engine (one engine per partition, users routed as
Kafka would) once per model kind, with everything else at the defaults, and prints one JSON line
per kind: progressive figures of the served scores, point-in-time ROC AUC at cuts on days 60, 75
and 90 (users active in the 30 days before the cut, and all known users), the heuristic's AUC at
the same cuts, alert precision against the simulator's ground truth, and the run's speed.

Experiments (docs/model.md): ``--logreg-step`` overrides the logistic regression's SGD step;
``--only`` gives the model only some features (``former``: the 21 it had before the full catalog).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import orjson

from streams.core import learners
from streams.offline.evaluation import activity_index, point_in_time
from streams.offline.runner import OfflineRun
from streams.offline.evaluation import alert_figures
from streams.core.scoring import MODEL_KINDS
from streams.settings import Settings
from streams.core.events import DAY_MS
from streams.offline.simulator import SimConfig, as_events, simulate


FORMER_FEATURES = (
    "recency_days", "recency_ratio", "typical_gap_days", "active_days_7", "active_days_30", "log_clicks_7",
    "log_clicks_30", "sessions_30", "click_trend_7", "interactions_30", "errors_30", "purchases_30", "log_spend_30",
    "days_since_purchase", "refunds_30", "discount_share_30", "tickets_30", "open_tickets", "low_csat",
    "log_spend_90", "log_tenure_days",
)


class Restricted:
    """A learner that sees only some of the inputs (and always the cold start, the linear model's offset)."""

    def __init__(self, names: set[str], learner: object) -> None:
        self.names, self.learner = names | {"cold_start_risk"}, learner

    def __getattr__(self, name: str) -> object:  # the learner's parts (the linear model's reasons read them)
        if name == "learner":
            raise AttributeError(name)
        return getattr(self.learner, name)

    def learn_one(self, x: dict, y: int, **kwargs: object) -> None:
        self.learner.learn_one({k: v for k, v in x.items() if k in self.names}, y, **kwargs)

    def predict_proba_one(self, x: dict) -> dict:
        return self.learner.predict_proba_one({k: v for k, v in x.items() if k in self.names})


def restrict_model_inputs(names: set[str]) -> None:
    """Every model sees only these features (an experiment: the engine still computes all)."""
    make = learners.new_learner
    learners.new_learner = lambda kind, seed: Restricted(names, make(kind, seed))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--kinds", default=",".join(MODEL_KINDS))
    ap.add_argument("--cut-days", default="60,75,90")
    ap.add_argument("--logreg-step", type=float, default=learners.LOGREG_LEARNING_RATE)
    ap.add_argument("--only", default="", help="'former' or comma-separated feature names")
    args = ap.parse_args()
    learners.LOGREG_LEARNING_RATE = args.logreg_step
    if args.only:
        restrict_model_inputs(set(FORMER_FEATURES if args.only == "former" else args.only.split(",")))

    raw, truths = simulate(SimConfig(users=args.users, days=args.days, seed=args.seed, bad_rate=0.0))
    events = as_events(raw)
    first_day = events[0].ts // DAY_MS
    cuts = tuple((first_day + int(d)) * DAY_MS for d in args.cut_days.split(","))
    activity = activity_index(events)
    truth = {t.user_id: t.to_dict() for t in truths}
    settings = Settings()
    base = settings.engine_config()
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
