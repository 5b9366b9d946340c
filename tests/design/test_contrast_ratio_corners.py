"""Corners of contrasts, ratios, variances and t tests against R survey.

References: tests/fixtures/r/extra_contrast.json, made by extra_contrast.R
(svycontrast with unary signs, mixed linear/nonlinear lists, partial and
unnamed weights, svyglm coefficients; svyratio/svyvar with weights 1, two
grouping variables, missing values, domains of raked and replicate designs,
negative weights; svyttest with levels out of alphabetical order, weights 1,
a group without answers, a domain). The main cases are in test_ratio.py and
test_ttest_wald.py.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import ColumnNotFoundError, DesignError, WeightError

X = R.load_json("extra_contrast.json")
CASES = {c["id"]: c for c in X["cases"]}
MARGINS = X["designs"]["dclus1_raked"]["rake"]


def _res(case_id):
    return CASES[case_id]["result"]


@lru_cache(maxsize=None)
def _design(name):
    return R.design_from_spec(X["designs"][name])


def _strat(data):
    return Design(data, strata="stype", weights="pw", fpc="fpc")


def _with_na(name, column, rows):
    """An R data set with `column` missing on the 1-based R rows `rows`."""
    data = R.load_data(name)
    data.loc[data.index[np.asarray(rows) - 1], column] = np.nan
    return data


def _means():
    d = _design("dstrat")
    return d, d.mean(["api00", "api99"], cov=True)


# ----------------------------------------------------------------- contrasts
@pytest.mark.parametrize("spec, case_id", [
    ("-api00 / api99", "neg"), ("+api00 - api99", "plus"), ("-log(api00) + log(api99)", "neg_log"),
    ({"api00": 1}, "partial"), ([1, -1], "vector"), ((1, -1), "vector"),
    ({"api00": 1, "api99": -1}, "vector"),
])
def test_one_contrast_as_r(spec, case_id):
    d, est = _means()
    out, V = d.contrast(est, spec)
    r = _res(f"dstrat_contrast_{case_id}")
    assert list(out.index) == r["names"] == list(V.index) == list(V.columns)
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")
    R.assert_close(V.to_numpy(), r["vcov_full"], 1e-6, what="vcov")


def test_linear_and_nonlinear_together_as_r():
    """The covariance of a linear and a nonlinear contrast carries the sign of the gradient."""
    d, est = _means()
    out, V = d.contrast(est, {"diff": {"api00": 1, "api99": -1}, "ratio": "api00 / api99"})
    r = _res("dstrat_contrast_mixed")
    assert list(out.index) == r["names"] == list(V.index) == list(V.columns)
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(V.to_numpy(), r["vcov"], 1e-6, what="vcov")


def test_contrast_of_glm_coefficients_as_r():
    d = _design("dstrat")
    fit = d.glm("api00 ~ ell + meals")
    out, _ = d.contrast((fit.params, fit.vcov), [0, 1, -1])
    r = _res("dstrat_contrast_glm")
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")


@pytest.mark.parametrize("expr", ["api98 - api00", "api00 - api98", "-api98", "+api98", "log(api98)",
                                  "api00 / (1 + api98)"])
def test_unknown_name_in_an_expression_names_the_expression(expr):
    d, est = _means()
    with pytest.raises(KeyError, match=re.escape(f"contrast {expr!r}: 'api98' is not an estimate")):
        d.contrast(est, expr)


@pytest.mark.parametrize("expr", ["abs(api00)", "log(api00, 2)", "api00 if api99 else 1", "-abs(api00)"])
def test_expression_outside_the_grammar_is_refused(expr):
    d, est = _means()
    with pytest.raises(ValueError, match=re.escape(f"contrast {expr!r}: only numbers")):
        d.contrast(est, expr)


def test_linear_weights_must_name_estimates_or_match_their_number():
    d, est = _means()
    with pytest.raises(KeyError, match=r"'api98' is not an estimate \(\['api00', 'api99'\]\)"):
        d.contrast(est, {"api00": 1, "api98": -1})
    with pytest.raises(ValueError, match=r"2 weights needed, not \(3,\)"):
        d.contrast(est, [1, -1, 0])


# -------------------------------------------------------------- ratios, var
def test_ratio_is_named_numerator_over_denominator_as_r():
    out = _design("dstrat").ratio("api00", "api99")
    assert list(out.index) == _res("dstrat_ratio_names")["names"]


def test_ratio_by_two_variables_as_r():
    out = _design("dstrat").ratio("api.stu", "enroll", by=["stype", "sch.wide"])
    r = _res("dstrat_ratio_by_two")
    assert list(out.index.names) == ["stype", "sch.wide"]
    got = out.reindex(list(zip(r["groups"]["stype"], r["groups"]["sch.wide"])))
    R.assert_close(got["estimate"], r["estimate"], 1e-8, what="ratio")
    R.assert_close(got["se"], r["se"], 1e-6, what="se")


def test_ratio_and_var_with_weights_one_as_r():
    d = _design("dsrs_nofpc")
    for out, case_id in [(d.ratio("api00", "api99"), "dsrs_nofpc_svyratio"),
                         (d.var("api00"), "dsrs_nofpc_svyvar")]:
        r = _res(case_id)
        R.assert_close(out["estimate"], r["estimate"], 1e-8, what=case_id)
        R.assert_close(out["se"], r["se"], 1e-6, what=case_id)


def test_var_index_as_r():
    d = _design("dstrat")
    r = _res("dstrat_var_names")
    assert list(d.var(["api00", "api99"]).index) == list(zip(r["rownames"], r["colnames"]))
    assert list(d.var("api00").index) == ["api00"]


@pytest.mark.parametrize("na_rm", [False, True])
def test_ratio_by_group_with_missing_values_as_r(na_rm):
    case = CASES[f"dstrat_na_ratio_by_narm_{str(na_rm).upper()}"]
    d = _strat(_with_na("apistrat", "api.stu", case["na_rows"]))
    out = d.ratio("api.stu", "enroll", by="stype", na_rm=na_rm)
    r = case["result"]
    assert out.index.name == "stype" and list(out.index) == r["groups"]["stype"]
    R.assert_close(out["estimate"].fillna(-1), [-1 if v is None else v for v in r["estimate"]], 1e-8)
    R.assert_close(out["se"].fillna(-1), [-1 if v is None else v for v in r["se"]], 1e-6)


@pytest.mark.parametrize("variables, case_id", [
    ("api.stu", "dstrat_na_var_1_narm_TRUE"), (["api.stu", "enroll"], "dstrat_na_var_4_narm_TRUE")])
def test_var_leaving_out_missing_values_as_r(variables, case_id):
    """R's n / (n - 1) counts the rows of nonzero weight before the missing ones are left out."""
    case = CASES[case_id]
    out = _strat(_with_na("apistrat", "api.stu", case["na_rows"])).var(variables, na_rm=True)
    R.assert_close(out["estimate"], np.ravel(case["result"]["estimate"]), 1e-8, what="variance")
    R.assert_close(out["se"], np.ravel(case["result"]["se"]), 1e-6, what="se")


