"""Survey-weighted GLMs and predictive margins against R survey 4.1-1.

Reference values: tests/fixtures/r/glm.json (glm.R) and extra_glm.json
(extra_glm.R: the binomial and poisson fits converged to epsilon = 1e-15, a
domain, rows dropped for missing values, more predictive margins). Tolerances:
coefficients and margins 1e-8, standard errors 1e-6 (relative).
"""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ramlab.design import Design
from ramlab.errors import ModelError
from ramlab.models import GLMResult, glm

FIXTURES = Path(__file__).parent / "fixtures" / "r"
GLM = json.loads((FIXTURES / "glm.json").read_text())
EXTRA = json.loads((FIXTURES / "extra_glm.json").read_text())
LEVELS = json.loads((FIXTURES / "data" / "datasets.json").read_text())["factor_levels"]
COEF_RTOL = 1e-8
SE_RTOL = 1e-6


def _case(source, case_id):
    return next(c for c in source["cases"] if c["id"] == case_id)


def _read(name):
    data = pd.read_csv(FIXTURES / "data" / f"{name}.csv")
    for column, levels in LEVELS.get(name, {}).items():
        data[column] = pd.Categorical(data[column], categories=levels)
    return data


DATA = {name: _read(name) for name in ("apistrat", "apiclus1", "apiclus2", "nhanes")}

POP_TYPES = {"E": 4421, "H": 755, "M": 1018}
POP_SCHWIDE = {"No": 1072, "Yes": 5122}


def _design(name):
    """The designs of common.R / glm.R / extra_glm.R."""
    if name == "dstrat":
        return Design(DATA["apistrat"], strata="stype", weights="pw", fpc="fpc")
    if name == "dclus1":
        return Design(DATA["apiclus1"], ids="dnum", weights="pw", fpc="fpc")
    if name == "dclus2":
        return Design(DATA["apiclus2"], ids=["dnum", "snum"], fpc=["fpc1", "fpc2"])
    if name == "dclus1_raked":
        return _design("dclus1").rake({"stype": POP_TYPES, "sch.wide": POP_SCHWIDE}, tol=1e-13)
    if name == "nhanes_design":
        return Design(DATA["nhanes"], ids="SDMVPSU", strata="SDMVSTRA", weights="WTMEC2YR")
    raise KeyError(name)


def _formula(r_formula):
    """An R formula of the fixtures in patsy terms: factor responses become No/Yes = 0/1."""
    response, rhs = (part.strip() for part in r_formula.split("~"))
    if response in ("sch.wide", "awards"):
        response = f"I(Q({response!r}) == 'Yes')"
    rhs = rhs.replace("acs.k3", "Q('acs.k3')")
    return f"{response} ~ {rhs}"


def _term(r_name):
    """R coefficient name -> patsy column name ("stypeH" -> "stype[T.H]")."""
    if r_name == "(Intercept)":
        return "Intercept"
    if r_name == "acs.k3":
        return "Q('acs.k3')"
    for var in ("stype", "agecat", "awards"):
        if r_name.startswith(var):
            return f"{var}[T.{r_name[len(var):]}]"
    return r_name


R_FAMILIES = {"gaussian": "gaussian", "quasibinomial": "binomial", "quasipoisson": "poisson"}


def _family(r_family):
    return R_FAMILIES[r_family]


def _fit(design_name, r_formula, r_family, domain=None):
    design = _design(design_name)
    if domain is not None:
        design = design.subset(design.data["stype"] != "E")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # thin categories of the api data
        return glm(design, _formula(r_formula), family=_family(r_family))


def _assert_fit(fit, result, *, se=True):
    terms = [_term(t) for t in result["terms"]]
    # patsy puts categorical terms before numeric ones; R keeps the formula order
    assert sorted(fit.params.index) == sorted(terms)
    np.testing.assert_allclose(fit.params[terms], result["coef"], rtol=COEF_RTOL, atol=0)
    if se:
        np.testing.assert_allclose(fit.bse[terms], result["se"], rtol=SE_RTOL, atol=0)
    assert fit.df_resid == result["df_residual"]


