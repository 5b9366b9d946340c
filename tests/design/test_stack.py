"""Stacked independent samples (ramlab.stack, issue 12 item 9) against R survey 4.1-1.

Reference values: tests/fixtures/r/extra_stack.json, made by extra_stack.R
(apistrat as 2015 and apiclus1 as 2021, each raked on sch.wide and awards,
stacked in R with year-prefixed strata and PSUs and calibrated on the
year-specific margins: each year keeps its own design and calibration).
"""

import re

import numpy as np
import pandas as pd
import pytest

import _rref as R

from ramlab.design import Design, stack_designs
from ramlab.errors import RamlabError, WeightError

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


def _three_samples():
    """Three samples of one form (one stage, one fpc): the fpc of 2023 as sampling fractions,
    2015 calibrated on a numeric total only (no categorical cell), 2021 and 2023 raked."""
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    a23 = a.assign(frac=a.groupby("stype", observed=True)["pw"].transform("size") / a["fpc"])
    d15 = Design(a, strata="stype", weights="pw", fpc="fpc").calibrate(
        {"api99": CASES["stack_linear_weights"]["api99_total"]}, population=6194)
    d21 = Design(b, ids="dnum", weights="pw", fpc="fpc").rake(X["margins"])
    d23 = Design(a23, strata="stype", weights="pw", fpc="frac").rake(X["margins"])
    data = pd.concat([a[COLS], b[COLS], a[COLS]], ignore_index=True)
    return {2015: d15, 2021: d21, 2023: d23}, data


def test_the_total_of_stacked_samples_is_the_sum_of_their_totals_and_variances():
    """Independent samples: the stacked total and its variance are the sums of the samples'
    (the module's contract, R's svyrecvar summed over the samples' strata), whatever each
    sample's calibration and the form of its fpc."""
    samples, data = _three_samples()
    got = stack_designs(samples, data).total("enroll")
    each = [d.total("enroll") for d in samples.values()]
    R.assert_close(got["estimate"].iloc[0], sum(e["estimate"].iloc[0] for e in each), 1e-12)
    R.assert_close(got["se"].iloc[0] ** 2, sum(e["se"].iloc[0] ** 2 for e in each), 1e-10)


def test_a_sample_without_strata_is_one_stratum_named_by_its_key():
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    b1 = b[b["dnum"] == b["dnum"].iloc[0]]  # one district: one PSU in 2021's only stratum
    stacked = stack_designs({2015: Design(a, strata="stype", weights="pw"),
                             2021: Design(b1, ids="dnum", weights="pw")},
                            pd.concat([a[COLS], b1[COLS]], ignore_index=True))
    with pytest.raises(RamlabError) as err:
        stacked.mean("api00")
    assert re.search(r"\b2021\|\W", str(err.value)), str(err.value)  # stratum "2021|", no other label


def test_string_cluster_ids_are_stacked():
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    b = b.assign(district=b["dnum"].astype(str) + "d")
    d21 = Design(b, ids="district", weights="pw", fpc="fpc")
    d15 = Design(a, strata="stype", weights="pw", fpc="fpc")
    got = stack_designs({2015: d15, 2021: d21}, pd.concat([a[COLS], b[COLS]], ignore_index=True))
    R.assert_close(got.total("enroll")["se"].iloc[0] ** 2,
                   d15.total("enroll")["se"].iloc[0] ** 2 + d21.total("enroll")["se"].iloc[0] ** 2, 1e-10)


def test_a_sample_with_a_missing_cluster_id_is_refused_as_by_its_own_design():
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    b = b.assign(dnum=b["dnum"].astype(float))
    b.loc[5, "dnum"] = np.nan
    with pytest.raises(ValueError) as err:
        stack_designs({2015: Design(a, strata="stype", weights="pw"), 2021: Design(b, ids="dnum", weights="pw")},
                      pd.concat([a[COLS], b[COLS]], ignore_index=True))
    assert "'dnum'" in str(err.value) and "missing" in str(err.value)
    assert "2021" in "".join(getattr(err.value, "__notes__", []))


def test_stack_refuses_samples_of_different_forms_naming_them():
    a, b, c = R.load_data("apistrat"), R.load_data("apiclus1"), R.load_data("apiclus2")
    data = pd.concat([a[COLS], b[COLS]], ignore_index=True)
    # the same stages, one fpc against none
    with pytest.raises(RamlabError) as err:
        stack_designs({2015: Design(a, strata="stype", weights="pw"),
                       2021: Design(b, ids="dnum", weights="pw", fpc="fpc")}, data)
    msg = str(err.value)
    assert msg.startswith("stack: ") and re.search(r"fpc \[0, 1\]", msg), msg
    # one stage against two, no fpc
    with pytest.raises(RamlabError) as err:
        stack_designs({2015: Design(a, strata="stype", weights="pw"),
                       2021: Design(c, ids=["dnum", "snum"], weights="pw")},
                      pd.concat([a[COLS], c[COLS]], ignore_index=True))
    msg = str(err.value)
    assert msg.startswith("stack: ") and re.search(r"stages \[1, 2\]", msg), msg
    # lonely_psu options
    with pytest.raises(RamlabError) as err:
        stack_designs({2015: Design(a, strata="stype", weights="pw", lonely_psu="adjust"),
                       2021: Design(b, ids="dnum", weights="pw")}, data)
    msg = str(err.value)
    assert msg.startswith("stack: ") and "'adjust'" in msg and "'fail'" in msg, msg
    # a replicate design: its key and its type
    with pytest.raises(RamlabError) as err:
        stack_designs({2015: Design(a, strata="stype", weights="pw").replicate("JKn"),
                       2021: Design(b, ids="dnum", weights="pw")}, data)
    assert "2015" in str(err.value) and "ReplicateDesign" in str(err.value)


def test_a_samples_calibration_keeps_its_method_in_the_stack():
    """The refusal of a calibration that sends rows to a lower bound of 0 names its method
    (tests/weighting/test_calibration_zero_weights.py), in the stack as in the sample."""
    a, b = R.load_data("apistrat"), R.load_data("apiclus1")
    cal = Design(a, strata="stype", weights="pw", fpc="fpc").calibrate(
        {"stype": {"E": 4421, "H": 755, "M": 1018}, "api99": 6194 * 700.0}, method="linear", bounds=(0, 3))
    assert (cal.weight_values == 0).any()
    stacked = stack_designs({2015: cal, 2021: Design(b, ids="dnum", weights="pw", fpc="fpc")},
                            pd.concat([a[COLS], b[COLS]], ignore_index=True))
    with pytest.raises(WeightError, match="method 'linear'"):
        stacked.mean("api00")