@pytest.mark.parametrize("case_id", ["dstrat_na_var_1_narm_FALSE", "dstrat_na_var_4_narm_FALSE",
                                     "dsrs_na_var_4_narm_FALSE"])
def test_var_of_a_missing_value_is_nan_as_r(case_id):
    """R gives NA where a missing value enters, and no finite SE at all (NaN or Inf).

    ramlab gives NaN for every entry (R's estimate of the complete column's
    own variance, with its infinite SE, is not reported).
    """
    case = CASES[case_id]
    data = _with_na("apistrat", "api.stu", case["na_rows"])
    d = Design(data) if case_id.startswith("dsrs") else _strat(data)
    variables = "api.stu" if "_var_1_" in case_id else ["api.stu", "enroll"]
    out = d.var(variables)
    r = case["result"]
    assert list(out.columns) == ["estimate", "se"]
    assert len(out) == len(np.ravel(r["estimate"])) and not any(np.ravel(r["se_is_finite"]))
    assert not np.isfinite(out["se"]).any()
    assert out["estimate"][[v is None for v in np.ravel(r["estimate"])]].isna().all()


@lru_cache(maxsize=None)
def _raked_dclus1():
    return _design("dclus1_raked").rake(MARGINS, tol=1e-12)


@pytest.mark.parametrize("case_id", ["dclus1_raked_E_svyvar", "dclus1_raked_E_svyratio", "rclus1_E_svyvar"])
def test_domain_of_a_raked_or_replicate_design_as_r(case_id):
    d = _raked_dclus1() if case_id.startswith("dclus1") else _design("rclus1").replicate(type="JK1")
    dom = d.subset(d.data["stype"] == "E")
    out = dom.var("api00") if case_id.endswith("svyvar") else dom.ratio("api.stu", "enroll")
    r = _res(case_id)
    R.assert_close(out["estimate"], np.ravel(r["estimate"]), 1e-8, what=case_id)
    R.assert_close(out["se"], np.ravel(r["se"]), 1e-6, what=case_id)


