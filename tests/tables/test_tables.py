"""Tests of ramlab.tables: banner tables, significance letters, bases, display, export.

Reference values come from R survey 4.1-1 (tests/fixtures/r/tables.json,
estimation.json, quantile.json, extra_tables.json and the R scripts beside
them), from closed forms, or from the published IMPACT figures that the
shipped synthetic data reproduce -- never from ramlab itself.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from _rref import assert_close, design_from_spec, load_json
from ramlab import TableError
from ramlab.design import Design
from ramlab.format import NNBSP, french_spaces
from ramlab.io.spec import Base, Question
from ramlab.tables import banner, crosstab, trend, weighted_quantile
from ramlab.tables.significance import adjust_pvalues, column_letters

TOTAL = ("Total", "Ensemble")
R_DESIGNS = ["dstrat", "dclus1", "dclus2"]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def _with_answers(df):
    """Add the outcome columns of the R fixtures to an api data frame."""
    df = df.copy()
    df["schwide_yes"] = pd.Categorical(
        np.where(df["sch.wide"] == "Yes", "Oui", "Non"), categories=["Non", "Oui"]
    )
    df["api700"] = pd.Categorical(np.where(df["api00"] > 700, "Oui", "Non"), categories=["Non", "Oui"])
    df["a600"] = (df["api00"] > 600).astype(float)
    df["b600"] = (df["api99"] > 600).astype(float)
    # extra_tables.R: ans from api99, missing when snum %% 7 == 0; score = 1/2/3
    ans = np.where(df["api99"] < 600, "bas", np.where(df["api99"] < 750, "moyen", "haut"))
    ans = np.where(df["snum"] % 7 == 0, None, ans)
    df["ans"] = pd.Categorical(ans, categories=["bas", "moyen", "haut"], ordered=True)
    return df


def _design(name, data=None):
    spec = load_json("tables.json")["designs"][name]
    base = design_from_spec(spec)
    if data is None:
        data = _with_answers(base.data)
    return Design(
        data,
        weights=spec.get("weights"),
        ids=spec.get("ids"),
        strata=spec.get("strata"),
        fpc=spec.get("fpc"),
    )


def _raked(name="dclus1"):
    d = _design(name)
    margins = {
        "stype": {"E": 4421, "H": 755, "M": 1018},
        "sch.wide": {"No": 1072, "Yes": 5122},
    }
    return d.rake(margins, tol=1e-12, max_iter=1000)


def _spec(questions, *, bases=None, unit="écoles", source="Source : données api (R survey)"):
    qs = {q.id: q for q in questions}
    b = {"ensemble": Base("ensemble", "Ensemble")}
    b.update(bases or {})
    return SimpleNamespace(questions=qs, bases=b, study={"unit": unit, "source": source})


def _multi_spec():
    return _spec(
        [
            Question(
                id="m",
                text="Résultats au-dessus de 600",
                type="multi",
                columns=("a600", "b600"),
                item_labels={"a600": "api00 > 600", "b600": "api99 > 600"},
                count_label="Nombre moyen",
            )
        ]
    )


def _case(name, cid):
    for c in load_json(name)["cases"]:
        if c["id"] == cid:
            return c
    raise KeyError(cid)


def _calraked(name="dclus1"):
    d = _design(name)
    totals = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}}
    return d.calibrate(totals, method="raking", tol=1e-12, max_iter=1000)


def _strat_raked():
    """dstrat raked on sch.wide and awards: unclustered, so banner tables take the
    factored covariance path (R: calibrate(calfun="raking"), tables.R)."""
    margins = {"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}}
    return _design("dstrat").rake(margins, tol=1e-12, max_iter=1000)


DESIGNS = {"dstrat": lambda: _design("dstrat"), "dclus1": lambda: _design("dclus1"),
           "dclus2": lambda: _design("dclus2"), "dclus1_raked": _raked,
           "dclus1_calraked": _calraked, "dstrat_calraked": _strat_raked}

OUTCOMES = {"schwide_yes": ("schwide_yes", "Oui"), "api00_gt_700": ("api700", "Oui"),
            "api00": ("api00", "Moyenne")}


# --------------------------------------------------------------------------------------
# percentages, SEs and letters against R (tables.json)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dname", list(DESIGNS))
@pytest.mark.parametrize("oid", list(OUTCOMES))
def test_group_estimates_and_pairwise_contrasts_match_r(dname, oid):
    case = _case("tables.json", f"{dname}_by_stype_{oid}_pairwise")
    res = case["result"]
    d = DESIGNS[dname]()
    column, row = OUTCOMES[oid]
    t = crosstab(d, column, "stype", min_base=0, chisq=False)
    cols = [("stype", g) for g in res["groups"]]
    key = (column, "", row)
    assert_close(t.frame.loc[key, cols], res["estimate"], 1e-8, what="estimate")
    assert_close(t.se.loc[key, cols], res["se"], 1e-6, what="se")
    tests = t.tests[(t.tests["row"] == row) & (t.tests["variable"] == "stype")]
    for c in res["contrasts"]:
        a, b = c["label"].split(" - ")
        hit = tests[(tests["column"] == a) & (tests["versus"] == b)]
        assert len(hit) == 1
        assert_close(hit["estimate"], [c["estimate"]], 1e-6, atol=1e-10, what=c["label"])
        assert_close(hit["se"], [c["se"]], 1e-6, what=c["label"])
        assert_close(hit["df"], [c["df"]], 0)
        assert_close(hit["p_value"], [c["p_value"]], 1e-6, atol=1e-14, what=c["label"])


@pytest.mark.parametrize("dname", list(DESIGNS))
@pytest.mark.parametrize("oid", list(OUTCOMES))
@pytest.mark.parametrize("group", ["E", "H", "M"])
def test_column_versus_complement_matches_r(dname, oid, group):
    case = _case("tables.json", f"{dname}_{group}_vs_rest_{oid}")
    res = case["result"]
    d = DESIGNS[dname]()
    column, row = OUTCOMES[oid]
    t = crosstab(d, column, "stype", min_base=0, chisq=False, versus="complement")
    hit = t.tests[(t.tests["row"] == row) & (t.tests["column"] == group)]
    assert list(hit["versus"]) == ["complement"]
    c = res["contrast"]
    assert_close(hit["estimate"], [c["estimate"]], 1e-6, atol=1e-10)
    assert_close(hit["se"], [c["se"]], 1e-6)
    assert_close(hit["p_value"], [c["p_value"]], 1e-6, atol=1e-14)
    # the column estimate is the svyby "TRUE" group
    true = res["groups"].index("TRUE")
    assert_close(t.frame.loc[(column, "", row), ("stype", group)], [res["estimate"][true]], 1e-8)


@pytest.mark.parametrize("dname", list(DESIGNS))
@pytest.mark.parametrize("group", ["E", "M"])
def test_multi_response_contrast_of_two_ratios_matches_r_svyratio(dname, group):
    res = _case("tables.json", f"{dname}_{group}_multiresponse_api00_api99_gt_600")["result"]
    d = DESIGNS[dname]()
    t = crosstab(d, "m", "stype", spec=_multi_spec(), min_base=0, chisq=False)
    col = ("stype", group)
    assert_close(t.frame.loc[[("m", "", "api00 > 600"), ("m", "", "api99 > 600")], col],
                 res["estimate"], 1e-8)
    assert_close(t.se.loc[[("m", "", "api00 > 600"), ("m", "", "api99 > 600")], col],
                 res["se"], 1e-6)
    c = t.contrast("api00 > 600", "api99 > 600", column=col)
    ref = res["contrast_full_df"]  # ramlab tests on the full design's df
    assert_close([c.estimate], [ref["estimate"]], 1e-6)
    assert_close([c.se], [ref["se"]], 1e-6)
    assert_close([c.p_value], [ref["p_value"]], 1e-6)
    assert c.df == ref["df"]


@pytest.mark.parametrize("dname", list(DESIGNS))
@pytest.mark.parametrize("group", ["E", "M"])
def test_sub_base_is_a_domain_for_multi_response(dname, group):
    """base= a mask: the total column equals R's svyratio on subset(design, ...)."""
    res = _case("tables.json", f"{dname}_{group}_multiresponse_api00_api99_gt_600")["result"]
    d = DESIGNS[dname]()
    mask = (d.data["stype"] == group).to_numpy()
    t = crosstab(d, "m", spec=_multi_spec(), base=mask, base_label="Écoles " + group)
    rows = [("m", "", "api00 > 600"), ("m", "", "api99 > 600")]
    assert_close(t.frame.loc[rows, TOTAL], res["estimate"], 1e-8)
    assert_close(t.se.loc[rows, TOTAL], res["se"], 1e-6)
    assert t.questions["m"].base_line.startswith("Base : Écoles " + group + " (")


