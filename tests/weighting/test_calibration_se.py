"""Standard errors of designs calibrated on categories and numeric variables together.

Reference values: R survey 4.1-1 (tests/fixtures/r/extra_calibration_se.json,
made by extra_calibration_se.R): ``svymean`` of several variables at once on
dstrat calibrated on ``~stype + api99 + api00`` (their influence values are
residualised on the model together), and ``svymean``/``svytotal`` on 70,000
synthetic rows calibrated on ``~g + x + z`` (more rows than one block of the
model's Gram matrix). Also the identities of R's calibration step itself
(``ramlab.variance.residualise``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.variance import residualise

CASES = {c["id"]: c for c in R.load_json("extra_calibration_se.json")["cases"]}


def test_several_means_of_a_design_calibrated_on_categories_and_two_numbers_as_r():
    case = CASES["dstrat_stype_api99_api00"]
    d = Design(R.load_data("apistrat"), weights="pw", strata="stype", fpc="fpc")
    cal = d.calibrate(case["totals"], method="linear")
    R.assert_close(cal.weights, case["result"]["weights"], rtol=1e-9, what="weights")
    out, V = cal.mean(case["variables"], cov=True)
    mean = case["result"]["mean"]
    R.assert_close(out["estimate"].to_numpy(), mean["estimate"], rtol=1e-9, what="means")
    R.assert_close(out["se"].to_numpy(), mean["se"], rtol=1e-8, what="SEs")
    R.assert_close(V.to_numpy(), np.column_stack(mean["vcov"]), rtol=1e-8, what="covariance")


def _big():
    i = np.arange(70_000)
    x = (37 * i) % 101
    return pd.DataFrame({
        "g": pd.Categorical((i % 3).astype(str), categories=["0", "1", "2"]),
        "x": x.astype(float),
        "z": ((53 * i) % 89).astype(float),
        "y": (13 * i) % 17 + x / 10,
        "w": 1 + (i % 7) / 4,
    })


def test_calibration_of_many_rows_on_categories_and_two_numbers_as_r():
    case = CASES["big_g_x_z"]
    cal = Design(_big(), weights="w").calibrate(case["totals"], method="linear")
    res = case["result"]
    R.assert_close(cal.weights.sum(), res["weight_total"], rtol=1e-10, what="weight total")
    for stat in ("mean", "total"):
        out = getattr(cal, stat)("y")
        R.assert_close(out["estimate"].to_numpy(), res[stat]["estimate"], rtol=1e-9, what=f"{stat}")
        R.assert_close(out["se"].to_numpy(), res[stat]["se"], rtol=1e-8, what=f"{stat} SE")


def test_calibration_with_an_empty_cell_of_the_categories_as_r():
    # the last cell of stype x yr.rnd (M, Yes) has no row
    case = CASES["dstrat_without_M_yr_rnd_stype_yr_rnd_api99"]
    data = R.load_data("apistrat")
    data = data[~((data["stype"] == "M") & (data["yr.rnd"] == "Yes"))].reset_index(drop=True)
    cal = Design(data, weights="pw", strata="stype", fpc="fpc").calibrate(case["totals"], method="linear")
    R.assert_close(cal.weights, case["result"]["weights"], rtol=1e-9, what="weights")
    out = cal.mean("api00")
    R.assert_close(out["estimate"].to_numpy(), case["result"]["mean"]["estimate"], rtol=1e-9, what="mean")
    R.assert_close(out["se"].to_numpy(), case["result"]["mean"]["se"], rtol=1e-8, what="SE")


@pytest.mark.parametrize("totals", [
    {"stype": {"E": 4421, "H": 755, "M": 1018}, "api99": 3914069, "api00": 4117230},
    {"stype": {"E": 4421, "H": 755, "M": 1018}},
], ids=["categories_and_numbers", "categories_only"])
def test_calibration_residuals_are_the_weighted_projection_off_the_model(totals):
    # R svyrecvar: qr.resid(qr(X * sqrt(w_old)), x / w) * w with w = g sqrt(w_old),
    # g = w_new / w_old. So the residuals r satisfy X' diag(w_old / w_new) r = 0,
    # vanish for x = w_new * (X beta), and a second pass leaves them unchanged.
    data = R.load_data("apistrat")
    d = Design(data, weights="pw", strata="stype", fpc="fpc")
    record = d.calibrate(totals, method="linear").calibrations[-1]
    X = pd.get_dummies(data["stype"], dtype=float).to_numpy()
    X = np.column_stack([X] + [data[v].to_numpy(float) for v in totals if v != "stype"])
    rng = np.random.default_rng(15)
    x = rng.normal(size=(len(data), 2)) * record.w_new[:, None]
    r = residualise(record, x)  # without `prepared=`: computed from the record
    ratio = (record.w_old / record.w_new)[:, None]
    scale = np.abs(X).T @ np.abs(r * ratio)
    assert np.all(np.abs(X.T @ (r * ratio)) <= 1e-10 * scale)
    assert np.abs(r).max() > 0.5 * np.abs(x).max()  # noise is mostly outside the model's span
    np.testing.assert_allclose(residualise(record, r), r, rtol=1e-9, atol=1e-9 * np.abs(r).max())
    fitted = record.w_new[:, None] * (X @ rng.normal(size=(X.shape[1], 2)))
    assert np.abs(residualise(record, fitted)).max() <= 1e-9 * np.abs(fitted).max()
