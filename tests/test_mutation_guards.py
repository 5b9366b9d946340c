"""Guards against small bugs that the rest of the suite once let through (issue 15).

Each test here was checked by applying the bug it names to ``src/ramlab``
(one at a time), seeing the test fail, and reverting. Reference values come
from R survey (tests/fixtures/r/*.json), a textbook, or a closed form.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import ConvergenceError, Design, crosstab
from ramlab.errors import BoundsError, MarginError

DATA = Path(__file__).resolve().parents[1] / "data"


# --------------------------------------------------------------------------
# Significance letters follow the *adjusted* p-value
# (bug: letters taken from the raw p under adjust=...)
# --------------------------------------------------------------------------


def _holm(p):
    """Holm (1979) step-down adjustment, written out from the paper (R p.adjust "holm")."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def _api_design(name):
    spec = R.load_json("tables.json")["designs"][name]
    df = R.load_data(spec["data"])
    df["api700"] = pd.Categorical(np.where(df["api00"] > 700, "Oui", "Non"), categories=["Non", "Oui"])
    df["schwide_yes"] = pd.Categorical(np.where(df["sch.wide"] == "Yes", "Oui", "Non"),
                                       categories=["Non", "Oui"])
    return Design(df, weights=spec.get("weights"), ids=spec.get("ids"),
                  strata=spec.get("strata"), fpc=spec.get("fpc"))


@pytest.mark.parametrize("adjust", [None, "holm"])
@pytest.mark.parametrize("design, column, case_id", [
    # raw p 0.048 (letter) -> Holm 0.096 (none); raw 0.005 (upper case) -> Holm 0.015 (lower case)
    ("dstrat", "api700", "dstrat_by_stype_api00_gt_700_pairwise"),
    # raw p 0.045 (letter) -> Holm 0.091 (none)
    ("dclus2", "schwide_yes", "dclus2_by_stype_schwide_yes_pairwise"),
])
def test_letters_follow_the_adjusted_p_values_of_r(design, column, case_id, adjust):
    case = next(c for c in R.load_json("tables.json")["cases"] if c["id"] == case_id)
    contrasts = case["result"]["contrasts"]
    p_r = np.array([c["p_value"] for c in contrasts])
    p_holm = _holm(p_r) if adjust == "holm" else p_r
    letters = {"E": "A", "H": "B", "M": "C"}
    expected = {g: "" for g in case["result"]["groups"]}
    marks = {g: [] for g in expected}
    for c, p in zip(contrasts, p_holm):
        a, b = c["label"].split(" - ")
        winner, loser = (a, b) if c["estimate"] > 0 else (b, a)
        if p < 0.05:
            marks[winner].append(letters[loser] if p < 0.01 else letters[loser].lower())
    for g in expected:
        expected[g] = "".join(sorted(marks[g], key=str.upper))
    # a case where the adjustment changes the letters
    level = lambda p: np.digitize(p, [0.01, 0.05])  # noqa: E731
    assert not np.array_equal(level(p_r), level(_holm(p_r)))

    t = crosstab(_api_design(design), column, "stype", min_base=0, chisq=False, adjust=adjust)
    got = {g: t.marks.loc[(column, "", "Oui"), ("stype", g)] for g in expected}
    assert got == expected
    tests = t.tests[t.tests["row"] == "Oui"]
    for c, p in zip(contrasts, p_holm):
        a, b = c["label"].split(" - ")
        hit = tests[(tests["column"] == a) & (tests["versus"] == b)]
        R.assert_close(hit["p_adjusted"], [p], 1e-6, what=c["label"])


# --------------------------------------------------------------------------
# Atomic writes leave readable files (bug: os.chmod dropped -> 0600)
# --------------------------------------------------------------------------


def _mode(path):
    return os.stat(path).st_mode & 0o777


def test_report_html_written_atomically_is_world_readable(tmp_path):
    from ramlab.files import write_atomic

    target = tmp_path / "reports" / "maires" / "2016.html"
    write_atomic(target, "<html lang='fr'></html>")
    assert _mode(target) == 0o644
    write_atomic(target, "<html lang='fr'>2</html>")  # replacing an existing report
    assert _mode(target) == 0o644
    assert target.read_text() == "<html lang='fr'>2</html>"


def test_workbook_written_atomically_is_world_readable(tmp_path):
    from ramlab.reports.blocks import write_workbook

    t = crosstab(_api_design("dstrat"), "api700", "stype", min_base=0, chisq=False)
    target = tmp_path / "2016.xlsx"
    write_workbook(t, target)
    assert _mode(target) == 0o644
    assert target.read_bytes()[:2] == b"PK"  # a zip container, written whole