def test_var_of_a_replicate_design_counts_its_rows_of_weight_0_as_r():
    case = CASES["rclus1_w0_svyvar"]
    data = R.load_data("apiclus1")
    data.loc[data.index[np.asarray(case["zero_weight_rows"]) - 1], "pw"] = 0.0
    d = Design(data, ids="dnum", weights="pw", fpc="fpc").replicate(type="JK1")
    assert d.n_held_rows == case["result"]["nrow"]
    out = d.var("api00")
    R.assert_close(out["estimate"], case["result"]["estimate"], 1e-8, what="variance")
    R.assert_close(out["se"], case["result"]["se"], 1e-6, what="se")


def test_ratio_leaving_out_a_missing_value_of_a_raked_design_as_r():
    case = CASES["dclus1_na_raked_ratio_narm"]
    data = _with_na("apiclus1", "api.stu", case["na_rows"])
    d = Design(data, ids="dnum", weights="pw", fpc="fpc").rake(MARGINS, tol=1e-12)
    out = d.ratio("api.stu", "enroll", na_rm=True)
    R.assert_close(out["estimate"], case["result"]["estimate"], 1e-8, what="ratio")
    R.assert_close(out["se"], case["result"]["se"], 1e-6, what="se")


@pytest.mark.parametrize("what", ["svyratio", "svyvar", "svymean"])
def test_negative_weights_count_as_r(what):
    """Unbounded linear calibration gives negative weights: R keeps every row of nonzero weight."""
    d = _design("dstrat").calibrate({"api99": 6194 * 900.0}, method="linear", population=6194.0)
    r = _res(f"dstrat_neg_{what}")
    assert int((d.weight_values < 0).sum()) == r["negative_weights"]
    out = {"svyratio": lambda: d.ratio("api00", "enroll"), "svyvar": lambda: d.var("api00"),
           "svymean": lambda: d.mean("api00")}[what]()
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what=what)
    R.assert_close(out["se"], r["se"], 1e-6, what=what)



@lru_cache(maxsize=None)
def _negative():
    """dstrat_neg of extra_contrast.R with its columns low, api00_na and mealcat."""
    data = R.load_data("apistrat")
    data["low"] = np.where(data["api99"] < 569, "TRUE", "FALSE")
    data["api00_na"] = data["api00"].astype(float)
    data.loc[data.index[np.asarray(CASES["dstrat_neg_svymean_na_narm"]["na_rows"]) - 1], "api00_na"] = np.nan
    data["mealcat"] = pd.cut(data["meals"], [0, 25, 50, 75, 100], include_lowest=True)
    return _strat(data).calibrate({"api99": 6194 * 900.0}, method="linear", population=6194.0)


@pytest.mark.parametrize("case_id, call", [
    ("svymean_deff", lambda d: d.mean("api00", deff=True)),
    ("svymean_factor_deff", lambda d: d.mean("sch.wide", deff=True)),
    ("svytotal_deff", lambda d: d.total("api00", deff=True)),
    ("svymean_na_narm", lambda d: d.mean("api00_na", na_rm=True)),
])
def test_negative_weights_design_effect_and_missing_values_as_r(case_id, call):
    """R's deff counts n as the rows of nonzero weight; na.rm drops a row of negative weight."""
    r = _res(f"dstrat_neg_{case_id}")
    out = call(_negative())
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")
    if "deff" in r:
        R.assert_close(out["deff"], r["deff"], 1e-6, what="deff")