# --------------------------------------------------------------------------------------
# percentages of categorical answers, counts, medians (estimation / quantile / extra)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("dname", R_DESIGNS)
@pytest.mark.parametrize("var", ["sch.wide", "awards"])
def test_column_percentages_equal_r_svyby_svymean(dname, var):
    case = _case("estimation.json", f"{dname}_by_stype_mean_{var}")
    res = case["result"]
    d = _design(dname)
    t = crosstab(d, var, "stype", min_base=0, chisq=False)
    est = np.asarray(res["estimate"])
    se = np.asarray(res["se"])
    for k, level in enumerate(res["levels"]):
        for i, g in enumerate(res["groups"]["stype"]):
            assert_close([t.frame.loc[(var, "", level), ("stype", g)]], [est[i, k]], 1e-8)
            assert_close([t.se.loc[(var, "", level), ("stype", g)]], [se[i, k]], 1e-6)


@pytest.mark.parametrize("dname", R_DESIGNS)
def test_count_cells_equal_r_svyby_svytotal(dname):
    res = _case("estimation.json", f"{dname}_by_stype_total_sch.wide")["result"]
    d = _design(dname)
    t = crosstab(d, "sch.wide", "stype", cells="count", min_base=0, chisq=False)
    est, se = np.asarray(res["estimate"]), np.asarray(res["se"])
    for k, level in enumerate(res["levels"]):
        for i, g in enumerate(res["groups"]["stype"]):
            assert_close([t.frame.loc[("sch.wide", "", level), ("stype", g)]], [est[i, k]], 1e-8)
            assert_close([t.se.loc[("sch.wide", "", level), ("stype", g)]], [se[i, k]], 1e-6)
    assert (t.marks == "").all().all()  # letters are for column percentages


def test_row_percentages_closed_form():
    d = _design("dstrat")
    counts = crosstab(d, "sch.wide", "stype", cells="count", chisq=False).frame
    rows = crosstab(d, "sch.wide", "stype", cells="row%", chisq=False).frame
    for level in ["No", "Yes"]:
        k = ("sch.wide", "", level)
        expected = counts.loc[k] / counts.loc[k, TOTAL]
        np.testing.assert_allclose(rows.loc[k].to_numpy(float), expected.to_numpy(float), rtol=1e-12)


