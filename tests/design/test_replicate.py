"""Replicate-weight designs against R ``svrepdesign`` / ``as.svrepdesign``.

Reference values: tests/fixtures/r/replicate.json, made by replicate.R (JK1
on apiclus1, JKn on apistrat, BRR and Fay on R's scd, a seeded bootstrap on
apistrat whose replicate weights R exported, JK1 with mse = TRUE): estimators
with ``deff=``, ``ciprop`` (every method), banner tables (group estimates,
pairwise and group-versus-rest tests, Rao-Scott test, medians) on the replicate
design; quantiles with interval types "mean" and "quantile", whole and by group.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design, ReplicateDesign
from ramlab.errors import DesignError, MarginError, WeightError
from ramlab.tables import banner, crosstab

REP = R.load_json("replicate.json")
CASES = REP["cases"]


@lru_cache(maxsize=None)
def _design(name, columns=None):
    """The replicate design ``name`` of replicate.json; ``columns(data)`` adds columns first."""
    spec = REP["designs"][name]
    if "base" in spec:
        b = REP["designs"][spec["base"]]
        data = R.load_data(b["data"])
        base = Design(data if columns is None else columns(data), weights=b.get("weights"), ids=b.get("ids"),
                      strata=b.get("strata"), fpc=b.get("fpc"))
        return _weighted(base.replicate(**spec["replicate"]), spec.get("step"))
    data = R.load_data(spec["data"])
    if columns is not None:
        data = columns(data)
    if "repweights_file" in spec:
        reps = pd.read_csv(R.FIXTURES / "data" / spec["repweights_file"])
        assert (reps["cds"].to_numpy() == data["cds"].to_numpy()).all()
        data = pd.concat([data, reps.drop(columns="cds")], axis=1)
    kwargs = {}
    if spec["type"] == "bootstrap":
        kwargs["scale"] = spec["scale"]  # R's bootstrap scale from the PSUs per stratum
    return ReplicateDesign(data, repweights=spec["repweights"], type=spec["type"],
                           weights=spec.get("weights"), rho=spec.get("rho"),
                           combined_weights=spec["combined_weights"], **kwargs)


def _weighted(design, step):
    """The weighting call of a fixture's step (R's rake/calibrate/postStratify of the replicate design)."""
    if step is None:
        return design
    if step["method"] == "rake":
        return design.rake(step["margins"], tol=1e-12)
    if step["method"] == "calibrate":
        return design.calibrate(step["totals"], method=step["calfun"])
    return design.poststratify(step["columns"], step["totals"])


@pytest.mark.parametrize("name", [n for n, s in REP["designs"].items() if "n_replicates" in s])
def test_replicate_design_scale_and_degf(name):
    d = _design(name)
    spec = REP["designs"][name]
    assert d.n_replicates == spec["n_replicates"]
    R.assert_close(d.scale, spec["scale"], 1e-12, what="scale")
    R.assert_close(d.rscales, spec["rscales"], 1e-12, what="rscales")
    assert d.degf() == spec["degf"]
    R.assert_close(d.weights.sum(), spec["sum_weights"], 1e-10, what="sum of weights")


def _cases(*estimators):
    return [c for c in CASES if c["estimator"] in estimators]


@pytest.mark.parametrize("case", _cases("mean", "total"), ids=lambda c: c["id"])
def test_mean_total_against_r(case):
    d = _design(case["design"])
    deff = case.get("deff", False)
    out = getattr(d, case["estimator"])(case["variable"], by=case.get("by"), deff=deff)
    r = case["result"]
    if deff:
        # R svymean/svytotal.svyrep.design: svyvar of the replicate design / n,
        # times (N - n) / N unless "replace"
        expected = np.array([float(v) for v in r["deff_text"]]) if "deff_text" in r else np.ravel(r["deff"])
        got = out["deff"].to_numpy()
        finite = np.isfinite(expected)
        assert (got[~finite] == expected[~finite]).all()  # R: Inf where N = n (no weights)
        R.assert_close(got[finite], expected[finite], 1e-6, what="deff")
    R.assert_close(out["estimate"].to_numpy(), np.ravel(r["estimate"]), 1e-8, what="estimate")
    # a total the weighting fixed (a margin's categories) has SE 0 up to rounding
    R.assert_close(out["se"].to_numpy(), np.ravel(r["se"]), 1e-6,
                   atol=1e-12 * np.abs(np.ravel(r["estimate"])).max(), what="se")
    if case.get("by"):
        assert [str(g) for g in out.index] == [str(g) for g in r["groups"][case["by"]]]


@pytest.mark.parametrize("case", _cases("ciprop"), ids=lambda c: c["id"])
def test_ciprop_against_r(case):
    d = _design(case["design"])
    x = d.data[case["variable"]]
    x = x > case["above"] if "above" in case else x == case["level"]
    r = case["result"]
    if case["method"] == "likelihood":
        # R's confint.svyglm(method = "likelihood") needs the model-based
        # covariance (naive.cov), which a replicate-weight svyglm lacks: R
        # answers NA, ramlab refuses with the reason
        assert r["ci"] == [None, None]
        with pytest.raises(DesignError, match="likelihood.*replicate"):
            d.ciprop(x, method="likelihood")
        return
    out = d.ciprop(x, method=case["method"])
    R.assert_close(out["estimate"], r["estimate"], 1e-8, what="estimate")
    R.assert_close(out["se"], r["se"], 1e-6, what="se")
    # "logit": ramlab refits each replicate as R's svyglm does (glm.fit from the
    # full-sample coefficient, R's IRLS and tolerance), so it follows R to
    # rounding (1.7e-13 here); a refit from another start or with rescaled
    # weights moves the interval by 3e-10 to 2e-8
    rtol_ci = 1e-11 if case["method"] == "logit" else 1e-6
    R.assert_close([out["ci_low"], out["ci_high"]], r["ci"], rtol_ci, what="interval")


@pytest.mark.parametrize("case", _cases("chisq"), ids=lambda c: c["id"])
def test_chisq_against_r(case):
    d = _design(case["design"])
    if "base_above" in case:  # R: subset(d, api00 > value)
        d = d.subset((d.data["api00"] > case["base_above"]).to_numpy())
    out = d.chisq(case["row"], case["col"], statistic=case["statistic"])
    r = case["result"]
    R.assert_close(out.statistic, r["statistic"], 1e-6, what="statistic")
    R.assert_close(out.p_value, r["p_value"], 1e-6, what="p-value")
    par = r["parameter"]
    if par:  # none for the saddlepoint p-value
        expected = [par["ndf"], par["ddf"]] if "ndf" in par else par["df"]
        R.assert_close(out.df, expected, 1e-6, what="df")


@pytest.mark.parametrize("case", _cases("glm"), ids=lambda c: c["id"])
def test_glm_against_r(case):
    d = _design(case["design"])
    formula = case["formula"].replace('"', "'").replace("sch.wide", "Q('sch.wide')")
    family = {"gaussian": "gaussian", "quasibinomial": "binomial"}[case["family"]]
    fit = d.glm(formula, family=family)
    r = case["result"]
    R.assert_close(fit.params.to_numpy(), r["coef"], 1e-8, what="coefficients")
    R.assert_close(fit.bse.to_numpy(), r["se"], 1e-6, what="standard errors")
    assert fit.df_resid == r["df_residual"]


def test_replicate_columns_by_name_or_pattern_agree():
    spec = REP["designs"]["scd_brr"]
    data = R.load_data(spec["data"])
    by_name = ReplicateDesign(data, repweights=[f"brr{i}" for i in range(1, 5)], type="BRR",
                              combined_weights=False)
    by_pattern = _design("scd_brr")
    pd.testing.assert_frame_equal(by_name.mean("arrests"), by_pattern.mean("arrests"))


def test_missing_replicate_weight_is_named():
    data = R.load_data("scd")
    data.loc[2, "brr3"] = np.nan
    with pytest.raises(WeightError, match="brr3"):
        ReplicateDesign(data, repweights="^brr", type="BRR", combined_weights=False)


def test_jkn_without_rscales_is_refused():
    data = R.load_data("scd")
    with pytest.raises(ValueError, match="rscales"):
        ReplicateDesign(data, repweights="^brr", type="JKn")


def test_seeded_bootstrap_gives_the_same_replicates_on_every_run():
    base = R.design_from_spec(REP["designs"]["dclus1"])
    a = base.replicate("bootstrap", seed=3).replicate_weights
    b = base.replicate("bootstrap", seed=3).replicate_weights
    c = base.replicate("bootstrap", seed=4).replicate_weights
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a.to_numpy(), c.to_numpy())
    assert a.shape == (base.n, 50)


def test_bootstrap_replicates_resample_whole_psus():
    """R bootweights: a PSU's rows share their replicate factor; a stratum keeps n_h draws."""
    base = R.design_from_spec(REP["designs"]["dclus1"])
    rep = base.replicate("subbootstrap", seed=1, replicates=20)
    factors = rep.replicate_weights.to_numpy() / base.weights.to_numpy()[:, None]
    for _, rows in base.data.groupby("dnum").groups.items():
        f = factors[base.data.index.get_indexer(rows)]
        assert np.allclose(f, f[0])
    n_psu = base.data["dnum"].nunique()
    per_psu = base.data.assign(**{f"r{j}": factors[:, j] for j in range(20)}).groupby("dnum").first()
    # subbootstrap: n - 1 draws, each counted n / (n - 1)
    np.testing.assert_allclose(per_psu[[f"r{j}" for j in range(20)]].sum(), n_psu, rtol=1e-12)
    assert rep.scale == pytest.approx(1 / 19)