# ---------------------------------------------------------------------------
# svyglm against R
# ---------------------------------------------------------------------------
GAUSSIAN = [c["id"] for c in GLM["cases"] if c.get("family") == "gaussian" and "formula" in c
            and "svypredmeans" not in c["id"]]
BINOMIAL = [c["id"] for c in GLM["cases"] if c.get("family") == "quasibinomial"
            and "svypredmeans" not in c["id"]]


def _glm_case_design(case):
    if case["calibration"] is None:
        return case["design"]
    # dclus1_raked and dclus1_calraked: the same raking margins (identical in R too).
    return "dclus1_raked"


@pytest.mark.parametrize("case_id", GAUSSIAN)
def test_gaussian_matches_r_svyglm(case_id):
    case = _case(GLM, case_id)
    result = case["result"]
    fit = _fit(_glm_case_design(case), case["formula"], case["family"])
    _assert_fit(fit, result)
    terms = [_term(t) for t in result["terms"]]
    np.testing.assert_allclose(fit.vcov.loc[terms, terms].to_numpy(), result["vcov"],
                               rtol=SE_RTOL, atol=1e-12)
    np.testing.assert_allclose(fit.tvalues[terms], result["t"], rtol=SE_RTOL)
    np.testing.assert_allclose(fit.pvalues[terms], result["p_value"], rtol=1e-5)
    ci = fit.conf_int(0.95).loc[terms]
    np.testing.assert_allclose(ci["ci_low"], result["confint_95"]["low"], rtol=SE_RTOL)
    np.testing.assert_allclose(ci["ci_high"], result["confint_95"]["high"], rtol=SE_RTOL)
    np.testing.assert_allclose(fit.dispersion, result["dispersion"], rtol=1e-8)
    assert fit.nobs == result["n_used"]


@pytest.mark.parametrize("case_id", BINOMIAL)
def test_binomial_coefficients_match_r_svyglm(case_id):
    # glm.json stops R's IRLS at epsilon = 1e-12: coefficients exact, but R's SEs
    # carry the previous iterate's working weights (up to 4e-6 off); the SEs
    # are checked against the same fits converged to 1e-15 (extra_glm.json).
    case = _case(GLM, case_id)
    fit = _fit(_glm_case_design(case), case["formula"], case["family"])
    _assert_fit(fit, case["result"], se=False)
    tight = next((c for c in EXTRA["cases"] if c["id"] == case_id), None)
    if tight is not None:
        _assert_fit(fit, tight["result"])
    else:  # the calibrate(calfun="raking") twin of the raked case
        _assert_fit(fit, _case(EXTRA, case_id.replace("calraked", "raked"))["result"])


EXTRA_FITS = [c["id"] for c in EXTRA["cases"] if "call" in c and c["call"].startswith("svyglm")
              and c["id"] != "dstrat_domain_notE_gaussian_api00_ell_awards"]


@pytest.mark.parametrize("case_id", EXTRA_FITS)
def test_extra_fits_match_r(case_id):
    case = _case(EXTRA, case_id)
    formula = re.search(r"svyglm\(([^,]+),", case["call"]).group(1)
    family = re.search(r"family=(\w+)", case["call"])
    family = family.group(1) if family else "gaussian"
    fit = _fit(case["design"], formula, family, domain=case.get("domain"))
    result = case["result"]
    _assert_fit(fit, result)
    terms = [_term(t) for t in result["terms"]]
    np.testing.assert_allclose(fit.pvalues[terms], result["p_value"], rtol=1e-5)
    # R's summary() rescales the Pearson residuals when rows are dropped for NA;
    # ramlab reports svyvar of the Pearson residuals on the model's rows.
    np.testing.assert_allclose(fit.dispersion, result["dispersion_aligned"], rtol=1e-8)


