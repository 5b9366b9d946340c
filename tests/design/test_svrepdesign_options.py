"""Replicate designs given by the user, with their options, against R ``svrepdesign``.

Reference: tests/fixtures/r/extra_svrepdesign.json (extra_svrepdesign.R), R
survey 4.1-1: ``scale=`` and ``rscales=`` given per type (JK1, JKn, other,
bootstrap; BRR and Fay ignore ``scale=``), ``rscales`` as one number, the
defaults R guesses from replicate factors (``combined.weights = FALSE``), R's
refusals, and a row of full-sample weight 0 that replicates weigh (with a value,
R counts it in the replicates, also in the CDFs of a quantile's interval; with
a missing value R stops).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import ReplicateDesign
from ramlab.errors import DesignError

REF = R.load_json("extra_svrepdesign.json")
CASES = {c["id"]: c for c in REF["cases"]}
OPTIONS = {"type": "type", "scale": "scale", "rscales": "rscales", "rho": "rho", "mse": "mse",
           "combined.weights": "combined_weights"}


def _design(case):
    args = case["args"]
    data = pd.DataFrame(REF["data"][args["data"]]).astype(float)
    kwargs = {OPTIONS[k]: v for k, v in args.items() if k in OPTIONS}
    return ReplicateDesign(data, repweights="^r[0-9]", weights="w", **kwargs)


VALUED = sorted(i for i, c in CASES.items() if "error" not in c["result"] and "error" not in c["result"]["mean"])


@pytest.mark.parametrize("case_id", VALUED)
def test_scale_rscales_and_estimates_against_r(case_id):
    case = CASES[case_id]
    r = case["result"]
    rep = _design(case)
    R.assert_close(rep.scale, r["scale"], 1e-12, what="scale")
    R.assert_close(rep.rscales, np.broadcast_to(np.ravel(r["rscales"]), (rep.n_replicates,)), 1e-12,
                   what="rscales")
    assert rep.degf() == r["degf"]
    na_rm = case["args"].get("na_rm", False)
    for kind in ("mean", "total"):
        out = getattr(rep, kind)("y", na_rm=na_rm)
        R.assert_close(out["estimate"].to_numpy(), r[kind]["estimate"], 1e-10, what=f"{kind} estimate")
        R.assert_close(out["se"].to_numpy(), r[kind]["se"], 1e-10, what=f"{kind} SE")


REFUSED_ANSWER = sorted(i for i, c in CASES.items() if "error" not in c["result"] and "error" in c["result"]["mean"])


@pytest.mark.parametrize("case_id", REFUSED_ANSWER)
def test_a_missing_value_the_replicates_weigh_is_refused_as_r(case_id):
    """R: "All replicates contained NAs", also on a row whose full-sample weight is 0."""
    case = CASES[case_id]
    assert case["result"]["mean"]["error"] == case["result"]["total"]["error"] == "All replicates contained NAs"
    rep = _design(case)
    for kind in ("mean", "total"):
        with pytest.raises(DesignError, match=r"^'y' has missing values on rows the replicate weights weigh.*na_rm=True") as e:
            getattr(rep, kind)("y")
        assert e.value.variable == "y"
        # the facts: R's functions and the words of their stop
        assert re.search(r"\bsvymean/svytotal\b", str(e.value)) and '"All replicates contained NAs"' in str(e.value)


@pytest.mark.parametrize("kind", ["mean", "total"])
def test_a_missing_value_the_replicates_weigh_is_refused_by_group_as_r(kind):
    """R's svyby(~y, ~x, ..., svymean) stops ("All replicates contained NAs"); the refusal names y."""
    assert REF["other"]["weighted_row_missing_mean_by"]["error"] == "All replicates contained NAs"
    data = pd.DataFrame(REF["data"]["z4na1"]).astype(float)
    data["x_group"] = data["x"].astype("category")  # R's by = ~x
    rep = ReplicateDesign(data, repweights="^r[0-9]", weights="w", type="JK1", scale=0.75)
    with pytest.raises(DesignError, match=r"^'y' has missing values on rows the replicate weights weigh.*na_rm=True") as e:
        getattr(rep, kind)("y", by="x_group")
    assert e.value.variable == "y"


def test_a_missing_value_outside_a_domain_of_a_replicate_design_counts_for_nothing():
    """R's ``[.svyrep.design`` drops the rows outside a domain: their missing values do not matter."""
    case = CASES["zero_weight_row_missing_narm_jk1"]
    rep = _design(case)
    dom = rep.subset(rep.data["y"].notna().to_numpy())
    r = case["result"]
    for kind in ("mean", "total"):
        out = getattr(dom, kind)("y")
        R.assert_close(out["se"].to_numpy(), r[kind]["se"], 1e-10, what=f"{kind} SE")


def test_jkn_without_rscales_is_refused_in_words():
    """R: "Must provide rscales for combined JKn weights"."""
    assert CASES["jkn_no_rscales"]["result"]["error"] == "Must provide rscales for combined JKn weights"
    with pytest.raises(ValueError, match=r"^type='JKn' needs rscales \(\(n_h - 1\) / n_h of each replicate's stratum\)$"):
        _design(CASES["jkn_no_rscales"])


def test_rscales_of_the_wrong_length_are_refused_in_words():
    """R: "rscales has length 3, should be ncol(repweights)"."""
    case = CASES["jkn_rscales_wrong_length"]
    assert case["result"]["error"] == "rscales has length 3, should be ncol(repweights)"
    with pytest.raises(ValueError, match=r"^rscales has 3 values: give one, or one per replicate \(7\)$"):
        _design(case)


def _z4(name):
    return ReplicateDesign(pd.DataFrame(REF["data"][name]).astype(float), repweights="^r[0-9]", weights="w",
                           type="JK1", scale=0.75)


