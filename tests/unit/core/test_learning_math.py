"""The compiled scaler arithmetic (streams/core/learning_math.py) is River's StandardScaler, bit for
bit: the same means, variances and counts, the same keys in the same order (the model's pickle is
the same bytes), the same standardised values."""

import pickle
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from river import preprocessing

from streams.core.learners import ResidualLogReg
from streams.core.learning_math import add_into, clipped_z, learn_scaler
from streams.core.scoring import INPUT_NAMES, model_input

NAMES = [f"input_{i}" for i in range(6)]
# Every finite float (squares overflow to inf, inf - inf makes NaN variances: River's own results,
# which ours must equal), ints, and the small values most inputs take.
values = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e12, 1e12),
                   st.integers(-10**6, 10**6), st.sampled_from([0.0, 1.0, 0.5]))
# Each example a subset of the inputs (a new one arriving late, another constant): variances 0 included.
examples = st.lists(st.dictionaries(st.sampled_from(NAMES), values, min_size=1), min_size=1, max_size=40)


def _clip(z: float, limit: float) -> float:
    return limit if z > limit else -limit if z < -limit else z


@settings(max_examples=300, deadline=None)
@given(examples, st.sampled_from(NAMES))
def test_the_scaler_learns_and_transforms_as_rivers(xs, unseen):
    river_scaler, ours = preprocessing.StandardScaler(), preprocessing.StandardScaler()
    for x in xs:
        river_scaler.learn_one(x)
        learn_scaler(ours.counts, ours.means, ours.vars, x)
        assert pickle.dumps(ours) == pickle.dumps(river_scaler)
    for x in [*xs, {unseen: 2.5}]:  # an input never learned: River inserts it (mean and variance 0)
        expected = {k: _clip(v, 3.0) for k, v in river_scaler.transform_one(x).items()}
        got = clipped_z(ours.means, ours.vars, x, 3.0)
        assert list(got) == list(expected)
        assert all(struct.pack("<d", got[k]) == struct.pack("<d", expected[k]) for k in got)  # bits: sign and NaN too
        assert pickle.dumps(ours) == pickle.dumps(river_scaler)


def test_add_into_adds_each_value_to_its_sum():
    sums = [0.1, 0.2, 0.0]
    add_into(sums, [0.2, 3, -0.0])
    assert sums == [0.1 + 0.2, 0.2 + 3, 0.0]


class ByName(ResidualLogReg):
    """The regression with every scaler figure in River's containers: how every input was learned
    before the fixed inputs moved to arrays (and how a dict that does not start with them still is)."""

    def _fixed_inputs(self, x: dict) -> None:
        return None


def _bits(p: dict) -> list[bytes]:
    return [struct.pack("<d", p[k]) for k in (False, True)]


step = st.tuples(st.lists(values, min_size=len(INPUT_NAMES), max_size=len(INPUT_NAMES)),
                 st.sampled_from([None, {"plan": "a"}, {"plan": "b", "region": "x"}, {"region": "y"}]),
                 st.integers(0, 1), st.sampled_from(["learn", "pickled", "some inputs only"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=25))
def test_the_fixed_inputs_learned_in_arrays_are_rivers_containers_bit_for_bit(steps):
    """ResidualLogReg learns the fixed inputs' scaler figures in arrays (FixedScaler): its
    predictions, its pickled state and its summary are those of the same regression learning them
    in River's containers, bit for bit, through pickling and inputs that are not model_input's."""
    ours, reference = ResidualLogReg(), ByName()
    for inputs, attributes, label, how in steps:
        inputs[INPUT_NAMES.index("cold_start_risk")] = 0.3
        x = model_input(inputs, attributes)
        if how == "some inputs only":  # an experiment's learner (bench/model_comparison.py)
            x = {k: v for i, (k, v) in enumerate(x.items()) if i % 3 or k == "cold_start_risk"}
        assert _bits(ours.predict_proba_one(x)) == _bits(reference.predict_proba_one(x))
        ours.learn_one(x, label)
        reference.learn_one(x, label)
        assert pickle.dumps(ours.__getstate__()) == pickle.dumps(reference.__getstate__())
        assert pickle.dumps(ours.summary()) == pickle.dumps(reference.summary())
        if how == "pickled":
            ours = pickle.loads(pickle.dumps(ours))
