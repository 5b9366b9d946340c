"""Calibration corners: one row, totals near 0, collinear totals, overflow, empty replicates.

Each test checks a closed form or the documented contract of
:func:`ramlab.weighting.calibrate_weights` (``tol``: every |misfit| / (1 +
|total|) below ``tol``). Issue 15, mutation testing of ``_grake`` and
``_calibrate_one`` (tests/MUTATION.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ramlab import ConvergenceError, Design
from ramlab.errors import MarginError
from ramlab.weighting import calibrate_weights


@pytest.mark.parametrize("method, bounds", [("raking", None), ("linear", (0.5, 3.0)), ("logit", (0.5, 3.0))])
def test_a_one_row_design_is_calibrated_to_its_total(method, bounds):
    # one row, x = 2, weight 3, total 12: g = 2 whatever the calibration function
    d = Design(pd.DataFrame({"x": [2.0], "w": [3.0]}), weights="w")
    w = d.calibrate({"x": 12.0}, method=method, bounds=bounds).weights.to_numpy()
    np.testing.assert_allclose(w, [6.0], rtol=1e-12)


def test_a_total_of_zero_is_met_within_tol_absolute():
    # x of mixed signs calibrated to a total of 0 (no intercept): the stop
    # rule |misfit| / (1 + |0|) < tol must hold for the returned weights,
    # whatever tol (a grid 1.5 apart: some tol falls within a factor 2 of
    # each Newton iterate's misfit)
    df = pd.DataFrame({"x": [-2.0, -1.0, 1.0, 3.0, 0.5, -0.5]})
    d = Design(df)
    for tol in np.geomspace(1e-3, 1e-11, 46):
        w = d.calibrate({"x": 0.0}, method="raking", tol=tol).weights.to_numpy()
        assert abs(w @ df["x"].to_numpy()) < tol, tol


def test_collinear_totals_near_zero_that_disagree_by_more_than_1e_9_are_refused():
    # y = 2 x, sample totals 0: totals x = 0 and y = delta cannot both be
    # met, the weights miss one of them by delta; relative to 1 + |total|
    # (about 1 here) a miss above 1e-9 is refused, below it is rounding
    d = Design(pd.DataFrame({"x": [1.0, -1.0, 2.0, -2.0]}).assign(y=lambda f: 2 * f["x"]))
    calibrate_weights(d, {"x": 0.0, "y": 0.0})
    calibrate_weights(d, {"x": 0.0, "y": 0.9e-9})
    with pytest.raises(MarginError, match=r"collinear totals disagree"):
        calibrate_weights(d, {"x": 0.0, "y": 1.5e-9})


def test_a_calibration_whose_weights_overflow_is_refused():
    # x = 1e155: x^2 overflows, the linear calibration's weights are not finite
    d = Design(pd.DataFrame({"x": [1.0, 1e155, 3.0]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ConvergenceError, match=r"^calibration produced non-finite weights$"):
            d.calibrate({"x": 5.0}, population=3.0)


def test_a_replicate_without_a_category_whose_total_is_zero_is_calibrated():
    # JK1 on 4 clusters: only cluster 1 has g = "rare", whose population
    # total is 0. Replicate 1 drops cluster 1: nothing to calibrate there, the
    # "c" rows are post-stratified to 35 (closed form); the other replicates
    # and the full sample give "rare" weight 0
    df = pd.DataFrame({
        "psu": np.repeat([1, 2, 3, 4], 3),
        "g": pd.Categorical(["rare", "c", "c"] + ["c"] * 9, categories=["c", "rare"]),
        "w": [3.0] * 12,
    })
    d = Design(df, ids="psu", weights="w").replicate("JK1")
    out = calibrate_weights(d, {"g": {"c": 35.0, "rare": 0.0}})
    rare = (df["g"] == "rare").to_numpy()
    np.testing.assert_allclose(out.weights[~rare], 35.0 / 11, rtol=1e-12)
    np.testing.assert_allclose(out.weights[rare], 0.0, atol=1e-12)
    reps = out.replicates
    assert reps.shape == (12, 4)
    np.testing.assert_allclose(reps[~rare].sum(axis=0), 35.0, rtol=1e-12)
    np.testing.assert_allclose(reps[rare], 0.0, atol=1e-12)
    c_rows = ~rare & (df["psu"] != 1).to_numpy()
    np.testing.assert_allclose(reps[c_rows, 0], 35.0 / 9, rtol=1e-12)


def test_logit_calibration_whose_solution_saturates_a_row_reaches_the_logit_solution():
    # a row with x = 5000 among x of 1 to 3: at the solution A u = 1200 on
    # that row, where exp(A u) overflows: its g is the limit U (F' 0).
    # Checked against the definition of logit calibration (Deville & Särndal
    # 1992): the totals are met and g_i = G(x_i lambda) for one lambda, with
    # G(u) = L + (U - L) / (1 + (U - 1) / (1 - L) exp(-A u)),
    # A = (U - L) / ((U - 1)(1 - L)); lambda is read off a row with x = 1.
    # (R's grake, whose g is NaN there, halves the step and fails.)
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 3 + [5000.0], "w": [1e5] * 9 + [1.0]})
    L, U, total = 0.5, 1500.0, 1e7
    A = (U - L) / ((U - 1) * (1 - L))
    w = Design(df, weights="w").calibrate({"x": total}, method="logit", bounds=(L, U)).weights.to_numpy()
    x = df["x"].to_numpy()
    assert abs(w @ x - total) / (1 + total) < 1e-12
    g = w / df["w"].to_numpy()
    lam = np.log((g[0] - L) * (U - 1) / ((U - g[0]) * (1 - L))) / A
    assert A * lam * 5000 > 710
    expected = L + (U - L) / (1 + (U - 1) / (1 - L) * np.exp(-A * lam * x))
    np.testing.assert_allclose(g, expected, rtol=1e-12)
    assert g.max() <= U and g.min() >= L


@pytest.mark.parametrize("method, bounds", [("linear", None), ("raking", None), ("logit", (0.5, 2.0))])
def test_calibrating_a_design_without_respondents_is_refused(method, bounds):
    # it was a "did not converge: misfit nan" (raking, logit) or "collinear
    # totals disagree" (linear), with numpy warnings
    d = Design(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MarginError, match=r"^calibration of a design without respondents: no total can be met$"):
            d.calibrate({"x": 0.0}, method=method, bounds=bounds)
