"""Many more seeds of the in-process worker model (tests/worker_model.py) than `make test` runs:
one worker killed three times at seeded points and restarted, or two workers of which one is
killed and taken over, each compared with one uninterrupted worker. About 4 s a seed."""

from __future__ import annotations

import pytest

from tests import worker_model
from tests.unit.core.test_worker_restarts import CASES as IN_MAKE_TEST
from tests.unit.core.test_worker_restarts import population, references  # noqa: F401  (the same fixtures)

# Seeds 0-39 of each input, but those `make test` runs.
CASES = [(inputs, seed) for inputs in ("in_order", "as_sent") for seed in range(40) if (inputs, seed) not in IN_MAKE_TEST]


@pytest.mark.parametrize(("inputs", "seed"), CASES)
def test_a_worker_killed_and_restarted_ends_as_an_uninterrupted_run(population, references, inputs, seed):  # noqa: F811
    assert worker_model.differences(*population, references[inputs], seed) == []


@pytest.mark.parametrize(("inputs", "seed"), [(inputs, seed) for inputs in ("in_order", "as_sent") for seed in range(1, 17)])
def test_two_workers_one_killed_and_taken_over_end_as_one_uninterrupted_worker(population, references, inputs, seed):  # noqa: F811
    assert worker_model.differences(*population, references[inputs], seed, two_workers=True) == []