@pytest.mark.parametrize("dname", R_DESIGNS)
def test_answers_with_missing_values_and_letters_match_r(dname):
    """Answers with NA are outside the base (R na.rm=TRUE domain); joint covariance."""
    res = _case("extra_tables.json", f"{dname}_by_stype_ans")["result"]
    d = _design(dname)
    t = crosstab(d, "ans", "stype", min_base=0, chisq=False)
    for stat, est, se in zip(res["statistics"], res["estimate"], res["se"]):
        g, level = stat.split(":")
        assert_close([t.frame.loc[("ans", "", level), ("stype", g)]], [est], 1e-8, what=stat)
        assert_close([t.se.loc[("ans", "", level), ("stype", g)]], [se], 1e-6, what=stat)
    for c in res["contrasts"]:
        hit = t.tests[(t.tests["row"] == c["answer"]) & (t.tests["column"] == c["column"])
                      & (t.tests["versus"] == c["versus"])]
        assert_close(hit["estimate"], [c["estimate"]], 1e-6, atol=1e-10)
        assert_close(hit["se"], [c["se"]], 1e-6)
        assert_close(hit["p_value"], [c["p_value"]], 1e-6, atol=1e-14)
        # the letter follows the p-value and the sign
        mark = hit["mark"].iloc[0]
        if c["p_value"] < 0.01:
            assert mark.isupper()
        elif c["p_value"] < 0.05:
            assert mark.islower()
        else:
            assert mark == ""


@pytest.mark.parametrize("dname", R_DESIGNS)
def test_scale_mean_row_matches_r(dname):
    """Mean of the answer codes 1..3 (a scale), missing answers excluded."""
    res = _case("extra_tables.json", f"{dname}_by_stype_score")["result"]
    d = _design(dname)
    t = crosstab(d, "ans", "stype", min_base=0, chisq=False)  # ordered categorical: a scale
    assert t.questions["ans"].type == "scale"
    for stat, est, se in zip(res["statistics"], res["estimate"], res["se"]):
        g = stat.split(":")[0]
        assert_close([t.frame.loc[("ans", "", "Moyenne"), ("stype", g)]], [est], 1e-8)
        assert_close([t.se.loc[("ans", "", "Moyenne"), ("stype", g)]], [se], 1e-6)
    for c in res["contrasts"]:
        hit = t.tests[(t.tests["row"] == "Moyenne") & (t.tests["column"] == c["column"])
                      & (t.tests["versus"] == c["versus"])]
        assert_close(hit["se"], [c["se"]], 1e-6)
        assert_close(hit["p_value"], [c["p_value"]], 1e-6, atol=1e-14)


@pytest.mark.parametrize("dname", R_DESIGNS)
def test_sub_base_columns_are_domains_of_the_full_design(dname):
    res = _case("extra_tables.json", f"{dname}_subbase_api00_gt_600_by_stype_ans")["result"]
    d = _design(dname)
    base = (d.data["api00"] > 600).to_numpy()
    t = crosstab(d, "ans", "stype", base=base, min_base=0, chisq=False)
    for stat, est, se in zip(res["statistics"], res["estimate"], res["se"]):
        g, level = stat.split(":")
        assert_close([t.frame.loc[("ans", "", level), ("stype", g)]], [est], 1e-8)
        assert_close([t.se.loc[("ans", "", level), ("stype", g)]], [se], 1e-6)
    levels = ["bas", "moyen", "haut"]
    assert_close(t.frame.loc[[("ans", "", lv) for lv in levels], TOTAL], res["total"]["estimate"], 1e-8)
    assert_close(t.se.loc[[("ans", "", lv) for lv in levels], TOTAL], res["total"]["se"], 1e-6)


@pytest.mark.parametrize("dname", R_DESIGNS)
def test_numeric_median_matches_r_svyquantile(dname):
    res = _case("quantile.json", f"{dname}_by_stype_median_api00")["result"]
    d = _design(dname)
    t = crosstab(d, "api00", "stype", min_base=0, chisq=False)
    got = t.frame.loc[("api00", "", "Médiane"), [("stype", g) for g in res["groups"]]]
    assert_close(got, res["quantile"], 0, atol=0)
    total = _case("quantile.json", f"{dname}_median_api00_default")["result"]
    assert t.frame.loc[("api00", "", "Médiane"), TOTAL] == total["quantile"][0]


@pytest.mark.parametrize("dname", R_DESIGNS)
def test_weighted_quantile_matches_r_qrule_math(dname):
    res = _case("quantile.json", f"{dname}_quantile_api00_mean_math")["result"]
    d = _design(dname)
    for p, q in zip(res["probs"], res["quantile"]):
        assert weighted_quantile(d.data["api00"], d.weights, p) == q


def test_weighted_quantile_closed_forms():
    # equal weights, even n: the CDF hits 0.5 exactly at the 2nd value -> lower median
    assert weighted_quantile([4, 1, 3, 2], [1, 1, 1, 1], 0.5) == 2
    # odd n
    assert weighted_quantile([5, 1, 3], [1, 1, 1], 0.5) == 3
    # a heavy weight moves the median; zero weights are ignored
    assert weighted_quantile([1, 2, 3, 100], [1, 1, 5, 0], 0.5) == 3