def test_user_missing_category_leaves_the_model_as_a_domain():
    # R: svyglm(api00 ~ ell + awards, design = subset(dstrat, stype != "E"))
    result = _case(EXTRA, "dstrat_domain_notE_gaussian_api00_ell_awards")["result"]
    data = DATA["apistrat"].copy()
    awards = data["awards"].cat.add_categories("Ne sait pas")
    awards[data["stype"] == "E"] = "Ne sait pas"
    data["awards"] = awards
    data.attrs["user_missing"] = {"awards": ["Ne sait pas"]}
    design = Design(data, strata="stype", weights="pw", fpc="fpc")
    fit = glm(design, "api00 ~ ell + awards")
    _assert_fit(fit, result)
    assert fit.nobs == result["n_used"]


def test_design_glm_is_models_glm():
    design = _design("dstrat")
    a = design.glm("api00 ~ ell + meals + mobility")
    b = glm(design, "api00 ~ ell + meals + mobility")
    pd.testing.assert_series_equal(a.params, b.params)
    pd.testing.assert_series_equal(a.bse, b.bse)


# ---------------------------------------------------------------------------
# Predictive margins (svypredmeans) against R
# ---------------------------------------------------------------------------
def _nhanes_model():
    return glm(_design("nhanes_design"), "HI_CHOL ~ agecat + RIAGENDR", family="binomial")


def _assert_margins(table, result, *, se=True):
    groups = [type(table.index[0])(g) for g in result["groups"]]
    np.testing.assert_allclose(table.loc[groups, "estimate"], result["estimate"],
                               rtol=COEF_RTOL, atol=0)
    if se:
        np.testing.assert_allclose(table.loc[groups, "se"], result["se"], rtol=SE_RTOL, atol=0)
        np.testing.assert_allclose(table.attrs["vcov"].loc[groups, groups].to_numpy(),
                                   result["vcov"], rtol=SE_RTOL * 10, atol=1e-14)


def test_margins_match_svypredmeans_help_example():
    fit = _nhanes_model()
    table = fit.margins("race")
    assert list(table.columns) == ["estimate", "se", "ci_low", "ci_high"]
    assert list(table.index) == [1, 2, 3, 4]
    # The help page fits with glm's default epsilon = 1e-8: estimates agree to
    # 1e-8; its SEs are 1e-6 off the converged ones, checked in the tight case.
    _assert_margins(table, _case(GLM, "nhanes_svypredmeans_race_example")["result"], se=False)
    _assert_margins(table, _case(GLM, "nhanes_svypredmeans_race_tight")["result"])
    _assert_margins(table, _case(EXTRA, "nhanes_svypredmeans_race_tight")["result"])
    z = 1.959963984540054
    np.testing.assert_allclose(table["ci_low"], table["estimate"] - z * table["se"], rtol=1e-12)


def test_margins_at_numeric_values_match_predictat_example():
    result = _case(GLM, "dstrat_svypredmeans_enroll_predictat_example")["result"]
    fit = glm(_design("dstrat"), "api00 ~ mobility + ell + hsg + meals")
    table = fit.margins("enroll", at=[100, 300, 1000, 3000])
    np.testing.assert_allclose(table["estimate"], result["estimate"], rtol=COEF_RTOL)
    np.testing.assert_allclose(table["se"], result["se"], rtol=SE_RTOL)


@pytest.mark.parametrize("case_id", ["dclus1_raked_svypredmeans_stype",
                                     "dstrat_svypredmeans_stype_gaussian"])
def test_margins_match_r_on_raked_and_stratified_designs(case_id):
    case = _case(EXTRA, case_id)
    formula = re.search(r"svyglm\(([^,]+),", case["model_call"]).group(1)
    family = re.search(r"family=(\w+)", case["model_call"])
    fit = _fit(case["design"], formula, family.group(1) if family else "gaussian")
    _assert_margins(fit.margins("stype"), case["result"])


def test_margins_of_a_model_variable_equal_margins_after_adding_it():
    # svypredmeans(model without stype, ~stype) refits with stype added; asking
    # margins of stype on the model that already has it gives the same numbers.
    case = _case(EXTRA, "dstrat_svypredmeans_stype_gaussian")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = glm(_design("dstrat"), "api00 ~ ell + meals + mobility + C(stype)")
    _assert_margins(fit.margins("stype"), case["result"])