def test_negative_weights_missing_value_gives_no_mean():
    """A missing value on a row of negative weight: no mean (R stops; before, ramlab left the row out)."""
    assert "NA" in _res("dstrat_neg_refused_svymean_na")["error"]
    out = _negative().mean("api00_na")
    assert out["estimate"].isna().all() and out["se"].isna().all()


@pytest.mark.parametrize("by", ["stype", "low"])
def test_negative_weights_by_group_as_r(by):
    """svyby keeps a group whose weights are all negative (low: api99 < 569)."""
    r = _res(f"dstrat_neg_svyby_{by}")
    out = _negative().mean("api00", by=by, deff=by == "stype")
    assert [str(g) for g in out.index] == r["groups"][by]
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")
    if by == "stype":
        R.assert_close(out["deff"], r["deff"], 1e-6, what="deff")



def test_negative_weights_quantile_interval_as_r():
    """Woodruff's interval: the CDF's variance keeps the rows of negative weight."""
    r = _res("dstrat_neg_svyquantile")
    out = _negative().quantile("api00", [0.25, 0.5], ci=True)
    R.assert_close(out["estimate"], r["estimate"], 1e-12, what="quantile")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")
    R.assert_close(out["ci_low"], r["ci_low"], 1e-12, what="ci_low")
    R.assert_close(out["ci_high"], r["ci_high"], 1e-12, what="ci_high")


@pytest.mark.parametrize("statistic", ["F", "Chisq", "Wald", "adjWald", "saddlepoint"])
def test_negative_weights_chisq_as_r(statistic):
    """awards x stype: every cell of the weighted table is positive, so R tests it."""
    r = _res(f"dstrat_neg_svychisq_{statistic}")
    out = _negative().chisq("awards", "stype", statistic=statistic)
    R.assert_close(out.statistic, r["statistic"], 1e-6, what="statistic")
    R.assert_close(out.p_value, r["p_value"], 1e-6, what="p value")
    if r["parameter"]:
        R.assert_close(np.atleast_1d(out.df), r["parameter"], 1e-6, what="df")


def test_negative_weights_chisq_refuses_a_negative_cell_as_r():
    """sch.wide x stype has a negative cell (No, M): R's chisq.test stops."""
    assert _res("dstrat_neg_refused_svychisq")["error"].startswith("all entries of 'x' must be nonnegative")
    with pytest.raises(WeightError, match=r"1 cells of the weighted table are negative.*from 71 rows"):
        _negative().chisq("sch.wide", "stype")

@pytest.mark.parametrize("method", ["mean", "beta", "xlogit", "asin"])
def test_negative_weights_ciprop_as_r(method):
    r = _res(f"dstrat_neg_svyciprop_{method}")
    out = _negative().ciprop("sch.wide", category="Yes", method=method)
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")
    R.assert_close([out["ci_low"], out["ci_high"]], r["conf_int"], 1e-6, what="interval")


@pytest.mark.parametrize("case_id, call", [
    ("svyttest", lambda d: d.ttest("api00", "sch.wide")),
    ("svyglm", lambda d: d.glm("api00 ~ ell")),
    ("svyolr", lambda d: d.olr("mealcat ~ api99")),
    ("svyciprop_logit", lambda d: d.ciprop("sch.wide", category="Yes", method="logit")),
    ("svyciprop_likelihood", lambda d: d.ciprop("sch.wide", category="Yes", method="likelihood")),
])
def test_negative_weights_refused_by_models_as_r(case_id, call):
    """R's glm stops on negative weights (svyglm, svyttest, svyciprop logit/likelihood); svyolr fails too."""
    r = _res(f"dstrat_neg_refused_{case_id}")
    assert r["error"] == ("Value 1.42453 out of range (0, 1)" if case_id == "svyolr"
                          else "negative weights not allowed")
    d = _negative()
    n_negative = int((d.weight_values < 0).sum())
    assert n_negative == _res("dstrat_neg_svymean")["negative_weights"]
    with pytest.raises(WeightError, match=rf"negative weights not allowed.*\b{n_negative} rows"):
        call(d)