@pytest.mark.parametrize("name", [n for n, s in REP["designs"].items() if s.get("step")])
def test_calibrated_design_replicated_equals_replicate_design_calibrated(name):
    """replicate() of a weighted design recalibrates every replicate, as weighting the replicates does."""
    spec = REP["designs"][name]
    base = R.design_from_spec(REP["designs"][spec["base"]])
    first_weighted = _weighted(base, spec["step"]).replicate(**spec["replicate"])
    first_replicated = _design(name)
    np.testing.assert_allclose(first_weighted.replicate_weights.to_numpy(),
                               first_replicated.replicate_weights.to_numpy(), rtol=1e-9)
    r = next(c for c in CASES if c["id"] == f"{name}_mean_api00")["result"]
    R.assert_close(first_weighted.mean("api00")["se"].to_numpy(), r["se"], 1e-6, what="se")


def test_a_replicate_without_a_category_of_a_margin_is_named():
    """The JK1 replicate that drops district 178, here the only one with a school of type H."""
    data = R.load_data("apiclus1")
    data = data[(data["stype"] != "H") | (data["dnum"] == 178)].reset_index(drop=True)
    rep = Design(data, ids="dnum", weights="pw").replicate("JK1")
    psus = list(pd.unique(data["dnum"]))  # R: one replicate per PSU, in order of appearance
    with pytest.raises(MarginError, match=rf"replicate {psus.index(178) + 1}: margin of 'stype': category 'H'"):
        rep.rake({"stype": {"E": 4421, "H": 755, "M": 1018}})


