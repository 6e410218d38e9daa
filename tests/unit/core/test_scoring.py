"""The linear model around the cold start (streams/core/scoring.py)."""

import math
import random

from streams.core.scoring import (
    INPUT_NAMES,
    MAX_ATTRIBUTE_INPUTS,
    OFFSET,
    RESIDUAL_WEIGHT,
    ChurnModel,
    ResidualLogReg,
    model_input,
)

COLD_START = INPUT_NAMES.index("cold_start_risk")


def inputs(cold_start: float, signal: float, rng: random.Random) -> list[float]:
    x = [rng.gauss(0, 1) for _ in INPUT_NAMES]
    x[0] = signal  # a catalog feature the cold start does not know about
    x[COLD_START] = cold_start
    return x


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def served_shift_is_about(risk: float, learned: float) -> bool:
    """The served log-odds move RESIDUAL_WEIGHT of what the labels say (one pass of SGD learns
    most of it)."""
    return 0.6 * RESIDUAL_WEIGHT * learned < logit(risk) < 1.2 * RESIDUAL_WEIGHT * learned


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
        log_odds = logit(risk) + 1.5 * signal
        model.learn(inputs(risk, signal, rng), int(rng.random() < 1 / (1 + math.exp(-log_odds))))
    assert model.ready
    up, down = (model.score(inputs(0.5, s, rng)).risk for s in (1.0, -1.0))
    assert served_shift_is_about(up, 1.5) and served_shift_is_about(1 - down, 1.5)


def test_it_serves_the_cold_start_plus_a_share_of_what_it_learned():
    """The residual is learned in full and served in part: its labels are one horizon old."""
    rng = random.Random(4)
    model = ResidualLogReg()
    for _ in range(3000):
        risk, signal = rng.uniform(0.1, 0.9), rng.choice((-1.0, 1.0))
        x = model_input(inputs(risk, signal, rng))
        model.learn_one(x, int(rng.random() < 1 / (1 + math.exp(-logit(risk) - 1.5 * signal))))
    for risk, signal in ((0.2, 1.0), (0.5, -1.0), (0.9, 1.0)):
        x = model_input(inputs(risk, signal, rng))
        learned = model.served_logit(model._inputs(x))  # the averaged regression's logit
        served = model.predict_proba_one(x)[True]
        assert math.isclose(logit(served), logit(risk) + RESIDUAL_WEIGHT * (learned - logit(risk)), abs_tol=1e-6)
        assert abs(logit(served) - logit(risk)) > 0.1  # it did learn something


def test_it_learns_what_an_attribute_adds_to_the_cold_start():
    """An attribute value is an indicator present only when the user carries it. Standardised like
    the other inputs it would be constant (1 whenever present) and count as 0, so the model could
    never learn from attributes; here one value doubles the odds of churn and the model learns it."""
    rng = random.Random(3)
    model = ChurnModel(0, min_labels=500)
    for _ in range(6000):
        risk, plan = rng.uniform(0.1, 0.9), rng.choice(("monthly", "yearly"))
        log_odds = logit(risk) + (1.5 if plan == "monthly" else -1.5)
        model.learn(inputs(risk, 0.0, rng), int(rng.random() < 1 / (1 + math.exp(-log_odds))), {"plan": plan})
    assert model.ready
    monthly, yearly = (model.score(inputs(0.5, 0.0, rng), {"plan": plan}).risk for plan in ("monthly", "yearly"))
    assert served_shift_is_about(monthly, 1.5) and served_shift_is_about(1 - yearly, 1.5)


def test_attribute_values_it_cannot_weigh_change_nothing():
    """A value no label carried (the schema allows 16 attributes of up to 64 characters each) and
    one every label carried (no variance) are scored as absent, without dividing by zero."""
    rng = random.Random(5)
    model = ResidualLogReg()
    for _ in range(2000):
        risk, plan = rng.uniform(0.1, 0.9), rng.choice(("monthly", "yearly"))
        x = model_input(inputs(risk, 0.0, rng), {"country": "TW", "plan": plan})
        model.learn_one(x, int(rng.random() < risk))
    x = inputs(0.4, 0.0, rng)
    bare = model.predict_proba_one(model_input(x))[True]
    unseen = {f"k{i}" + "x" * 61: "v" * 64 for i in range(15)} | {"plan": "lifetime"}
    known = set(model.scaler.vars)
    for attributes in (unseen, {"country": "TW"}):
        assert math.isclose(model.predict_proba_one(model_input(x, attributes))[True], bare, rel_tol=1e-12)
    assert set(model.scaler.vars) == known  # scoring leaves no trace in the model


