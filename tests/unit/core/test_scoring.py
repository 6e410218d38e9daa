"""The linear model around the cold start (streams/core/scoring.py)."""

import math
import random

from streams.core.scoring import INPUT_NAMES, ChurnModel, ResidualLogReg, model_input

COLD_START = INPUT_NAMES.index("cold_start_risk")


def inputs(cold_start: float, signal: float, rng: random.Random) -> list[float]:
    x = [rng.gauss(0, 1) for _ in INPUT_NAMES]
    x[0] = signal  # a catalog feature the cold start does not know about
    x[COLD_START] = cold_start
    return x


def test_before_any_label_the_linear_model_is_the_cold_start():
    rng = random.Random(1)
    for risk in (0.02, 0.3, 0.5, 0.77, 0.98):
        served = ResidualLogReg().predict_proba_one(model_input(inputs(risk, 0.0, rng)))[True]
        assert math.isclose(served, risk, rel_tol=1e-6)


def test_it_learns_what_a_feature_adds_to_the_cold_start():
    """Labels where a feature the cold start ignores doubles the odds: the model learns it and
    beats the cold start's log loss, so it serves."""
    rng = random.Random(2)
    model = ChurnModel(0, min_labels=500)
    for _ in range(6000):
        risk, signal = rng.uniform(0.1, 0.9), rng.choice((-1.0, 1.0))
        logit = math.log(risk / (1 - risk)) + 1.5 * signal
        model.learn(inputs(risk, signal, rng), int(rng.random() < 1 / (1 + math.exp(-logit))))
    assert model.ready
    up, down = (model.score(inputs(0.5, s, rng)).risk for s in (1.0, -1.0))
    assert up > 0.7 and down < 0.3


def test_it_learns_what_an_attribute_adds_to_the_cold_start():
    """An attribute value is an indicator present only when the user carries it. Standardised like
    the other inputs it would be constant (1 whenever present) and count as 0, so the model could
    never learn from attributes; here one value doubles the odds of churn and the model learns it."""
    rng = random.Random(3)
    model = ChurnModel(0, min_labels=500)
    for _ in range(6000):
        risk, plan = rng.uniform(0.1, 0.9), rng.choice(("monthly", "yearly"))
        logit = math.log(risk / (1 - risk)) + (1.5 if plan == "monthly" else -1.5)
        model.learn(inputs(risk, 0.0, rng), int(rng.random() < 1 / (1 + math.exp(-logit))), {"plan": plan})
    assert model.ready
    monthly, yearly = (model.score(inputs(0.5, 0.0, rng), {"plan": plan}).risk for plan in ("monthly", "yearly"))
    assert monthly > 0.65 and yearly < 0.35
