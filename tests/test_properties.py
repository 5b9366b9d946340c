"""Property-based invariants of the statistics core (hypothesis), on generated designs.

Designs are drawn at random: 1 to 4 strata, rows or clusters as PSUs,
with or without a finite population correction, unequal weights, two
categorical variables and a numeric one. The properties hold for every
design, whatever R would print for it:

* raking and calibration to margins that have a solution hit their targets
  within their own tolerance (or raise ConvergenceError / BoundsError);
* scaling every weight leaves means and proportions (and their SEs)
  unchanged, and scales totals (and their SEs);
* the order of the rows changes no estimate and no SE;
* a domain estimate (``subset``) equals the estimate of that group on ``by=``;
* SEs are non-negative, and a census stratum (fpc equal to its number of
  PSUs) adds no variance: the SE of a total is that of the other strata
  alone, whatever the census stratum's values (the SE of a *mean* still
  moves with them, through the ratio's centring, so it is not tested so);
* French number formatting round-trips: the displayed number, parsed back,
  equals the value rounded half up in decimal arithmetic.

Profiles (tests/conftest.py): ``ci`` under CI (derandomised, a few examples),
``dev`` locally, ``long`` on demand (``HYPOTHESIS_PROFILE=long``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

import hypothesis
from hypothesis import given, strategies as st

from ramlab import BoundsError, ConvergenceError, Design
from ramlab.format import NNBSP, fmt_number, fmt_pct

RAKE_TOL = 1e-10


# --------------------------------------------------------------------------
# generated designs
# --------------------------------------------------------------------------


@st.composite
def surveys(draw, *, min_strata=1, fpc=None, census=False):
    """(data, Design keyword arguments) of a random stratified (cluster) sample."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_strata = draw(st.integers(min_strata, 4))
    clustered = draw(st.booleans())
    with_fpc = draw(st.booleans()) if fpc is None else fpc
    rows = []
    for h in range(n_strata):
        n_psu = int(rng.integers(2, 6 if clustered else 15))
        sizes = rng.integers(1, 6, size=n_psu) if clustered else np.ones(n_psu, dtype=int)
        population = n_psu if (census and h == 0) else n_psu + int(rng.integers(0, 60))
        for j, size in enumerate(sizes):
            for _ in range(int(size)):
                rows.append((f"s{h}", f"s{h}-p{j}", float(population)))
    data = pd.DataFrame(rows, columns=["h", "psu", "N"])
    n = len(data)
    data["w"] = rng.uniform(0.5, 5.0, size=n)
    data["a"] = pd.Categorical(rng.choice(["a0", "a1", "a2"], size=n, p=[0.5, 0.3, 0.2]))
    data["b"] = pd.Categorical(rng.choice(["b0", "b1"], size=n))
    data["y"] = rng.normal(50.0, 10.0, size=n) + 5.0 * (data["a"] == "a1")
    data["z"] = (rng.uniform(size=n) < 0.4).astype(float)
    kwargs = {"weights": "w"}
    if n_strata > 1 or draw(st.booleans()):
        kwargs["strata"] = "h"
    if clustered:
        kwargs["ids"] = "psu"
    if with_fpc:
        kwargs["fpc"] = "N"
        kwargs["strata"] = "h"  # the fpc is a count per stratum
    return data, kwargs


def _true_weights(data, seed):
    """Positive weights, one random factor per cell of a x b and per row."""
    rng = np.random.default_rng(seed)
    cell = data["a"].astype(str) + "|" + data["b"].astype(str)
    factor = cell.map({c: float(np.exp(rng.normal(0.0, 0.5))) for c in cell.unique()})
    return data["w"] * factor.to_numpy() * np.exp(rng.normal(0.0, 0.1, size=len(data)))


def _feasible_margins(data, seed):
    """Margins of a and b realised by some positive weights: raking has a solution."""
    rng = np.random.default_rng(seed)
    cell = data["a"].astype(str) + "|" + data["b"].astype(str)
    factor = cell.map({c: float(np.exp(rng.normal(0.0, 0.5))) for c in cell.unique()})
    w_true = data["w"] * factor.to_numpy()
    return {v: {str(k): float(t) for k, t in w_true.groupby(data[v], observed=True).sum().items()}
            for v in ("a", "b")}


def _close(a, b, rtol=1e-9, atol=1e-9):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------
# weighting
# --------------------------------------------------------------------------