def test_a_row_only_replicates_weigh_counts_in_the_ratio_as_r():
    r = REF["other"]["zero_weight_row_ratio"]
    out = _z4("z4").ratio("y", "x")
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-12, what="ratio")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-10, what="ratio SE")  # without that row: 0.4875
    r = REF["other"]["zero_weight_row_missing_ratio_narm"]
    out = _z4("z4na").ratio("y", "x", na_rm=True)
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-10, what="ratio SE, na_rm")


def test_a_row_only_replicates_weigh_counts_in_the_var_as_r():
    """R's svyvar.svyrep.design takes every row's value in each replicate's variance."""
    r = REF["other"]["zero_weight_row_var"]
    out = _z4("z4").var(["y", "x"])
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-12, what="variances")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-10, what="variance SEs")  # row 1 as 0: 5.579 for y


def test_a_row_only_replicates_weigh_counts_in_the_quantile_interval_as_r():
    """Woodruff's interval: R's replicate CDFs count that row's I(y <= q) (without it: median SE 2.389)."""
    r = REF["other"]["zero_weight_row_quantile"]
    rep = ReplicateDesign(pd.DataFrame(REF["data"]["z20"]).astype(float), repweights="^r[0-9]", weights="w",
                          type="JK1", scale=19 / 20)
    out = rep.quantile("y", r["probs"], ci=True)
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-12, what="quantile")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-10, what="SE")
    R.assert_close(out["ci_low"].to_numpy(), r["ci_low"], 1e-12, what="ci_low")
    R.assert_close(out["ci_high"].to_numpy(), r["ci_high"], 1e-12, what="ci_high")


def test_a_missing_value_only_replicates_weigh_is_not_left_out_quietly():
    """R: svyratio stops ("All replicates contained NAs"), svyquantile too ("missing values in object")."""
    assert REF["other"]["zero_weight_row_missing_ratio"]["error"] == "All replicates contained NAs"
    assert REF["other"]["zero_weight_row_missing_quantile"]["error"] == "missing values in object"
    rep = _z4("z4na")
    with pytest.raises(DesignError, match=r"^'y' has missing values on rows the replicate weights weigh.*na_rm=True"):
        rep.ratio("y", "x")
    with pytest.raises(ValueError, match=r"^'y' has missing values: give na_rm=True"):
        rep.quantile("y", 0.5, ci=True)


@pytest.mark.parametrize("case_id, call, r_function", [
    ("weighted_row_missing_ratio", lambda d: d.ratio("y", "x"), "svyratio"),
    ("weighted_row_missing_ratio_denominator", lambda d: d.ratio("x", "y"), "svyratio"),
    ("weighted_row_missing_ratio_by", lambda d: d.ratio("y", "x", by="x_group"), "svyratio"),
    ("weighted_row_missing_var", lambda d: d.var("y"), "svyvar"),
])
def test_ratio_and_var_of_a_replicate_design_refuse_a_missing_value_as_r(case_id, call, r_function):
    """R's svyratio (numerator or denominator, also by group) and svyvar stop, as its svymean and svytotal do.

    The message names the variable, the R function that stops and the way out.
    """
    assert REF["other"][case_id]["error"] == "All replicates contained NAs"
    data = pd.DataFrame(REF["data"]["z4na1"]).astype(float)
    data["x_group"] = data["x"].astype("category")  # R's by = ~x
    rep = ReplicateDesign(data, repweights="^r[0-9]", weights="w", type="JK1", scale=0.75)
    with pytest.raises(DesignError, match=r"^'y' has missing values on rows the replicate weights weigh.*na_rm=True") as e:
        call(rep)
    assert e.value.variable == "y"
    assert re.search(rf"\b{r_function}\b", str(e.value)), str(e.value)


@pytest.mark.parametrize("kind", ["mean", "total"])
def test_estimates_of_several_variables_refuse_a_missing_value_as_r(kind):
    """R's svymean(~y + x) of a replicate design stops; ramlab's refusal names the variables given."""
    assert REF["other"]["weighted_row_missing_mean_two"]["error"] == "All replicates contained NAs"
    with pytest.raises(DesignError, match=r"'y'.* has missing values on rows the replicate weights weigh.*na_rm=True") as e:
        getattr(_z4("z4na1"), kind)(["y", "x"], cov=True)
    assert "y" in e.value.variable


def test_a_replicate_ratio_over_a_total_of_0_gives_r_nan_quietly():
    """R's svyratio: the replicate whose denominator total is 0 gives Inf, which svrVar keeps (not NA):
    the SE is NaN (Inf - Inf), and R gives no warning."""
    r = REF["other"]["zero_denominator_replicate_ratio"]
    assert r["se"] is None and r["replicates"][3] is None and r["warnings"] == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = _z4("z4x0").ratio("y", "x")
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-12, what="ratio")
    assert np.isnan(out["se"].iloc[0])


def test_replicates_without_rows_of_a_domain_are_counted_in_rs_warning():
    """R's svrVar discards the two replicates that weigh no row of the domain (NaN in both columns of
    the factor's means) and says how many replicates it discarded."""
    r = REF["other"]["domain_two_replicates_without_rows"]
    data = pd.DataFrame(REF["data"]["zb"])
    data["g"] = data["g"].astype("category")
    rep = ReplicateDesign(data, repweights="^r[0-9]", weights="w", type="bootstrap")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = rep.subset(data["y"].isin([5, 1]).to_numpy()).mean("g")
    assert [str(w.message) for w in caught] == r["warnings"] == ["2 replicates gave NA results and were discarded."]
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-12, what="means")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-10, what="SEs")
