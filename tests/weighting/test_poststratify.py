"""Post-stratification (R ``postStratify``): the forms of the totals, partial
post-strata, shares, replicate designs and the refusals.

Reference values: tests/fixtures/r/extra_poststratify.json, made by
extra_poststratify.R (R survey 4.1-1); the rest are exact identities of
post-stratification (each post-stratum's weights scaled by population count /
weighted sample count) or ramlab's documented refusals.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design, ReplicateDesign
from ramlab.errors import MarginError
from ramlab.weighting import poststratify_weights

PS = R.load_json("extra_poststratify.json")
CASES = {c["id"]: c for c in PS["cases"]}
POP_TYPES = {"E": 4421.0, "H": 755.0, "M": 1018.0}


def _population(case):
    """R's population data frame (stype, sch.wide, Freq) as a DataFrame."""
    pop = case["population"]
    return pd.DataFrame({"stype": pop["stype"], "sch.wide": pop["sch.wide"], "Freq": pop["Freq"]})


def _dclus1(df=None, weights="pw", fpc="fpc"):
    df = R.load_data("apiclus1") if df is None else df
    return Design(df, ids="dnum", weights=weights, fpc=fpc)


def _normalised():
    df = R.load_data("apiclus1")
    df["pwn"] = df["pw"] / df["pw"].sum()
    return df


def _without_m_yes():
    df = R.load_data("apiclus1")
    return df[~((df["stype"] == "M") & (df["sch.wide"] == "Yes"))].reset_index(drop=True)


def _assert_estimates(d, res, weights=True):
    if weights:
        R.assert_close(d.weights.to_numpy(), res["weights"], 1e-10, what="weights")
    m = d.mean("api00")
    t = d.total("enroll", na_rm=True)
    R.assert_close(m["estimate"], res["svymean_api00"]["estimate"], 1e-10, what="mean")
    R.assert_close(m["se"], res["svymean_api00"]["se"], 1e-8, what="mean se")
    R.assert_close(t["estimate"], res["svytotal_enroll"]["estimate"], 1e-10, what="total")
    R.assert_close(t["se"], res["svytotal_enroll"]["se"], 1e-8, what="total se")


def _totals_forms():
    pop = _population(CASES["dclus1_stype_schwide"])
    yield "r_data_frame", pop
    yield "count_column_first", pop[["Freq", "sch.wide", "stype"]]
    yield "series", pop.set_index(["stype", "sch.wide"])["Freq"]
    yield "tuples", {(a, b): f for a, b, f in zip(pop["stype"], pop["sch.wide"], pop["Freq"])}


@pytest.mark.parametrize("form", [f for f, _ in _totals_forms()])
def test_two_variable_poststratification_against_r_whatever_the_form_of_the_totals(form):
    totals = dict(_totals_forms())[form]
    d = _dclus1().poststratify(["stype", "sch.wide"], totals)
    _assert_estimates(d, CASES["dclus1_stype_schwide"]["result"])


def test_partial_poststratification_without_the_last_post_stratum_against_r():
    # (M, Yes), the last cell of the stype x sch.wide product, has no respondents
    case = CASES["dclus1_without_M_yes_partial"]
    pop = _population(case)
    d = _dclus1(_without_m_yes())
    _assert_estimates(d.poststratify(["stype", "sch.wide"], pop, partial=True), case["result"])
    assert case["result"]["error_without_partial"].startswith("Some strata absent from sample")
    msg = r"^post-stratum \('M', 'Yes'\) has no respondents \(total 752\.0\); partial=True leaves it out$"
    with pytest.raises(MarginError, match=msg) as info:
        d.poststratify(["stype", "sch.wide"], pop)
    assert (info.value.variable, info.value.category) == ("stype", ("M", "Yes"))
    # the public function refuses it too by default
    with pytest.raises(MarginError, match=msg):
        poststratify_weights(d, ["stype", "sch.wide"], pop)


