"""Stacked independent samples (ramlab.stack, issue 12 item 9) against R survey 4.1-1.

Reference values: tests/fixtures/r/extra_stack.json, made by extra_stack.R
(apistrat as 2015 and apiclus1 as 2021, each raked on sch.wide and awards,
stacked in R with year-prefixed strata and PSUs and calibrated on the
year-specific margins: each year keeps its own design and calibration).
"""

import numpy as np
import pandas as pd
import pytest

import _rref as R

from ramlab.design import Design, stack_designs
from ramlab.errors import RamlabError

X = R.load_json("extra_stack.json")
CASES = {c["id"]: c["result"] for c in X["cases"]}
COLS = ["stype", "sch.wide", "awards", "api00", "api99", "enroll"]


def _years():
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    d15 = Design(a, strata="stype", weights="pw", fpc="fpc").rake(X["margins"])
    d21 = Design(b, ids="dnum", weights="pw", fpc="fpc").rake(X["margins"])
    return a, b, d15, d21


@pytest.fixture(scope="module")
def stacked():
    a, b, d15, d21 = _years()
    data = pd.concat([a[COLS], b[COLS]], ignore_index=True)
    data["year"] = pd.Categorical([2015] * len(a) + [2021] * len(b))
    data["only2015"] = np.where(data["year"] == 2015, (data["api99"] > 600).astype(float), np.nan)
    return stack_designs({2015: d15, 2021: d21}, data)


def test_weights_and_degf(stacked):
    res = CASES["stack_weights"]
    R.assert_close(stacked.weight_values, res["weights"], 1e-8, what="weights")
    assert stacked.degf() == res["degf"] == X["designs"]["dstack"]["degf"]


@pytest.mark.parametrize("stat, var", [("mean", "api00"), ("total", "enroll")])
def test_pooled_estimates(stacked, stat, var):
    res = CASES[f"stack_{stat}_{var}"]
    got = getattr(stacked, stat)(var)
    R.assert_close(got["estimate"], res["estimate"], 1e-8, what=stat)
    R.assert_close(got["se"], res["se"], 1e-6, what=f"{stat} se")


def test_by_year_is_each_years_own(stacked):
    res = CASES["stack_by_year_api00"]
    got = stacked.mean("api00", by="year")
    R.assert_close(got["estimate"].to_numpy(), np.ravel(res["estimate"]), 1e-8)
    R.assert_close(got["se"].to_numpy(), np.ravel(res["se"]), 1e-6)
    res = CASES["stack_by_year_stype"]
    got = stacked.mean("stype", by="year")
    R.assert_close(got["estimate"].to_numpy(), np.ravel(res["estimate"]), 1e-8)
    R.assert_close(got["se"].to_numpy(), np.ravel(res["se"]), 1e-6)


@pytest.mark.parametrize("case, formula", [("stack_change_api00", "api00 ~ year"),
                                           ("stack_change_stypeE", "E ~ year")])
def test_change_between_years(stacked, case, formula):
    data = stacked.data.assign(E=(stacked.data["stype"] == "E").astype(float))
    d = stack_designs(dict(zip((2015, 2021), _years()[2:])), data)
    m = d.glm(formula)
    s = m.summary()
    res = CASES[case]
    row = [i for i in s.index if "2021" in str(i)]
    assert len(row) == 1
    R.assert_close(s.loc[row[0], "estimate"], res["estimate"], 1e-8, what="change")
    R.assert_close(s.loc[row[0], "se"], res["se"], 1e-6, what="change se")


@pytest.mark.parametrize("statistic", ["F", "Chisq"])
def test_chisq_of_the_change(stacked, statistic):
    res = CASES[f"stack_chisq_stype_year_{statistic}"]
    got = stacked.chisq("stype", "year", statistic=statistic)
    R.assert_close(got.statistic, res["statistic"], 1e-6, what="statistic")
    R.assert_close(got.p_value, res["p_value"], 1e-6, what="p")


def test_answer_of_one_year_is_missing_not_zero(stacked):
    res = CASES["stack_only2015"]
    got = stacked.mean("only2015", na_rm=True)
    R.assert_close(got["estimate"], res["estimate"], 1e-8)
    R.assert_close(got["se"], res["se"], 1e-6)