@given(surveys(), st.integers(0, 2**32 - 1))
def test_raking_hits_feasible_margins_within_its_tolerance(survey, seed):
    data, kwargs = survey
    margins = _feasible_margins(data, seed)
    try:
        raked = Design(data, **kwargs).rake(margins, tol=RAKE_TOL)
    except ConvergenceError:
        return
    w = raked.weights.to_numpy()
    for var, target in margins.items():
        got = raked.weights.groupby(data[var], observed=True).sum()
        assert max(abs(got[k] - t) / t for k, t in target.items()) <= RAKE_TOL
    # raking multiplies the weights by one factor per cell of a x b
    g = pd.Series(w / data["w"].to_numpy())
    spread = g.groupby([data["a"].astype(str), data["b"].astype(str)]).agg(lambda s: s.max() - s.min())
    assert (spread <= 1e-9 * g.abs().max()).all()
    assert (w > 0).all()


@given(surveys(), st.integers(0, 2**32 - 1), st.sampled_from(["linear", "raking", "logit"]))
def test_calibration_hits_its_totals_or_raises(survey, seed, method):
    data, kwargs = survey
    # totals realised by positive weights (w_true): the calibration equations have a solution
    w_true = _true_weights(data, seed)
    margins = {"a": {str(k): float(t) for k, t in w_true.groupby(data["a"], observed=True).sum().items()}}
    totals = {"a": margins["a"], "y": float(w_true @ data["y"])}
    bounds = (0.2, 5.0) if method == "logit" else None
    try:
        cal = Design(data, **kwargs).calibrate(totals, method=method, bounds=bounds)
    except (ConvergenceError, BoundsError):
        return
    w = cal.weights.to_numpy()
    got_a = cal.weights.groupby(data["a"], observed=True).sum()
    for k, t in margins["a"].items():
        assert abs(got_a[k] - t) <= 1e-9 * (1 + abs(t))
    t_y = totals["y"]
    assert abs(w @ data["y"].to_numpy() - t_y) <= 1e-9 * (1 + abs(t_y))
    if bounds:
        g = w / data["w"].to_numpy()
        assert g.min() >= bounds[0] - 1e-9 and g.max() <= bounds[1] + 1e-9


# --------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------


@given(surveys(), st.floats(0.01, 100.0))
def test_scaling_the_weights_keeps_means_and_scales_totals(survey, c):
    data, kwargs = survey
    d = Design(data, **kwargs)
    s = Design(data.assign(w=data["w"] * c), **kwargs)
    for var in ("y", "a"):
        m, ms = d.mean(var), s.mean(var)
        _close(ms["estimate"], m["estimate"])
        _close(ms["se"], m["se"], atol=1e-12)
        t, ts = d.total(var), s.total(var)
        _close(ts["estimate"], c * t["estimate"])
        _close(ts["se"], c * t["se"], atol=1e-9 * c)


@given(surveys(), st.integers(0, 2**32 - 1))
def test_row_order_changes_no_estimate_and_no_se(survey, seed):
    data, kwargs = survey
    perm = np.random.default_rng(seed).permutation(len(data))
    d = Design(data, **kwargs)
    p = Design(data.iloc[perm].reset_index(drop=True), **kwargs)
    for f in (lambda x: x.mean("y"), lambda x: x.total("y"), lambda x: x.mean("a"),
              lambda x: x.mean("y", by="b"), lambda x: x.total("a", by="b")):
        a, b = f(d), f(p)
        _close(b["estimate"], a["estimate"])
        _close(b["se"], a["se"])
    ca, cb = d.chisq("a", "b", statistic="F"), p.chisq("a", "b", statistic="F")
    if np.isinf(ca.statistic) or np.isinf(cb.statistic):
        # a census (fpc = the PSU count): no variance at all, in any order; R
        # gives F = Inf and p NA (extra_census.json, test_census_design_against_r)
        assert ca.statistic == cb.statistic == np.inf and np.isnan(ca.p_value) and np.isnan(cb.p_value)
    elif min(ca.statistic, cb.statistic) > 1e12:
        # the design variance of the table is 0 in exact arithmetic (e.g. one
        # PSU per level of a): the statistic divides by rounding noise, which
        # row order moves (R's svychisq gives such noise too). Both orders
        # must still say so: a statistic beyond 1e12 and a p-value near 0.
        assert max(ca.p_value, cb.p_value) < 1e-6
    else:
        _close([cb.statistic, cb.p_value], [ca.statistic, ca.p_value], rtol=1e-7, atol=1e-12)