def test_jk1_replicates_without_the_last_post_stratum_poststratified_with_partial_against_r():
    case = CASES["rclus1_without_M_yes_partial"]
    d = _dclus1(_without_m_yes()).replicate("JK1")
    _assert_estimates(d.poststratify(["stype", "sch.wide"], _population(case), partial=True), case["result"])


def test_poststratify_weights_called_directly_gives_rs_weights_and_no_replicates():
    case = CASES["dclus1_stype_schwide"]
    out = poststratify_weights(_dclus1(), ["stype", "sch.wide"], _population(case))
    R.assert_close(out.weights, case["result"]["weights"], 1e-10, what="weights")
    assert out.replicates is None


def test_normalised_weights_poststratified_to_shares_against_r():
    # every post-stratum's weighted sample count is below 1
    case = CASES["dclus1_normalised_shares"]
    d = _dclus1(_normalised(), weights="pwn", fpc=None)
    assert (d.weights.groupby(d.data["stype"], observed=True).sum() < 1).all()
    _assert_estimates(d.poststratify("stype", case["shares"]), case["result"])


def test_jk1_replicates_of_normalised_weights_poststratified_to_shares_against_r():
    case = CASES["rclus1_normalised_shares"]
    res = case["result"]
    rep = _dclus1(_normalised(), weights="pwn", fpc=None).replicate("JK1")
    d = rep.poststratify("stype", case["shares"])
    _assert_estimates(d, res)
    A = d.replicate_weights.to_numpy()
    R.assert_close(A, res["replicate_weights"], 1e-10, what="replicate weights")
    # each replicate meets the shares
    by = pd.DataFrame(A).groupby(d.data["stype"].to_numpy()).sum().T.to_numpy()
    R.assert_close(by, res["replicate_stype_totals"], 1e-10, what="replicate totals")
    np.testing.assert_allclose(by, np.tile(list(case["shares"].values()), (A.shape[1], 1)), rtol=1e-12)


def test_shares_with_a_missing_post_stratum_are_refused_without_partial():
    df = _without_m_yes()
    df["pwn"] = df["pw"] / df["pw"].sum()
    pop = _population(CASES["dclus1_without_M_yes_partial"])
    shares = pop.assign(Freq=pop["Freq"] / pop["Freq"].sum())
    with pytest.raises(MarginError, match=r"^post-stratum \('M', 'Yes'\) has no respondents \(total 0\.12"):
        _dclus1(df, weights="pwn", fpc=None).poststratify(["stype", "sch.wide"], shares)


def test_a_domain_of_a_replicate_design_poststratified_with_partial_against_r():
    case = CASES["rclus1_domain_partial"]
    dom = _dclus1().replicate("JK1").subset(R.load_data("apiclus1")["stype"] != "H")
    d = dom.poststratify("stype", case["totals"], partial=True)
    assert np.isfinite(d.replicate_weights.to_numpy()).all()
    _assert_estimates(d, case["result"], weights=False)


def test_a_replicate_that_loses_a_post_stratum_is_named():
    # JK1 on four rows: replicate 2 leaves out the only row of post-stratum "b"
    df = pd.DataFrame({"g": ["a", "b", "a", "a"], "x": [1.0, 2.0, 3.0, 6.0]})
    for i in range(4):
        df[f"r{i}"] = [0.0 if j == i else 4 / 3 for j in range(4)]
    d = ReplicateDesign(df, repweights="^r", type="JK1")
    with pytest.raises(MarginError, match=r"^replicate 2: post-stratum \('b',\) has no respondents \(total 5\.0\)$") as info:
        d.poststratify("g", {"a": 15.0, "b": 5.0})
    assert (info.value.variable, info.value.category) == ("g", ("b",))


def _small():
    df = R.load_data("apiclus1")
    return df, _dclus1(df)