@pytest.mark.parametrize("case", _cases("quantile"), ids=lambda c: c["id"])
def test_quantile_against_r(case):
    r = case["result"]
    out = _design(case["design"]).quantile(case["variable"], r["probs"], ci=True)
    R.assert_close(out["estimate"].to_numpy(), r["quantile"], 1e-8, what="quantile")
    R.assert_close(out[["ci_low", "ci_high"]].to_numpy().T, [r["ci_low"], r["ci_high"]], 1e-6, what="ci")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-6, what="se")


def test_score_quantile_interval_is_refused_on_a_replicate_design():
    # R's svyquantile.svyrep.design has no interval.type = "score" (match.arg fails)
    with pytest.raises(ValueError, match="score.*linearised"):
        _design("rclus1").quantile("api00", 0.5, ci=True, interval_type="score")


def _banner_columns(data):
    data = data.copy()
    if "ESA" in data:  # scd
        data["ESA"] = pd.Categorical(data["ESA"].astype(str))
        return data
    data["a600"] = (data["api00"] > 600).astype(float)
    data["b600"] = (data["api99"] > 600).astype(float)
    data["schwide_yes"] = pd.Categorical(np.where(data["sch.wide"] == "Yes", "Oui", "Non"),
                                         categories=["Non", "Oui"])
    return data


