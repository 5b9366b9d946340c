"""Raking with limits on the weights (``rake(cap=)``).

The result is documented as w_i = clip(d_i * g_cell(i), lo, hi) with every
margin met, g_cell(i) the raking factor of row i's cell (a product of one
factor per margin). That is R's ``calibrate(calfun = "raking", bounds =
c(lo, hi), bounds.const = TRUE)`` (``extra_rake_cap.json``, R survey 4.1-1),
and, where R's Newton iterations fail, the conditions checked by
``_assert_clipped_raking``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab.design import Design
from ramlab.errors import BoundsError

# no numpy warning may reach the user: the factors' Newton steps divide by a
# slope that is 0 when every row of a category sits at a limit
pytestmark = pytest.mark.filterwarnings("error")

REF = R.load_json("extra_rake_cap.json")
MARGINS = {"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}}


def _dstrat(scale=1.0):
    df = R.load_data("apistrat")
    df["w"] = df["pw"] / scale
    return Design(df, strata="stype", weights="w", fpc="fpc")


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_capped_raking_equals_rs_calibration_with_bounds_on_the_weights(case):
    scale = case["scale"]
    margins = {v: {k: t / scale for k, t in m.items()} for v, m in MARGINS.items()}
    raked = _dstrat(scale).rake(margins, cap=tuple(case["cap"]), tol=1e-12)
    R.assert_close(raked.weights.to_numpy(), case["result"]["weights"], 1e-8, what="weights")


def _assert_clipped_raking(design, margins, weights, cap, tol):
    """w = clip(d * g_cell, lo, hi), log g_cell additive over the margins, margins met."""
    lo = -np.inf if cap[0] is None else cap[0]
    hi = np.inf if cap[1] is None else cap[1]
    d, w, data = design.weights.to_numpy(), np.asarray(weights, dtype=float), design.data
    assert np.all(w[d == 0] == 0)
    pos = d > 0
    assert np.all(w[pos] >= lo * (1 - 1e-12)) and np.all(w[pos] <= hi * (1 + 1e-12))
    for var, m in margins.items():
        got = pd.Series(w).groupby(data[var].to_numpy()).sum()
        for k, t in m.items():
            assert abs(got.get(k, 0.0) - t) <= 1.01 * tol * t, (var, k)
    at_lo = pos & (w <= lo * (1 + 1e-9))
    at_hi = pos & (w >= hi * (1 - 1e-9))
    free = pos & ~at_lo & ~at_hi
    cells = data[list(margins)].astype(str).agg("/".join, axis=1).to_numpy()
    log_g = {}
    for c in np.unique(cells[pos]):
        rows = cells == c
        if (free & rows).any():
            g = w[free & rows] / d[free & rows]
            assert g.max() / g.min() - 1 < 1e-9, c  # one factor per cell
            g = g.mean()
            assert np.all(d[at_hi & rows] * g >= hi * (1 - 1e-9)), c  # clipped, not moved
            assert np.all(d[at_lo & rows] * g <= lo * (1 + 1e-9)), c
            log_g[c] = np.log(g)
        else:  # every row at a limit: some factor must clip them all
            assert np.max(hi / d[at_hi & rows], initial=0) <= np.min(lo / d[at_lo & rows], initial=np.inf)
    # log g additive over the margins: a least-squares fit on the margins' indicators is exact
    keys = list(log_g)
    X = np.column_stack([[k.split("/")[j] == str(cat) for k in keys]
                         for j, var in enumerate(margins) for cat in margins[var]]).astype(float)
    y = np.array([log_g[k] for k in keys])
    fit = X @ np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.max(np.abs(fit - y)) < 1e-8


def test_capped_raking_where_rs_newton_iterations_fail():
    # R's calibrate(bounds = c(22, 40), bounds.const = TRUE) stops after 1000
    # iterations ("Failed to converge"); a solution exists.
    d = _dstrat()
    _assert_clipped_raking(d, MARGINS, d.rake(MARGINS, cap=(22, 40)).weights, (22, 40), 1e-10)


def test_capped_raking_releases_a_row_first_held_at_a_limit():
    # x: d = 1 and 10, target 9.5 within [4, 6]. The raking without limits
    # gives 0.86 and 8.6, both outside; the solution keeps only the first at a
    # limit: g = 0.55, weights clip(0.55, 4, 6) = 4 and clip(5.5, 4, 6) = 5.5.
    df = pd.DataFrame({"a": pd.Categorical(["x", "x", "y", "y"]), "w": [1.0, 10.0, 5.0, 5.0]})
    d = Design(df, weights="w")
    np.testing.assert_allclose(d.rake({"a": {"x": 9.5, "y": 10.0}}, cap=(4, 6)).weights, [4, 5.5, 5, 5],
                               rtol=1e-10)
    # target 10.5: g = 4.5, weights 4.5 and clip(45, 4, 6) = 6
    np.testing.assert_allclose(d.rake({"a": {"x": 10.5, "y": 10.0}}, cap=(4, 6)).weights, [4.5, 6, 5, 5],
                               rtol=1e-10)


@pytest.mark.parametrize("target, message", [
    (7.9, r"category 'x' of 'a' has a target of 7\.9, but its 2 rows weigh at least 8\.0 within the limits"),
    (12.1, r"category 'x' of 'a' has a target of 12\.1, but its 2 rows weigh at most 12\.0 within the limits"),
])
def test_capped_raking_refuses_a_target_out_of_reach_of_the_limits(target, message):
    df = pd.DataFrame({"a": pd.Categorical(["x", "x", "y", "y"]), "w": [1.0, 10.0, 5.0, 5.0]})
    with pytest.raises(BoundsError, match=r"^cap \(4, 6\) cannot be met: " + message + "$"):
        Design(df, weights="w").rake({"a": {"x": target, "y": 10.0}}, cap=(4, 6))


def test_capped_raking_whose_margins_together_exceed_the_limits():
    # each target is within reach of its rows, not all together: u = 6 puts
    # both (x, u) rows at 3, leaving 0.5 for the (x, v) row, below 1
    df = pd.DataFrame({"a": pd.Categorical(list("xxyyx")), "b": pd.Categorical(list("uuvvv")), "w": [1.0] * 5})
    margins = {"a": {"x": 6.5, "y": 2.5}, "b": {"u": 6.0, "v": 3.0}}
    np.testing.assert_allclose(Design(df, weights="w").rake(margins).weights, [3, 3, 1.25, 1.25, 0.5])
    with pytest.raises(BoundsError, match=r"^cap \(1, 3\) cannot be met with the margins: largest relative "
                                          r"error .+ after 1000 iterations$"):
        Design(df, weights="w").rake(margins, cap=(1, 3))


def test_equal_limits_give_equal_weights_when_the_margins_allow():
    df = pd.DataFrame({"a": pd.Categorical(["x", "x", "y", "y"]), "w": [1.0, 10.0, 5.0, 5.0]})
    raked = Design(df, weights="w").rake({"a": {"x": 10.0, "y": 10.0}}, cap=(5, 5))
    np.testing.assert_allclose(raked.weights, [5, 5, 5, 5], rtol=1e-12)


def test_cap_limits_in_the_wrong_order():
    with pytest.raises(BoundsError, match=r"^cap lower limit 45\.0 is above the upper limit 20\.0$"):
        _dstrat().rake(MARGINS, cap=(45, 20))


def test_capped_raking_of_a_domain_is_the_capped_raking_of_its_rows():
    df = R.load_data("apistrat")
    inside = (df["stype"] != "H").to_numpy()
    d = Design(df, weights="pw").subset(inside)
    margins = {"sch.wide": {"No": 800, "Yes": 4500}, "awards": {"No": 1700, "Yes": 3600}}
    raked = d.rake(margins, cap=(20, 45)).weights.to_numpy()
    assert np.all(raked[~inside] == 0)
    alone = Design(df[inside].reset_index(drop=True), weights="pw").rake(margins, cap=(20, 45))
    np.testing.assert_allclose(raked[inside], alone.weights, rtol=1e-9)
    _assert_clipped_raking(Design(df[inside].reset_index(drop=True), weights="pw"), margins,
                           alone.weights, (20, 45), 1e-10)


def test_capped_raking_with_an_empty_last_cell():
    # no respondent in the last cell (b, v) of the cross-classification
    df = pd.DataFrame({"p": pd.Categorical(list("aaaabbbbaab"), categories=["a", "b"]),
                       "q": pd.Categorical(list("uvuvuuuuvvu"), categories=["u", "v"]),
                       "w": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]})
    d = Design(df, weights="w")
    margins = {"p": {"a": 30.0, "b": 25.0}, "q": {"u": 35.0, "v": 20.0}}
    cap = (2.0, 7.5)
    _assert_clipped_raking(d, margins, d.rake(margins, cap=cap).weights, cap, 1e-10)


def _sparse_cells(*, cap=None):
    """300 rows over 60 x 60 x 21 = 75,600 possible cells (only the observed
    combinations are indexed); the last category of c is empty, with a
    target of 0. The margins are those of a perturbed (and, with cap,
    clipped) set of weights, so they have a solution within the limits."""
    rng = np.random.default_rng(15)
    n = 300
    df = pd.DataFrame({"a": pd.Categorical(rng.integers(0, 60, n), categories=range(60)),
                       "b": pd.Categorical(rng.integers(0, 60, n), categories=range(60)),
                       "c": pd.Categorical(rng.integers(0, 20, n), categories=range(21))})
    df["w"] = rng.uniform(1, 3, n)
    w_true = df["w"] * np.exp(rng.normal(0, 0.3, n))
    if cap is not None:
        w_true = np.clip(w_true, *cap)
    margins = {v: {k: float(t) for k, t in w_true.groupby(df[v], observed=False).sum().items()}
               for v in ("a", "b", "c")}
    assert margins["c"][20] == 0.0
    return df, margins


def test_raking_on_more_cells_than_the_full_product_holds():
    # an empty category (target 0, last in its margin) must still be counted
    # in the stopping rule
    df, margins = _sparse_cells()
    raked = Design(df, weights="w").rake(margins, tol=1e-10, max_iter=1000)
    for v, target in margins.items():
        got = raked.weights.groupby(df[v], observed=False).sum()
        assert all(abs(got[k] - t) <= 1e-10 * t for k, t in target.items() if t > 0)
        assert all(got[k] == 0 for k, t in target.items() if t == 0)


def test_capped_raking_on_more_cells_than_the_full_product_holds():
    df, margins = _sparse_cells(cap=(1.2, 3.5))
    d = Design(df, weights="w")
    raked = d.rake(margins, cap=(1.2, 3.5), tol=1e-10, max_iter=1000)
    got = raked.weights.groupby(df["c"], observed=False).sum()
    assert got[20] == 0
    _assert_clipped_raking(d, {v: {k: t for k, t in m.items() if t > 0} for v, m in margins.items()},
                           raked.weights, (1.2, 3.5), 1e-10)


def _lower_capped(scale):
    """40 rows; margins of perturbed weights clipped below at 1.2 / scale, so they have a
    solution; a of 3 categories plus "e", empty with a target of 0; b's category "z" has one row."""
    rng = np.random.default_rng(7)
    n = 40
    df = pd.DataFrame({"a": pd.Categorical(rng.choice(list("pqr"), n), categories=list("pqre")),
                       "b": pd.Categorical(["z"] + list(rng.choice(list("uv"), n - 1)), categories=list("uvz")),
                       "w": rng.uniform(1, 2, n) / scale})
    lo = 1.2 / scale
    w_true = np.clip(df["w"] * np.exp(rng.normal(0, 0.5, n)), lo, None)
    margins = {v: {k: float(t) for k, t in w_true.groupby(df[v], observed=False).sum().items()} for v in "ab"}
    assert margins["a"]["e"] == 0.0
    return Design(df, weights="w"), margins, lo


