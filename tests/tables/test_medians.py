"""Banner medians with their SE and Woodruff interval (issue 13, item 3).

References: extra_banner_median.json (extra_banner_median.R): R survey 4.1
``svyby(~api00, ~g, design, svyquantile, quantiles = 0.5, ci = TRUE,
vartype = c("se", "ci"))`` per group and ``svyquantile(~api00, design, 0.5,
ci = TRUE)`` for the total column, on a clustered design (dclus1), a
clustered calibrated one and an unclustered raked one (the banner's factored
covariance path); quantile.json's svyby medians (dstrat, dclus1, dclus2) for
the SEs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.tables import banner

MEDIAN = R.load_json("extra_banner_median.json")
QUANTILE = R.load_json("quantile.json")
ROW = ("api00", "", "Médiane")
TOTAL = ("Total", "Ensemble")
POPULATION = 6194


def _design(name):
    base = R.design_from_spec(QUANTILE["designs"][MEDIAN["designs"][name]["design"]])
    if name == "dclus1_calraked":
        return base.calibrate({"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}},
                              method="raking", tol=1e-12, max_iter=1000)
    if name == "dstrat_calraked":
        return base.calibrate({"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}},
                              method="raking", tol=1e-12, max_iter=1000)
    return base


def _case(fixture, cid):
    return next(c for c in fixture["cases"] if c["id"] == cid)["result"]


def _nan(values):
    return [np.nan if v is None else v for v in values]


@pytest.mark.parametrize("dname", list(MEDIAN["designs"]))
def test_banner_median_se_and_interval_match_r(dname):
    d = _design(dname)
    t = banner(d, ["api00"], ["stype", "awards"], min_base=0, chisq=False)
    low, high = t.intervals
    total = _case(MEDIAN, f"{dname}_total_median_api00")
    assert t.frame.loc[ROW, TOTAL] == total["quantile"]
    R.assert_close([t.se.loc[ROW, TOTAL]], [total["se"]], 1e-6)
    assert [low.loc[ROW, TOTAL], high.loc[ROW, TOTAL]] == [total["ci_low"], total["ci_high"]]
    for by in ("stype", "awards"):
        res = _case(MEDIAN, f"{dname}_by_{by}_median_api00")
        cols = [(by, g) for g in res["groups"]]
        assert t.frame.loc[ROW, cols].tolist() == res["quantile"]
        # bounds are order statistics of the data: equal, not close; NaN where R's is
        np.testing.assert_array_equal(low.loc[ROW, cols], _nan(res["ci_low"]))
        np.testing.assert_array_equal(high.loc[ROW, cols], _nan(res["ci_high"]))
        np.testing.assert_allclose(t.se.loc[ROW, cols].to_numpy(dtype=float), _nan(res["se"]), rtol=1e-6)


@pytest.mark.parametrize("dname", ["dstrat", "dclus1", "dclus2"])
def test_banner_median_se_matches_r_svyby(dname):
    d = R.design_from_spec(QUANTILE["designs"][dname])
    t = banner(d, ["api00"], ["stype"], min_base=0, chisq=False)
    res = _case(QUANTILE, f"{dname}_by_stype_median_api00")
    R.assert_close(t.se.loc[ROW, [("stype", g) for g in res["groups"]]], res["se"], 1e-6)
    total = _case(QUANTILE, f"{dname}_median_api00_default")
    R.assert_close([t.se.loc[ROW, TOTAL]], total["se"], 1e-6)


def test_tidy_frame_and_cells_show_the_median_interval():
    d = _design("dstrat_calraked")
    t = banner(d, ["api00"], ["stype"], min_base=0, chisq=False, ci=True)
    tidy = t.to_frame("tidy")
    median = tidy[tidy["kind"] == "median"].set_index("group")
    res = _case(MEDIAN, "dstrat_calraked_by_stype_median_api00")
    assert median.loc[res["groups"], "ci_low"].tolist() == res["ci_low"]
    assert median.loc[res["groups"], "ci_high"].tolist() == res["ci_high"]
    R.assert_close(median.loc[res["groups"], "se"], res["se"], 1e-6)
    assert t.display_frame().loc[ROW, ("stype", "E")].endswith(" [650,0 ; 723,0]")
    # Woodruff intervals are made at 95 %: none at another level
    assert tidy[tidy["kind"] == "median"]["ci_low"].notna().all()
    assert t.to_frame("tidy", level=0.9).query("kind == 'median'")["ci_low"].isna().all()


def test_fast_median_equals_the_exact_rule_on_ties_and_close_sums():
    # integer weights (exact sums, the CDF hits 1/2 exactly), equal non-integer
    # weights (sums that R rounds in extended precision) and continuous weights
    from ramlab import Design
    from ramlab.tables import weighted_quantile

    rng = np.random.default_rng(7)
    n = 4000
    g = pd.Categorical.from_codes(rng.integers(0, 3, n), ["a", "b", "c"])
    x = rng.integers(0, 12, n).astype(float)
    for w in (np.ones(n), np.full(n, 33.847), rng.integers(1, 4, n).astype(float), rng.random(n) + 0.5):
        d = Design(pd.DataFrame({"x": x, "g": g, "w": w}), weights="w")
        t = banner(d, ["x"], ["g"], min_base=0, chisq=False)
        want = [weighted_quantile(x, w, 0.5)] + [weighted_quantile(x, w * (g == k), 0.5) for k in "abc"]
        assert t.frame.loc[("x", "", "Médiane")].tolist() == want


@pytest.mark.parametrize("name", ["rclus1", "rstrat"])
def test_banner_median_on_a_replicate_design_matches_r(name):
    # R svyquantile.svyrep.design: the CDF's SE from the replicates (replicate.json), the
    # banner's total column being the whole design
    rep = R.load_json("replicate.json")
    spec = rep["designs"][name]
    d = R.design_from_spec(rep["designs"][spec["base"]]).replicate(**spec["replicate"])
    res = next(c for c in rep["cases"] if c["id"] == f"{name}_quantile_api00")["result"]
    i = res["probs"].index(0.5)
    t = banner(d, ["api00"], ["stype"], min_base=0, chisq=False)
    low, high = t.intervals
    assert t.frame.loc[ROW, TOTAL] == res["quantile"][i]
    assert [low.loc[ROW, TOTAL], high.loc[ROW, TOTAL]] == [res["ci_low"][i], res["ci_high"][i]]
    R.assert_close([t.se.loc[ROW, TOTAL]], [res["se"][i]], 1e-6)


def test_a_banner_cut_into_questions_keeps_each_median_interval():
    # reports.blocks.question_tables cuts a banner into one table per question
    from ramlab.reports.blocks import question_tables

    d = _design("dstrat_calraked")
    t = banner(d, ["sch.wide", "api00"], ["stype"], min_base=0, chisq=False)
    piece = question_tables(t)["api00"].to_frame("tidy")
    whole = t.to_frame("tidy")
    whole = whole[whole["question"] == "api00"].reset_index(drop=True)
    pd.testing.assert_frame_equal(piece, whole)
    res = _case(MEDIAN, "dstrat_calraked_by_stype_median_api00")
    median = piece[piece["kind"] == "median"].set_index("group")
    assert median.loc[res["groups"], "ci_low"].tolist() == res["ci_low"]
