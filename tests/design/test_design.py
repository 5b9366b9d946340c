"""Design, estimation and variance: against R survey 4.1-1 (tests/fixtures/r)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.design._estimates import variable_matrix
from ramlab.errors import ColumnNotFoundError, DesignError, LonelyPSUError, WeightError
from ramlab.weighting import Reweighting

EST = R.load_json("estimation.json")
LONELY = R.load_json("lonely.json")


def _design(name, **kw):
    return R.design_from_spec(EST["designs"][name], **kw)


# ---------------------------------------------------------------- designs


@pytest.mark.parametrize("name", sorted(EST["designs"]))
def test_design_degf_and_weights(name):
    spec = EST["designs"][name]
    d = _design(name)
    assert d.n == spec["n"]
    assert d.degf() == spec["degf"]
    R.assert_close(d.weights.sum(), spec["sum_weights"], 1e-8, what="sum of weights")
    assert d.weights.name == "weight"
    assert d.weights.index.equals(d.data.index)


def test_weights_from_fpc_two_stages_closed_form():
    # apiclus2: weight = (N1 / n1) * (N2 / n2), n1 = sampled districts,
    # n2 = sampled schools of the district (R svydesign without weights).
    df = R.load_data("apiclus2")
    d = Design(df, ids=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    n1 = df["dnum"].nunique()
    n2 = df.groupby("dnum")["snum"].transform("nunique")
    expected = df["fpc1"] / n1 * df["fpc2"] / n2
    np.testing.assert_allclose(d.weights.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_fpc_as_fraction_equals_population_size():
    df = R.load_data("apistrat")
    n_h = df.groupby("stype", observed=True)["stype"].transform("size")
    df["frac"] = n_h / df["fpc"]
    a = Design(df, strata="stype", weights="pw", fpc="fpc").mean("api00")
    b = Design(df, strata="stype", weights="pw", fpc="frac").mean("api00")
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12)


# ------------------------------------------------------------ estimation


def _case_id(c):
    return c["id"]


@pytest.mark.parametrize("case", EST["cases"], ids=_case_id)
def test_estimation_against_r(case):
    d = _design(case["design"])
    f = getattr(d, case["estimator"])
    out = f(case["variable"], by=case["by"], deff=case["deff"], na_rm=case["na_rm"])
    r = case["result"]
    est = np.ravel(np.asarray(r["estimate"], dtype=float))
    se = np.ravel(np.asarray(r["se"], dtype=float))
    R.assert_close(out["estimate"].to_numpy(), est, 1e-8, what="estimate")
    R.assert_close(out["se"].to_numpy(), se, 1e-6, what="se")
    if case["deff"]:
        rdeff = np.ravel(np.array(r["deff"], dtype=object))
        got = out["deff"].to_numpy()
        finite = np.array([v is not None for v in rdeff])
        # R's Inf/NaN deff (no fpc, N = n) is written as null
        assert np.all(~np.isfinite(got[~finite]))
        R.assert_close(got[finite], rdeff[finite].astype(float), 1e-6, what="deff")
    if case["by"] is None and "levels" in r:
        assert [str(x) for x in out.index] == [str(x) for x in r["levels"]]
    if case["by"] is None and "vcov" in r:
        Y, *_ = variable_matrix(d, case["variable"])
        # the full covariance (not only the SEs) comes from total_vcov
        w = d.weights.to_numpy()
        if case["estimator"] == "mean":
            p = w @ Y / w.sum()
            U = (Y - p) / w.sum()
        else:
            U = Y
        R.assert_close(d.total_vcov(U), np.asarray(r["vcov"]), 1e-6, atol=1e-10, what="vcov")
    if case["by"] is not None:
        groups = r["groups"][case["by"]]
        labels = out.index.get_level_values(0).unique()
        assert [str(x) for x in labels] == [str(g) for g in groups]


def test_by_equals_subset():
    d = _design("dclus1")
    by = d.mean("api00", by="stype")
    for g in ["E", "H", "M"]:
        sub = d.subset(d.data["stype"] == g).mean("api00")
        np.testing.assert_allclose(by.loc[g, ["estimate", "se"]].to_numpy(dtype=float),
                                   sub.iloc[0][["estimate", "se"]].to_numpy(dtype=float), rtol=1e-12)


def test_subset_keeps_rows_and_zero_weights():
    d = _design("dstrat")
    mask = d.data["sch.wide"] == "Yes"
    s = d.subset(mask)
    assert s.n == d.n
    assert (s.weights[~mask] == 0).all()
    assert (s.weights[mask] == d.weights[mask]).all()
    # degf counts PSUs and strata with nonzero weight only
    assert s.degf() == int(mask.sum()) - 3


def test_a_query_or_column_that_does_not_give_true_or_false_is_refused_by_name():
    """subset("api00 + 1") gives numbers and subset("sch.wide") categories, not a domain (R's
    subset stops on a factor; ramlab took any value of a named column as True): a DesignError
    naming the query. A column of True, False and missing values is a domain (missing = False)."""
    d = _design("dstrat")
    for query in ("api00 + 1", "sch.wide", "api00"):  # numbers; categories; a column of numbers
        with pytest.raises(DesignError, match=rf"^subset\({re.escape(repr(query))}\): .*true/false"):
            d.subset(query)
    yes = (d.data["sch.wide"] == "Yes").to_numpy()
    flag = pd.Series(np.where(yes, True, None), index=d.data.index, dtype=object)
    d = Design(d.data.assign(flag=flag), strata="stype", weights="pw", fpc="fpc")
    np.testing.assert_array_equal(d.subset("flag").weight_values, np.where(yes, d.weight_values, 0.0))


def test_a_mask_of_the_wrong_size_or_index_is_refused_by_name():
    """A mask must give one value per row; a Series is aligned on the data's labels (shuffled
    is fine, missing values are False, as R's subset drops NA); other labels are refused."""
    d = _design("dstrat")
    with pytest.raises(DesignError, match=r"^mask must have 200 values \(one per row\), not \(5,\)"):
        d.subset(np.ones(5, dtype=bool))
    with pytest.raises(DesignError, match=r"^mask is a Series whose index does not match"):
        d.subset(pd.Series(True, index=range(1000, 1200)))
    yes = (d.data["sch.wide"] == "Yes").to_numpy()
    shuffled = pd.Series(np.where(yes, 1.0, np.nan), index=d.data.index).sample(frac=1.0, random_state=1)
    with warnings.catch_warnings():  # pandas deprecates fillna(False) on floats (was the way)
        warnings.simplefilter("error")
        domain = d.subset(shuffled)
    np.testing.assert_array_equal(domain.weight_values, np.where(yes, d.weight_values, 0.0))


