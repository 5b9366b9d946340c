"""Banner tables on a design with negative weights, against R survey 4.1-1.

An unbounded linear calibration (dstrat calibrated to a mean api99 of 900)
gives 71 negative weights. R keeps every row whose weight is not 0 and a
negative weight counts with its sign: column percentages and means are
``svyby(..., svymean)`` of the domains, the letters ``svycontrast`` of their
totals, the unweighted bases ``unwtd.count`` (rows of nonzero weight with an
answer), the weighted bases ``svytotal``, medians ``svyby(..., svyquantile)``,
and ``svychisq`` refuses a table with a negative cell (the banner leaves that
test blank). Reference: tests/fixtures/r/extra_banner_negative.json, made by
extra_banner_negative.R.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.tables import banner

FIX = R.load_json("extra_banner_negative.json")
CASES = {c["id"]: c for c in FIX["cases"]}
TOTAL = ("Total", "Ensemble")
N_ROW, BASE_ROW = "Base brute (effectif)", "Base pondérée"


def _data():
    data = R.load_data("apistrat")
    data["yes"] = data["sch.wide"]
    ans = np.where(data["api99"] < 600, "bas", np.where(data["api99"] < 750, "moyen", "haut"))
    data["ans"] = pd.Categorical(np.where(data["snum"] % 7 == 0, None, ans), categories=["bas", "moyen", "haut"])
    data["api00_na"] = data["api00"].astype(float)
    data.loc[data.index[1], "api00_na"] = np.nan  # R row 2, a row of negative weight
    data["low"] = pd.Categorical(np.where(data["api99"] < 569, "TRUE", "FALSE"), categories=["FALSE", "TRUE"])
    data["pw2"] = data["pw"] * (1 + (data["snum"] % 3) / 10)
    return data


@lru_cache(maxsize=None)
def _dneg():
    """R's dneg: dstrat calibrated (linear, unbounded) to a mean api99 of 900, with its columns."""
    d = Design(_data(), strata="stype", weights="pw", fpc="fpc")
    return d.calibrate({"api99": 6194 * 900.0}, method="linear", population=6194.0)


CAT_TOTALS = {"stype": {"E": 4421, "H": 755, "M": 1018}, "awards": {"No": 194, "Yes": 6000}}


@lru_cache(maxsize=None)
def _dcat(name):
    """R's dcat (dstrat) and dcat_w2 (base weights that vary within strata) calibrated
    linearly on stype and awards: the 27 rows of (E, awards No) weigh less than 0."""
    d = (Design(_data(), strata="stype", weights="pw", fpc="fpc") if name == "dcat"
         else Design(_data(), strata="stype", weights="pw2"))
    return d.calibrate(CAT_TOTALS, method="linear")


DESIGNS = {"dneg": _dneg, "dcat": lambda: _dcat("dcat"), "dcat_w2": lambda: _dcat("dcat_w2")}


def _result(cid):
    return CASES[cid]["result"]


def test_the_designs_have_rs_negative_weights():
    w = _dneg().weight_values
    assert int((w < 0).sum()) == 71
    assert (w[1] < 0) and (w[(_dneg().data["low"] == "TRUE").to_numpy()] < 0).all()
    for name in ("dcat", "dcat_w2"):
        d = _dcat(name)
        R.assert_close(d.weight_values, _result(f"{name}_weights")["weights"], 1e-10, what=name)
        assert int((d.weight_values < 0).sum()) == 27
    # the factored covariance path, with the cell weights constant (dcat) or not (dcat_w2)
    masks = np.column_stack([np.ones(200, dtype=bool), (_data()["awards"] == "No").to_numpy()])
    assert _dcat("dcat").domain_plan(masks).factored and _dcat("dcat_w2").domain_plan(masks).factored


CASES_BY = [("dneg", y, by) for y in ["yes", "awards", "ans", "api00", "api00_na"] for by in ["stype", "low"]]
CASES_BY += [(d, y, by) for d in ["dcat", "dcat_w2"] for y in ["yes", "ans", "api00"] for by in ["stype", "awards"]]


