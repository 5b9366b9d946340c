"""Confidence intervals of proportions against R survey ``svyciprop``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import _rref as R
from ramlab.design import Design

CI = R.load_json("ciprop.json")
W = {c["id"]: c for c in R.load_json("weighting.json")["cases"]}


def _indicator(data, ind):
    col = data[ind["column"]]
    op, v = ind["op"], ind["value"]
    if op is None:
        x = col
    elif op == "==":
        x = col == v
    elif op == ">":
        x = col > v
    elif op == "<":
        x = col < v
    else:
        raise AssertionError(op)
    return x.astype(float).where(col.notna())


def _build(case):
    d = R.design_from_spec(CI["designs"][case["design"]])
    if case["calibration"]:
        wid = case["calibration"].split(":")[1].split("(")[0].strip()
        d = d.rake(W[wid]["margins"])
    if case["domain"]:
        dm = case["domain"]
        assert dm["op"] == "=="
        d = d.subset(d.data[dm["column"]] == dm["value"])
    return d


@pytest.mark.parametrize("case", CI["cases"], ids=lambda c: c["id"])
def test_ciprop_against_r(case):
    res = case["result"]
    if res.get("error"):
        pytest.fail(f"R failed on this case: {res['error']} (fixture should not list it)")
    d = _build(case)
    out = d.ciprop(_indicator(d.data, case["indicator"]), method=case["method"], level=case["level"])
    # Every method, "likelihood" included, agrees with R to ~1e-11: ramlab
    # reproduces the IRLS state R's svyglm stops in (see ramlab.design._rcompat.intercept_var).
    rtol_ci = 1e-8
    R.assert_close(out["estimate"], res["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], res["se"], 1e-6, what="se")
    R.assert_close(out["ci_low"], res["ci_low"], rtol_ci, what="ci_low")
    R.assert_close(out["ci_high"], res["ci_high"], rtol_ci, what="ci_high")
    assert out["df"] == res["df"]


def test_wilson_closed_form():
    d = R.design_from_spec(CI["designs"]["dclus1"])
    x = (d.data["sch.wide"] == "Yes")
    out = d.ciprop(x, method="wilson", level=0.9)
    # closed form with n_eff = p(1-p)/var(p) and the t(df) quantile
    w = d.weights.to_numpy()
    p = float(w @ x.to_numpy(dtype=float) / w.sum())
    mean = d.mean("sch.wide").loc["Yes"]
    assert p == pytest.approx(mean["estimate"], rel=1e-12)
    n = p * (1 - p) / mean["se"] ** 2
    z = stats.t.ppf(0.95, d.degf())
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert out["ci_low"] == pytest.approx(centre - half, rel=1e-12)
    assert out["ci_high"] == pytest.approx(centre + half, rel=1e-12)


def test_wilson_simple_random_sample_textbook():
    # Equal weights, no clusters, no fpc: the with-replacement variance of
    # the mean is p(1-p)/(n-1), so the effective n is n - 1 = 99; Wilson's
    # formula with that n and z = t(0.975, 99).
    x = np.r_[np.ones(30), np.zeros(70)]
    d = Design(pd.DataFrame({"x": x}))
    out = d.ciprop("x", method="wilson")
    p, n = 0.3, 99.0
    z = stats.t.ppf(0.975, 99)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert out["ci_low"] == pytest.approx(centre - half, rel=1e-10)
    assert out["ci_high"] == pytest.approx(centre + half, rel=1e-10)


def test_ciprop_bad_method():
    d = R.design_from_spec(CI["designs"]["dclus1"])
    with pytest.raises(ValueError):
        d.ciprop(d.data["sch.wide"] == "Yes", method="exact")