_BANNER_ROWS = {"schwide_yes": ("schwide_yes", "Oui"), "api00": ("api00", "Moyenne"),
                "arrests": ("arrests", "Moyenne")}


@pytest.mark.parametrize("case", _cases("banner"), ids=lambda c: c["id"])
def test_banner_estimates_and_letters_against_r(case):
    """Column estimates, SEs and tests of a banner on a replicate design, as R's
    svyby(covmat = TRUE) + svycontrast on the svyrep.design (each group's
    estimate recomputed in every replicate)."""
    d = _design(case["design"], _banner_columns)
    column, row = _BANNER_ROWS[case["outcome"]]
    r = case["result"]
    key = (column, "", row)
    by = case["by"]
    cols = [(by, g) for g in r["groups"]]
    for versus, contrasts in (("columns", r["contrasts"]), ("complement", r.get("versus_rest", []))):
        t = crosstab(d, column, by, min_base=0, chisq=False, versus=versus)
        R.assert_close(t.frame.loc[key, cols].to_numpy(dtype=float), r["estimate"], 1e-8, what="estimate")
        R.assert_close(t.se.loc[key, cols].to_numpy(dtype=float), r["se"], 1e-6, what="se")
        tests = t.tests[(t.tests["row"] == row) & (t.tests["variable"] == by)]
        for c in contrasts:
            if versus == "columns":
                a, b = c["label"].split(" - ")
            else:
                a, b = c["group"], "complement"
            hit = tests[(tests["column"] == a) & (tests["versus"] == b)]
            assert len(hit) == 1, (a, b)
            R.assert_close(hit["estimate"].to_numpy(), [c["estimate"]], 1e-6, atol=1e-10, what=f"{a} - {b}")
            R.assert_close(hit["se"].to_numpy(), [c["se"]], 1e-6, what=f"se {a} - {b}")
            assert hit["df"].tolist() == [c["df"]]
            R.assert_close(hit["p_value"].to_numpy(), [c["p_value"]], 1e-6, atol=1e-14, what=f"p {a} - {b}")


@pytest.mark.parametrize("case", [c for c in _cases("chisq") if "_banner_" in c["id"]], ids=lambda c: c["id"])
def test_banner_rao_scott_test_against_r(case):
    """The banner's Rao-Scott test on a replicate design is R's svychisq.svyrep.design."""
    d = _design(case["design"])
    base = None if "base_above" not in case else (d.data["api00"] > case["base_above"]).to_numpy()
    t = crosstab(d, case["row"], case["col"], min_base=0, base=base)
    row = t.chisq.iloc[0]
    r = case["result"]
    R.assert_close([row["statistic"]], [r["statistic"]], 1e-6, what="statistic")
    R.assert_close([row["ndf"], row["ddf"]], [r["parameter"]["ndf"], r["parameter"]["ddf"]], 1e-6, what="df")
    R.assert_close([row["p_value"]], [r["p_value"]], 1e-6, what="p-value")


@pytest.mark.parametrize("case", _cases("banner_contrast"), ids=lambda c: c["id"])
def test_banner_contrast_of_two_answers_against_r(case):
    """Table.contrast of two answers of a multi-response question on a replicate
    design: R's svyratio(covmat = TRUE) + svycontrast, replicate by replicate."""
    from types import SimpleNamespace

    from ramlab.io.spec import Base, Question

    q = Question(id="m", text="Au-dessus de 600", type="multi", columns=("a600", "b600"),
                 item_labels={"a600": "api00 > 600", "b600": "api99 > 600"}, count_label="Nombre moyen")
    spec = SimpleNamespace(questions={"m": q}, bases={"ensemble": Base("ensemble", "Ensemble")},
                           study={"unit": "écoles", "source": "R survey"})
    t = crosstab(_design(case["design"], _banner_columns), "m", "stype", spec=spec, min_base=0, chisq=False)
    r = case["result"]
    if case["group"] == "all":
        c = t.contrast("api00 > 600", "api99 > 600")
        R.assert_close(c.p_value, r["p_value"], 1e-6, what="p-value")
    else:  # the column is a domain of the whole design, whose df it keeps
        c = t.contrast("api00 > 600", "api99 > 600", column=("stype", case["group"]))
    R.assert_close(c.estimate, r["estimate"], 1e-8, atol=1e-12, what="estimate")
    R.assert_close(c.se, r["se"], 1e-6, what="se")


