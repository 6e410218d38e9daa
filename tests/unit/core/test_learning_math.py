"""The compiled scaler arithmetic (streams/core/learning_math.py) is River's StandardScaler, bit for
bit: the same means, variances and counts, the same keys in the same order (the model's pickle is
the same bytes), the same standardised values."""

import pickle
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from river import preprocessing

from streams.core.learning_math import add_into, clipped_z, learn_scaler

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
