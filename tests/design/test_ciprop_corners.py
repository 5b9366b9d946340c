"""Corners of ``Design.ciprop`` against R survey 4.1-1 ``svyciprop``.

References: ``extra_ciprop.json`` (made by ``extra_ciprop.R``): a domain with
one degree of freedom, missing answers left out as a domain (R's
``subset(design, !is.na(x))``) on equal weights, on a raked design and when
the only missing answers are in rows of weight 0, a single respondent, and a
census design (variance 0; R's "beta" (0.5, 0.5) is not followed: ramlab
gives (p, p)), a domain of one PSU of a census (df = 0: NaN bounds), and a
"proportion" of 2 or -1 (weights of an unbounded linear calibration: n_eff < 0).
Wilson's interval at p = 0 or 1 is checked against its closed form
(Wilson 1927, with n the respondents, as documented).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import _rref as R
from ramlab.design import Design
from ramlab.errors import DesignError

EXTRA = R.load_json("extra_ciprop.json")
DESIGNS = R.load_json("ciprop.json")["designs"]
MARGINS = {c["id"]: c for c in R.load_json("weighting.json")["cases"]}["dclus1_rake"]["margins"]


def _indicator(data, ind):
    col = data[ind["column"]]
    assert ind["op"] == ">"
    return (col > ind["value"]).astype(float).where(col.notna())


def _zero_weight_design(case):
    """R's ``d_zw``: apistrat, weight 0 and a missing answer on ``zero_rows``."""
    data = R.load_data("apistrat")
    rows = np.asarray(case["zero_rows"]) - 1
    data["pw0"] = data["pw"]
    data.loc[rows, "pw0"] = 0.0
    data["y"] = (data["api00"] > 700).astype(float)
    data.loc[rows, "y"] = np.nan
    return Design(data, strata="stype", weights="pw0"), "y"


def _design_and_variable(case):
    kind = case["id"].rsplit("_", 2)[0]
    if kind == "missing_zero_weight":
        return _zero_weight_design(case)
    if kind.startswith("outside"):  # weights 1 calibrated linearly (unbounded): p = 2 or -1
        data = pd.DataFrame({"y": [1.0, 1, 1, 0], "x": [-1.0, 1, -1, 1], "w": 1.0})
        cal = case["calibration"]
        d = Design(data, weights="w").calibrate({"x": float(cal["x"])}, method="linear",
                                                population=float(cal["population"]))
        assert d.weight_values.tolist() == case["weights"]
        return d, "y"
    if kind == "census_one_psu":
        data = R.load_data("apiclus1")
        data["fpc_all"] = float(data["dnum"].nunique())
        d = Design(data, ids="dnum", fpc="fpc_all")
        d = d.subset(data["dnum"] == case["dnum"])
        return d, _indicator(d.data, case["indicator"])
    if kind == "census":
        data = R.load_data("apistrat")
        data["fpc_census"] = data.groupby("stype")["stype"].transform("size").astype(float)
        return Design(data, strata="stype", fpc="fpc_census"), _indicator(data, case["indicator"])
    d = R.design_from_spec(DESIGNS[case["design"]])
    if case.get("calibration"):
        d = d.rake(MARGINS)
    if kind == "two_psus":
        d = d.subset(d.data["dnum"].isin(case["psus"]))
    elif kind == "single_respondent":
        d = d.subset(d.data["snum"] == case["snum"])
    return d, _indicator(d.data, case["indicator"])


@pytest.mark.parametrize("case", EXTRA["cases"], ids=lambda c: c["id"])
def test_ciprop_corners_as_r(case):
    d, x = _design_and_variable(case)
    res = case["result"]
    if res.get("error"):
        with pytest.raises(DesignError, match="no interval"):
            d.ciprop(x, method=case["method"], level=case["level"])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning reaches the user
        out = d.ciprop(x, method=case["method"], level=case["level"])
    R.assert_close(out["estimate"], res["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], res["se"], 1e-6, atol=1e-12, what="se")
    if case["id"] == "census_beta_0.95":
        # R: qbeta(., Inf, Inf) = 0.5, an interval without its estimate; ramlab: the limit (p, p)
        assert (res["ci_low"], res["ci_high"]) == (0.5, 0.5)
        assert out["ci_low"] == out["ci_high"] == res["estimate"]
        return
    for key in ("ci_low", "ci_high"):
        if res[key] is None:
            assert np.isnan(out[key]), key
        else:
            R.assert_close(out[key], res[key], 1e-8, what=key)
    assert out["df"] == res["df"]


def _wilson_edge(n, df, level=0.95):
    z2 = stats.t.ppf(1 - (1 - level) / 2, df) ** 2
    return z2 / (n + z2)  # Wilson (1927) with 0 (or n) successes of n


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_wilson_at_the_edges_of_a_domain_counts_its_respondents(value):
    # 30 respondents in the domain, 70 outside (weight 0 in the domain design)
    data = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 70, "y": [value] * 30 + [1 - value] * 70,
                         "w": np.linspace(1.0, 3.0, 100)})
    d = Design(data, weights="w").subset(data["g"] == "a")
    out = d.ciprop("y", method="wilson", level=0.9)
    edge = _wilson_edge(30, 29, level=0.9)
    expected = (0.0, edge) if value == 0 else (1.0 - edge, 1.0)
    assert out["estimate"] == value
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(expected, abs=1e-15)
    with pytest.raises(DesignError, match="no interval"):
        d.ciprop("y", method="likelihood")