@given(surveys())
def test_a_domain_estimate_equals_its_group_on_by(survey):
    data, kwargs = survey
    d = Design(data, **kwargs)
    by = d.mean("y", by="b")
    totals = d.total("z", by="b")
    for g in data["b"].cat.categories:
        dom = d.subset(data["b"] == g)
        m = dom.mean("y")
        _close([by.loc[g, "estimate"], by.loc[g, "se"]], [m["estimate"].iloc[0], m["se"].iloc[0]],
               rtol=1e-10)
        t = dom.total("z")
        _close([totals.loc[g, "estimate"], totals.loc[g, "se"]], [t["estimate"].iloc[0], t["se"].iloc[0]],
               rtol=1e-10)


@given(surveys(min_strata=2, fpc=True, census=True), st.integers(0, 2**32 - 1))
def test_a_census_stratum_adds_no_variance(survey, seed):
    data, kwargs = survey
    d = Design(data, **kwargs)
    census = (data["h"] == "s0").to_numpy()
    # the SE of a total is that of the other strata alone ...
    rest = Design(data[~census].reset_index(drop=True), **kwargs)
    for var in ("y", "z"):
        a, b = d.total(var), rest.total(var)
        assert (a["se"] >= 0).all()
        _close(a["se"], b["se"], rtol=1e-8, atol=1e-9)
    # ... whatever the census stratum's values
    other = data.copy()
    other.loc[census, "y"] = np.random.default_rng(seed).normal(500.0, 200.0, size=census.sum())
    _close(Design(other, **kwargs).total("y")["se"], d.total("y")["se"], rtol=1e-8, atol=1e-9)
    for kind in ("mean", "total"):
        assert (getattr(d, kind)("a")["se"] >= 0).all() and (getattr(d, kind)("y")["se"] >= 0).all()
    # with every stratum a census, there is no sampling variance at all
    full = data.assign(N=data.groupby("h")["psu"].transform("nunique").astype(float))
    _close(Design(full, **kwargs).total("y")["se"], [0.0], atol=1e-6)


# --------------------------------------------------------------------------
# French number format
# --------------------------------------------------------------------------


def _parse(text):
    assert " " not in text, text  # thousands use the narrow no-break space only
    return Decimal(text.replace(NNBSP, "").replace(",", "."))


decimals = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6,
                       allow_nan=False, allow_infinity=False)


@given(decimals, st.integers(0, 3))
def test_french_number_round_trips_to_the_half_up_rounding(value, digits):
    text = fmt_number(float(value), digits)
    expected = value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    assert _parse(text) == expected, (value, text)
    if digits == 0:
        assert "," not in text


@given(st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=6), st.integers(0, 2))
def test_french_percentage_round_trips(proportion, digits):
    text = fmt_pct(float(proportion), digits)
    assert text.endswith(NNBSP + "%")
    expected = (100 * proportion).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    assert _parse(text[: -2]) == expected, (proportion, text)


# --------------------------------------------------------------------------
# the census case against R (extra_census.json): found by the properties above
# --------------------------------------------------------------------------


def test_census_design_against_r():
    import _rref as R

    X = R.load_json("extra_census.json")
    df = R.load_data("apistrat")
    df["N"] = df.groupby("stype", observed=True)["pw"].transform("size").astype(float)
    spec = X["designs"]["dcensus"]
    d = Design(df, strata=spec["strata"], fpc=spec["fpc"], weights=spec["weights"])
    cases = {c["id"]: c for c in X["cases"]}
    total = d.total("api00")
    R.assert_close(total["estimate"], cases["census_total_api00"]["result"]["estimate"], 1e-8)
    assert total["se"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    for st in ("F", "Chisq"):
        res = cases[f"census_chisq_{st}"]["result"]
        out = d.chisq("sch.wide", "awards", statistic=st)  # no ZeroDivisionError
        if res["statistic_is_infinite"]:
            assert out.statistic == np.inf
        else:
            R.assert_close(out.statistic, res["statistic"], 1e-8)
        par = res["parameter"]
        expected = [par["ndf"], par["ddf"]] if "ndf" in par else [par["df"]]
        for got, ref in zip([*np.atleast_1d(out.df), out.p_value], [*expected, res["p_value"]]):
            if ref is None:  # R's NaN
                assert np.isnan(got)
            else:
                R.assert_close(got, ref, 1e-8)