def test_poststratification_refusals_name_the_variable_category_and_rule():
    df, d = _small()
    schwide = {"No": 1072.0, "Yes": 5122.0}
    with pytest.raises(MarginError, match=r"^post-stratification variable 'zz' is not in the data$") as info:
        d.poststratify("zz", {"a": 1.0})
    assert info.value.variable == "zz"
    with pytest.raises(MarginError, match=r"^post-stratum category 'Other' does not exist in 'sch.wide'$") as info:
        d.poststratify("sch.wide", {**schwide, "Other": 3.0})
    assert (info.value.variable, info.value.category) == ("sch.wide", "Other")
    with pytest.raises(MarginError, match=r"^post-stratum \('Yes',\) has respondents but no population total$") as info:
        d.poststratify("sch.wide", {"No": 1072.0})
    assert (info.value.variable, info.value.category) == ("sch.wide", ("Yes",))
    with pytest.raises(MarginError, match=r"^post-stratum \('E', 'Yes'\) does not name one category of each of \['stype'\]$"):
        d.poststratify("stype", {("E", "Yes"): 1.0})
    with pytest.raises(MarginError, match=r"^totals must have the columns \['stype'\] and a count column$"):
        d.poststratify("stype", pd.DataFrame({"type": ["E", "H", "M"], "Freq": [1.0, 2.0, 3.0]}))
    with pytest.raises(MarginError, match=r"^totals must have exactly one count column besides the strata columns$"):
        d.poststratify("stype", pd.DataFrame({"stype": ["E", "H", "M"], "Freq": [1.0, 2.0, 3.0],
                                              "share": [0.2, 0.3, 0.5]}))


def test_a_sampled_post_stratum_with_a_population_of_zero_is_refused_as_r_does():
    # R postStratify: "Strata in sample absent from population"
    _, d = _small()
    with pytest.raises(MarginError, match=r"^post-stratum \('Yes',\) has respondents but a population total of 0$") as info:
        d.poststratify("sch.wide", {"No": 1072.0, "Yes": 0.0})
    assert (info.value.variable, info.value.category) == ("sch.wide", ("Yes",))


@pytest.mark.parametrize("bad", [-5.0, np.nan, np.inf])
def test_negative_or_non_finite_population_totals_are_refused(bad):
    _, d = _small()
    with pytest.raises(MarginError, match=r"^post-stratum \('H',\): population total .* is negative or not finite$") as info:
        d.poststratify("stype", {**POP_TYPES, "H": bad})
    assert (info.value.variable, info.value.category) == ("stype", ("H",))


def test_missing_poststratification_values_are_refused_among_weighted_rows_only():
    df, d = _small()
    df = df.assign(stype=df["stype"].astype(object))
    df.loc[3, "stype"] = None
    with pytest.raises(MarginError, match=r"^post-stratification variable 'stype' has 1 missing values among weighted rows$") as info:
        _dclus1(df).poststratify("stype", POP_TYPES)
    assert info.value.variable == "stype"
    # outside the domain (weight 0), the missing value is left alone
    dom = _dclus1(df).subset(df["stype"].notna().to_numpy()).poststratify("stype", POP_TYPES)
    got = dom.weights.groupby(df["stype"]).sum()
    np.testing.assert_allclose(got[list(POP_TYPES)], list(POP_TYPES.values()), rtol=1e-12)


def test_numeric_post_strata_are_named_as_plain_values():
    df = pd.DataFrame({"k": [1, 1, 2], "w": [1.0, 1.0, 2.0]})
    with pytest.raises(MarginError, match=r"^post-stratum \(2,\) has respondents but no population total$"):
        Design(df, weights="w").poststratify("k", {1: 10.0})


def _large_product():
    """Four rows in three post-strata of a 300 x 300 cross-classification (cells of the observed combinations)."""
    cats = list(range(300))
    df = pd.DataFrame({"a": pd.Categorical([0, 0, 1, 2], categories=cats),
                       "b": pd.Categorical([0, 0, 1, 2], categories=cats),
                       "w": [1.0, 3.0, 2.0, 4.0]})
    return Design(df, weights="w")


OBSERVED = {(0, 0): 8.0, (1, 1): 4.0, (2, 2): 2.0}
EXPECTED = [2.0, 6.0, 4.0, 2.0]  # w * total / weighted count of its post-stratum