def test_synthetic_sav_written_atomically_is_world_readable(tmp_path):
    from ramlab.io import synth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = synth.generate("maires", 2016, data_dir=DATA, output=tmp_path / "maires_2016.sav")
    assert _mode(out) == 0o644
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------
# The likelihood interval's degrees of freedom
# (bug: zmax from F(1, nobs) instead of F(1, nobs - 1), R MASSprofile_glm's n - p)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case_id", [
    "dstrat_H_api00_gt_850_likelihood_0.95",  # 50 rows: the df matters most here
    "dclus1_ell_eq_0_likelihood_0.95",
])
def test_likelihood_interval_profiles_on_n_minus_one_df(case_id):
    ci = R.load_json("ciprop.json")
    case = next(c for c in ci["cases"] if c["id"] == case_id)
    d = R.design_from_spec(ci["designs"][case["design"]])
    if case["domain"]:
        d = d.subset(d.data[case["domain"]["column"]] == case["domain"]["value"])
    ind = case["indicator"]
    col = d.data[ind["column"]]
    x = (col == ind["value"]) if ind["op"] == "==" else (col > ind["value"])
    out = d.ciprop(x.astype(float), method="likelihood", level=case["level"])
    # F(1, nobs) instead of F(1, nobs - 1) moves these bounds by 1e-5 to 2e-5
    # relative; ramlab agrees with R to ~1e-11.
    R.assert_close([out["ci_low"], out["ci_high"]],
                   [case["result"]["ci_low"], case["result"]["ci_high"]], 1e-8, what=case_id)


# --------------------------------------------------------------------------
# The raking update itself (bug: cur = cw * f instead of cur *= f, rescued
# by the Newton fallback after 30 sweeps)
# --------------------------------------------------------------------------


def _kalton():
    """The 4 x 3 example of Kalton & Flores-Cervantes (2003), kalton.json (kalton.R)."""
    kalton = R.load_json("kalton.json")
    data = kalton["data"]
    rows = []
    for a, b, k in zip(data["cells_a"], data["cells_b"], data["sample_counts"]):
        rows += [(a, b)] * k
    df = pd.DataFrame(rows, columns=["a", "b"])
    df["a"] = pd.Categorical(df["a"], categories=[1, 2, 3, 4])
    df["b"] = pd.Categorical(df["b"], categories=[1, 2, 3])
    margins = {"a": {i + 1: v for i, v in enumerate(data["population_a"])},
               "b": {i + 1: v for i, v in enumerate(data["population_b"])}}
    case = next(c for c in kalton["cases"] if c["id"] == "rake")
    return Design(df), margins, case["result"]


def test_raking_by_ipf_alone_reproduces_kalton_within_20_sweeps():
    # IPF on the 4 x 3 table of Kalton & Flores-Cervantes (2003) reaches a
    # relative error of 1e-10 in 12 sweeps; ramlab only switches to Newton
    # steps after 30, so 20 sweeps test the proportional update on its own.
    d, margins, ref = _kalton()
    raked = d.rake(margins, tol=1e-10, max_iter=20)
    R.assert_close(raked.weights.to_numpy(), ref["weights"], 1e-8, what="Kalton raking weights")
    for var, target in margins.items():
        got = raked.weights.groupby(raked.data[var], observed=False).sum()
        rel = max(abs(got[k] - v) / v for k, v in target.items())
        assert rel <= 1e-10, (var, rel)  # raking's own tolerance, relative


def test_raking_that_cannot_converge_in_its_sweeps_raises():
    d, margins, _ = _kalton()
    with pytest.raises(ConvergenceError) as info:
        d.rake(margins, tol=1e-10, max_iter=3)
    assert info.value.iterations == 3


def test_raked_totals_hold_to_rakings_relative_tolerance_on_api():
    # R weighting.json, dstrat_rake: rake(dstrat, ~sch.wide + ~awards)
    case = next(c for c in R.load_json("weighting.json")["cases"] if c["id"] == "dstrat_rake")
    d = R.design_from_spec(R.load_json("weighting.json")["designs"]["dstrat"])
    raked = d.rake(case["margins"], tol=1e-10, max_iter=30)  # IPF only: Newton starts after 30
    R.assert_close(raked.weights.to_numpy(), case["result"]["weights"], 1e-8, what="weights")


# --------------------------------------------------------------------------
# The banner's factored covariance path on a raked design
# (bug: a calibration factor dropped from the fast path)
# --------------------------------------------------------------------------


def test_unclustered_raked_banner_takes_the_factored_path_and_matches_r():
    # R: calibrate(dstrat, ~sch.wide + awards, calfun = "raking") in tables.R
    margins = {"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}}
    d = _api_design("dstrat").rake(margins, tol=1e-12, max_iter=1000)
    masks = np.column_stack([(d.data["stype"] == s).to_numpy() for s in ("E", "H", "M")])
    assert d.domain_plan(masks).factored  # the fast path, not the dense one
    case = next(c for c in R.load_json("tables.json")["cases"]
                if c["id"] == "dstrat_calraked_by_stype_api00_pairwise")
    t = crosstab(d, "api00", "stype", min_base=0, chisq=False)
    cols = [("stype", g) for g in case["result"]["groups"]]
    R.assert_close(t.se.loc[("api00", "", "Moyenne"), cols], case["result"]["se"], 1e-6, what="se")
    tests = t.tests[t.tests["variable"] == "stype"]
    for c in case["result"]["contrasts"]:
        a, b = c["label"].split(" - ")
        hit = tests[(tests["column"] == a) & (tests["versus"] == b)]
        R.assert_close(hit["se"], [c["se"]], 1e-6, what=c["label"])


# --------------------------------------------------------------------------
# Survivors of `make mutation` (tests/MUTATION.md), killed here
# --------------------------------------------------------------------------


def test_adjusting_a_single_p_value_keeps_it():
    # R: p.adjust(0.03, "holm") == p.adjust(0.03, "bonferroni") == p.adjust(0.03, "BH") == 0.03
    from ramlab.tables.significance import adjust_pvalues

    for method in ("holm", "bonferroni", "bh"):
        np.testing.assert_array_equal(adjust_pvalues([0.03], method), [0.03])


def test_adjustment_leaves_missing_p_values_nan_and_uncounted():
    # R: p.adjust(c(0.01, NA, 0.04), "bonferroni") == c(0.02, NA, 0.08) (n = 2, not 3)
    from ramlab.tables.significance import adjust_pvalues

    out = adjust_pvalues([0.01, np.nan, 0.04], "bonferroni")
    assert out.dtype == float and np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2]], [0.02, 0.08], rtol=1e-15)