def test_a_domain_of_a_domain_holds_the_rows_of_both():
    """R's subset() of an uncalibrated design drops the other rows: subset(subset(dstrat, E), Yes)
    holds the rows of both (nrow), and its df counts their PSUs minus strata."""
    d = _design("dstrat")
    e, yes = (d.data["stype"] == "E").to_numpy(), (d.data["sch.wide"] == "Yes").to_numpy()
    both = d.subset(e).subset(yes)
    assert both.n_held_rows == int((e & yes).sum())
    np.testing.assert_array_equal(both.held_rows, np.flatnonzero(e & yes))
    assert both.held_degf == int((e & yes).sum()) - 1  # one PSU per row, one stratum (E)
    # a mask of 0/1 numbers is the same domain
    numbers = d.subset(e.astype(float)).subset(yes.astype(int))
    np.testing.assert_array_equal(numbers.weight_values, both.weight_values)
    np.testing.assert_array_equal(numbers.held_rows, both.held_rows)
    # a domain of a calibrated design holds every row (R keeps them)
    raked = d.rake({"sch.wide": {"No": 1072, "Yes": 5122}})
    assert raked.subset(e).subset(yes).n_held_rows == d.n
    # ... the rows of the domain it was calibrated in: R's subset(rake(subset(dstrat, E)), Yes)
    domain_raked = d.subset(e).rake({"sch.wide": {"No": 500, "Yes": 3921}})
    assert domain_raked.subset(yes).n_held_rows == int(e.sum())


def test_the_weights_are_read_only_and_named_through_derived_designs():
    """Designs are immutable: the weights a design hands out cannot be written; the weight
    column's name stays with the designs derived from it (domains, weighting)."""
    d = _design("dstrat")
    with pytest.raises(ValueError, match="read-only"):
        d.weight_values[0] = 1.0
    derived = d.rake({"sch.wide": {"No": 1072, "Yes": 5122}}).subset(d.data["stype"] == "E")
    assert derived.weight_name == "pw" and d.weight_name == "pw"
    # the weights it was constructed with, before weighting and domains
    np.testing.assert_array_equal(derived.base_weights, d.data["pw"].to_numpy())
    with pytest.raises(ValueError, match="read-only"):
        derived.weight_values[0] = 1.0