def test_the_model_stays_bounded_however_many_attribute_values_it_meets():
    """An export whose attributes include an id (a postcode, a store) gives every label values
    never seen before: the model keeps an input for the first MAX_ATTRIBUTE_INPUTS values its
    labels carried, reads the others as absent, and scoring adds nothing to it."""
    rng = random.Random(6)
    model = ChurnModel(partition=0, min_labels=200)
    sizes = []
    for n in range(3000):
        risk = rng.uniform(0.1, 0.9)
        attributes = {"store": f"s{n}", "postcode": f"p{n}", "plan": rng.choice(("monthly", "yearly"))}
        model.learn(inputs(risk, 0.0, rng), int(rng.random() < risk), attributes)
        if n % 1000 == 999:
            sizes.append(len(model.to_bytes()))
    assert len(model.attribute_inputs) == MAX_ATTRIBUTE_INPUTS
    assert "attribute:plan=yearly" in model.attribute_inputs  # met among the first labels
    scaler, weights = model.learner.scaler, model.learner.regression.weights
    learner_keys = set(scaler.counts) | set(scaler.vars) | set(weights) | set(model.learner.average)
    assert learner_keys <= set(INPUT_NAMES) | set(model.attribute_inputs) | {"offset"}  # River zeroes its weight
    assert sizes[2] - sizes[0] < 2000  # floats changing, no new keys
    x = inputs(0.4, 0.0, rng)
    bare = model.score(x).risk
    for n in range(100_000):
        assert model.score(x, {"store": f"unseen{n}", "postcode": "p0" + "x" * 62}).risk == bare
    assert len(model.to_bytes()) == sizes[2] and scaler.vars.keys() <= learner_keys


def test_a_model_pickled_before_the_bound_keeps_the_attribute_inputs_it_had():
    rng = random.Random(7)
    model = ChurnModel(partition=0, min_labels=200)
    for n in range(300):
        risk = rng.uniform(0.1, 0.9)
        model.learn(inputs(risk, 0.0, rng), int(rng.random() < risk), {"plan": f"plan{n % 3}"})
    del model.attribute_inputs  # as models pickled by the previous version
    loaded = ChurnModel.from_bytes(model.to_bytes())
    assert list(loaded.attribute_inputs) == [f"attribute:plan=plan{i}" for i in range(3)]
    x = inputs(0.4, 0.0, rng)
    assert loaded.score(x, {"plan": "plan1"}) == ChurnModel.from_bytes(loaded.to_bytes()).score(x, {"plan": "plan1"})


def trained(seed: int, n: int, attributes: bool = False) -> tuple[ResidualLogReg, list[dict]]:
    rng = random.Random(seed)
    model, seen = ResidualLogReg(), []
    for _ in range(n):
        risk, signal = rng.uniform(0.1, 0.9), rng.choice((-1.0, 1.0))
        x = model_input(inputs(risk, signal, rng), {"region": rng.choice("abc")} if attributes else None)
        model.learn_one(x, int(rng.random() < 1 / (1 + math.exp(-logit(risk) - 1.5 * signal))))
        seen.append(x)
    return model, seen


def test_one_partition_s_regression_pooled_alone_is_itself():
    model, seen = trained(5, 800, attributes=True)
    alone = ResidualLogReg.pooled([model.summary()], [n for n in model.scaler.counts if n.startswith("attribute:")])
    for x in seen[:50]:
        assert math.isclose(alone.predict_proba_one(x)[True], model.predict_proba_one(x)[True], rel_tol=1e-9)