def test_unknown_adjustment_is_named():
    from ramlab.tables.significance import adjust_pvalues

    with pytest.raises(ValueError, match=r"adjust must be one of .*'sidak'"):
        adjust_pvalues([0.01, 0.02], "sidak")


def test_a_counted_second_stage_keeps_banners_off_the_one_row_per_psu_path():
    # One row per first-stage PSU, but the second stage has a population size
    # too, so R counts its variance (here under lonely_psu="adjust"): the
    # factored banner path, which assumes the first stage is all there is,
    # must not be taken, and the domain covariance must equal the dense one.
    df = R.load_data("apistrat")
    df["row"] = np.arange(len(df))
    df["N2"] = 3.0
    d = Design(df, ids=["row", "snum"], strata="stype", fpc=["fpc", "N2"], weights="pw",
               lonely_psu="adjust")
    masks = np.column_stack([(df["stype"] == s).to_numpy(float) for s in ("E", "H", "M")])
    assert not d.domain_plan(masks).factored
    u = np.random.default_rng(1).normal(size=(d.n, 2))
    crossed = np.concatenate([u * m[:, None] for m in masks.T], axis=1)
    dense = d.total_vcov(crossed)
    np.testing.assert_allclose(d.total_vcov(u, domains=masks), dense, rtol=1e-10)
    # the second stage adds variance: one stage only would give less
    first_only = Design(df, strata="stype", fpc="fpc", weights="pw")
    assert d.mean("api00")["se"].iloc[0] > first_only.mean("api00")["se"].iloc[0] * 1.001


def _factored_equals_dense(d, column, levels):
    masks = np.column_stack([(d.data[column] == s).to_numpy(float) for s in levels])
    u = np.random.default_rng(3).normal(size=(d.n, 2))
    crossed = np.concatenate([u * m[:, None] for m in masks.T], axis=1)
    dense = d.total_vcov(crossed)
    np.testing.assert_allclose(d.total_vcov(u, domains=masks), dense, rtol=1e-9,
                               atol=1e-12 * np.abs(dense).max())
    return d.domain_plan(masks).factored


@pytest.mark.parametrize("lonely_psu", ["adjust", "certainty", "average", "remove"])
def test_banner_covariance_with_a_single_psu_stratum(lonely_psu):
    # a stratum with one PSU is handled by the lonely-PSU rule of the dense path
    # (checked against R in test_design.py): the factored path must not take it
    df = R.load_data("apistrat")
    df["st2"] = df["stype"].astype(str)
    df.loc[0, "st2"] = "lone"
    d = Design(df, strata="st2", weights="pw", lonely_psu=lonely_psu)
    assert not _factored_equals_dense(d, "sch.wide", ["No", "Yes"])


def test_banner_covariance_with_an_infinite_population_stratum():
    # fpc = Inf in one stratum (sampling with replacement there, f = 1)
    df = R.load_data("apistrat")
    df["fpc2"] = df["fpc"].where(df["stype"] != "H", np.inf)
    d = Design(df, strata="stype", weights="pw", fpc="fpc2")
    assert _factored_equals_dense(d, "sch.wide", ["No", "Yes"])
    # and the H stratum's share of the variance is that of a design without fpc
    nofpc = Design(df, strata="stype", weights="pw")
    h = (df["stype"] == "H").to_numpy(float)
    u = np.where(h > 0, df["api00"].to_numpy(float), 0.0)
    np.testing.assert_allclose(d.total_vcov(u), nofpc.total_vcov(u), rtol=1e-12)


def test_raking_ignores_untargeted_zero_weight_rows_and_empty_zero_targets():
    # Kalton's raking (R kalton.json) must not move when the data also hold
    # zero-weight rows with a missing margin value, and a category with a
    # target of 0 and no respondents; nor when the margins are given as shares
    # (targets below 1: the stopping rule is relative to every target).
    base, margins, ref = _kalton()
    df = base.data.copy()
    df["a"] = df["a"].cat.add_categories([5])
    df["b"] = df["b"].cat.add_categories([4])
    extra = pd.DataFrame({"a": pd.Categorical([None, None], categories=df["a"].cat.categories),
                          "b": pd.Categorical([1, 2], categories=df["b"].cat.categories)})
    df = pd.concat([df, extra], ignore_index=True)
    df["w"] = np.r_[np.ones(base.n), 0.0, 0.0]
    with_zero = {"a": {**margins["a"], 5: 0.0}, "b": {**margins["b"], 4: 0.0}}
    raked = Design(df, weights="w").rake(with_zero, tol=1e-10, max_iter=20)
    w = raked.weights.to_numpy()
    R.assert_close(w[: base.n], ref["weights"], 1e-8, what="Kalton weights")
    assert np.all(w[base.n:] == 0)
    total = sum(margins["a"].values())
    shares = {v: {k: t / total for k, t in m.items()} for v, m in margins.items()}
    scaled = base.rake(shares, tol=1e-10, max_iter=20)
    R.assert_close(scaled.weights.to_numpy() * total, ref["weights"], 1e-8, what="weights from shares")


