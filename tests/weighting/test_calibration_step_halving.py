"""Calibration whose Newton step overflows: R grake's step halving.

R's ``grake`` halves a Newton step while g or F' is not finite (raking:
exp(u) overflows above u = 709.78) and counts each halving as an iteration.
References: R survey 4.1-1, ``tests/fixtures/r/extra_halving.R`` ->
``extra_halving.json`` (weights, R's iteration count, its failure with
``maxit = 1``). Issue 15, mutation testing of ``_grake`` (tests/MUTATION.md).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import ConvergenceError, Design
from ramlab.errors import BoundsError

HALVING = R.load_json("extra_halving.json")
CASES = HALVING["cases"]


def _design(case):
    data = HALVING["data_halving"]
    df = pd.DataFrame({"s": pd.Categorical(data["s"], categories=["A", "B"]), "x": data["x"],
                       "w": data[case["weights_column"]]})
    return Design(df, weights="w")


def _bounds(case):
    lower, upper = case["bounds"]
    if lower is None and upper is None:
        return None
    return (lower, upper)


def _calibrate(case, **kwargs):
    return _design(case).calibrate(case["totals"], method="raking", bounds=_bounds(case), **kwargs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_an_overflowing_newton_step_is_halved_and_converges_to_rs_weights(case):
    # R halves the first step once, then converges (some 360 iterations)
    assert case["result"]["step_halvings"] == 1
    w = _calibrate(case, max_iter=1000).weights.to_numpy()
    R.assert_close(w, case["result"]["weights"], 1e-8, what="weights")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_a_step_halving_counts_as_an_iteration_as_in_r(case):
    # R's maxit counts the halvings: the smallest maxit that converges is R's
    k = case["result"]["maxit_needed"]
    _calibrate(case, max_iter=k)
    error = BoundsError if _bounds(case) else ConvergenceError
    with pytest.raises(error, match=f"after {k - 1} iterations$"):
        _calibrate(case, max_iter=k - 1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_no_halving_once_the_iterations_are_spent(case):
    # R halves only while iter < maxit: with maxit = 1 the overflowed step
    # stands and the failure reports its misfit (Inf, or that of g capped at
    # the upper bound)
    error = BoundsError if _bounds(case) else ConvergenceError
    with pytest.raises(error) as info:
        _calibrate(case, max_iter=1)
    ref = case["result"]["maxit_1_failed_eps"]
    message = str(info.value)
    achieved = float(message.split("largest relative misfit ")[1].split(" ")[0])
    if ref == "Inf":
        assert math.isinf(achieved) and math.isinf(info.value.max_error)
    else:
        assert np.isclose(achieved, ref, rtol=1e-2), (achieved, ref)