# --------------------------------------------------------------------------------------
# multi-response: closed forms
# --------------------------------------------------------------------------------------
def test_multi_response_percentages_are_means_of_the_01_columns():
    d = _design("dclus1")
    t = crosstab(d, "m", "stype", spec=_multi_spec(), min_base=0, chisq=False)
    w = d.weights.to_numpy()
    for g in ["E", "H", "M"]:
        m = (d.data["stype"] == g).to_numpy()
        for col, label in [("a600", "api00 > 600"), ("b600", "api99 > 600")]:
            expected = np.average(d.data[col].to_numpy()[m], weights=w[m])
            assert t.frame.loc[("m", "", label), ("stype", g)] == pytest.approx(expected, rel=1e-12)
        n_answers = np.average((d.data["a600"] + d.data["b600"]).to_numpy()[m], weights=w[m])
        assert t.frame.loc[("m", "", "Nombre moyen"), ("stype", g)] == pytest.approx(n_answers, rel=1e-12)
    # percentages of respondents add to more than 100 %
    assert t.frame.loc[[("m", "", "api00 > 600"), ("m", "", "api99 > 600")], TOTAL].sum() > 1


# --------------------------------------------------------------------------------------
# clear difference / no difference
# --------------------------------------------------------------------------------------
def _two_groups(p_a, p_b, n=400):
    rows = []
    for g, p in (("A", p_a), ("B", p_b)):
        k = int(round(p * n))
        rows += [(g, "Oui")] * k + [(g, "Non")] * (n - k)
    df = pd.DataFrame(rows, columns=["groupe", "reponse"])
    df["groupe"] = pd.Categorical(df["groupe"])
    df["reponse"] = pd.Categorical(df["reponse"], categories=["Oui", "Non"])
    return Design(df)


def test_clear_difference_gets_an_upper_case_letter():
    t = crosstab(_two_groups(0.8, 0.2), "reponse", "groupe", chisq=False)
    assert t.marks.loc[("reponse", "", "Oui"), ("groupe", "A")] == "B"
    assert t.marks.loc[("reponse", "", "Non"), ("groupe", "B")] == "A"
    assert t.marks.loc[("reponse", "", "Oui"), ("groupe", "B")] == ""
    # closed form, equal weights, each row its own PSU, one stratum of N = 800
    # rows: domain influence u_i = (y_i - p_g) / n_g, var = N/(N-1) * sum(u_i^2)
    # = N/(N-1) * p(1-p)/n_g per group; the groups are disjoint, so no covariance.
    n, N = 400, 800
    v = 2 * N / (N - 1) * (0.8 * 0.2) / n
    hit = t.tests[(t.tests["row"] == "Oui")]
    assert hit["se"].iloc[0] == pytest.approx(np.sqrt(v), rel=1e-10)
    assert hit["p_value"].iloc[0] < 1e-50


def test_no_difference_gets_no_letter():
    t = crosstab(_two_groups(0.5, 0.5), "reponse", "groupe", chisq=False)
    assert (t.marks == "").all().all()
    hit = t.tests[(t.tests["row"] == "Oui")]
    assert hit["estimate"].iloc[0] == 0
    assert hit["p_value"].iloc[0] == pytest.approx(1.0)


def test_alpha_thresholds_and_complement_marks():
    t = crosstab(_two_groups(0.55, 0.47), "reponse", "groupe", chisq=False)
    p = t.tests["p_value"].iloc[0]
    assert 0.01 < p < 0.05  # lower case at 5 %
    assert t.marks.loc[("reponse", "", "Oui"), ("groupe", "A")] == "b"
    strict = crosstab(_two_groups(0.55, 0.47), "reponse", "groupe", chisq=False, alpha=(0.01, 0.001))
    assert (strict.marks == "").all().all()
    comp = crosstab(_two_groups(0.8, 0.2), "reponse", "groupe", chisq=False, versus="complement")
    assert comp.marks.loc[("reponse", "", "Oui"), ("groupe", "A")] == "++"
    assert comp.marks.loc[("reponse", "", "Oui"), ("groupe", "B")] == "−−"


def test_p_value_adjustment_matches_r_p_adjust():
    case = _case("extra_tables.json", "p_adjust")
    for method, key in [("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "BH")]:
        assert_close(adjust_pvalues(case["p"], method), case["result"][key], 1e-12)
    assert np.array_equal(adjust_pvalues(case["p"], None), case["p"])


def test_adjust_option_applies_over_the_pairs_of_a_row():
    d = _design("dstrat")
    raw = crosstab(d, "ans", "stype", min_base=0, chisq=False)
    adj = crosstab(d, "ans", "stype", min_base=0, chisq=False, adjust="holm")
    for level in ["bas", "moyen", "haut"]:
        p = raw.tests.loc[raw.tests["row"] == level, "p_value"].to_numpy()
        got = adj.tests.loc[adj.tests["row"] == level, "p_adjusted"].to_numpy()
        m = len(p)
        order = np.argsort(p)
        expected = np.empty(m)
        expected[order] = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * p[order]))
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_column_letters():
    assert column_letters(3) == ["A", "B", "C"]
    assert column_letters(28)[25:] == ["Z", "AA", "AB"]