@pytest.mark.parametrize("dname, y, by", CASES_BY)
def test_columns_bases_and_letters_as_r(dname, y, by):
    """Estimates, SEs, unweighted and weighted bases of every column, and the
    pairwise differences behind the letters, as R on the negative weights."""
    r = _result(f"{dname}_{y}_by_{by}")
    t = banner(DESIGNS[dname](), [y], [by], min_base=0, chisq=False)
    rows = ["Moyenne"] if r["answers"] == [y] else r["answers"]
    G, A = len(r["groups"]), len(rows)
    cols = [(by, g) for g in r["groups"]]
    est = np.array([[t.frame.loc[(y, "", a), c] for a in rows] for c in cols]).ravel()
    se = np.array([[t.se.loc[(y, "", a), c] for a in rows] for c in cols]).ravel()
    R.assert_close(est, r["estimate"], 1e-8, what="estimates")
    R.assert_close(se, r["se"], 1e-6, what="SEs")
    R.assert_close(t.frame.loc[[(y, "", a) for a in rows], TOTAL], r["total"]["estimate"], 1e-8, what="total")
    R.assert_close(t.se.loc[[(y, "", a) for a in rows], TOTAL], r["total"]["se"], 1e-6, what="total SE")
    # bases: unwtd.count counts the negative weights; the weighted base may be negative
    assert t.frame.loc[(y, "", N_ROW), cols].tolist() == r["unwtd_count"]
    assert t.frame.loc[(y, "", N_ROW), TOTAL] == r["total"]["unwtd_count"]
    R.assert_close(t.frame.loc[(y, "", BASE_ROW), cols], r["weighted_base"], 1e-10, what="weighted bases")
    R.assert_close(t.frame.loc[(y, "", BASE_ROW), TOTAL], r["total"]["weighted_base"], 1e-10, what="total base")
    assert r["degf"] == t.options.df
    tests = t.tests.set_index(["row", "column", "versus"])
    pairs = [c for c in r["contrasts"] if c["versus"] != "complement"]
    assert len(tests) == len(pairs) == A * G * (G - 1) // 2
    for c in pairs:
        got = tests.loc[(rows[r["answers"].index(c["answer"])], c["column"], c["versus"])]
        R.assert_close(got[["estimate", "se", "t", "p_value"]].to_numpy(dtype=float),
                       [c["estimate"], c["se"], c["t"], c["p_value"]], 1e-6, what=f"contrast {c}")


@pytest.mark.parametrize("dname, y, by", [("dneg", y, by) for y in ["yes", "ans", "api00_na"] for by in ["stype", "low"]]
                         + [(d, "ans", "stype") for d in ["dcat", "dcat_w2"]])
def test_each_column_versus_the_rest_as_r(dname, y, by):
    r = _result(f"{dname}_{y}_by_{by}")
    t = banner(DESIGNS[dname](), [y], [by], min_base=0, chisq=False, versus="complement")
    rows = ["Moyenne"] if r["answers"] == [y] else r["answers"]
    tests = t.tests.set_index(["row", "column"])
    for c in (c for c in r["contrasts"] if c["versus"] == "complement"):
        got = tests.loc[(rows[r["answers"].index(c["answer"])], c["column"])]
        R.assert_close(got[["estimate", "se", "p_value"]].to_numpy(dtype=float),
                       [c["estimate"], c["se"], c["p_value"]], 1e-6, what=f"complement {c}")