def test_a_large_cross_classification_is_poststratified_cell_by_cell():
    d = _large_product()
    np.testing.assert_allclose(d.poststratify(["a", "b"], OBSERVED).weights, EXPECTED, rtol=1e-15)
    # an unsampled post-stratum of population 0 is left out (R drops it)
    zero = d.poststratify(["a", "b"], {(5, 5): 0.0, **OBSERVED})
    np.testing.assert_allclose(zero.weights, EXPECTED, rtol=1e-15)
    # partial=True leaves out an unsampled populated one, wherever it comes
    part = d.poststratify(["a", "b"], {(5, 5): 10.0, **OBSERVED}, partial=True)
    np.testing.assert_allclose(part.weights, EXPECTED, rtol=1e-15)


@pytest.mark.parametrize("total", [10.0, 0.5])
def test_a_large_cross_classification_refuses_an_unsampled_populated_post_stratum(total):
    d = _large_product()
    msg = rf"^post-stratum \(5, 5\) has no respondents \(total {total!r}\); partial=True leaves it out$"
    with pytest.raises(MarginError, match=msg) as info:
        d.poststratify(["a", "b"], {**OBSERVED, (5, 5): total})
    assert (info.value.variable, info.value.category) == ("a", (5, 5))
    with pytest.raises(MarginError, match=msg):
        poststratify_weights(d, ["a", "b"], {**OBSERVED, (5, 5): total})


@pytest.mark.parametrize("replicate", [False, True])
def test_an_unsampled_post_stratum_of_population_zero_is_dropped_silently_as_r_does(replicate):
    # R drops a post-stratum empty in both the sample and the population
    # (samplezero & popzero) without partial = TRUE and without a warning
    case = CASES["rclus1_without_M_yes_zero_total" if replicate else "dclus1_without_M_yes_zero_total"]
    assert case["result"]["warnings"] == []
    d = _dclus1(_without_m_yes())
    if replicate:
        d = d.replicate("JK1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning either (0 / 0 of that post-stratum)
        out = d.poststratify(["stype", "sch.wide"], _population(case))
        _assert_estimates(out, case["result"])


@pytest.mark.parametrize("totals", ["positive", "zero", "missing", "missing_partial"])
def test_a_post_stratum_whose_negative_weights_outweigh_its_other_rows_is_refused(totals):
    # dstrat calibrated linearly, without bounds, to 6000 schools with awards:
    # the 27 rows of (E, No) get negative weights (-186.2 in all, as in R).
    # R stops when that post-stratum's total is 0 or missing; with a positive
    # total it multiplies its weights by a negative factor (documented: ramlab
    # refuses). ramlab used to leave the post-stratum as it was, meeting no total.
    case = CASES["dcat_negative_post_stratum"]
    res = case["result"]
    df = R.load_data("apistrat")
    dcat = Design(df, strata="stype", weights="pw", fpc="fpc").calibrate(
        {"stype": {"E": 4421.0, "H": 755.0, "M": 1018.0}, "awards": {"No": 194.0, "Yes": 6000.0}})
    e_no = ((df["stype"] == "E") & (df["awards"] == "No")).to_numpy()
    R.assert_close(dcat.weights.to_numpy()[e_no].sum(), res["sample_count_E_No"], 1e-9, what="(E, No)")
    pop = case["population"]
    pop = {(s, a): f for s, a, f in zip(pop["stype"], pop["awards"], pop["Freq"])}
    if totals == "positive":
        assert res["factor_E_No"] < 0  # R turns the sign of the post-stratum's weights
    else:
        assert res[f"error_total_{totals}"].startswith("Strata in sample absent from population")
    if totals == "zero":
        pop[("E", "No")] = 0.0
    elif totals.startswith("missing"):
        del pop[("E", "No")]
    with pytest.raises(MarginError, match=r"^post-stratum \('E', 'No'\) weighs -186\.223 in the sample: "
                                          r".*negative weight.* no positive factor") as info:
        dcat.poststratify(["stype", "awards"], pop, partial=totals.endswith("partial"))
    assert (info.value.variable, info.value.category) == ("stype", ("E", "No"))