# --------------------------------------------------------------------------------------
# table structure, bases, small bases
# --------------------------------------------------------------------------------------
def test_banner_letters_run_across_variables_and_tests_stay_within_one():
    d = _design("dstrat")
    t = banner(d, ["sch.wide", "awards"], ["stype", "yr.rnd"], min_base=0, chisq=False)
    letters = [c.letter for c in t.columns]
    assert letters == ["", "A", "B", "C", "D", "E"]
    assert set(t.tests["variable"]) == {"stype", "yr.rnd"}
    for _, r in t.tests.iterrows():
        var_cols = {c.label for c in t.columns if c.variable == r["variable"]}
        assert r["column"] in var_cols and r["versus"] in var_cols
    assert list(t.questions) == ["sch.wide", "awards"]
    assert t.frame.loc[("sch.wide", "", "Base brute (effectif)"), TOTAL] == 200
    assert t.frame.loc[("sch.wide", "", "Base pondérée"), TOTAL] == pytest.approx(6194, rel=1e-6)


def test_small_bases_are_flagged_and_can_be_hidden():
    d = _design("dclus1")  # H has 14 schools, M 25
    t = crosstab(d, "sch.wide", "stype", chisq=False)
    assert t.small.loc[("sch.wide", "", "Yes"), ("stype", "H")]
    assert not t.small.loc[("sch.wide", "", "Yes"), ("stype", "E")]
    assert t.display_frame().loc[("sch.wide", "", "Yes"), ("stype", "H")].endswith("*")
    assert not set(t.tests["column"]) & {"H", "M"}  # small columns are not tested
    hidden = crosstab(d, "sch.wide", "stype", chisq=False, hide_small=True)
    assert np.isnan(hidden.frame.loc[("sch.wide", "", "Yes"), ("stype", "H")])
    assert hidden.display_frame().loc[("sch.wide", "", "Yes"), ("stype", "H")] == "–"
    assert any("non affiché" in line for line in hidden.notes("sch.wide"))


def test_grid_is_items_by_answers_with_per_item_bases_and_nets():
    d = _design("dstrat")
    spec = _spec([
        Question(id="g", text="Grille", type="grid", columns=("sch.wide", "awards"),
                 item_labels={"sch.wide": "Objectif école", "awards": "Récompense"},
                 categories=["Yes", "No"], nets={"Total Oui": ["Yes"]})
    ])
    t = crosstab(d, "g", "stype", spec=spec, min_base=0, chisq=False)
    grid = t.items_by_answers("g")
    assert list(grid.index) == ["Objectif école", "Récompense"]
    assert list(grid.columns) == ["Yes", "No", "Total Oui", "Base brute (effectif)", "Base pondérée"]
    single = crosstab(d, "awards", chisq=False).frame
    assert grid.loc["Récompense", "Yes"] == pytest.approx(single.loc[("awards", "", "Yes"), TOTAL], rel=1e-14)
    assert grid.loc["Récompense", "Total Oui"] == grid.loc["Récompense", "Yes"]
    html = crosstab(d, "g", spec=spec, chisq=False).to_html()
    assert "<th>Objectif école</th>" in html  # items as rows in the total-only display


def test_show_missing_per_spec_and_option():
    d = _design("dstrat")
    data = d.data.copy()
    data["ans2"] = data["ans"].cat.add_categories(["NSP"]).fillna("NSP")
    d2 = Design(data, weights="pw", strata="stype", fpc="fpc")
    q = Question(id="ans2", text="Réponse", type="single", columns=("ans2",),
                 categories=["bas", "moyen", "haut", "NSP"], missing=["NSP"])
    excluded = crosstab(d2, "ans2", spec=_spec([q]), chisq=False)
    ref = crosstab(d, "ans", chisq=False)
    assert excluded.frame.loc[("ans2", "", "bas"), TOTAL] == pytest.approx(
        ref.frame.loc[("ans", "", "bas"), TOTAL], rel=1e-14)
    assert ("ans2", "", "NSP") not in excluded.frame.index
    assert any("« NSP »" in line for line in excluded.notes("ans2"))
    shown = crosstab(d2, "ans2", spec=_spec([q]), chisq=False, show_missing=True)
    assert shown.kinds.loc[("ans2", "", "NSP")] == "missing"
    total = shown.frame.loc[[("ans2", "", c) for c in ["bas", "moyen", "haut", "NSP"]], TOTAL].sum()
    assert total == pytest.approx(1.0, rel=1e-12)


def test_numeric_question_mean_and_median():
    d = _design("dstrat")
    t = crosstab(d, "api00", chisq=False)
    w = d.weights.to_numpy()
    x = d.data["api00"].to_numpy()
    assert t.frame.loc[("api00", "", "Moyenne"), TOTAL] == pytest.approx(np.average(x, weights=w), rel=1e-12)
    assert t.kinds.loc[("api00", "", "Médiane")] == "median"


# --------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------
def test_errors_name_what_is_wrong():
    d = _design("dstrat")
    with pytest.raises(TableError, match="'nope'"):
        crosstab(d, "nope", "stype")
    with pytest.raises(TableError, match="'nada'"):
        crosstab(d, "sch.wide", "nada")
    empty = d.data.copy()
    empty["grp"] = pd.Categorical(np.where(empty["stype"] == "E", "x", "y"), categories=["x", "y", "z"])
    # A labelled group without respondents is left out with a note (issue 11), not an error.
    t = crosstab(Design(empty, weights="pw"), "sch.wide", "grp")
    assert [c for _, c in t.frame.columns][1:] == ["x", "y"]
    assert any("« z »" in line for line in t.notes("sch.wide"))
    bad_numeric = _spec([Question(id="n", text="N", type="numeric", columns=("stype",))])
    with pytest.raises(TableError, match="numeric"):
        crosstab(d, "n", spec=bad_numeric)
    bad_multi = _spec([Question(id="mm", text="M", type="multi", columns=("api00",))])
    with pytest.raises(TableError, match="0/1"):
        crosstab(d, "mm", spec=bad_multi)
    bad_cat = _spec([Question(id="s", text="S", type="single", columns=("sch.wide",),
                              categories=["Yes", "Peut-être"])])
    with pytest.raises(TableError, match="Peut-être"):
        crosstab(d, "s", spec=bad_cat)
    with pytest.raises(TableError, match="cells"):
        crosstab(d, "sch.wide", cells="pourcentage")


