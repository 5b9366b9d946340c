"""The factored domain covariance (used by banner tables) equals the dense one.

``Design.total_vcov(u, domains=...)`` groups rows by cell instead of forming
the (n, C*k) matrix of influence values crossed with domains. The dense path
is the one checked against R survey (tests/test_design.py, test_weighting.py);
here the factored path must give the same matrix on designs that exercise
each of its branches: strata with fpc, one or two calibrations, a domain of a
calibrated design, and a clustered design (which falls back to the dense path).
"""

import numpy as np
import pandas as pd
import pytest

from ramlab.design import Design
from ramlab.variance import Coded
from tests._rref import load_data


def _dense(design, u, masks):
    crossed = np.concatenate([u * m[:, None] for m in masks.T], axis=1)
    return design.total_vcov(crossed)


def _designs():
    strat = Design(load_data("apistrat"), weights="pw", strata="stype", fpc="fpc")
    total = float(strat.weights.sum())
    raked = strat.rake(
        {
            "sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total},
            "awards": {"No": 0.45 * total, "Yes": 0.55 * total},
        }
    )
    twice = raked.poststratify(["stype"], {"stype": {"E": 0.7 * total, "H": 0.12 * total, "M": 0.18 * total}})
    clus = Design(load_data("apiclus1"), weights="pw", ids="dnum", fpc="fpc")
    return {
        "stratified with fpc": strat,
        "raked": raked,
        "raked then post-stratified": twice,
        "raked domain": raked.subset(raked.data["yr.rnd"] == "No"),
        "one-stage cluster (dense fallback)": clus,
    }


@pytest.mark.parametrize("name", list(_designs()))
def test_factored_domain_covariance_equals_dense(name):
    design = _designs()[name]
    rng = np.random.default_rng(20211)
    data = design.data
    inside = (design.weights.to_numpy() > 0).astype(float)
    u = rng.normal(size=(design.n, 3)) * inside[:, None]
    masks = np.column_stack(
        [np.ones(design.n)]
        + [(data["stype"] == level).to_numpy(float) for level in ("E", "H", "M")]
        + [(data["sch.wide"] == "Yes").to_numpy(float)]
    )
    # the factored branch is really taken, except for the clustered design
    assert (not design.domain_plan(masks).factored) == ("fallback" in name)
    factored = design.total_vcov(u, domains=masks)
    dense = _dense(design, u, masks)
    assert factored.shape == dense.shape == (15, 15)
    np.testing.assert_allclose(factored, dense, rtol=1e-10, atol=1e-12 * np.abs(dense).max())


def test_domain_plan_is_reusable_and_tied_to_its_design():
    designs = _designs()
    raked, strat = designs["raked"], designs["stratified with fpc"]
    masks = np.column_stack([(raked.data["stype"] == s).to_numpy(float) for s in ("E", "H", "M")])
    plan = raked.domain_plan(masks)
    rng = np.random.default_rng(7)
    for _ in range(2):
        u = rng.normal(size=(raked.n, 2))
        np.testing.assert_allclose(raked.total_vcov(u, domains=plan), _dense(raked, u, masks), rtol=1e-10)
    with pytest.raises(ValueError, match="^the domain plan was made for another design$"):
        strat.total_vcov(rng.normal(size=(strat.n, 2)), domains=plan)