def test_the_constructor_refuses_bad_arguments_naming_them():
    """Each refusal names the argument and the value given (the rules of the house)."""
    df = R.load_data("apistrat")
    with pytest.raises(TypeError, match=r"^data must be a pandas DataFrame$"):
        Design(df.to_numpy())
    with pytest.raises(ValueError, match=r"^lonely_psu must be one of \(.*'adjust'.*\), not 'drop'$"):
        Design(df, lonely_psu="drop")
    with pytest.raises(ValueError, match=r"^lonely_psu_domain must be None or 'adjust', not 'average'$"):
        Design(df, lonely_psu_domain="average")
    with pytest.raises(DesignError, match=r"^weights must be a column name or a Series .*, not ndarray$"):
        Design(df, weights=df["pw"].to_numpy())
    with pytest.raises(ColumnNotFoundError, match=r"^weights column 'poids' is not in the data"):
        Design(df, weights="poids")
    with pytest.raises(DesignError, match=r"^weights is a Series whose index does not match"):
        Design(df, weights=pd.Series(1.0, index=range(1000, 1200)))
    missing = df["pw"].where(df["stype"] != "H")  # the 50 high schools
    nullable = pd.array(np.where(df["stype"] == "H", None, 3), dtype="Int64")
    objects = pd.Series(np.where(df["stype"] == "H", None, df["pw"]), index=df.index, name="pw", dtype=object)
    for weights, data, name in ((missing, df, "pw"), (missing.rename(None), df, "weights"), (objects, df, "pw"),
                                ("pw", df.assign(pw=missing), "pw"), ("pw", df.assign(pw=nullable), "pw"),
                                ("pw", df.assign(pw=objects), "pw")):
        with pytest.raises(WeightError, match=rf"^weight '{name}' has 50 missing values") as err:
            Design(data, weights=weights)
        assert err.value.variable == name
    with pytest.raises(WeightError, match=r"^weight 'f' is too large .* value 2\.0*2e\+298 makes") as err:
        Design(df.assign(f=1e300), strata="stype", fpc="f")  # N / n_h from the fpc: 1e300 / 50
    assert err.value.variable == "f"
    # the values as numbers, not numpy's repr (np.float64(-1.5))
    with pytest.raises(WeightError, match=r"^weight 'pw' has negative values \(min -1\.5\)$"):
        Design(df.assign(pw=np.where(df["stype"] == "H", -1.5, 1.0)), weights="pw")


def test_the_weight_name_is_the_column_or_series_given():
    df = R.load_data("apistrat")
    assert Design(df, weights="pw").weight_name == "pw"
    assert Design(df, weights=df["pw"]).weight_name == "pw"
    assert Design(df, weights=df["pw"].rename(None)).weight_name == "weights"
    assert Design(df).weight_name is None  # equal weights
    assert Design(df, strata="stype", fpc="fpc").weight_name is None  # N_h / n_h, no column
    # clusters are taken within their strata unless nest=False (districts hold schools of each type)
    nested = Design(df, ids="dnum", strata="stype", weights="pw")
    assert nested.degf() == df.groupby("stype", observed=True)["dnum"].nunique().sum() - 3


def test_weights_are_float64_whatever_was_given():
    """``weights``: "a float64 Series"; also when apply_weighting is given integers."""
    df = R.load_data("apistrat")
    d = Design(df.assign(w=2), weights="w")
    assert d.weights.dtype == np.float64 and d.weight_values.dtype == np.float64
    given = d.apply_weighting(Reweighting([3] * len(df), None))
    assert given.weights.dtype == np.float64 and given.weight_values.dtype == np.float64
    assert given.total("one")["estimate"].iloc[0] == 3 * len(df)


def test_the_covariance_of_one_variable_is_its_variance():
    """``cov=True`` with one column (a name, not a list): R ``vcov(svymean(~api00, dstrat))`` is SE^2."""
    d = _design("dstrat")
    for kind in ("mean", "total"):
        plain = getattr(d, kind)("api00")
        frame, V = getattr(d, kind)("api00", cov=True)
        pd.testing.assert_frame_equal(frame, plain)
        np.testing.assert_allclose(np.asarray(V, dtype=float), [[plain["se"].iloc[0] ** 2]], rtol=1e-12)