def test_margins_with_an_interaction_follow_the_closed_form():
    # Gaussian model with ell x stype: the margin of stype g is
    # b0 + b_g + (b_ell + b_ell:g) * (weighted mean of ell), b_E = b_ell:E = 0.
    design = _design("dstrat")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = glm(design, "api00 ~ ell * stype")
    ell = np.average(design.data["ell"], weights=design.weights)
    b = fit.params
    expected = [b["Intercept"] + b.get(f"stype[T.{g}]", 0.0)
                + (b["ell"] + b.get(f"ell:stype[T.{g}]", 0.0)) * ell for g in "EHM"]
    table = fit.margins("stype")
    assert list(table.index) == ["E", "H", "M"]
    np.testing.assert_allclose(table["estimate"], expected, rtol=1e-12)


def test_plot_margins_returns_a_figure_with_one_point_per_group():
    from matplotlib.figure import Figure

    fig = _nhanes_model().plot_margins("race")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2", "3", "4"]
    assert "Part ajustée" in ax.get_xlabel()
    own = Figure()
    axes = own.add_subplot()
    assert _nhanes_model().plot_margins("race", ax=axes) is own


# ---------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------
def test_result_tables_and_display():
    fit = _design("dstrat").glm("api00 ~ ell + meals + mobility")
    assert isinstance(fit, GLMResult)
    table = fit.summary()
    assert list(table.columns) == ["estimate", "se", "t", "p_value", "ci_low", "ci_high"]
    assert list(table.index) == ["Intercept", "ell", "meals", "mobility"]
    ci90 = fit.conf_int(0.90)
    assert (ci90["ci_high"] - ci90["ci_low"] < table["ci_high"] - table["ci_low"]).all()
    html = fit._repr_html_()
    assert "api00 ~ ell + meals + mobility" in html and "<table" in html
    assert "Degrés de liberté résiduels" in html
    with pytest.raises(ModelError):
        fit.conf_int(1.5)


# ---------------------------------------------------------------------------
# The results table (issue 12 item 12) and predict (R predict.svyglm, extra_predict.json)
# ---------------------------------------------------------------------------
PREDICT = json.loads((FIXTURES / "extra_predict.json").read_text())


@pytest.mark.parametrize("case", PREDICT["cases"], ids=lambda c: c["id"])
def test_predict_against_r(case):
    fit = _design(case["design"]).glm(case["formula"], family=case["family"])
    # the same fit (patsy puts the categorical term first, R in formula order)
    np.testing.assert_allclose(np.sort(fit.params.to_numpy()), np.sort(case["result"]["coef"]),
                               rtol=COEF_RTOL)
    newdata = pd.DataFrame(PREDICT["newdata"], index=list("abcd"))
    got = fit.predict(newdata, type=case["type"])
    assert list(got.index) == list("abcd") and list(got.columns) == ["estimate", "se"]
    np.testing.assert_allclose(got["estimate"], case["result"]["estimate"], rtol=COEF_RTOL)
    np.testing.assert_allclose(got["se"], case["result"]["se"], rtol=SE_RTOL)


def test_predict_errors_name_what_was_given():
    fit = _design("dstrat").glm("api00 ~ ell + meals + stype")
    with pytest.raises(ModelError, match="newdata lacks 'stype'"):
        fit.predict(pd.DataFrame({"ell": [1.0], "meals": [2.0]}))
    with pytest.raises(ModelError, match="'stype' = 'X' is not a category.*'E', 'H', 'M'"):
        fit.predict(pd.DataFrame({"ell": [1.0], "meals": [2.0], "stype": ["X"]}))
    with pytest.raises(ModelError, match="DataFrame, not dict"):
        fit.predict({"ell": [1.0]})
    with pytest.raises(ModelError, match="'response' or 'link', not 'probability'"):
        fit.predict(pd.DataFrame({"ell": [1.0], "meals": [2.0], "stype": ["E"]}), type="probability")


