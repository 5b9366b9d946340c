"""Means, totals and svyby at their corners, against R survey 4.1-1 (``extra_estimates.json``).

Missing values (``na_rm``) of factors and numbers, a factor with an unused
level, ``by=`` on a domain where a level is empty, by a factor with missing
values and by two variables crossed, a domain without respondents, several
variables at once with ``na_rm``, and design effects on weights that sum
below the sample size. Also the forms of the answer a reader relies on
(row and column names) and the words of the refusals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.errors import ColumnNotFoundError, DesignError

X = R.load_json("extra_estimates.json")
EST = R.load_json("estimation.json")


def _data(name):
    """The R data set with the derived columns of extra_estimates.R."""
    df = R.load_data(name)
    a46 = df["acs.46"]
    df["class46"] = pd.Categorical(np.where(a46.isna(), None, np.where(a46 >= 30, "large", "small")),
                                   categories=["small", "large"])
    df["stype4"] = pd.Categorical(df["stype"].astype(str), categories=["E", "H", "M", "X"])
    df["w_small"] = df["pw"] / 10000
    df["api00_100"] = df["api00"] / 100
    return df


def _design(name):
    if name == "dstrat_neg":  # R: calibrate(dstrat, ~api99, population = c(6194, 6194 * 900))
        return _design("dstrat").calibrate({"api99": 6194 * 900.0}, method="linear", population=6194.0)
    spec = X["designs"][name]
    return Design(_data(spec["data"]), weights=spec["weights"], ids=spec["ids"], strata=spec["strata"],
                  fpc=spec["fpc"])


def _mask(data, dom):
    col = data[dom["column"]].astype(str)
    return col == dom["value"] if dom["op"] == "==" else col != dom["value"]


def _nan_or(values):
    return np.array([np.nan if v is None else v for v in np.ravel(values)], dtype=float)


def _same(got, want, rtol, what):
    """Equal to R within rtol, NaN or infinite exactly where R gives NA, NaN or Inf (JSON null)."""
    got = np.asarray(got, dtype=float).ravel()
    want = _nan_or(want)
    assert np.array_equal(~np.isfinite(got), np.isnan(want)), f"{what}: ramlab {got} vs R {want}"
    ok = ~np.isnan(want)
    R.assert_close(got[ok], want[ok], rtol, atol=1e-10, what=what)


def _run(case):
    d = _design(case["design"])
    if case["domain"]:
        d = d.subset(_mask(d.data, case["domain"]))
    var = case["variable"]
    by = case["by"]
    return d, getattr(d, case["estimator"])(
        var[0] if len(var) == 1 else var, by=None if by is None else (by[0] if len(by) == 1 else by),
        deff=case["deff"], na_rm=case["na_rm"])


def _expected_deff(case):
    r = case["result"]
    if case["estimator"] == "total" and case["deff"] is True and case["design"] == "dstrat_small":
        # R's svytotal gives svyvar * (N - n) / (N n) even when N < n (here a
        # negative "design effect"); ramlab applies svymean's rule, NA.
        assert all(v < 0 for v in r["deff"])
        return [None] * len(r["deff"])
    if case["id"] == "dstrat_one_school_total_api00_100_deff":
        # One respondent: svyvar's n / (n - 1) is 1 / 0, so there is no SRS
        # variance. R multiplies Inf by the squared deviation of the value from
        # the mean: 0 gives NaN (its svymean here, its svytotal of a value that
        # w y / w gives back: dclus1_one_school_total_enroll), a rounding
        # error of 1e-15 gives Inf and a design effect of 0 (here); ramlab
        # gives NaN for every domain of one respondent.
        assert r["deff"] == [0]
        return [None]
    return r["deff"]


SINGLE = [c for c in X["cases"] if c["by"] is None and len(c["variable"]) == 1]
BY = [c for c in X["cases"] if c["by"] is not None]
JOINT = [c for c in X["cases"] if len(c["variable"]) > 1]


@pytest.mark.parametrize("case", SINGLE, ids=lambda c: c["id"])
def test_mean_and_total_corners_against_r(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # R answers these quietly (an empty domain's total is 0)
        d, out = _run(case)
    r = case["result"]
    var = case["variable"][0]
    assert list(out.columns) == ["estimate", "se"] + (["deff"] if case["deff"] else [])
    assert all(out[c].dtype == np.float64 for c in out.columns)  # NaN, never None
    _same(out["estimate"], r["estimate"], 1e-8, "estimate")
    _same(out["se"], r["se"], 1e-6, "se")
    if case["deff"]:
        _same(out["deff"], _expected_deff(case), 1e-6, "deff")
    categorical = isinstance(d.data[var].dtype, pd.CategoricalDtype)
    if categorical:  # rows named by the categories, the index by the variable (R: stypeE, ...)
        assert [var + str(x) for x in out.index] == r["names"]
        assert out.index.name == var
    else:
        assert list(out.index) == r["names"] == [var]
        assert out.index.name is None


def _by_labels(out, case):
    """ramlab's group labels per row of R's svyby."""
    r = case["result"]
    cols = case["by"]
    return [tuple(r["groups"][c][i] for c in cols) for i in range(len(r["groups"][cols[0]]))]


@pytest.mark.parametrize("case", BY, ids=lambda c: c["id"])
def test_by_corners_against_r(case):
    d, out = _run(case)
    r = case["result"]
    by = case["by"]
    var = case["variable"][0]
    categorical = isinstance(d.data[var].dtype, pd.CategoricalDtype)
    groups = _by_labels(out, case)
    nby = len(by)
    srt = out.sort_index()
    if categorical:
        assert list(out.index.names) == by + [var]
        keys = {tuple(str(x) for x in k[:nby]) for k in out.index}
        cats = [str(x) for x in out.index.get_level_values(nby).unique()]
        assert [var + c for c in cats] == r["statistics"]
    else:
        assert list(out.index.names) == by
        keys = {tuple(str(x) for x in (k if nby > 1 else (k,))) for k in out.index}
        cats = None
    # exactly R's groups: no empty level of the domain, no group of missing by values
    assert keys == set(groups)
    for i, g in enumerate(groups):
        key = g if nby > 1 else g[0]
        row = srt.loc[key]
        what = f"{case['id']} {g}"
        if cats is None:
            _same([row["estimate"]], r["estimate"][i], 1e-8, what)
            _same([row["se"]], r["se"][i], 1e-6, what)
            if "deff" in r:
                _same([row["deff"]], r["deff"][i], 1e-6, what)
        else:
            _same(row["estimate"].to_numpy(), r["estimate"][i], 1e-8, what)
            _same(row["se"].to_numpy(), r["se"][i], 1e-6, what)


@pytest.mark.parametrize("case", JOINT, ids=lambda c: c["id"])
def test_several_variables_with_na_rm_against_r(case):
    d = _design(case["design"])
    frame, V = getattr(d, case["estimator"])(case["variable"], na_rm=True, cov=True)
    r = case["result"]
    assert list(frame.columns) == ["estimate", "se"]
    assert list(frame.index) == r["names"]
    assert list(V.index) == list(V.columns) == r["names"]
    _same(frame["estimate"], r["estimate"], 1e-8, "estimate")
    _same(frame["se"], r["se"], 1e-6, "se")
    R.assert_close(V.to_numpy(), np.asarray(r["vcov"]), 1e-6, atol=1e-10, what="vcov")
    # without cov=True: the same frame
    plain = getattr(d, case["estimator"])(case["variable"], na_rm=True)
    assert list(plain.columns) == ["estimate", "se"]


def test_several_variables_with_a_missing_value_are_nan_with_their_covariance():
    # ramlab's contract ("a missing value makes the estimate NaN", R's NA):
    # R's own svymean(~acs.46 + api00, dstrat) gives NA for acs.46 and an
    # infinite SE for api00, nothing to compare with.
    d = _design("dstrat")
    frame, V = d.mean(["class46", "api00"], cov=True)
    assert list(frame.columns) == ["estimate", "se"]
    assert list(V.columns) == ["class46small", "class46large", "api00"]
    assert np.isnan(frame.to_numpy(dtype=float)).all()
    assert V.shape == (3, 3)
    assert np.isnan(V.to_numpy()).all()


@pytest.mark.parametrize("var", ["stype", "enroll"])
def test_a_design_without_rows_totals_zero_as_rs_empty_domain(var):
    r = next(c for c in X["cases"] if c["id"] == f"dclus1_empty_total_{var}")["result"]
    d = Design(R.load_data("apiclus1").iloc[:0], ids="dnum", weights="pw", fpc="fpc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = d.total(var)
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 0, what="estimate")
    R.assert_close(out["se"].to_numpy(), r["se"], 0, what="se")
    with pytest.raises(DesignError, match="mean of an empty domain"):
        d.mean(var)


def test_a_missing_value_on_a_row_of_negative_weight_makes_the_mean_nan():
    # a negative weight counts (R keeps every nonzero weight): its missing
    # value is not a 0 (R's calibrated svymean stops on it)
    neg = np.flatnonzero(_design("dstrat_neg").weights.to_numpy() < 0)[0]
    df = _data("apistrat")
    df["gap"] = df["api00"].astype(float)
    df.loc[df.index[neg], "gap"] = np.nan
    d = Design(df, strata="stype", weights="pw", fpc="fpc").calibrate(
        {"api99": 6194 * 900.0}, method="linear", population=6194.0)
    assert d.weights.iloc[neg] < 0
    assert np.isnan(d.mean("gap").to_numpy(dtype=float)).all()
    R.assert_close(d.mean("gap", na_rm=True)["estimate"].to_numpy(),
                   [d.subset(d.data["gap"].notna()).mean("api00")["estimate"].iloc[0]], 1e-12)


def test_missing_factor_answer_of_a_one_row_design_is_nan():
    df = _data("apistrat").iloc[[0]].copy()
    df["class46"] = pd.Categorical([None], categories=["small", "large"])
    out = Design(df).mean("class46", deff=True)
    assert list(out.index) == ["small", "large"]
    assert np.isnan(out.to_numpy(dtype=float)).all()


# ------------------------------------------------------------ text and boolean columns


def _r_stat(case_id):
    return next(c for c in EST["cases"] if c["id"] == case_id)["result"]


@pytest.mark.parametrize("dtype", ["str", "object", "string"])
def test_a_text_column_gives_the_proportions_of_its_factor(dtype):
    # R's svymean(~stype) turns text into a factor of sorted levels
    df = R.load_data("apistrat")
    df["stype"] = df["stype"].astype(str).astype(dtype)
    out = Design(df, strata="stype", weights="pw", fpc="fpc").mean("stype")
    r = _r_stat("dstrat_mean_stype")
    assert list(out.index) == ["E", "H", "M"]
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-6, what="se")


@pytest.mark.parametrize("dtype", ["bool", "boolean"])
def test_a_boolean_column_gives_the_proportions_of_false_and_true(dtype):
    # sch.wide "No"/"Yes" as False/True: R's levels No, Yes in the same order
    df = R.load_data("apiclus1")
    df["yes"] = (df["sch.wide"] == "Yes").astype(dtype)
    out = Design(df, ids="dnum", weights="pw", fpc="fpc").total("yes")
    r = _r_stat("dclus1_total_sch.wide")
    assert list(out.index) == [False, True]
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-6, what="se")


# ------------------------------------------------------------------- refusals


def test_mean_of_an_empty_domain_is_refused_in_words():
    # R gives 0 with SE 0 for svymean on a domain without respondents
    d = _design("dclus1")
    empty = d.subset(d.data["stype4"] == "X")
    with pytest.raises(DesignError) as e:
        empty.mean("api00")
    assert str(e.value) == ("mean of an empty domain: no row has a positive weight "
                            "(every row is outside the subset)")
    with pytest.raises(DesignError) as e:
        empty.mean("api00", na_rm=True)
    assert str(e.value) == ("mean of an empty domain: no row has a positive weight "
                            "(every row is outside the subset, or its value is missing)")


@pytest.mark.parametrize("by", ["zzz", ["stype", "zzz"]])
def test_a_by_column_not_in_the_data_is_named(by):
    d = _design("dstrat")
    with pytest.raises(ColumnNotFoundError) as e:
        d.mean("api00", by=by)
    assert str(e.value).startswith("by variable column 'zzz' is not in the data")


@pytest.mark.parametrize("by", ["api00", ["stype", "api00"]])
def test_a_numeric_by_column_is_refused_in_words(by):
    d = _design("dstrat")
    with pytest.raises(DesignError) as e:
        d.mean("enroll", by=by)
    assert str(e.value).startswith("by variable 'api00' is a ")
    assert e.value.variable == "api00"


def test_by_a_column_missing_on_every_respondent_is_refused_in_words():
    df = _data("apistrat")
    df["nothing"] = pd.Categorical([None] * len(df), categories=["a", "b"])
    d = Design(df, strata="stype", weights="pw", fpc="fpc")
    with pytest.raises(DesignError) as e:
        d.mean("api00", by="nothing")
    assert "'nothing'" in str(e.value)
    assert "no group" in str(e.value)
    assert e.value.variable == "nothing"
    with pytest.raises(DesignError) as e:  # two by variables: the error names both
        d.mean("api00", by=["nothing", "stype"])
    assert "'nothing'" in str(e.value) and "'stype'" in str(e.value)
    assert e.value.variable == ["nothing", "stype"]