def test_by_and_deff_refused_with_several_variables_or_cov():
    d = _design("dstrat")
    for call in (lambda: d.mean(["api00", "api99"], by="stype"), lambda: d.total("api00", cov=True, deff=True)):
        with pytest.raises(ValueError, match=r"^by= and deff= take one variable, without cov=True$"):
            call()


def test_total_vcov_srs_closed_form():
    # One stage, no strata, no fpc: V = n/(n-1) * sum (x_i - xbar)^2, x = w*u.
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.normal(size=50), "w": rng.uniform(1, 3, size=50)})
    d = Design(df, weights="w")
    x = df["w"].to_numpy() * df["y"].to_numpy()
    expected = 50 / 49 * ((x - x.mean()) ** 2).sum()
    np.testing.assert_allclose(d.total_vcov(df["y"].to_numpy())[0, 0], expected, rtol=1e-12)


def test_mean_missing_value_gives_nan_or_domain():
    df = R.load_data("apiclus2")
    d = Design(df, ids=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    assert df["enroll"].isna().any()
    assert np.isnan(d.mean("enroll")["estimate"].iloc[0])
    ok = d.mean("enroll", na_rm=True)
    dom = d.subset(df["enroll"].notna()).mean("enroll")
    np.testing.assert_allclose(ok.to_numpy(), dom.to_numpy(), rtol=1e-12)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_weights_raise(bad):
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "w": [1.0, bad, 2.0]})
    with pytest.raises(WeightError) as e:
        Design(df, weights="w")
    assert e.value.variable == "w"
    assert "'w'" in str(e.value)


# ------------------------------------------------------------ lonely PSU


def _lonely_data(spec):
    df = R.load_data(spec["data"])
    if spec.get("rows_0based") is not None:
        df = df.iloc[spec["rows_0based"]].reset_index(drop=True)
    if "stratum" in spec.get("derived", {}):
        df["stratum"] = df["stype"].astype(str)
        df.loc[0, "stratum"] = "X"
    return df


def _lonely_design(case):
    spec = case["design"]
    df = _lonely_data(spec)
    return Design(df, ids=spec["ids"], strata=spec["strata"], fpc=spec["fpc"],
                  weights=spec["weights"], lonely_psu=case["lonely_psu"])


@pytest.mark.parametrize("case", LONELY["cases"], ids=_case_id)
def test_lonely_psu_against_r(case):
    d = _lonely_design(case)
    res = case["result"]
    assert d.degf() == res["degf"]
    calls = {
        "mean_api00": lambda: d.mean("api00"),
        "total_enroll": lambda: d.total("enroll"),
        "mean_stype": lambda: d.mean("sch.wide"),
        "domain_mean_api00": lambda: d.subset(d.data["sch.wide"] == "Yes").mean("api00"),
    }
    for key, call in calls.items():
        r = res[key]
        if r.get("error"):
            with pytest.raises(LonelyPSUError) as e:
                call()
            assert "only one PSU" in str(e.value)
            # the message offers every other choice of lonely_psu
            assert "choose lonely_psu among remove, adjust, average, certainty" in str(e.value)
            assert e.value.stage == 1
            assert str(e.value.stratum) in r["error"]
        else:
            out = call()
            R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-8, what=f"{key} estimate")
            R.assert_close(out["se"].to_numpy(), r["se"], 1e-6, what=f"{key} se")


def test_lonely_psu_option_validated():
    df = R.load_data("apistrat")
    with pytest.raises(ValueError):
        Design(df, weights="pw", lonely_psu="drop")


def test_glm_method_fits_rs_svyglm():
    # glm.json: svyglm(api00 ~ ell + meals + mobility, design=dstrat)
    case = next(c for c in R.load_json("glm.json")["cases"]
                if c["id"] == "dstrat_gaussian_api00_ell_meals_mobility")
    d = R.design_from_spec(R.load_json("glm.json")["designs"]["dstrat"])
    fit = d.glm("api00 ~ ell + meals + mobility")
    terms = ["Intercept", "ell", "meals", "mobility"]
    assert case["result"]["terms"] == ["(Intercept)", *terms[1:]]
    R.assert_close(fit.params[terms].to_numpy(), case["result"]["coef"], 1e-8, what="coef")
    R.assert_close(fit.bse[terms].to_numpy(), case["result"]["se"], 1e-6, what="se")
    assert fit.df_resid == case["result"]["df_residual"]