@pytest.mark.parametrize("how", ["base", "subset"])
def test_a_sub_base_counts_negative_weights_and_not_weights_of_zero_as_r(how):
    """R's subset() of a calibrated design gives weight 0 outside; unwtd.count
    leaves those rows out and keeps the negative weights inside."""
    r = _result("dneg_subbase_api00_gt_600_ans_by_stype")
    d = _dneg()
    mask = (d.data["api00"] > 600).to_numpy()
    if how == "base":
        t = banner(d, ["ans"], ["stype"], base=mask, min_base=0, chisq=False)
    else:
        sub = d.subset(mask)
        assert int((sub.weight_values == 0).sum()) == r["zero_weight_rows"]
        assert int((sub.weight_values < 0).sum()) == r["negative_weight_rows"]
        t = banner(sub, ["ans"], ["stype"], min_base=0, chisq=False)
    rows = r["answers"]
    cols = [("stype", g) for g in r["groups"]]
    # svyby's order: answers outer, groups inner
    est = np.array([[t.frame.loc[("ans", "", a), c] for c in cols] for a in rows]).ravel()
    se = np.array([[t.se.loc[("ans", "", a), c] for c in cols] for a in rows]).ravel()
    R.assert_close(est, r["svyby_estimate"], 1e-8, what="estimates")
    R.assert_close(se, r["svyby_se"], 1e-6, what="SEs")
    R.assert_close(t.frame.loc[[("ans", "", a) for a in rows], TOTAL], r["total"]["estimate"], 1e-8)
    R.assert_close(t.se.loc[[("ans", "", a) for a in rows], TOTAL], r["total"]["se"], 1e-6)
    assert t.frame.loc[("ans", "", N_ROW), cols].tolist() == r["unwtd_count"]
    assert t.frame.loc[("ans", "", N_ROW), TOTAL] == r["total"]["unwtd_count"]


def test_chisq_as_r_and_blank_where_r_refuses_a_negative_cell():
    t = banner(_dneg(), ["awards", "yes"], ["stype", "low"], min_base=0, letters=False)
    chisq = t.chisq.set_index(["question", "variable"])
    r = _result("dneg_svychisq_awards_stype")
    got = chisq.loc[("awards", "stype")]
    R.assert_close([got["statistic"], got["ndf"], got["ddf"], got["p_value"]],
                   [r["statistic"], *r["parameter"], r["p_value"]], 1e-6, what="svychisq")
    assert _result("dneg_refused_yes_stype")["error"].startswith("all entries of 'x' must be nonnegative")
    assert _result("dneg_refused_awards_low")["error"].startswith("all entries of 'x' must be nonnegative")
    for key in [("yes", "stype"), ("awards", "low")]:
        assert chisq.loc[key, ["statistic", "ndf", "ddf", "p_value"]].isna().all(), key
    # the same tests on the data (a banner variable that is not categorical: Design.chisq)
    data = _dneg().data.assign(stype_text=_dneg().data["stype"].astype(str))
    d = Design(data, strata="stype", weights="pw", fpc="fpc").calibrate(
        {"api99": 6194 * 900.0}, method="linear", population=6194.0)
    t2 = banner(d, ["awards", "yes"], ["stype_text"], min_base=0, letters=False).chisq.set_index("question")
    R.assert_close(t2.loc["awards", ["statistic", "p_value"]].to_numpy(dtype=float),
                   [r["statistic"], r["p_value"]], 1e-6, what="svychisq on the data")
    assert t2.loc["yes", ["statistic", "p_value"]].isna().all()


def test_medians_as_r_svyby_svyquantile():
    r = _result("dneg_median_api00_by_stype")
    t = banner(_dneg(), ["api00"], ["stype"], min_base=0, chisq=False)
    key = ("api00", "", "Médiane")
    cols = [("stype", g) for g in r["groups"]]
    R.assert_close(t.frame.loc[key, cols], r["quantile"], 1e-12, what="medians")
    R.assert_close(t.se.loc[key, cols], r["se"], 1e-6, what="median SEs")
    low, high = t.intervals
    R.assert_close(low.loc[key, cols], r["ci_low"], 1e-12, what="lower bounds")
    R.assert_close(high.loc[key, cols], r["ci_high"], 1e-12, what="upper bounds")
    total = r["total"]
    R.assert_close([t.frame.loc[key, TOTAL], t.se.loc[key, TOTAL], low.loc[key, TOTAL], high.loc[key, TOTAL]],
                   [total["quantile"], total["se"], total["ci_low"], total["ci_high"]], 1e-6, what="total")