@pytest.mark.parametrize("case_id, call", [
    ("svytotal", lambda d: d.total("api00")),
    ("svymean", lambda d: d.mean("sch.wide")),
    ("svyby", lambda d: d.total("api00", by="stype")),
])
def test_negative_weights_of_a_calibrated_replicate_design_as_r(case_id, call):
    """Each JKn replicate's totals keep the rows of negative weight (R's svytotal on a svyrep design)."""
    r = _res(f"rstrat_neg_{case_id}")
    d = _strat(R.load_data("apistrat")).replicate(type="JKn").calibrate(
        {"api99": 6194 * 900.0}, method="linear", population=6194.0)
    assert int((d.weight_values < 0).sum()) == r["negative_weights"]
    out = call(d)
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")

def test_nullable_columns_are_numbers():
    """pandas' Int64 with <NA> (read_spss, convert_dtypes) is read as the float column with NaN."""
    data = R.load_data("apistrat")
    data["api00_float"] = data["api00"].astype(float)
    data.loc[data.index[0], "api00_float"] = np.nan
    data["api00_int"] = data["api00_float"].astype("Int64")
    data["yes_float"] = (data["sch.wide"] == "Yes").astype(float).where(data["api00_float"].notna())
    data["yes_bool"] = data["yes_float"].astype("boolean")  # a yes/no answer, <NA> when unknown
    assert data["api00_int"].isna().sum() == data["yes_bool"].isna().sum() == 1
    d = _strat(data)
    for na_rm in (False, True):
        for nullable, plain in [("api00_int", "api00_float"), ("yes_bool", "yes_float")]:
            np.testing.assert_array_equal(d.ratio(nullable, "api99", na_rm=na_rm).to_numpy(),
                                          d.ratio(plain, "api99", na_rm=na_rm).to_numpy())
            np.testing.assert_array_equal(d.var(nullable, na_rm=na_rm).to_numpy(),
                                          d.var(plain, na_rm=na_rm).to_numpy())
    assert np.isfinite(d.ratio("yes_bool", "one", na_rm=True).to_numpy()).all()


def test_ratio_and_var_refuse_text_and_name_the_column():
    data = R.load_data("apistrat").assign(texte=lambda df: df["stype"].astype(str))
    d = _strat(data)
    for call in (lambda: d.ratio("texte", "api99"), lambda: d.var("texte"), lambda: d.var("stype")):
        with pytest.raises(TypeError, match="'(texte|stype)' is not numeric: a ratio or a variance needs numbers"):
            call()
    with pytest.raises(ColumnNotFoundError, match="variable column 'api98' is not in the data"):
        d.ratio("api00", "api98")


# ----------------------------------------------------------------- t tests
def _ttest_data(base):
    data = base.data.assign(
        schrev=pd.Categorical(base.data["sch.wide"], categories=["Yes", "No"]),
        api00_noH=base.data["api00"].where(base.data["stype"] != "H"),
    )
    return data


@pytest.mark.parametrize("case_id", ["dstrat_ttest_levels_yes_no", "dsrs_nofpc_ttest_levels_yes_no",
                                     "dstrat_ttest_group_without_answers", "dstrat_ttest_domain"])
def test_ttest_corners_as_r(case_id):
    design = "dsrs_nofpc" if case_id.startswith("dsrs") else "dstrat"
    base = _design(design)
    spec = X["designs"][design]
    d = Design(_ttest_data(base), weights=spec["weights"], strata=spec["strata"], fpc=spec["fpc"])
    if case_id.endswith("levels_yes_no"):
        res, groups = d.ttest("api00", "schrev"), ("Yes", "No")
    elif case_id.endswith("without_answers"):  # stype H has no api00_noH: two groups, E and M
        res, groups = d.ttest("api00_noH", "stype"), ("E", "M")
    else:  # the H rows are outside the domain
        res, groups = d.subset(d.data["stype"] != "H").ttest("api00", "stype"), ("E", "M")
    r = _res(case_id)
    assert res.groups == groups
    assert res.estimate == pytest.approx(r["estimate"], rel=1e-9)
    assert res.se == pytest.approx(r["estimate"] / r["statistic"], rel=1e-8)  # R: t = estimate / SE
    assert res.statistic == pytest.approx(r["statistic"], rel=1e-8)
    assert res.df == r["df"]
    assert res.p_value == pytest.approx(r["p_value"], rel=1e-7)
    assert [res.ci_low, res.ci_high] == pytest.approx(r["conf_int"], rel=1e-8)


