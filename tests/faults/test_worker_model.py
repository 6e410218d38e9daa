"""Many more seeds of the in-process worker model (tests/worker_model.py) than `make test` runs:
each killed three times at seeded points, restarted, and compared with an uninterrupted run.
About 4 s a seed."""

from __future__ import annotations

import pytest

from tests import worker_model
from tests.unit.core.test_worker_restarts import population, references  # noqa: F401  (the same fixtures)

CASES = [("in_order", seed) for seed in range(12, 40)] + [("as_sent", seed) for seed in range(4, 40)]


@pytest.mark.parametrize(("inputs", "seed"), CASES)
def test_a_worker_killed_and_restarted_ends_as_an_uninterrupted_run(population, references, inputs, seed):  # noqa: F811
    assert worker_model.differences(*population, references[inputs], seed) == []