def _ipf_sweeps(counts, row_targets, col_targets, tol):
    """Sweeps of textbook IPF (Deming & Stephan 1940: rows, then columns) until
    every margin is within tol, relative; written out here, not ramlab's."""
    table = np.array(counts, dtype=float)  # a copy
    r, c = np.asarray(row_targets, dtype=float), np.asarray(col_targets, dtype=float)
    for sweep in range(1, 1000):
        table *= (r / table.sum(axis=1))[:, None]
        table *= (c / table.sum(axis=0))[None, :]
        err = max(np.max(np.abs(table.sum(axis=1) - r) / r), np.max(np.abs(table.sum(axis=0) - c) / c))
        if err <= tol:
            return sweep
    raise AssertionError("IPF did not converge")


def test_raking_takes_exactly_the_sweeps_of_textbook_ipf():
    d, margins, _ = _kalton()
    data = R.load_json("kalton.json")["data"]
    counts = np.zeros((4, 3))
    for a, b, k in zip(data["cells_a"], data["cells_b"], data["sample_counts"]):
        counts[a - 1, b - 1] = k
    sweeps = _ipf_sweeps(counts, data["population_a"], data["population_b"], 1e-10)
    assert 3 < sweeps < 30  # IPF alone, before ramlab's Newton steps
    d.rake(margins, tol=1e-10, max_iter=sweeps)
    with pytest.raises(ConvergenceError) as info:
        d.rake(margins, tol=1e-10, max_iter=sweeps - 1)
    assert info.value.iterations == sweeps - 1


def test_slow_raking_finished_by_newton_steps_reaches_the_ipf_solution():
    # A table whose margins pull against its diagonal: IPF needs more than the
    # 30 sweeps after which ramlab switches to Newton steps on the log-linear
    # parameters. The solution is the one textbook IPF reaches after many sweeps.
    counts = np.array([[200, 1, 1], [1, 200, 1], [1, 1, 2]], dtype=float)
    ra, cb = np.array([100.0, 100.0, 300.0]), np.array([300.0, 100.0, 100.0])
    table = counts.copy()
    for _ in range(100000):
        table *= (ra / table.sum(axis=1))[:, None]
        table *= (cb / table.sum(axis=0))[None, :]
        if max(np.max(np.abs(table.sum(axis=1) - ra) / ra), np.max(np.abs(table.sum(axis=0) - cb) / cb)) < 1e-13:
            break
    assert _ipf_sweeps(counts, ra, cb, 1e-10) > 30
    rows = [(i, j) for i in range(3) for j in range(3) for _ in range(int(counts[i, j]))]
    df = pd.DataFrame(rows, columns=["a", "b"]).astype("category")
    raked = Design(df).rake({"a": dict(enumerate(ra)), "b": dict(enumerate(cb))}, tol=1e-10, max_iter=40)
    got = raked.weights.groupby([df["a"], df["b"]], observed=True).first().to_numpy().reshape(3, 3)
    np.testing.assert_allclose(got, table / counts, rtol=1e-8)


def test_raking_whose_full_newton_step_overshoots_backtracks_to_rs_solution():
    # R extra_newton.json: on this 2 x 3 table IPF is slow, and from where
    # ramlab's 30 sweeps leave it the full Newton step raises the largest
    # relative error (margins 76 / 680025 against 29 / 680000 / 72), so the
    # step must be halved until it improves. Taking the full step anyway, or
    # growing it, diverges. The four cell totals are fixed by the margins:
    # 4, 72, 25 and 680000, i.e. weights 1/2, 36, 25/3 and 340000.
    fx = R.load_json("extra_newton.json")
    data, ref = fx["data"], fx["cases"][0]["result"]
    df = pd.DataFrame({"a": pd.Categorical(data["a"], categories=[1, 2]),
                       "b": pd.Categorical(data["b"], categories=[1, 2, 3])})
    margins = {"a": dict(zip([1, 2], data["population_a"])),
               "b": dict(zip([1, 2, 3], data["population_b"]))}
    assert _ipf_sweeps([[8, 0, 2], [3, 2, 0]], data["population_a"], data["population_b"], 1e-10) > 30
    w = Design(df).rake(margins, tol=1e-12).weights.to_numpy()
    R.assert_close(w, ref["weights"], 1e-9, what="weights (R's rake stops within 8e-11 of the exact cells)")
    exact = np.select([(df["a"] == 1) & (df["b"] == 1), df["b"] == 3, (df["a"] == 2) & (df["b"] == 1)],
                      [0.5, 36.0, 25 / 3], 340000.0)
    np.testing.assert_allclose(w, exact, rtol=1e-11)