def test_ttest_group_of_text_is_sorted_as_r_factor():
    """A text column is R's factor(): groups in sorted order (the case on the Yes/No factor reversed)."""
    spec = X["designs"]["dstrat"]
    base = _design("dstrat")
    data = base.data.assign(schtxt=base.data["sch.wide"].astype(str).map({"Yes": "b_Yes", "No": "a_No"}))
    res = Design(data, weights=spec["weights"], strata=spec["strata"], fpc=spec["fpc"]).ttest("api00", "schtxt")
    r = _res("dstrat_ttest_levels_yes_no")
    assert res.groups == ("a_No", "b_Yes")
    assert res.estimate == pytest.approx(-r["estimate"], rel=1e-9)
    assert res.p_value == pytest.approx(r["p_value"], rel=1e-7)


def test_ttest_refusal_of_negative_weights_names_the_variables_and_what_to_do():
    """Not the refusal of the model it fits, whose formula the user never wrote."""
    d = _negative()
    n_negative = int((d.weight_values < 0).sum())
    with pytest.raises(WeightError) as err:
        d.ttest("api00", "sch.wide")
    message = str(err.value)
    assert err.value.variable == "weight"
    assert re.search(rf"^ttest of 'api00' by 'sch\.wide': .*\b{n_negative} rows have a negative weight", message), message
    assert message.endswith("calibrate with bounds (bounds=) to keep the weights positive"), message


@pytest.mark.parametrize("method", ["logit", "likelihood"])
def test_ciprop_refusal_of_negative_weights_names_the_method_the_variable_and_what_to_use(method):
    d = _negative().subset(_negative().data["stype"] != "H")  # a domain: its other rows weigh 0
    w = d.weight_values
    assert (w == 0).any() and (w < 0).any()
    with pytest.raises(WeightError) as err:
        d.ciprop("sch.wide", category="Yes", method=method)
    message = str(err.value)
    assert err.value.variable == "weight"
    assert message.startswith(f'ciprop(method="{method}") of \'sch.wide = Yes\': negative weights not allowed'), message
    assert f"{int((w < 0).sum())} rows have a negative weight (min {w.min():.6g})" in message, message
    assert message.endswith('use method="mean", "beta", "xlogit", "asin" or "wilson", or calibrate with bounds'), message


def test_ciprop_warns_of_a_missing_answer_of_negative_weight_counted_as_no():
    """The row of api00_na's missing value weighs < 0: it counts (R keeps every nonzero weight)."""
    d = _negative()
    missing = d.data["api00_na"].isna().to_numpy()
    assert missing.sum() == 1 and d.weight_values[missing][0] < 0
    with pytest.warns(UserWarning, match=r"^ciprop: 'api00_na' has 1 missing answers, counted here as false"):
        d.ciprop(d.data["api00_na"] > 700, method="mean")


def test_ttest_errors_name_the_variable():
    d = _design("dstrat")
    data = d.data.assign(texte=d.data["stype"].astype(str), many=np.arange(len(d.data)) % 8)
    d = _strat(data.assign(many=data["many"].map(lambda i: f"g{i}")))
    with pytest.raises(DesignError, match="ttest: 'texte' is not numeric") as err:
        d.ttest("texte", "sch.wide")
    assert err.value.variable == "texte"
    with pytest.raises(DesignError, match=r"it has 8: \['g0', 'g1', 'g2', 'g3', 'g4', 'g5'\]$") as err:
        d.ttest("api00", "many")
    assert err.value.variable == "many"
    with pytest.raises(ColumnNotFoundError, match="^variable column 'api98'"):
        d.ttest("api98", "sch.wide")
    with pytest.raises(ColumnNotFoundError, match="^group variable column 'groupe'"):
        d.ttest("api00", "groupe")
