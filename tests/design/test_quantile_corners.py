"""Corners of ``Design.quantile`` and ``quantile_rule`` against R 4.1 ``svyquantile``.

Reference values: tests/fixtures/r/extra_quantile.json (extra_quantile.R):
score intervals in domains (R's ``ffullerCI`` on the rows the design object
holds), ``na.rm = TRUE`` (uncalibrated and calibrated designs), extreme
probabilities under every quantile rule, a CDF tie that only extended
precision sees, R's ``qrule_*`` with a negative weight, and ``repCI``
(interval type "quantile") with qrules school and hf7 and with ``mse = TRUE``.
Also the options' contracts: error messages, the jackknife warning, the
result's index, missing values outside a domain.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.design import quantile_rule
from ramlab.errors import ColumnNotFoundError

X = R.load_json("extra_quantile.json")
Q = R.load_json("quantile.json")
BY_ID = {c["id"]: c for c in X["cases"]}
DESIGN_CASES = [c for c in X["cases"] if isinstance(c["design"], str)]


def _base(name, data=None):
    spec = X["designs"][name]
    if data is None:
        data = R.load_data(spec["data"])
        if spec["data"] == "apiclus1":
            data = data.assign(**{"avg.ed10": data["avg.ed"] / 10})
    return Design(data, ids=spec["ids"], strata=spec["strata"], fpc=spec["fpc"], weights=spec["weights"])


@lru_cache(maxsize=None)
def _design(name):
    spec = X["designs"][name]
    if name == "dstrat_scaled":
        data = R.load_data(spec["data"])
        return _base("dstrat", data.assign(api00s=data["api00"] / 10000, api00m=data["api00"] / 1e6))
    if "base" not in spec:
        return _base(name)
    base = _base(spec["base"])
    if "rake" in spec:
        return base.rake(spec["rake"], tol=1e-12)
    return base.replicate(**spec["replicate"])


def _run(case, design=None):
    d = _design(case["design"]) if design is None else design
    if "domain" in case:
        dom = case["domain"]
        assert dom["op"] == "=="
        d = d.subset(d.data[dom["column"]] == dom["value"])
    with warnings.catch_warnings():  # R's jackknife warning: its own test below
        warnings.simplefilter("ignore")
        return d.quantile(case["variable"], case["result"]["probs"], ci=case["ci"], na_rm=case.get("na_rm", False),
                          interval_type=case.get("interval_type", "mean"), qrule=case["qrule"])


def _check(out, case):
    res = case["result"]
    # JSON holds 15 significant digits (avg.ed's float32-born doubles need 17)
    R.assert_close(out["estimate"].to_numpy(), res["quantile"], 1e-13, what="quantile")
    if case["ci"]:
        R.assert_close(out["ci_low"].to_numpy(), res["ci_low"], 1e-9, what="ci_low")
        R.assert_close(out["ci_high"].to_numpy(), res["ci_high"], 1e-9, what="ci_high")
        R.assert_close(out["se"].to_numpy(), res["se"], 1e-9, what="se")


@pytest.mark.parametrize("case", DESIGN_CASES, ids=lambda c: c["id"])
def test_quantile_corners_against_r(case):
    _check(_run(case), case)


def test_score_interval_of_a_domain_uses_the_domain_rows_only():
    # the bug these R cases found: the IQR, min, max, tolerance and unweighted
    # share of R's ffullerCI were taken over every row of the data, not the
    # domain's (R's subset() of an uncalibrated design drops the other rows)
    d = _design("dstrat")
    out = d.subset(d.data["stype"] == "E").quantile("api00", [0.25, 0.5, 0.75], ci=True, interval_type="score")
    assert out["ci_low"].tolist() == BY_ID["dstrat_E_score"]["result"]["ci_low"] == [539, 632, 740]


@pytest.mark.parametrize("rule", ["math", "school", "hf7"])
def test_ties_of_the_cdf_are_broken_as_rs_extended_precision_sums(rule):
    # ten weights 0.1: in float64, 0.1 + 0.1 exceeds 0.2 * (their float64 sum); in
    # R's long double it does not, so the school median of 1..10 is 5.5
    case = BY_ID[f"tenths_{rule}"]
    data = pd.DataFrame({"x": case["design"]["x"], "w": case["design"]["w"]})
    out = Design(data, weights="w").quantile("x", case["result"]["probs"], qrule=rule)
    R.assert_close(out["estimate"].to_numpy(), case["result"]["quantile"], 1e-13, what=rule)
    x, w = data["x"].to_numpy(), data["w"].to_numpy()
    got = [quantile_rule(x, w, p, rule) for p in case["result"]["probs"]]
    R.assert_close(got, case["result"]["quantile"], 1e-13, what=rule)


def test_quantile_rule_default_is_math():
    case = BY_ID["tenths_math"]
    x, w = case["design"]["x"], case["design"]["w"]
    assert [quantile_rule(x, w, p) for p in case["result"]["probs"]] == case["result"]["quantile"]


@pytest.mark.parametrize("rule", ["math", "school", "hf7"])
def test_quantile_rule_with_a_negative_weight_as_r(rule):
    # an unbounded linear calibration can give a negative weight; R's qrule_hf7
    # interpolates on the cumulative shares sorted (approx), not in data order
    case = BY_ID[f"qrule_{rule}_negative_weight"]
    got = [quantile_rule(case["x"], case["w"], p, rule) for p in case["result"]["probs"]]
    R.assert_close(got, case["result"]["quantile"], 1e-12, what=rule)


def test_quantile_rule_of_one_row_and_of_none():
    for rule in ("math", "school", "hf7"):
        assert quantile_rule([7.0], [2.0], 0.5, rule) == 7.0
        assert quantile_rule([7.0, 8.0], [2.0, 0.0], 0.5, rule) == 7.0
        # no row with a positive weight: no quantile, not an error
        assert np.isnan(quantile_rule([7.0, 8.0], [0.0, 0.0], 0.5, rule))
    with pytest.raises(ValueError, match=re.escape("qrule must be one of ('math', 'school', 'hf7'), not 'hf9'")):
        quantile_rule([1.0, 2.0], [1.0, 1.0], 0.5, "hf9")


def test_quantile_rule_of_booleans_is_that_of_zeros_and_ones():
    # the school rule averages two order statistics: True + True is 2, not True
    x, w = [False, True, True, True], [1.0, 1.0, 1.0, 1.0]
    assert quantile_rule(x, w, 0.5, "school") == quantile_rule([0.0, 1.0, 1.0, 1.0], w, 0.5, "school") == 1.0
    assert quantile_rule([False, False, True, True], w, 0.5, "school") == 0.5


def test_quantiles_without_interval_are_rs_point_estimates():
    for rule in ("math", "school", "hf7"):
        case = BY_ID[f"dclus1_extremes_{rule}"]
        out = _design("dclus1").quantile("api00", case["result"]["probs"], qrule=rule)
        assert list(out.columns) == ["estimate"]
        assert out.index.name == "p"
        assert out.index.tolist() == case["result"]["probs"]
        assert out["estimate"].tolist() == case["result"]["quantile"]


def test_weights_below_one_change_nothing():
    # quantiles and Woodruff intervals do not depend on the scale of the weights
    case = next(c for c in Q["cases"] if c["id"] == "dclus1_quantile_api00_mean_math")
    data = R.load_data("apiclus1")
    d = Design(data.assign(pw=data["pw"] / 1000), ids="dnum", weights="pw", fpc="fpc")
    out = d.quantile("api00", case["result"]["probs"], ci=True)
    assert out["estimate"].tolist() == case["result"]["quantile"]
    R.assert_close(out["ci_low"].to_numpy(), case["result"]["ci_low"], 1e-9, what="ci_low")
    R.assert_close(out["se"].to_numpy(), case["result"]["se"], 1e-9, what="se")
    data.loc[3, "api00"] = np.nan
    d = Design(data.assign(pw=data["pw"] / 1000), ids="dnum", weights="pw", fpc="fpc")
    with pytest.raises(ValueError, match="'api00' has missing values: give na_rm=True to leave them out"):
        d.quantile("api00", 0.5)


def test_missing_values_outside_the_domain_need_no_na_rm():
    case = BY_ID["dstrat_E_mean"]
    data = R.load_data("apistrat")
    data.loc[(data["stype"] != "E").to_numpy().nonzero()[0][:5], "api00"] = np.nan
    d = _base("dstrat", data)
    _check(_run(case, d), case)
    with pytest.raises(ValueError, match="'api00' has missing values"):
        d.quantile("api00", 0.5)


def test_missing_values_of_an_object_column():
    # numbers held as Python objects with pd.NA (e.g. read from a spreadsheet)
    case = BY_ID["dstrat_acs.46_narm_mean"]
    data = R.load_data("apistrat")
    data["acs.46"] = pd.Series([pd.NA if np.isnan(v) else int(v) for v in data["acs.46"]], dtype=object)
    _check(_run(case, _base("dstrat", data)), case)


def test_by_several_probabilities_keeps_both_levels():
    d = _design("dstrat")
    probs = [0.25, 0.5, 0.75]
    out = d.quantile("api00", probs, by="stype")
    assert out.index.names == ["stype", "p"]
    assert out.loc["E"].index.tolist() == probs
    e = d.subset(d.data["stype"] == "E").quantile("api00", probs)
    assert out.loc["E", "estimate"].tolist() == e["estimate"].tolist() == BY_ID["dstrat_E_mean"]["result"]["quantile"]
    one = d.quantile("api00", 0.5, by="stype")
    assert one.index.names == ["stype"]
    assert one.index.tolist() == ["E", "H", "M"]


def test_option_errors_name_the_option_and_the_alternatives():
    d = _design("dclus1")
    with pytest.raises(ValueError, match=re.escape("interval_type must be one of ('mean', 'beta', 'xlogit', "
                                                   "'asin', 'score', 'quantile'), not 'woodruff'")):
        d.quantile("api00", 0.5, ci=True, interval_type="woodruff")
    with pytest.raises(ValueError, match="^" + re.escape(
            'interval_type="quantile" needs a replicate design (R repCI); on a linearised design use '
            '"mean", "beta", "xlogit", "asin" or "score"') + "$"):
        d.quantile("api00", 0.5, ci=True, interval_type="quantile")
    with pytest.raises(ValueError, match="^" + re.escape(
            'interval_type="score" needs a linearised design; on a replicate design use '
            '"mean", "beta", "xlogit", "asin" or "quantile"') + "$"):
        _design("rstrat").quantile("api00", 0.5, ci=True, interval_type="score")
    with pytest.raises(ColumnNotFoundError, match="^variable column 'api0' is not in the data"):
        d.quantile("api0", 0.5)


@pytest.mark.parametrize("name", ["rstrat", "rclus1_mse"])
def test_jackknife_quantile_interval_warns_where_it_is_asked(name):
    # JKn (apistrat) and JK1 (apiclus1): R warns; the warning points at the caller
    message = ('Jackknife replicate weights may not give valid standard errors for quantiles '
               '(R svyquantile, interval.type = "quantile")')
    with pytest.warns(UserWarning, match="^" + re.escape(message) + "$"):
        _design(name).quantile("api00", 0.5, ci=True, interval_type="quantile")


@pytest.mark.caller_line
def test_the_jackknife_warning_points_at_the_callers_line():
    with pytest.warns(UserWarning, match="Jackknife") as caught:
        _design("rstrat").quantile("api00", 0.5, ci=True, interval_type="quantile")
    assert [w.filename for w in caught] == [__file__]
