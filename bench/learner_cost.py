"""What one label learned and one score served cost the linear model (CPU microseconds).

    .venv/bin/python bench/learner_cost.py [--runs 5]

A ChurnModel (logreg) learns 4,000 labels of random inputs (a third positive), then serves 2,000
model scores (its regression's ``predict_proba_one``). Prints the medians over the runs and each
run's figures. The engine learns one label per user snapshot released, about one per 50 events of
the simulated population, and serves a model score at each snapshot once the model is ready.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import orjson

from streams.core.scoring import COLD_START, INPUT_NAMES, ChurnModel


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(3)
    rows = []
    for _ in range(4000):
        inputs = [rng.random() * 10 for _ in INPUT_NAMES]
        inputs[COLD_START] = rng.uniform(0.05, 0.95)
        rows.append((inputs, int(rng.random() < 0.3)))
    learn_us, score_us = [], []
    for _ in range(args.runs):
        model = ChurnModel(0, min_labels=100)
        start = time.process_time()
        for inputs, label in rows:
            model.learn(inputs, label)
        learn_us.append((time.process_time() - start) / len(rows) * 1e6)
        start = time.process_time()
        for inputs, _ in rows[:2000]:
            model.learner.predict_proba_one(model._input(inputs, None))  # type: ignore[attr-defined]
        score_us.append((time.process_time() - start) / 2000 * 1e6)
    print(orjson.dumps({"median_learn_us": round(statistics.median(learn_us), 1),
                        "learn_us_runs": [round(v, 1) for v in learn_us],
                        "median_score_us": round(statistics.median(score_us), 1),
                        "score_us_runs": [round(v, 1) for v in score_us]}).decode())


if __name__ == "__main__":
    main()