def test_pooled_regressions_standardise_as_one_scaler_of_all_their_labels():
    (a, seen_a), (b, seen_b) = trained(6, 700, attributes=True), trained(7, 1300, attributes=True)
    everyone = ResidualLogReg()
    for x in seen_a + seen_b:
        everyone.scaler.learn_one(x)
    pooled = ResidualLogReg.pooled([a.summary(), b.summary()], [n for n in everyone.scaler.counts if n.startswith("attribute:")])
    for name, n in everyone.scaler.counts.items():
        assert pooled.scaler.counts[name] == n
        assert math.isclose(pooled.scaler.means[name], everyone.scaler.means[name], rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(pooled.scaler.vars[name], everyone.scaler.vars[name], rel_tol=1e-9, abs_tol=1e-12)
    # Weights: the average by labels learned.
    name = INPUT_NAMES[0]
    expected = (700 * a.average[name] + 1300 * b.average[name]) / 2000
    assert math.isclose(pooled.average[name], expected, rel_tol=1e-9)


def test_pooling_survives_json_and_a_model_scores_with_the_pool():
    import orjson

    (a, _), (b, seen) = trained(8, 900), trained(9, 900)
    model = ChurnModel(0, min_labels=10)
    model.learner = a
    summaries = orjson.loads(orjson.dumps([a.summary(), b.summary(), None]))  # as between workers
    model.pool(summaries)
    pooled = ResidualLogReg.pooled([a.summary(), b.summary()])
    x = seen[0]
    assert model._risk(x) == pooled.predict_proba_one(x)[True] != a.predict_proba_one(x)[True]
    again = ChurnModel.from_bytes(model.to_bytes())
    assert again._risk(x) == model._risk(x)
    model.pool([None])
    assert model._risk(x) == a.predict_proba_one(x)[True]


def test_the_pool_holds_only_the_attribute_inputs_the_scoring_partition_reads():
    """Each partition's model weighs at most MAX_ATTRIBUTE_INPUTS values; the pool of many
    partitions must not hold all of theirs (an id-like attribute would grow it with partitions)."""
    models = []
    for seed in range(3):
        model = ChurnModel(seed, min_labels=10)
        rng = random.Random(seed)
        for i in range(300):
            model.learn(inputs(0.5, 1.0, rng), i % 2, {"store": f"s{seed}-{i % 40}"})
        models.append(model)
    models[0].pool([m.summary() for m in models])
    names = set(models[0].pooled.scaler.counts) | set(models[0].pooled.average)
    attributes = {n for n in names if n.startswith("attribute:")}
    assert attributes == set(models[0].attribute_inputs) and len(attributes) == 40


def test_a_model_s_bytes_do_not_depend_on_where_the_pooled_summaries_came_from():
    """In one worker the partitions' summaries are this process's objects, between workers they
    are read from the topic: the states written (and their digest) must be the same bytes."""
    import orjson

    (a, seen), (b, _) = trained(10, 600, attributes=True), trained(11, 600, attributes=True)

    def model(summaries):
        m = ChurnModel(0, min_labels=10)
        m.learner = a
        m.attribute_inputs = dict.fromkeys(n for n in a.scaler.counts if n.startswith("attribute:"))
        m.pool(summaries)
        return m

    here = model([a.summary(), b.summary()])
    read = model(orjson.loads(orjson.dumps([a.summary(), b.summary()])))
    assert here.to_bytes() == read.to_bytes()
    again = ChurnModel.from_bytes(here.to_bytes())
    assert all(again._risk(x) == here._risk(x) for x in seen[:50])


def test_it_serves_the_average_of_its_recent_weights():
    """SGD's weights wander with every label; the regression serves their average (the running
    mean over its first AVERAGE_MEMORY labels, an exponential moving average after), which holds
    still where the weights do not."""
    from streams.core.learners import AVERAGE_MEMORY

    rng = random.Random(11)
    model = ResidualLogReg()
    name = INPUT_NAMES[0]
    raw, served, running = [], [], 0.0
    for step in range(1, 3 * AVERAGE_MEMORY + 1):
        risk, signal = rng.uniform(0.1, 0.9), rng.choice((-1.0, 1.0))
        x = model_input(inputs(risk, signal, rng))
        model.learn_one(x, int(rng.random() < 1 / (1 + math.exp(-logit(risk) - 1.5 * signal))))
        weight = model.regression._weights[name]
        running += (weight - running) / min(step, AVERAGE_MEMORY)
        raw.append(weight)
        served.append(model.average[name])
    assert math.isclose(served[-1], running, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(served[AVERAGE_MEMORY - 1], sum(raw[:AVERAGE_MEMORY]) / AVERAGE_MEMORY, rel_tol=1e-9)

    def wander(values: list[float]) -> float:  # mean absolute step over the last labels
        tail = values[-AVERAGE_MEMORY:]
        return sum(abs(b - a) for a, b in zip(tail, tail[1:])) / (len(tail) - 1)

    assert wander(served) < wander(raw) / 10


def test_a_regression_pickled_before_averaging_serves_its_own_weights():
    import pickle

    model, seen = trained(12, 600)
    old = pickle.loads(pickle.dumps(model))
    for attribute in ("average", "average_intercept", "steps"):
        delattr(old, attribute)  # as pickled before the served weights were averaged
    restored = pickle.loads(pickle.dumps(old))
    for x in seen[:20]:
        z = restored._inputs(x)
        own = 1 / (1 + math.exp(-(z[OFFSET] + RESIDUAL_WEIGHT * restored.regression._raw_dot_one(z) - RESIDUAL_WEIGHT * z[OFFSET])))
        assert math.isclose(restored.predict_proba_one(x)[True], own, rel_tol=1e-9)