def test_results_table_text_and_html():
    fit = _design("dclus1").glm("I(Q('sch.wide') == 'Yes') ~ ell + meals + stype", family="binomial")
    table = fit.summary()  # the DataFrame tests use is unchanged
    assert list(table.columns) == ["estimate", "se", "t", "p_value", "ci_low", "ci_high"]
    text = str(fit)
    for head in ("coef", "std err", "t", "P>|t|", "[0.025", "0.975]", "odds ratio"):
        assert head in text
    # rounded as statsmodels: 4 decimals for a coefficient
    assert f"{table.loc['ell', 'estimate']:.4f}" in text
    assert str(round(table.loc["ell", "estimate"], 8)) not in text
    odds = fit.odds_ratios()
    np.testing.assert_allclose(odds["odds_ratio"], np.exp(table["estimate"]))
    np.testing.assert_allclose(odds["ci_low"], np.exp(table["ci_low"]))
    html = fit._repr_html_()
    for head in ("Coefficient", "Erreur type", "IC 95 % bas", "Rapport de cotes"):
        assert f"<th>{head}</th>" in html
    # French format: decimal comma, rounded
    from ramlab.format import fmt_number
    assert fmt_number(table.loc["ell", "estimate"], 3) in html and "," in fmt_number(0.5, 3)
    gaussian = _design("dstrat").glm("api00 ~ ell")
    assert "Rapport de cotes" not in gaussian._repr_html_() and "odds" not in str(gaussian)
    with pytest.raises(ModelError, match="binomial model; this one is 'gaussian'"):
        gaussian.odds_ratios()


def test_short_repr():
    fit = _design("dstrat").glm("api00 ~ ell + meals + mobility")
    text = repr(fit)
    assert len(text) < 120 and "api00 ~ ell + meals + mobility" in text and "\n" not in text


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------
def test_absent_variable_is_named():
    with pytest.raises(ModelError, match="taille") as err:
        glm(_design("dstrat"), "api00 ~ ell + C(taille)")
    assert err.value.term == "taille"
    with pytest.raises(ModelError) as err:
        glm(_design("dstrat"), "api00 ~ ell + Q('acs.99')")
    assert err.value.term == "acs.99"


def test_constant_column_is_named():
    data = DATA["apistrat"].assign(const=3.0)
    with pytest.raises(ModelError, match="const") as err:
        glm(Design(data, strata="stype", weights="pw", fpc="fpc"), "api00 ~ ell + const")
    assert err.value.term == "const"


def test_collinear_columns_are_named():
    data = DATA["apistrat"].assign(ell2=lambda d: 2 * d["ell"] + 1)
    with pytest.raises(ModelError, match="collinear") as err:
        glm(Design(data, strata="stype", weights="pw", fpc="fpc"), "api00 ~ ell + meals + ell2")
    assert err.value.term in ("ell", "ell2")


