"""Which comparisons a banner tests, and the marks it writes (tables/significance.py).

References: R survey 4.1-1 (tests/fixtures/r/tables.json: ``svyttest`` and
the group-versus-rest ``svycontrast`` of ``svyby(covmat = TRUE)``) and the
documented options of :func:`ramlab.tables.banner` (``letters``,
``min_base``, ``versus``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design, crosstab


def _api(name):
    spec = R.load_json("tables.json")["designs"][name]
    df = R.load_data(spec["data"])
    df["schwide_yes"] = pd.Categorical(np.where(df["sch.wide"] == "Yes", "Oui", "Non"),
                                       categories=["Non", "Oui"])
    return Design(df, weights=spec.get("weights"), ids=spec.get("ids"),
                  strata=spec.get("strata"), fpc=spec.get("fpc"))


def _case(case_id):
    return next(c for c in R.load_json("tables.json")["cases"] if c["id"] == case_id)["result"]


@pytest.mark.parametrize("dname", ["dstrat", "dclus1"])
def test_the_one_comparison_of_a_mean_between_two_columns_is_rs_svyttest(dname):
    # A numeric question by a banner of two groups: one test, the difference
    # of the two domain means, which is R's svyttest(api00 ~ sch.wide) (the
    # regression coefficient of the Yes group is that difference, with the
    # same linearised SE). The letter follows R's p-value (dstrat 1.5e-4:
    # upper case; dclus1 0.055: none), far enough from the thresholds that
    # svyttest's df (degf - 1) and the banner's (degf) agree on it.
    ref = _case(f"{dname}_svyttest_api00_by_schwide")
    t = crosstab(_api(dname), "api00", "sch.wide", min_base=0, chisq=False)
    assert len(t.tests) == 1
    hit = t.tests.iloc[0]
    assert (hit["row"], hit["column"], hit["versus"]) == ("Moyenne", "No", "Yes")
    R.assert_close([hit["estimate"], hit["se"], hit["t"]],
                   [-ref["estimate"], ref["se"], -ref["statistic"]], 1e-6, what="No - Yes")
    level = np.digitize([ref["p_value"], hit["p_value"]], [0.01, 0.05])
    assert level[0] == level[1]
    letter = {c.label: c.letter for c in t.columns}["No"]
    expected = [letter, letter.lower(), ""][level[0]]
    assert t.marks.loc[("api00", "", "Moyenne"), ("sch.wide", "Yes")] == expected
    assert t.marks.loc[("api00", "", "Moyenne"), ("sch.wide", "No")] == ""


def test_letters_false_tests_nothing_and_marks_nothing():
    # banner(letters=False): no significance marks, hence no tests; the same
    # table with letters has some (dstrat, api00 by sch.wide: p ~ 1.5e-4)
    d = _api("dstrat")
    with_letters = crosstab(d, "api00", "sch.wide", min_base=0, chisq=False)
    assert len(with_letters.tests) == 1 and (with_letters.marks != "").any().any()
    t = crosstab(d, "api00", "sch.wide", min_base=0, chisq=False, letters=False)
    assert t.tests.empty
    assert (t.marks == "").all().all()


def test_columns_under_min_base_are_not_tested_against_the_rest_either():
    # dclus1: 14 high schools and 25 middle schools, under the default
    # min_base of 30: versus="complement" tests the elementary schools only,
    # and with min_base=0 each type against the rest, as R's contrasts.
    d = _api("dclus1")
    n = d.data["stype"].value_counts()
    assert n["H"] < 30 and n["M"] < 30 <= n["E"]
    t = crosstab(d, "schwide_yes", "stype", chisq=False, versus="complement")
    assert set(t.tests["column"]) == {"E"}
    assert (t.marks.loc[:, [("stype", "H"), ("stype", "M")]] == "").all().all()
    every = crosstab(d, "schwide_yes", "stype", chisq=False, versus="complement", min_base=0)
    for g in ("E", "H", "M"):
        ref = _case(f"dclus1_{g}_vs_rest_schwide_yes")["contrast"]
        hit = every.tests[(every.tests["row"] == "Oui") & (every.tests["column"] == g)]
        R.assert_close(hit["estimate"], [ref["estimate"]], 1e-6, what=g)


def test_a_difference_of_two_constant_columns_has_no_variance_and_no_letter():
    # Exact identity: a mean of equal values has variance 0, so does the
    # difference of two such column means (R: svyby(~x, ~g, svymean,
    # covmat = TRUE) gives SE 0 and svycontrast SE 0); ramlab's documented
    # rule then reports the comparison untested, as for 0 % against 100 %.
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"g": pd.Categorical(np.repeat(["A", "B"], 30)),
                       "x": np.repeat([700.1, 500.3], 30),
                       "w": rng.uniform(1, 5, 60)})
    t = crosstab(Design(df, weights="w"), "x", "g", min_base=0, chisq=False)
    hit = t.tests.iloc[0]
    assert hit["estimate"] == pytest.approx(700.1 - 500.3, rel=1e-12)
    assert hit["se"] == 0.0  # each column's mean has linearised values 0 on every row
    assert np.isnan(hit["t"]) and (t.marks == "").all().all()


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e8])
def test_the_zero_se_rule_is_relative_to_the_estimates(scale):
    # The documented rule: a difference whose SE is under 1e-6 of the compared
    # estimates' size is untested (SE 0). It is relative, so the unit of the
    # variable does not matter. Exact identity: the linearised mean and its SE
    # are homogeneous of degree 1 in the variable, so api00 * scale has R's
    # svyttest(api00 ~ sch.wide, dstrat) difference and SE times scale, the
    # same t and letter (upper case: p = 1.5e-4), even where, at
    # scale 1e-8, the SE (2e-7) is tiny in absolute terms. And two columns of
    # equal values, whose exact SE is 0 (R's svycontrast gives 0), get no
    # letter at any scale (their SEs are exactly 0: values constant in each column).
    ref = _case("dstrat_svyttest_api00_by_schwide")
    d = _api("dstrat")
    d.data["x"] = d.data["api00"] * scale
    t = crosstab(d, "x", "sch.wide", min_base=0, chisq=False)
    hit = t.tests.iloc[0]
    R.assert_close([hit["estimate"], hit["se"], hit["t"]],
                   [-ref["estimate"] * scale, ref["se"] * scale, -ref["statistic"]],
                   1e-6, atol=0.0, what=f"No - Yes at scale {scale}")
    letter = {c.label: c.letter for c in t.columns}["No"]
    assert t.marks.loc[("x", "", "Moyenne"), ("sch.wide", "Yes")] == letter
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"g": pd.Categorical(np.repeat(["A", "B"], 30)),
                       "x": np.repeat([700.1, 500.3], 30) * scale,
                       "w": rng.uniform(1, 5, 60)})
    t = crosstab(Design(df, weights="w"), "x", "g", min_base=0, chisq=False)
    hit = t.tests.iloc[0]
    assert hit["estimate"] == pytest.approx((700.1 - 500.3) * scale, rel=1e-12)
    assert hit["se"] == 0.0 and np.isnan(hit["t"]) and np.isnan(hit["p_value"])
    assert (t.marks == "").all().all()


def test_an_answer_nobody_chose_is_untested_without_a_warning():
    # Exact identity: an answer no respondent chose is 0 % in every column,
    # with SE 0 (R's svycontrast gives 0): its comparisons are not tests (the
    # documented zero-SE rule, here with a threshold of 0), reported with SE
    # 0 and no t, p-value or letter, and no numpy warning reaches the user.
    d = _api("dclus1")
    d.data["q"] = pd.Categorical(d.data["schwide_yes"].astype(str), categories=["Non", "Oui", "Jamais"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = crosstab(d, "q", "stype", min_base=0, chisq=False)
    never = t.tests[t.tests["row"] == "Jamais"]
    assert len(never) == 3 and (never["estimate"] == 0).all() and (never["se"] == 0).all()
    assert never["t"].isna().all() and never["p_value"].isna().all() and (never["mark"] == "").all()
    assert (t.marks.loc[("q", "", "Jamais")] == "").all()
    assert t.tests[t.tests["row"] == "Oui"]["t"].notna().all()


@pytest.mark.parametrize("ratio, tested", [(1.5e-6, True), (0.5e-6, False)])
def test_the_zero_se_threshold_is_1e_6_of_the_larger_estimate(ratio, tested):
    # The documented rule at its threshold: column A holds 30 values of 1000
    # (exact SE 0), column B 30 values of +/- delta (mean 0), equal weights.
    # Closed form (with-replacement linearisation over the 60 rows, R's
    # svymean of a domain of svydesign(ids = ~1)): SE of B's mean, hence of
    # A - B, is delta sqrt(60 / 59 / 30). An SE of 1.5e-6 of the larger
    # estimate (1000) is a test (a letter, t = 1000 / SE); one of 0.5e-6 is 0.
    delta = ratio * 1000 / np.sqrt(60 / 59 / 30)
    df = pd.DataFrame({"g": pd.Categorical(np.repeat(["A", "B"], 30)),
                       "x": np.concatenate([np.full(30, 1000.0), np.tile([delta, -delta], 15)]),
                       "w": np.ones(60)})
    t = crosstab(Design(df, weights="w"), "x", "g", min_base=0, chisq=False)
    hit = t.tests.iloc[0]
    assert (hit["column"], hit["versus"], hit["estimate"]) == ("A", "B", pytest.approx(1000.0, rel=1e-12))
    mark = t.marks.loc[("x", "", "Moyenne"), ("g", "A")]
    if tested:
        assert hit["se"] == pytest.approx(1.5e-3, rel=1e-4)
        assert hit["t"] == pytest.approx(1000 / hit["se"], rel=1e-12) and mark == "B"
    else:
        assert hit["se"] == 0.0 and np.isnan(hit["t"]) and mark == ""