@pytest.mark.parametrize("scale", [1.0, 1000.0], ids=["totals_above_1", "totals_below_1"])
def test_capped_raking_with_a_lower_limit_only_and_an_empty_category(scale):
    """No upper limit, an empty category (target 0), a category of one row, quietly; with
    weights and targets below 1 (a margin total of 0.05) as above."""
    d, margins, lo = _lower_capped(scale)
    assert (d.rake(margins).weights < lo).any()  # the limit binds
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raked = d.rake(margins, cap=(lo, None), tol=1e-10)
    _assert_clipped_raking(d, {v: {k: t for k, t in m.items() if t > 0} for v, m in margins.items()},
                           raked.weights, (lo, None), 1e-10)


def test_capped_raking_that_needs_more_than_500_sweeps():
    """Two margins that nearly coincide (a's and b's categories agree on 93 % of rows): the
    sweeps, a coordinate ascent, converge slowly (about 530 sweeps to 1e-14 here); the docstring
    promises at least 1000 before giving up."""
    rng = np.random.default_rng(306)
    n = 30
    a = rng.choice(list("pqr"), n)
    b = np.where(rng.uniform(size=n) < 0.93, np.array([{"p": "u", "q": "v", "r": "t"}[x] for x in a]),
                 rng.choice(list("uvt"), n))
    df = pd.DataFrame({"a": pd.Categorical(a), "b": pd.Categorical(b), "w": rng.uniform(1, 4, n)})
    w_true = np.clip(df["w"] * np.exp(rng.normal(0, 0.6, n)), 1.0, 4.0)
    margins = {v: {k: float(t) for k, t in w_true.groupby(df[v], observed=False).sum().items()} for v in "ab"}
    d = Design(df, weights="w")
    raked = d.rake(margins, cap=(1.0, 4.0), tol=1e-14)
    _assert_clipped_raking(d, margins, raked.weights, (1.0, 4.0), 1e-14)