# --------------------------------------------------------------------------------------
# display: French format, HTML, Excel
# --------------------------------------------------------------------------------------
def _labelled_design():
    df = pd.DataFrame({
        "q": pd.Categorical(["<b>Oui</b>"] * 60 + ["=HYPERLINK(\"x\")"] * 40 + ["-2 & co"] * 20),
        "g": pd.Categorical(["@A"] * 70 + ["+B"] * 50),
        "w": np.linspace(100, 2400, 120),
    })
    df.attrs["variable_labels"] = {"q": "Question <script>alert(1)</script>"}
    return Design(df, weights="w")


def test_french_format_in_display():
    d = _design("dstrat")
    t = crosstab(d, "sch.wide", "stype", min_base=0, chisq=False)
    shown = t.display_frame()
    assert shown.loc[("sch.wide", "", "Yes"), TOTAL] == f"83{NNBSP}%"
    assert shown.loc[("sch.wide", "", "Base pondérée"), TOTAL] == f"6{NNBSP}194"
    m = crosstab(d, "m", spec=_multi_spec(), chisq=False).display_frame()
    assert re.fullmatch(r"\d,\d", m.loc[("m", "", "Nombre moyen"), TOTAL])
    assert t.notes("sch.wide")[0] == f"Base : Ensemble (6{NNBSP}194 répondants)"


def test_html_escapes_labels_and_is_deterministic():
    t = crosstab(_labelled_design(), "q", "g", chisq=False, min_base=0)
    html = t.to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Oui</b>" not in html and "&lt;b&gt;Oui&lt;/b&gt;" in html
    assert html == crosstab(_labelled_design(), "q", "g", chisq=False, min_base=0).to_html()
    assert t._repr_html_() == html
    assert " id=" not in html


def _partner_case():
    """A scale asked of groups of 100, 50 and 20 respondents, with a working note."""
    answers = ["Tout à fait", "Plutôt", "Pas du tout"]
    df = pd.DataFrame({
        "s": pd.Categorical(np.tile(answers, 57)[:170], categories=answers, ordered=True),
        "g": pd.Categorical(["Grands"] * 100 + ["Moyens"] * 50 + ["Petits"] * 20),
    })
    spec = _spec([Question(id="q9", text="Êtes-vous satisfait ?", type="scale", columns=("s",),
                           categories=answers, note="Libellé reconstitué (note de travail)")])
    return crosstab(Design(df), "q9", "g", spec=spec, chisq=False, min_base=30)


def test_partner_rendering_options_codes_marks_mean_coding_and_working_notes():
    t = _partner_case()
    coding = "de 1 = « Tout à fait » à 3 = « Pas du tout »"
    partner = t.to_html(codes=False, working_notes=False, mean_labels={"q9": coding}, low_base=75)
    assert 'class="ramlab-qid"' not in partner and "q9" not in partner
    assert "<caption>Êtes-vous satisfait ?</caption>" in partner
    assert "note de travail" not in partner
    assert f"<th>Moyenne ({coding})</th>" in partner
    # 50 respondents: under 75, not under 30 -> marked; 20 are flagged small (*), not "base faible"
    assert '<th>Moyens (B) <span class="ramlab-low">base faible</span></th>' in partner
    assert "<th>Petits (C)</th>" in partner and "<th>Grands (A)</th>" in partner
    note = "Base faible : groupe de 30 à 74 répondants (Moyens), résultat à lire avec prudence."
    assert f'<div class="ramlab-notes">\n<p>{french_spaces(note)}</p>' in partner
    # the same options in a turned table: groups as rows, same marks and notes
    turned = t.to_html(codes=False, working_notes=False, mean_labels={"q9": coding}, low_base=75,
                       turn_above=2)
    assert 'class="ramlab-tables ramlab-turned"' in turned and "q9" not in turned
    assert '<th>Moyens (B) <span class="ramlab-low">base faible</span></th>' in turned
    assert f"<th>Moyenne ({coding})</th>" in turned and french_spaces(note) in turned
    assert turned.split("<tbody>")[1].count("<tr>") == 4  # Ensemble and the three groups


def test_researchers_default_rendering_keeps_codes_notes_and_plain_mean():
    t = _partner_case()
    html = t.to_html()
    assert '<caption><span class="ramlab-qid">q9</span> Êtes-vous satisfait ?</caption>' in html
    assert "<p>Libellé reconstitué (note de travail)</p>" in html
    assert '<tr class="ramlab-mean"><th>Moyenne</th>' in html
    assert "base faible" not in html and "Base faible" not in html
    assert "ramlab-turned" not in t.to_html(turn_above=7)  # 3 groups: not turned