def test_perfect_separation_is_named():
    data = DATA["apistrat"].assign(high=lambda d: (d["api00"] > 700).astype(float))
    design = Design(data, strata="stype", weights="pw", fpc="fpc")
    with pytest.raises(ModelError, match="separation") as err:
        glm(design, "high ~ api00 + meals", family="binomial")
    assert err.value.term == "api00"
    # quasi-complete separation by a category: no middle school has the outcome
    data = data.assign(flag=lambda d: ((d["stype"] != "M") & (d["api00"] > 650)).astype(float))
    with pytest.raises(ModelError, match="separation") as err:
        glm(Design(data, strata="stype", weights="pw", fpc="fpc"), "flag ~ stype + ell",
            family="binomial")
    assert err.value.term == "stype"
    # poisson: no middle school has any award counted
    data = data.assign(count=lambda d: np.where(d["stype"] == "M", 0, d["api00"] // 100))
    with pytest.raises(ModelError, match="zero counts") as err:
        glm(Design(data, strata="stype", weights="pw", fpc="fpc"), "count ~ stype + ell",
            family="poisson")
    assert err.value.term == "stype"


def test_domain_with_too_few_cases():
    design = _design("dclus1")
    tiny = design.subset(design.data["snum"].isin(design.data["snum"].iloc[:3]))
    with pytest.raises(ModelError, match="too few") as err:
        glm(tiny, "api00 ~ ell + meals + mobility")
    assert err.value.term == "mobility"
    # enough rows but one PSU (district) in the domain: no degrees of freedom
    one_district = design.subset(design.data["dnum"] == design.data["dnum"].iloc[0])
    with pytest.raises(ModelError, match="degrees of freedom"):
        glm(one_district, "api00 ~ ell")


def test_thin_category_warns_with_its_name():
    design = _design("dclus1")
    domain = design.subset((design.data["stype"] != "H") | (design.data["snum"] % 5 == 0))
    with pytest.warns(UserWarning, match=r"stype.*fewer than 10"):
        glm(domain, "api00 ~ ell + stype")


def test_empty_category_in_the_domain_is_left_out_with_a_warning():
    design = _design("dstrat")
    domain = design.subset(design.data["stype"] != "H")
    with pytest.warns(UserWarning, match=r"stype: no case of \['H'\]"):
        fit = glm(domain, "api00 ~ ell + stype")
    assert list(fit.params.index) == ["Intercept", "stype[T.M]", "ell"]


def test_bad_response_and_family():
    design = _design("dstrat")
    with pytest.raises(ModelError, match="categorical") as err:
        glm(design, "stype ~ ell", family="binomial")
    assert err.value.term == "stype"
    with pytest.raises(ModelError, match="between 0 and 1") as err:
        glm(design, "api00 ~ ell", family="binomial")
    assert err.value.term == "api00"
    with pytest.raises(ModelError, match="family"):
        glm(design, "api00 ~ ell", family="quasibinomial")
    with pytest.raises(ModelError, match="region") as err:
        glm(design, "api00 ~ ell").margins("region")
    assert err.value.term == "region"
    with pytest.raises(ModelError, match="response") as err:
        glm(design, "api00 ~ ell").margins("api00")
    assert err.value.term == "api00"


def test_plot_margins_interval_of_a_rare_share_stays_within_0_and_1():
    """A binomial margin near 0 in a small group: R svypredmeans' symmetric interval goes
    below 0, the chart's logit interval does not (issue 12, item 8)."""
    from matplotlib.collections import LineCollection

    rng = np.random.default_rng(5)
    n = 400
    group = np.where(np.arange(n) < 40, "petit", "grand")
    y = np.where(group == "petit", (np.arange(n) % 40 == 0), rng.random(n) < 0.5).astype(float)
    df = pd.DataFrame({"y": y, "g": pd.Categorical(group, categories=["grand", "petit"]),
                       "w": rng.uniform(0.5, 2.0, n)})
    fit = Design(df, weights="w").glm("y ~ g", family="binomial")
    table = fit.margins("g")
    assert table.loc["petit", "ci_low"] < 0  # the case this guards
    ax = fit.plot_margins("g").axes[0]
    segments = [seg for coll in ax.collections if isinstance(coll, LineCollection)
                for seg in coll.get_segments()]
    lows = [min(s[:, 0]) for s in segments]
    highs = [max(s[:, 0]) for s in segments]
    assert segments and min(lows) > 0 and max(highs) < 1
    # each drawn interval holds its estimate
    for seg, est in zip(sorted(segments, key=lambda s: s[0, 1]), table["estimate"][::-1]):
        assert seg[:, 0].min() <= est <= seg[:, 0].max()


@pytest.mark.caller_line
def test_model_warnings_point_at_the_callers_line():
    # glm reaches them through _fit and its checks; olr through its own path
    design = _design("dstrat")
    with pytest.warns(UserWarning, match="no case of") as record:
        glm(design.subset(design.data["stype"] != "H"), "api00 ~ ell + stype")
    thin = design.subset((design.data["stype"] != "H") | (design.data["snum"] % 20 == 0))
    with pytest.warns(UserWarning, match="fewer than 10") as more:
        glm(thin, "api00 ~ ell + stype")
    assert {w.filename for w in [*record, *more]} == {__file__}