# ------------------------------------------------------- textbook formulas


def _two_stage_sample(seed=3):
    rng = np.random.default_rng(seed)
    rows = []
    N1, n1 = 40, 8
    for i in range(n1):
        N2 = int(rng.integers(10, 30))
        n2 = int(rng.integers(2, 6))
        for j in range(n2):
            rows.append({"psu": i, "ssu": j, "N1": N1, "N2": N2, "y": rng.normal(10 + i, 2)})
    return pd.DataFrame(rows)


def test_two_stage_variance_textbook():
    # Lohr (2010), Sampling: Design and Analysis, eq. (5.21): unbiased
    # estimator of V(t_hat) for two-stage cluster sampling with SRSWOR at
    # both stages:
    #   N1^2 (1 - n1/N1) s_t^2 / n1 + N1/n1 * sum_i N2i^2 (1 - n2i/N2i) s_i^2 / n2i
    df = _two_stage_sample()
    d = Design(df, ids=["psu", "ssu"], fpc=["N1", "N2"])
    N1 = 40
    g = df.groupby("psu")
    n1 = g.ngroups
    n2 = g["y"].size()
    N2 = g["N2"].first()
    t_i = N2 / n2 * g["y"].sum()
    s_t2 = t_i.var(ddof=1)
    s_i2 = g["y"].var(ddof=1)
    v = N1**2 * (1 - n1 / N1) * s_t2 / n1 + N1 / n1 * (N2**2 * (1 - n2 / N2) * s_i2 / n2).sum()
    t_hat = (N1 / n1 * t_i).sum()
    out = d.total("y")
    assert out["estimate"].iloc[0] == pytest.approx(t_hat, rel=1e-12)
    assert out["se"].iloc[0] ** 2 == pytest.approx(v, rel=1e-10)
    # weights from the fpc: (N1 / n1) * (N2i / n2i)
    w = (N1 / n1) * (df["N2"] / df.groupby("psu")["y"].transform("size"))
    np.testing.assert_allclose(d.weights.to_numpy(), w.to_numpy(), rtol=1e-12)


def test_stratified_variance_textbook():
    # Cochran (1977) eq. (5.6) with the sample variance: V = sum_h N_h^2 (1 - f_h) s_h^2 / n_h
    df = R.load_data("apistrat")
    d = Design(df, strata="stype", fpc="fpc")  # weights N_h / n_h from the fpc
    g = df.groupby("stype", observed=True)
    N_h = g["fpc"].first()
    n_h = g["api00"].size()
    s2 = g["api00"].var(ddof=1)
    v = (N_h**2 * (1 - n_h / N_h) * s2 / n_h).sum()
    assert d.total("api00")["se"].iloc[0] ** 2 == pytest.approx(v, rel=1e-10)


def test_weights_are_read_only():
    d = _design("dstrat")
    with pytest.raises(ValueError):
        d.weights.to_numpy()[0] = 1.0


def test_by_several_columns_equals_subset():
    d = _design("dclus1")
    by = d.mean("api00", by=["stype", "sch.wide"])
    for (g1, g2), row in by.iterrows():
        sub = d.subset((d.data["stype"] == g1) & (d.data["sch.wide"] == g2)).mean("api00").iloc[0]
        np.testing.assert_allclose(row[["estimate", "se"]].to_numpy(dtype=float),
                                   sub[["estimate", "se"]].to_numpy(dtype=float), rtol=1e-12)


def test_an_unknown_column_is_a_named_ramlab_error_and_a_key_error():
    import pandas as pd

    from ramlab import ColumnNotFoundError, RamlabError

    d = Design(pd.DataFrame({"age": [1.0, 2.0], "agglo": [3.0, 4.0]}))
    with pytest.raises(ColumnNotFoundError, match=r"variable column 'ag' is not in the data; "
                                                  r"columns starting alike: 'age', 'agglo'") as info:
        d.mean("ag")
    assert isinstance(info.value, RamlabError) and isinstance(info.value, KeyError)
    assert info.value.variable == "ag"