def test_excel_neutralises_formulas_names_sheets_and_is_deterministic(tmp_path):
    from openpyxl import load_workbook

    d = _design("dstrat")
    t1 = banner(_labelled_design(), ["q"], ["g"], chisq=False, min_base=0)
    p1, p2 = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    t1.to_excel(p1)
    banner(_labelled_design(), ["q"], ["g"], chisq=False, min_base=0).to_excel(p2)
    assert hashlib.sha256(p1.read_bytes()).digest() == hashlib.sha256(p2.read_bytes()).digest()
    wb = load_workbook(p1)
    assert wb.sheetnames == ["q"]
    values = [c.value for row in wb["q"].iter_rows() for c in row if isinstance(c.value, str)]
    assert "'=HYPERLINK(\"x\")" in values
    assert "'-2 & co" in values
    assert "'@A (B)" in values and "'+B (A)" in values
    assert not any(v.startswith(("=", "+", "-", "@")) for v in values)
    with zipfile.ZipFile(p1) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
        assert "2000-01-01T00:00:00Z" in core
    # one sheet per question of a banner book
    t2 = banner(d, ["sch.wide", "awards"], ["stype"], chisq=False, min_base=0)
    t2.to_excel(tmp_path / "book.xlsx")
    assert load_workbook(tmp_path / "book.xlsx").sheetnames == ["sch.wide", "awards"]


# --------------------------------------------------------------------------------------
# trends
# --------------------------------------------------------------------------------------
def test_trend_change_in_points_with_independent_samples():
    d0, d1 = _design("dstrat"), _design("dclus1")
    t = trend({2015: d0, 2021: d1}, "sch.wide")
    a = crosstab(d0, "sch.wide", chisq=False)
    b = crosstab(d1, "sch.wide", chisq=False)
    k = ("sch.wide", "", "Yes")
    diff = b.frame.loc[k, TOTAL] - a.frame.loc[k, TOTAL]
    va, vb = a.se.loc[k, TOTAL] ** 2, b.se.loc[k, TOTAL] ** 2
    assert t.frame.loc[k, ("Évolution", "2015-2021")] == pytest.approx(diff, rel=1e-12)
    assert t.se.loc[k, ("Évolution", "2015-2021")] == pytest.approx(np.sqrt(va + vb), rel=1e-12)
    from scipy import stats

    # the years stacked as strata of one design: its df is the sum of the years'
    # (R: degf() of the rbind with year-prefixed strata and PSUs, extra_stack.R)
    df = d0.degf() + d1.degf()
    p = 2 * stats.t.sf(abs(diff) / np.sqrt(va + vb), df)
    row = t.tests[t.tests["row"] == "Yes"].iloc[0]
    assert row["p_value"] == pytest.approx(p, rel=1e-10)
    assert row["df"] == pytest.approx(df, rel=1e-12)
    shown = t.display_frame().loc[k, ("Évolution", "2015-2021")]
    assert shown == "+5"  # 87.4 % - 82.8 % = +4.6 points, not significant


# --------------------------------------------------------------------------------------
# the shipped survey: published IMPACT-Associations 2021 figures
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def associations():
    from pathlib import Path

    from ramlab.io.survey import load_survey

    root = Path(__file__).resolve().parents[2]
    with pytest.warns(UserWarning):
        return load_survey("associations", 2021, data_dir=root / "data")


def _pct(t, q, item, row):
    return round(100 * t.frame.loc[(q, item, row), TOTAL] + 1e-9)


def test_shipped_q7_multi_response(associations):
    t = crosstab(associations, "q7", "taille")
    labels = list(associations.spec.questions["q7"].item_labels.values())
    assert [_pct(t, "q7", "", lab) for lab in labels] == [73, 47, 26, 11]
    assert t.display_frame().loc[("q7", "", "Échelon en moyenne"), TOTAL] == "1,6"
    notes = t.notes("q7")
    assert notes[0] == f"Base : Ont mis en place au moins un partenariat ou prévoient d'en mettre en place (147{NNBSP}511 associations)"
    assert notes[-2].startswith("Source : IMPACT-Associations 2021")
    assert t.synthetic and notes[-1] == "Données synthétiques."


def test_shipped_q8_and_q6_grids(associations):
    t = banner(associations, ["q8", "q6"], ["taille", "secteur"])
    q8 = associations.spec.questions["q8"]
    items = [q8.item_labels[c] for c in q8.columns]
    assert [_pct(t, "q8", i, "Oui") for i in items] == [59, 47, 45, 39]
    assert [_pct(t, "q8", i, "Oui ou dans les 6 mois") for i in items] == [75, 73, 70, 58]
    q6 = associations.spec.questions["q6"]
    assert [_pct(t, "q6", q6.item_labels[c], "Oui") for c in q6.columns] == [89, 73, 70, 56, 52, 37, 35]
    assert set(t.chisq["question"]) == {"q8", "q6"}
    assert len(t.chisq) == 2 * (4 + 7)