def test_stack_refuses_domains_and_single_samples():
    a, b, d15, d21 = _years()
    data = pd.concat([a[COLS], b[COLS]], ignore_index=True)
    with pytest.raises(RamlabError, match="two samples"):
        stack_designs({2015: d15}, data)
    with pytest.raises(RamlabError, match="domain"):
        stack_designs({2015: d15.subset(a["stype"] == "E"), 2021: d21}, data)
    with pytest.raises(RamlabError, match="linearised"):
        stack_designs({2015: Design(a, strata="stype", weights="pw").replicate("JKn"), 2021: d21},
                      data)


def test_years_calibrated_on_a_numeric_total_as_r():
    # each year calibrated linearly on sch.wide and the total of api99: the
    # calibration residuals of a year are regressions on a numeric column
    # too, which the other year's rows (no column of that year's model) must
    # not reach (R: the stacked design calibrated on year-specific columns)
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    totals = {"sch.wide": X["margins"]["sch.wide"], "api99": CASES["stack_linear_weights"]["api99_total"]}
    d15 = Design(a, strata="stype", weights="pw", fpc="fpc").calibrate(totals, method="linear")
    d21 = Design(b, ids="dnum", weights="pw", fpc="fpc").calibrate(totals, method="linear")
    data = pd.concat([a[COLS], b[COLS]], ignore_index=True)
    data["year"] = pd.Categorical([2015] * len(a) + [2021] * len(b))
    d = stack_designs({2015: d15, 2021: d21}, data)
    R.assert_close(d.weight_values, CASES["stack_linear_weights"]["weights"], 1e-8, what="weights")
    for stat, var in (("mean", "api00"), ("total", "enroll")):
        res, got = CASES[f"stack_linear_{stat}_{var}"], getattr(d, stat)(var)
        R.assert_close(got["estimate"], res["estimate"], 1e-8, what=stat)
        R.assert_close(got["se"], res["se"], 1e-6, what=f"{stat} se")
    res, got = CASES["stack_linear_by_year_api00"], d.mean("api00", by="year")
    R.assert_close(got["se"].to_numpy(), np.ravel(res["se"]), 1e-6, what="by year se")


def test_replicates_of_stacked_weighted_samples_are_refused_not_unweighted(stacked):
    """The replicates start from the samples' weights before raking and replay the design's
    steps; a stacked design records none, so they would lose the rakings (a total of 7.09e6
    instead of 7.37e6): replicate() refuses, naming the stack."""
    with pytest.raises(ValueError, match=r"^replicate\(\): .*stacked from weighted samples"):
        stacked.replicate("JKn")
    # the samples' own weights, before raking (the design's documented base weights)
    a, b, _, _ = _years()
    np.testing.assert_array_equal(stacked.base_weights, np.concatenate([a["pw"], b["pw"]]))
    # samples weighted as delivered: the replicates are the stacked design's, same estimate
    data = pd.concat([a[COLS], b[COLS]], ignore_index=True)
    plain = stack_designs({2015: Design(a, strata="stype", weights="pw", fpc="fpc"),
                           2021: Design(b, ids="dnum", weights="pw", fpc="fpc")}, data)
    rep = plain.replicate("JKn")
    assert rep.n_replicates == 200 + 15  # JKn: one replicate per PSU of every stratum
    np.testing.assert_allclose(rep.total("enroll")["estimate"], plain.total("enroll")["estimate"],
                               rtol=1e-12)


def test_stacked_samples_keep_their_lonely_psu_option():
    """Independent samples: the variance of a stacked total is the sum of the samples'
    variances, each with its lonely stratum removed (lonely_psu="remove")."""
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    a = a[(a["stype"] != "H") | (a.index == a.index[a["stype"] == "H"][0])]  # one high school
    b = b.assign(stype_strata=np.where(b["dnum"] == b["dnum"].iloc[0], "alone", "rest"))
    d15 = Design(a, strata="stype", weights="pw", lonely_psu="remove")
    d21 = Design(b, ids="dnum", strata="stype_strata", weights="pw", lonely_psu="remove")
    data = pd.concat([a[COLS], b[COLS]], ignore_index=True)
    stacked = stack_designs({2015: d15, 2021: d21}, data)
    assert stacked.lonely_psu == "remove"
    var = sum(float(d.total("enroll")["se"].iloc[0]) ** 2 for d in (d15, d21))
    np.testing.assert_allclose(float(stacked.total("enroll")["se"].iloc[0]) ** 2, var, rtol=1e-12)