_MEDIAN_ROW = ("api00", "", "Médiane")


def _nan(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("name", ["rclus1", "rboot", "rclus1_raked"])
def test_banner_median_on_a_replicate_design_against_r(name):
    """Banner medians on a replicate design: R svyby(~api00, ~g, d, svyquantile,
    quantiles = 0.5, ci = TRUE, vartype = c("se", "ci")), each group's CDF at its
    median recomputed in every replicate, on the group's replicate degf."""
    d = _design(name)
    t = banner(d, ["api00"], ["stype", "awards"], min_base=0, chisq=False)
    low, high = t.intervals
    total = next(c for c in CASES if c["id"] == f"{name}_quantile_mean_api00")["result"]
    i = total["probs"].index(0.5)
    key = ("Total", "Ensemble")
    assert t.frame.loc[_MEDIAN_ROW, key] == total["quantile"][i]
    assert [low.loc[_MEDIAN_ROW, key], high.loc[_MEDIAN_ROW, key]] == [total["ci_low"][i], total["ci_high"][i]]
    R.assert_close([t.se.loc[_MEDIAN_ROW, key]], [total["se"][i]], 1e-6, what="se")
    for by in ("stype", "awards"):
        r = next(c for c in CASES if c["id"] == f"{name}_by_{by}_median_mean_api00")["result"]
        cols = [(by, g) for g in r["groups"]]
        assert t.frame.loc[_MEDIAN_ROW, cols].tolist() == r["quantile"]
        # bounds are order statistics of the data: equal, not close; NaN where R's is
        np.testing.assert_array_equal(low.loc[_MEDIAN_ROW, cols].to_numpy(dtype=float), _nan(r["ci_low"]))
        np.testing.assert_array_equal(high.loc[_MEDIAN_ROW, cols].to_numpy(dtype=float), _nan(r["ci_high"]))
        np.testing.assert_allclose(t.se.loc[_MEDIAN_ROW, cols].to_numpy(dtype=float), _nan(r["se"]), rtol=1e-6)
        assert [d.subset((d.data[by] == g).to_numpy()).degf() for g in r["groups"]] == r["df"]


@pytest.mark.parametrize("case", _cases("banner_median"), ids=lambda c: c["id"])
def test_quantile_by_and_interval_types_against_r(case):
    """Design.quantile on a replicate design, whole and by= (R svyquantile.svyrep.design
    with interval.type "mean" and "quantile", svyby's se and confint)."""
    d = _design(case["design"])
    r = case["result"]
    with warnings.catch_warnings():  # the jackknife warning of "quantile": its own test
        warnings.simplefilter("ignore")
        out = d.quantile("api00", r.get("probs", 0.5), ci=True, by=case.get("by"),
                         interval_type=case["interval_type"])
    R.assert_close(out["estimate"].to_numpy(), r["quantile"], 1e-8, what="quantile")
    np.testing.assert_allclose(out["se"].to_numpy(dtype=float), _nan(r["se"]), rtol=1e-6)
    low, high = ("ci_low", "ci_high") if "by" not in case else ("confint_low", "confint_high")
    np.testing.assert_allclose(out["ci_low"].to_numpy(dtype=float), _nan(r[low]), rtol=1e-6)
    np.testing.assert_allclose(out["ci_high"].to_numpy(dtype=float), _nan(r[high]), rtol=1e-6)


def test_quantile_interval_warns_on_jackknife_and_is_refused_on_a_linearised_design():
    # R: svyquantile.svyrep.design warns on JK1/JKn; svyquantile.survey.design has no "quantile"
    with pytest.warns(UserWarning, match="Jackknife"):
        _design("rclus1").quantile("api00", 0.5, ci=True, interval_type="quantile")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _design("rboot").quantile("api00", 0.5, ci=True, interval_type="quantile")
    spec = REP["designs"]["dclus1"]
    linear = Design(R.load_data(spec["data"]), ids=spec["ids"], weights=spec["weights"], fpc=spec["fpc"])
    with pytest.raises(ValueError, match="replicate design"):
        linear.quantile("api00", 0.5, ci=True, interval_type="quantile")