def _unequal_designs():
    """Designs whose weights vary within the cells (stratum x domain x calibration cells)."""
    data = load_data("apistrat").copy()
    rng = np.random.default_rng(31)
    data["w"] = data["pw"] * rng.uniform(0.5, 1.5, size=len(data))
    strat = Design(data, weights="w", strata="stype", fpc="fpc")
    total = float(strat.weights.sum())
    raked = strat.rake({"sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total}})
    twice = raked.poststratify(["stype"], {"stype": {"E": 0.7 * total, "H": 0.12 * total, "M": 0.18 * total}})
    # base weights equal within strata in the domain, unequal outside it
    varying = Design(data.assign(w=np.where(data["yr.rnd"] == "No", data["pw"], data["w"])),
                     weights="w", strata="stype", fpc="fpc")
    varying = varying.rake({"sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total}})
    return {
        "raked domain, base weights unequal outside it": varying.subset(data["yr.rnd"] == "No"),
        "unequal weights": strat,
        "unequal weights raked": raked,
        "unequal weights raked twice": twice,
        "unequal weights raked twice, domain": twice.subset(twice.data["yr.rnd"] == "No"),
        "raked twice, domain": _designs()["raked then post-stratified"].subset(data["yr.rnd"] == "No"),
    }


def _all_designs():
    designs = {**_designs(), **_unequal_designs()}
    del designs["one-stage cluster (dense fallback)"]
    return designs


_NAMES = list(_all_designs())


@pytest.fixture(scope="module")
def all_designs():
    return _all_designs()


def _masks(data):
    return np.column_stack(
        [np.ones(len(data))]
        + [(data["stype"] == level).to_numpy(float) for level in ("E", "H", "M")]
        + [(data["sch.wide"] == "Yes").to_numpy(float), (data["yr.rnd"] == "No").to_numpy(float)]
    )


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("name", _NAMES)
def test_factored_domain_covariance_of_any_width_equals_dense(all_designs, name, k):
    """k = 1 takes the direct cell sums, k = 5 the sorted ones (and k = 2 after them)."""
    design = all_designs[name]
    rng = np.random.default_rng(k)
    outside = design.weights.to_numpy() == 0
    u = rng.normal(size=(design.n, k))
    masks = _masks(design.data)
    plan = design.domain_plan(masks)
    assert plan.factored
    expected = _dense(design, np.where(outside[:, None], 0.0, u), masks)
    tol = {"rtol": 1e-10, "atol": 1e-12 * np.abs(expected).max()}
    np.testing.assert_allclose(design.total_vcov(u, domains=plan), expected, **tol)
    if k > 1:  # the plan now has its sorted segments: k = 2 takes them too
        np.testing.assert_allclose(design.total_vcov(u[:, :2], domains=plan),
                                   _dense(design, np.where(outside[:, None], 0.0, u[:, :2]), masks), **tol)
    if outside.any():  # values of rows outside the design (weight 0) do not matter, even NaN or inf
        u[outside, 0] = np.nan
        u[outside, -1] = np.inf
        np.testing.assert_allclose(design.total_vcov(u, domains=plan), expected, **tol)


@pytest.mark.parametrize("name", _NAMES)
def test_coded_domain_covariance_equals_dense(all_designs, name):
    """Influence values given by a code per row (category indicators): summed per (cell, code)."""
    design = all_designs[name]
    rng = np.random.default_rng(5)
    coded = Coded(rng.integers(-1, 4, size=design.n), rng.normal(size=(4, 3)))
    masks = _masks(design.data)
    expected = _dense(design, coded.dense(), masks)
    np.testing.assert_allclose(design.total_vcov(coded, domains=masks), expected,
                               rtol=1e-10, atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("columns", [4, 10])
def test_factored_domain_covariance_of_many_rows_equals_dense(columns):
    """More than 2 x 65536 rows: the sorted cell sums work by chunks of rows (4 groups:
    12 cells), or in one chunk when there are more than 2048 cells (10 overlapping
    domains: about 3 x 1024 cells)."""
    n = 140_000
    rng = np.random.default_rng(3)
    data = pd.DataFrame({"h": rng.integers(0, 3, size=n), "w": rng.choice([10.0, 20.0, 35.0], size=n)})
    design = Design(data, weights="w", strata="h")
    if columns == 4:
        g = rng.integers(0, 4, size=n)
        masks = np.column_stack([(g == j).astype(float) for j in range(4)])
    else:
        masks = rng.integers(0, 2, size=(n, columns)).astype(float)
    u = rng.normal(size=(n, 4))
    expected = _dense(design, u, masks)
    np.testing.assert_allclose(design.total_vcov(u, domains=masks), expected,
                               rtol=1e-10, atol=1e-12 * np.abs(expected).max())


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("name", [n for n in _NAMES if "domain" in n] + ["one-stage cluster domain (dense fallback)"])
def test_nan_or_inf_outside_the_design_give_no_warning(all_designs, name, k):
    """Rows of weight 0 (outside a domain) may hold NaN or inf: no numpy RuntimeWarning
    (warnings are errors here) from 0 * inf, and the same matrix as without them. k = 1
    takes the direct cell sums, k = 5 the sorted ones; the clustered design the dense path."""
    if "dense" in name:
        clus = _designs()["one-stage cluster (dense fallback)"]
        design = clus.subset(clus.data["yr.rnd"] == "No")
    else:
        design = all_designs[name]
    outside = design.weights.to_numpy() == 0
    assert outside.any()
    u = np.random.default_rng(k).normal(size=(design.n, k))
    masks = _masks(design.data)
    plan = design.domain_plan(masks)
    assert plan.factored != ("dense" in name)
    expected = _dense(design, np.where(outside[:, None], 0.0, u), masks)
    u[outside, 0] = np.nan
    u[outside, -1] = np.inf
    np.testing.assert_allclose(design.total_vcov(u, domains=plan), expected,
                               rtol=1e-10, atol=1e-12 * np.abs(expected).max())