def test_shipped_scale_total_oui(associations):
    t = crosstab(associations, "innovation", "region")
    assert _pct(t, "innovation", "", "Total Oui") == 90
    assert ("innovation", "", "Ne sait pas") not in t.frame.index
    assert t.kinds.loc[("innovation", "", "Moyenne")] == "mean"
    # The table's test is svychisq (F, Rao-Scott; Design.chisq is checked against R
    # in test_chisq.py) on the answers of the question's base, "Ne sait pas" left out:
    # not on the whole base, nor on the whole sample.
    assert len(t.chisq) == 1
    q = associations.spec.questions["innovation"]
    answered = associations.spec.bases[q.base].mask(associations.data) \
        & ~associations.data["innovation"].isin(q.missing)
    ref = associations.design.subset(answered).chisq("innovation", "region", statistic="F")
    row = t.chisq.iloc[0]
    assert row["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert [row["ndf"], row["ddf"]] == pytest.approx(list(ref.df), rel=1e-10)
    assert row["p_value"] == pytest.approx(ref.p_value, rel=1e-8)


# --------------------------------------------------------------------------------------
# the benchmark script runs (small)
# --------------------------------------------------------------------------------------
def test_benchmark_script_runs_small(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_tables.py"
    spec = importlib.util.spec_from_file_location("bench_tables", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--n", "400", "--repeat", "1", "--floor-n", "400"])
    out = capsys.readouterr().out
    assert re.search(r"n=\s+400\s+questions=60\s+banner columns=15\s+letters=yes .*seconds=\d", out)
    assert re.search(r"n=\s+400\s+banner of 20 questions x 5 breakdowns .* x floor", out), out


@pytest.mark.parametrize("dname", ["dstrat", "dclus1"])
@pytest.mark.parametrize("var", ["sch.wide", "awards"])
def test_rao_scott_chisq_of_a_single_choice_table_matches_r(dname, var):
    res = _case("chisq.json", f"{dname}_{var}_stype_F")["result"]
    t = crosstab(_design(dname), var, "stype", min_base=0)
    row = t.chisq.iloc[0]
    assert (row["question"], row["variable"]) == (var, "stype")
    assert_close([row["statistic"]], [res["statistic"]], 1e-6)
    assert_close([row["ndf"], row["ddf"]], [res["parameter"]["ndf"], res["parameter"]["ddf"]], 1e-6)
    assert_close([row["p_value"]], [res["p_value"]], 1e-6)


def test_multi_response_delimited_set_equals_its_01_columns():
    d = _design("dstrat")
    data = d.data.copy()
    sets = []
    for a, b in zip(data["a600"], data["b600"]):
        codes = [k for k, v in (("1", a), ("2", b)) if v == 1]
        sets.append(";".join(codes))
    data["set"] = sets
    data.loc[data.index[:5], "set"] = None  # not asked: outside the base
    data.loc[data.index[:5], ["a600", "b600"]] = np.nan
    d2 = Design(data, weights="pw", strata="stype", fpc="fpc")
    spec = _spec([
        Question(id="delim", text="Ensemble délimité", type="multi", columns=("set",),
                 item_labels={"1": "api00 > 600", "2": "api99 > 600"}),
        Question(id="m", text="Colonnes 0/1", type="multi", columns=("a600", "b600"),
                 item_labels={"a600": "api00 > 600", "b600": "api99 > 600"}),
    ])
    t = banner(d2, ["delim", "m"], ["stype"], spec=spec, min_base=0, chisq=False)
    for label in ["api00 > 600", "api99 > 600"]:
        np.testing.assert_allclose(t.frame.loc[("delim", "", label)].to_numpy(float),
                                   t.frame.loc[("m", "", label)].to_numpy(float), rtol=1e-14)
        np.testing.assert_allclose(t.se.loc[("delim", "", label)].to_numpy(float),
                                   t.se.loc[("m", "", label)].to_numpy(float), rtol=1e-12)
    assert t.frame.loc[("delim", "", "Base brute (effectif)"), TOTAL] == 195


@pytest.mark.parametrize("dname", ["dstrat", "dclus1"])
def test_rao_scott_per_multi_item_and_in_a_sub_base_match_r(dname):
    d = _design(dname)
    t = crosstab(d, "m", "stype", spec=_multi_spec(), min_base=0)
    for item, col in [("api00 > 600", "a600"), ("api99 > 600", "b600")]:
        res = _case("extra_tables.json", f"{dname}_chisq_{col}_stype")["result"]
        row = t.chisq[t.chisq["item"] == item].iloc[0]
        assert_close([row["statistic"], row["ndf"], row["ddf"], row["p_value"]],
                     [res["statistic"], res["parameter"]["ndf"], res["parameter"]["ddf"],
                      res["p_value"]], 1e-6)
    res = _case("extra_tables.json", f"{dname}_chisq_ans_stype_subbase")["result"]
    sub = crosstab(d, "ans", "stype", base=(d.data["api00"] > 600).to_numpy(), min_base=0)
    row = sub.chisq.iloc[0]
    assert_close([row["statistic"], row["ndf"], row["ddf"], row["p_value"]],
                 [res["statistic"], res["parameter"]["ndf"], res["parameter"]["ddf"],
                  res["p_value"]], 1e-6)


def test_trend_matches_a_renamed_item_on_its_data_column():
    d0, d1 = _design("dstrat"), _design("dclus1")

    def grid(label):
        return _spec([Question(id="g", text="Grille", type="grid", columns=("sch.wide", "awards"),
                               item_labels={"sch.wide": label, "awards": "Récompense"},
                               categories=["Yes", "No"])])

    t = trend({2015: d0, 2021: d1}, "g", specs={2015: grid("Objectif"), 2021: grid("Objectif atteint")})
    items = list(dict.fromkeys(t.frame.index.get_level_values("item")))
    assert items == ["Objectif atteint", "Récompense"]
    a = crosstab(d0, "sch.wide", chisq=False).frame.loc[("sch.wide", "", "Yes"), TOTAL]
    b = crosstab(d1, "sch.wide", chisq=False).frame.loc[("sch.wide", "", "Yes"), TOTAL]
    row = t.frame.loc[("g", "Objectif atteint", "Yes")]
    assert row[("Année", "2015")] == pytest.approx(a, rel=1e-14)
    assert row[("Évolution", "2015-2021")] == pytest.approx(b - a, rel=1e-12)