def test_a_single_banner_column_is_tested_against_the_rest_of_the_base():
    # A banner variable with one column (schools of type E; the others have no
    # value): versus="complement" compares it with the rest of the base, the
    # contrast R computes as stype == "E" minus stype != "E" (tables.json).
    ref = next(c for c in R.load_json("tables.json")["cases"]
               if c["id"] == "dstrat_E_vs_rest_api00_gt_700")["result"]["contrast"]
    d = _api_design("dstrat")
    d.data["onlyE"] = pd.Categorical(np.where(d.data["stype"] == "E", "E", None), categories=["E"])
    t = crosstab(d, "api700", "onlyE", min_base=0, chisq=False, versus="complement")
    hit = t.tests[t.tests["row"] == "Oui"]
    assert len(hit) == 1
    R.assert_close(hit["estimate"], [ref["estimate"]], 1e-6, what="difference")
    R.assert_close(hit["p_value"], [ref["p_value"]], 1e-6, what="p-value")
    sign = "+" if ref["estimate"] > 0 else "−"
    expected = sign * (2 if ref["p_value"] < 0.01 else 1) if ref["p_value"] < 0.05 else ""
    assert t.marks.loc[("api700", "", "Oui"), ("onlyE", "E")] == expected


def test_group_vs_complement_adjusted_within_each_row():
    # Holm over the three "type vs the rest" contrasts of one row, from R's p-values
    cases = {c["id"]: c for c in R.load_json("tables.json")["cases"]}
    p_r = np.array([cases[f"dstrat_{g}_vs_rest_api00_gt_700"]["result"]["contrast"]["p_value"]
                    for g in ("E", "H", "M")])
    t = crosstab(_api_design("dstrat"), "api700", "stype", min_base=0, chisq=False,
                 versus="complement", adjust="holm")
    for row in ("Oui", "Non"):
        got = t.tests[t.tests["row"] == row].set_index("column").loc[["E", "H", "M"], "p_adjusted"]
        R.assert_close(got.to_numpy(), _holm(p_r), 1e-6, what=row)


def test_columns_are_tested_from_min_base_respondents_and_two_at_least():
    d = _api_design("dstrat")
    n = d.data["stype"].value_counts()
    # a column with exactly min_base respondents is tested (H: 50 schools)
    t = crosstab(d, "api700", "stype", chisq=False, min_base=int(n["H"]))
    assert {"H"} <= set(t.tests["column"]) | set(t.tests["versus"])
    t = crosstab(d, "api700", "stype", chisq=False, min_base=int(n["H"]) + 1)
    assert "H" not in set(t.tests["column"]) | set(t.tests["versus"])
    # with min_base=0, a column of two respondents is tested, one of one is not
    d.data["size2"] = pd.Categorical(np.where(np.arange(d.n) < 2, "two", "rest"), categories=["two", "rest"])
    d.data["size1"] = pd.Categorical(np.where(np.arange(d.n) < 1, "one", "rest"), categories=["one", "rest"])
    t2 = crosstab(d, "api700", "size2", chisq=False, min_base=0)
    assert "two" in set(t2.tests["column"])
    t1 = crosstab(d, "api700", "size1", chisq=False, min_base=0)
    assert "one" not in set(t1.tests["column"]) | set(t1.tests["versus"])