def _sweep_errors(d, cats, targets, hi, sweeps):
    """The documented sweeps, written out independently of ramlab: each category of each margin in
    turn gets the factor f with sum clip(v_i f, 0, hi) = t (solved exactly: the sum is linear in f
    between the breakpoints hi / v_i), then the largest relative error of the margins."""
    g = np.ones_like(d)
    errs = []
    for _ in range(sweeps):
        for cat, t in zip(cats, targets):
            for k, tk in enumerate(t):
                v = d[cat == k] * g[cat == k]
                bps = np.sort(hi / v)
                sums = np.array([np.minimum(v * f, hi).sum() for f in bps])
                j = int(np.searchsorted(sums, tk))  # the root lies below bps[j]
                a = bps[j - 1] if j else 0.0
                held = v * a >= hi  # rows at the limit on that segment
                f = a + (tk - np.minimum(v * a, hi).sum()) / v[~held].sum()
                g[cat == k] *= f
        x = np.minimum(d * g, hi)
        errs.append(max(np.max(np.abs(np.bincount(cat, weights=x, minlength=len(t)) - t) / t)
                        for cat, t in zip(cats, targets)))
    return np.array(errs)


def test_capped_raking_that_converges_at_its_last_allowed_sweep():
    """The docstring: a capped raking "may run max(max_iter, 1000) sweeps". Two margins that
    nearly coincide (1 % of the weight off the diagonal) whose seed meets them, and a limit of 5.5
    that four weights exceed: the sweeps converge geometrically (about 1.7 % per sweep). ``tol``
    is put between the largest relative error after sweep 999 and after sweep 1000 of the
    documented algorithm (computed here by ``_sweep_errors``), so the raking converges at its
    1000th sweep, the last allowed with max_iter=100."""
    n = 10
    a = np.repeat([0, 0, 1, 1], n)
    b = np.repeat([0, 1, 0, 1], n)
    w = np.concatenate([np.linspace(1, 3, n), np.full(n, 0.01), np.full(n, 0.01), np.linspace(2, 6, n)])
    ta, tb = np.bincount(a, weights=w), np.bincount(b, weights=w)
    errs = _sweep_errors(w, [a, b], [ta, tb], 5.5, 1000)
    assert errs[998] > 1.015 * errs[999]  # a margin of 0.7 % either side of tol
    tol = float(np.sqrt(errs[998] * errs[999]))
    df = pd.DataFrame({"a": pd.Categorical(a), "b": pd.Categorical(b), "w": w})
    margins = {"a": dict(enumerate(ta)), "b": dict(enumerate(tb))}
    d = Design(df, weights="w")
    raked = d.rake(margins, cap=(None, 5.5), tol=tol, max_iter=100)
    _assert_clipped_raking(d, margins, raked.weights, (None, 5.5), tol)