def test_wilson_at_an_edge_with_one_degree_of_freedom():
    # two PSUs (df = 1): z = t(0.975, 1) = 12.7
    data = pd.DataFrame({"psu": [1] * 5 + [2] * 5, "y": np.zeros(10)})
    out = Design(data, ids="psu").ciprop("y", method="wilson")
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((0.0, _wilson_edge(10, 1)), abs=1e-15)


def test_wilson_on_a_census_design_is_the_estimate():
    # variance exactly 0 (fpc = the sample size): n_eff infinite, Wilson's interval collapses on p
    data = pd.DataFrame({"y": [1.0, 0.0, 0.0, 1.0, 1.0], "n": 5.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Design(data, fpc="n").ciprop("y", method="wilson")
    assert out["se"] == 0
    assert out["ci_low"] == out["ci_high"] == out["estimate"] == 0.6


def test_wilson_on_a_census_domain_of_one_psu_has_no_t_quantile():
    # df = 0: no t quantile, so NaN bounds as every method of R (census_one_psu_* above)
    case = next(c for c in EXTRA["cases"] if c["id"] == "census_one_psu_mean_0.95")
    d, x = _design_and_variable(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.ciprop(x, method="wilson")
    assert out["se"] == 0 and out["df"] == 0
    R.assert_close(out["estimate"], case["result"]["estimate"], 1e-12, what="estimate")
    assert np.isnan(out["ci_low"]) and np.isnan(out["ci_high"])


def test_wilson_of_a_single_respondent():
    # one respondent, degf 0: no t quantile, so no upper bound for p = 1 ... but p itself
    data = pd.DataFrame({"g": ["a", "b", "b"], "y": [1.0, 0.0, 1.0]})
    out = Design(data).subset(data["g"] == "a").ciprop("y", method="wilson")
    assert out["estimate"] == 1.0 and out["df"] == 0
    assert np.isnan(out["ci_low"]) and out["ci_high"] == 1.0


def test_likelihood_on_a_census_domain_of_one_psu_names_no_method_that_would_do():
    # R errors there too ("zero or negative denomintor df"); at df = 0 "logit" and "mean"
    # give NaN bounds as well (census_one_psu_* above), so the message cannot advise them
    case = next(c for c in EXTRA["cases"] if c["id"] == "census_one_psu_likelihood_0.95")
    assert case["result"]["error"] and case["result"]["df"] == 0
    d, x = _design_and_variable(case)
    with pytest.raises(DesignError) as err:
        d.ciprop(x, method="likelihood")
    message = str(err.value)
    assert "no interval on a census design" in message and "(p, p)" not in message
    assert message.endswith("with a single PSU (df = 0) no method has a t quantile: every interval is NaN")


@pytest.mark.parametrize("cid", ["outside_-20_beta_0.95", "outside_28_beta_0.95"])
def test_wilson_of_a_proportion_outside_0_1_has_no_interval_as_r_beta(cid):
    # weights of an unbounded linear calibration make p = 2 or -1: R's beta (whose limit
    # Wilson's interval shares) gives NaN bounds there; Wilson's formula would give low > high
    case = next(c for c in EXTRA["cases"] if c["id"] == cid)
    assert case["result"]["ci_low"] is None and case["result"]["ci_high"] is None
    d, x = _design_and_variable(case)
    out = d.ciprop(x, method="wilson")
    assert out["estimate"] == case["result"]["estimate"]
    assert np.isnan(out["ci_low"]) and np.isnan(out["ci_high"])