def test_a_contrast_without_variance_is_not_a_test():
    # 100 % "Oui" in one column, 0 % in the other: both column estimates have a
    # zero SE, so their difference has none either; ramlab reports it untested
    # (t and p NaN, no letter) rather than infinitely significant.
    n = 40
    df = pd.DataFrame({"g": pd.Categorical(np.repeat(["A", "B"], n // 2)),
                       "x": pd.Categorical(np.repeat(["Oui", "Non"], n // 2), categories=["Non", "Oui"]),
                       "w": np.linspace(1, 2, n)})
    t = crosstab(Design(df, weights="w"), "x", "g", min_base=0, chisq=False)
    assert len(t.tests) == 2
    assert t.tests["se"].to_numpy() == pytest.approx([0.0, 0.0], abs=1e-12)
    assert np.isnan(t.tests["t"].to_numpy(dtype=float)).all() and t.tests["t"].dtype == float
    assert np.isnan(t.tests["p_value"].to_numpy(dtype=float)).all()
    assert (t.marks == "").all().all()


@pytest.mark.parametrize("outcome, key", [("schwide_yes", ("schwide_yes", "", "Oui")),
                                          ("api00_gt_700", ("api700", "", "Oui")),
                                          ("api00", ("api00", "", "Moyenne"))])
def test_complement_marks_follow_rs_contrasts(outcome, key):
    # + / - at 5 %, ++ / -- at 1 %, from R's group-vs-complement p-values (tables.json)
    cases = {c["id"]: c for c in R.load_json("tables.json")["cases"]}
    t = crosstab(_api_design("dstrat"), key[0], "stype", min_base=0, chisq=False, versus="complement")
    assert (t.tests["question"] == key[0]).all() and (t.tests["versus"] == "complement").all()
    for g in ("E", "H", "M"):
        ref = cases[f"dstrat_{g}_vs_rest_{outcome}"]["result"]["contrast"]
        sign = "+" if ref["estimate"] > 0 else "−"
        expected = sign * (2 if ref["p_value"] < 0.01 else 1) if ref["p_value"] < 0.05 else ""
        assert t.marks.loc[key, ("stype", g)] == expected, g
        hit = t.tests[(t.tests["row"] == key[2]) & (t.tests["column"] == g)]
        assert hit["mark"].tolist() == [expected], g


# --------------------------------------------------------------------------
# Corners of the multistage variance (variance/_multistage.py): lonely PSUs
# averaged or adjusted in domains, subsets that miss PSUs, later stages
# (R extra_multistage.json)
# --------------------------------------------------------------------------

MULTISTAGE = R.load_json("extra_multistage.json")


@pytest.mark.parametrize("case", MULTISTAGE["cases"], ids=lambda c: c["id"])
def test_multistage_variance_corners_against_r(case):
    if case["design"] == "three":
        df = pd.DataFrame(MULTISTAGE["data_three"])
    else:
        df = R.load_data(case["design"])
        df["fpc1_inf"] = np.inf
    df = df.iloc[np.asarray(case["rows"]) - 1].reset_index(drop=True)
    d = Design(df, weights=case["weights"], ids=case.get("ramlab_ids") or case["ids"] or None,
               strata=case["strata"],
               fpc=case["fpc"], lonely_psu=case["lonely_psu"],
               lonely_psu_domain="adjust" if case["adjust_domain_lonely"] else None)
    if case["domain"] is not None:
        mask = np.zeros(len(df), bool)
        mask[np.asarray(case["domain"], dtype=int) - 1] = True
        d = d.subset(pd.Series(mask, index=df.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = d.total(case["variable"])
    R.assert_close(out["estimate"].to_numpy(), [case["result"]["estimate"]], 1e-8, what="total")
    if case["result"]["se"] is None:  # R: NaN ("average" with no stratum left)
        assert np.isnan(out["se"].to_numpy()).all()
    else:
        R.assert_close(out["se"].to_numpy(), [case["result"]["se"]], 1e-8, what="se")


# --------------------------------------------------------------------------
# Raking refusals name the variable, the category and the rule
# (weighting/_weighting.py: _rake_setup, _rake_one, rake_weights)
# --------------------------------------------------------------------------


def test_raking_refusals_name_the_variable_category_and_rule():
    d, margins, _ = _kalton()
    with pytest.raises(MarginError, match=r"^margin variable 'c' is not in the data$") as info:
        d.rake({**margins, "c": {1: 1.0}})
    assert info.value.variable == "c"
    df = d.data.copy()
    df["a"] = df["a"].astype(object)
    df.loc[0, "a"] = None
    with pytest.raises(MarginError, match=r"^margin variable 'a' has 1 missing values among weighted rows$"):
        Design(df).rake(margins)
    zero = {"a": {**margins["a"], 2: 0.0}, "b": margins["b"]}
    zero["b"] = {k: v * sum(zero["a"].values()) / sum(margins["b"].values()) for k, v in margins["b"].items()}
    with pytest.raises(MarginError, match=r"^margin of 'a': category 2 has respondents but a target of 0$") as info:
        d.rake(zero)
    assert (info.value.variable, info.value.category) == ("a", 2)
    with pytest.raises(ConvergenceError, match=r"^raking did not converge: largest relative error "):
        d.rake(margins, tol=1e-10, max_iter=3)


def test_raking_margins_must_agree_within_the_relative_tolerance():
    d, margins, _ = _kalton()
    total = sum(margins["a"].values())
    # a relative gap of 1e-12 on totals of about 2,000 is within tol = 1e-10
    near = {"a": margins["a"], "b": {**margins["b"], 1: margins["b"][1] * (1 + 1e-12 * total / margins["b"][1])}}
    d.rake(near, tol=1e-10)
    # shares: a gap of 1.5e-10 on a total of 1 is beyond tol = 1e-10
    shares = {v: {k: t / total for k, t in m.items()} for v, m in margins.items()}
    shares["b"][1] += 1.5e-10
    with pytest.raises(MarginError, match=r"^margins disagree: 'a' totals .* but 'b' totals ") as info:
        d.rake(shares, tol=1e-10)
    assert info.value.variable == "b"
    # proportions given with a population size must sum to 1
    with pytest.raises(MarginError, match=r"^margin of 'a': proportions sum to"):
        d.rake({"a": {**shares["a"], 1: shares["a"][1] + 0.01}, "b": shares["b"]}, population=total)


def test_rake_weights_called_directly_with_its_defaults_reaches_kalton():
    # ramlab.weighting.rake_weights is public: its own defaults (tol 1e-10)
    # must give R's raking of Kalton's table (kalton.json)
    from ramlab.weighting import rake_weights

    d, margins, ref = _kalton()
    R.assert_close(rake_weights(d, margins).weights, ref["weights"], 1e-8, what="Kalton raking weights")


# --------------------------------------------------------------------------
# Calibration: calibrate_weights, _calibrate_one, _grake, _calfun
# (mutation run of 30 November 2026, tests/MUTATION.md)
# --------------------------------------------------------------------------


def _dclus1_linear_case():
    """R's calibrate(dclus1, ~stype+api99, calfun="linear") of weighting.json, as ramlab totals."""
    w = R.load_json("weighting.json")
    case = next(c for c in w["cases"] if c["id"] == "dclus1_calibrate_linear")
    d = R.design_from_spec(w["designs"][case["design"]])
    pop = case["population"]
    n = pop["(Intercept)"]
    totals = {"stype": {"E": n - pop["stypeH"] - pop["stypeM"], "H": pop["stypeH"], "M": pop["stypeM"]},
              "api99": pop["api99"]}
    assert list(d.data["stype"].cat.categories) == ["E", "H", "M"]
    return d, totals, case["result"]["weights"]


def test_calibrate_weights_called_directly_with_its_defaults_is_rs_linear_calibration():
    # ramlab.weighting.calibrate_weights is public: its own default method is
    # R's calfun = "linear"
    from ramlab.weighting import calibrate_weights

    d, totals, ref = _dclus1_linear_case()
    R.assert_close(calibrate_weights(d, totals).weights, ref, 1e-8, what="linear calibration weights")


def _cells_design():
    """Factors a (x, y) and b (p, q): cells xp, xq, yp of two rows of weight 0.5, plus a
    zero-weight row in xp; the cell yq (the last of the product) is empty."""
    df = pd.DataFrame({
        "a": pd.Categorical(list("xxxxyyx"), categories=["x", "y"]),
        "b": pd.Categorical(list("ppqqppp"), categories=["p", "q"]),
        "w": [0.5] * 6 + [0.0],
    })
    return Design(df, weights="w")


# the margins fix the three cell totals: yp = 1.1 (only y cell), xq = 1.5
# (only q cell), xp = 2.4 - 1.5 = 0.9
CELL_TOTALS = {"a": {"x": 2.4, "y": 1.1}, "b": {"p": 2.0, "q": 1.5}}
CELL_WEIGHTS = [0.45, 0.45, 0.75, 0.75, 0.55, 0.55, 0.0]


@pytest.mark.parametrize("method, bounds", [("raking", None), ("linear", (0.0, 10.0)), ("logit", (0.5, 2.0))])
def test_calibration_on_cells_of_weight_at_most_one_with_an_empty_last_cell(method, bounds):
    # the margins determine the cells, so every calibration function gives
    # the same weights; a zero design weight stays 0 (w_new = w g)
    got = _cells_design().calibrate(CELL_TOTALS, method=method, bounds=bounds).weights.to_numpy()
    np.testing.assert_allclose(got, CELL_WEIGHTS, rtol=1e-10, atol=0)
    assert got[-1] == 0.0


def _numeric_design():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 5.0, 8.0, 13.0], "w": [2.0] * 6})
    return Design(df, weights="w")


def test_calibration_a_first_newton_step_within_1e_6_goes_on_to_the_tolerance():
    # targets 1e-4 away from the sample totals: one Newton step leaves a
    # relative misfit of about 1e-8, the next ones reach 1e-12
    d = _numeric_design()
    N, tx = 12.0 * (1 + 1e-4), 64.0 * (1 + 3e-4)
    w = d.calibrate({"x": tx}, method="raking", population=N).weights.to_numpy()
    assert abs(w.sum() - N) / (1 + N) < 1e-12
    assert abs(w @ d.data["x"].to_numpy() - tx) / (1 + tx) < 1e-12


def test_calibration_that_does_not_converge_names_its_method_and_iterations():
    d = _numeric_design()
    with pytest.raises(ConvergenceError, match=r"^calibration \(raking\) did not converge: largest "
                                               r"relative misfit \S+ after 1 iterations$") as e:
        d.calibrate({"x": 100.0}, method="raking", population=15.0, max_iter=1)
    assert e.value.iterations == 1 and e.value.max_error > 1e-6


def test_calibration_bounds_of_one_keep_weights_that_already_meet_the_totals():
    # bounds (1, 1) fix g at 1: totals already met are kept, others cannot be met
    d = _numeric_design()
    w = d.calibrate({"x": 64.0}, method="linear", population=12.0, bounds=(1.0, 1.0)).weights
    np.testing.assert_array_equal(w.to_numpy(), np.full(6, 2.0))
    with pytest.raises(BoundsError, match=r"^calibration \(linear\) cannot meet the totals within "
                                          r"bounds \(1.0, 1.0\)"):
        d.calibrate({"x": 65.0}, method="linear", population=12.0, bounds=(1.0, 1.0))


def test_calibration_bounds_that_exclude_g_of_one_cannot_be_met():
    # at g = 1 every row is outside (1.2, 2): no Newton direction, a clear refusal
    d = _numeric_design()
    with pytest.raises(BoundsError, match=r"cannot meet the totals within bounds \(1.2, 2.0\)"):
        d.calibrate({"x": 64.0}, method="linear", population=12.0, bounds=(1.2, 2.0), max_iter=5)


def test_calibration_refusals_name_the_rule():
    d = _numeric_design()
    with pytest.raises(BoundsError, match=r"^lower bound 2.0 is above upper bound 1.0$"):
        d.calibrate({"x": 64.0}, bounds=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"not 'probit'$"):
        d.calibrate({"x": 64.0}, method="probit")
    for bounds in [(0.5, None), (None, 2.0)]:
        with pytest.raises(BoundsError, match=r"^logit calibration needs finite bounds \(lower < 1 < upper\)$"):
            d.calibrate({"x": 64.0}, method="logit", bounds=bounds)
    for bounds in [(1.0, 2.0), (0.5, 1.0)]:
        with pytest.raises(BoundsError, match=r"^logit calibration needs lower < 1 < upper, not "
                                              + re.escape(str(tuple(map(float, bounds)))) + "$"):
            d.calibrate({"x": 64.0}, method="logit", bounds=bounds)


def test_collinear_totals_that_disagree_are_refused():
    # y = 2 x: totals x 64 and y 130 (not 128) cannot both be met; R's
    # regcalibrate would return weights that miss them
    from ramlab.weighting import calibrate_weights

    d = _numeric_design()
    d = Design(d.data.assign(y=2 * d.data["x"]), weights="w")
    with pytest.raises(MarginError, match=r"^calibration totals are inconsistent with the model "
                                          r"\(collinear totals disagree\)$"):
        calibrate_weights(d, {"x": 64.0, "y": 130.0}, population=12.0)


def test_a_replicate_without_respondents_in_a_category_is_named():
    # JK1 on 4 clusters: replicate 1 drops cluster 1, the only one with g = "rare"
    df = pd.DataFrame({
        "psu": np.repeat([1, 2, 3, 4], 3),
        "g": pd.Categorical(["rare", "c", "c"] + ["c"] * 9, categories=["c", "rare"]),
        "w": [3.0] * 12,
    })
    d = Design(df, ids="psu", weights="w").replicate("JK1")
    with pytest.raises(MarginError, match=r"^replicate 1: totals: category 'g=rare' has no respondents "
                                          r"\(total 1.0\)$") as e:
        d.calibrate({"g": {"c": 35.0, "rare": 1.0}})
    assert e.value.category == "g=rare"


EXTRA_CAL = R.load_json("extra_calibrate.json")


def _bound(b):
    return None if b is None else float(b)


@pytest.mark.parametrize("case", [c for c in EXTRA_CAL["cases"] if c["design"] == "dclus1" and "weights" in c["result"]],
                         ids=lambda c: c["id"])
def test_calibration_with_one_sided_bounds_against_r(case):
    # a bound given as None is infinite (R c(0.7, Inf), c(-Inf, 1.7))
    d, totals, _ = _dclus1_linear_case()
    lower, upper = (_bound(b) for b in case["bounds"])
    w = d.calibrate(totals, method=case["calfun"], bounds=(lower, upper)).weights.to_numpy()
    R.assert_close(w, case["result"]["weights"], 1e-8, what="weights")
    g = w / d.weight_values
    R.assert_close([g.min(), g.max()], [case["result"]["g_min"], case["result"]["g_max"]], 1e-8, what="g range")


@pytest.mark.parametrize("case", [c for c in EXTRA_CAL["cases"] if c["design"] == "dsmall"],
                         ids=lambda c: c["id"])
def test_bounded_calibration_rescaled_when_every_ratio_exceeds_20_against_r(case):
    # ratios 20.6, 20.2 and 21: R rescales by 20.6, then bounds g / 20.6
    df = pd.DataFrame({"s": pd.Categorical(EXTRA_CAL["data_small"]["s"], categories=["A", "B"]),
                       "x": EXTRA_CAL["data_small"]["x"]})
    pop = EXTRA_CAL["population_small"]
    d = Design(df)
    w = d.calibrate({"s": {"A": pop["A"], "B": pop["B"]}, "x": pop["x"]}, method=case["calfun"],
                    bounds=tuple(case["bounds"])).weights.to_numpy()
    R.assert_close(w, case["result"]["weights"], 1e-8, what="weights")


def test_calibration_on_a_variable_whose_sample_total_is_zero():
    # x sums to 0 in the sample: R grake's ratio population / sample total is
    # infinite there, not an error; the calibrated totals are met
    df = pd.DataFrame({"x": [-2.0, -1.0, 1.0, 2.0, 0.5, -0.5]})
    w = Design(df).calibrate({"x": 1.5}, method="raking", population=7.0).weights.to_numpy()
    assert abs(w.sum() - 7.0) / 8.0 < 1e-12
    assert abs(w @ df["x"].to_numpy() - 1.5) / 2.5 < 1e-12


def test_bounded_linear_calibration_takes_the_newton_iterations_of_r():
    # R's grake needs 5 Newton iterations on dclus1 with bounds (0.7, 1.7):
    # max_iter counts them, as R's maxit
    case = next(c for c in EXTRA_CAL["cases"] if c["id"] == "dclus1_linear_0.7_1.7_iterations")
    k = case["result"]["maxit"]
    d, totals, _ = _dclus1_linear_case()
    d.calibrate(totals, method="linear", bounds=(0.7, 1.7), max_iter=k)
    with pytest.raises(BoundsError, match=f"after {k - 1} iterations$"):
        d.calibrate(totals, method="linear", bounds=(0.7, 1.7), max_iter=k - 1)
