"""Domain plans (banner columns) in every form they take, against the dense covariance.

``Design.domain_plan`` accepts domains as a boolean or 0/1 matrix, or as
``(codes, table)``; :meth:`DomainPlan.total_vcov` takes dense or coded influence
values and can return the domain totals and the counts of respondents with them.
The reference is the dense covariance of the (n, C*k) matrix of ``u`` crossed with
the domains (``Design.total_vcov``, checked against R survey in test_design.py,
test_weighting.py and tables.json) and, for totals and counts, their definition
written out row by row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ramlab import ReplicateDesign
from ramlab.design import Design
from ramlab.variance import Coded
from tests._rref import load_data, load_json


def _dense(design, u, masks):
    crossed = np.concatenate([u * m[:, None] for m in masks.T], axis=1)
    return design.total_vcov(crossed)


def _close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max())


def _strat(weights="pw"):
    data = load_data("apistrat")
    rng = np.random.default_rng(31)
    data["w"] = data["pw"] * rng.uniform(0.5, 1.5, size=len(data))
    data["wn"] = data["w"] / data["w"].mean()
    return Design(data, weights=weights, strata="stype", fpc="fpc")


def _raked(weights="pw"):
    strat = _strat(weights)
    total = float(strat.weights.sum())
    return strat.rake({"sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total},
                       "awards": {"No": 0.45 * total, "Yes": 0.55 * total}})


def _designs():
    raked = _raked()
    normalised = _raked("wn")
    return {
        "raked": raked,  # weights constant in every cell
        "unequal weights raked": _raked("w"),  # weights that vary within cells
        "raked domain": raked.subset(raked.data["yr.rnd"] == "No"),  # rows of weight 0
        # weights of mean 1, of either side of 1
        "normalised domain": normalised.subset(normalised.data["yr.rnd"] == "No"),
    }


def _masks(data, *, year_round=False):
    """The total, stype, sch.wide and (``year_round``) the domain of the subset: with it,
    the domain's weights are constant in every cell, 0 in some."""
    return np.column_stack(
        [np.ones(len(data), dtype=bool)]
        + [(data["stype"] == level).to_numpy() for level in ("E", "H", "M")]
        + [(data["sch.wide"] == "Yes").to_numpy()]
        + ([(data["yr.rnd"] == "No").to_numpy()] if year_round else [])
    )


def test_domains_in_every_form_give_the_same_covariance():
    """A boolean matrix, 0/1 floats or ints, (codes, table), and more than 62 columns
    (beyond the bit patterns), including a column that no row is in."""
    design = _designs()["raked"]
    rng = np.random.default_rng(1)
    masks = _masks(design.data)
    u = rng.normal(size=(design.n, 2))
    expected = _dense(design, u, masks.astype(float))
    table, codes = np.unique(masks.astype(float), axis=0, return_inverse=True)
    for domains in (masks, masks.astype(float), masks.astype(np.int64), (codes.ravel(), table)):
        plan = design.domain_plan(domains)
        assert plan.factored and plan.C == 5
        _close(design.total_vcov(u, domains=plan), expected)
    wide = np.column_stack([masks, np.zeros(design.n, dtype=bool)]
                           + [rng.random(design.n) < 0.5 for _ in range(60)])
    for domains in (wide, wide.astype(float)):
        plan = design.domain_plan(domains)
        assert plan.factored and plan.C == 66
        _close(design.total_vcov(u[:, :1], domains=plan), _dense(design, u[:, :1], wide.astype(float)))


def test_more_than_62_domains_that_differ_only_beyond_the_62nd():
    """Beyond 62 columns the domain patterns are not bit patterns of an int64: rows whose
    domains differ only in the 63rd and later columns are in different cells."""
    design = _designs()["raked"]
    rng = np.random.default_rng(13)
    masks = _masks(design.data)
    late = rng.random((design.n, 4)) < 0.5
    wide = np.column_stack([masks] + [masks[:, :1]] * 60 + [late])  # columns 65 to 68 vary
    assert wide.shape[1] == 69
    u = rng.normal(size=(design.n, 1))
    for domains in (wide, wide.astype(float)):
        plan = design.domain_plan(domains)
        assert plan.factored
        _close(design.total_vcov(u, domains=plan), _dense(design, u, wide.astype(float)))


@pytest.mark.parametrize("values", ["0, 1 and others", "no 0", "no 1"])
def test_domains_given_as_a_matrix_of_any_values(values):
    """``total_vcov(u, domains=M)`` is the covariance of the totals of ``u * M[:, c]``
    whatever the values of ``M`` (weighted domains), not only 0/1."""
    design = _designs()["raked"]
    rng = np.random.default_rng(14)
    choices = {"0, 1 and others": [0.0, 1.0, 0.5, 2.0], "no 0": [1.0, 0.5, 2.0], "no 1": [0.0, 0.5, 2.0]}[values]
    M = rng.choice(choices, size=(design.n, 3))
    u = rng.normal(size=(design.n, 2))
    plan = design.domain_plan(M)
    assert plan.factored
    _close(design.total_vcov(u, domains=plan), _dense(design, u, M))


def test_domains_given_as_codes_and_a_table_of_any_values():
    """``total_vcov(u, domains=(codes, table))`` is the covariance of the totals of
    ``u * table[codes, c]``, whatever the table's values."""
    design = _designs()["unequal weights raked"]
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, size=design.n)
    table = np.array([[1.0, 0.0, 0.5], [1.0, 2.0, 0.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.25]])
    u = rng.normal(size=(design.n, 2))
    _close(design.total_vcov(u, domains=(codes, table)), _dense(design, u, table[codes]))


def test_domain_plan_refuses_domains_and_values_of_the_wrong_shape():
    design = _designs()["raked"]
    n = design.n
    with pytest.raises(ValueError, match=f"domains must have {n} rows"):
        design.domain_plan(np.ones((n - 1, 2), dtype=bool))
    with pytest.raises(ValueError, match=f"domains must have {n} rows"):
        design.domain_plan(np.ones(n, dtype=bool))
    with pytest.raises(ValueError, match=r"^domains must be \(codes \(n,\), table \(G, C\)\)$"):
        design.domain_plan((np.zeros(n - 1, dtype=int), np.ones((1, 2))))
    with pytest.raises(ValueError, match=r"^domains must be \(codes \(n,\), table \(G, C\)\)$"):
        design.domain_plan((np.zeros(n, dtype=int), np.ones(2)))
    plan = design.domain_plan(np.ones((n, 2), dtype=bool))
    with pytest.raises(ValueError, match=f"u must have {n} rows, not {n - 1}"):
        plan.total_vcov(np.ones((n - 1, 2)))
    with pytest.raises(ValueError, match=rf"^u must have {n} codes, not \({n - 1},\)$"):
        plan.total_vcov(Coded(np.zeros(n - 1, dtype=int), np.eye(2)))
    # the design's own covariance: a vector is one column
    with pytest.raises(ValueError, match=f"u must have {n} rows, not {n - 1}"):
        design.total_vcov(np.ones(n - 1))
    u = np.random.default_rng(0).normal(size=n)
    V = design.total_vcov(u)
    assert V.shape == (1, 1)
    np.testing.assert_array_equal(V, design.total_vcov(u[:, None]))
    np.testing.assert_array_equal(plan.total_vcov(u), plan.total_vcov(u[:, None]))


def test_a_code_past_the_values_is_a_row_of_zeros():
    """As -1, the code ``len(values)`` gives a row of zeros (documented by ``Coded``); the
    sums per (cell, code) took it for the next cell's code -1, or failed in the last cell.
    Codes outside -1..len(values) are refused."""
    values = np.array([[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_array_equal(Coded(np.array([0, -1, 2, 1]), values).dense(),
                                  [[1.0, 2.0], [0.0, 0.0], [0.0, 0.0], [3.0, -1.0]])
    design = _designs()["raked"]
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 2, size=design.n)
    masks = _masks(design.data).astype(float)
    expected = _dense(design, Coded(codes, values).dense(), masks)
    _close(design.total_vcov(Coded(np.where(codes < 0, 2, codes), values), domains=masks), expected)
    whole = design.variance_engine.total_vcov(Coded(np.where(codes < 0, 2, codes), values))
    _close(whole, design.total_vcov(Coded(codes, values).dense()))
    for bad in (-2, 3):
        with pytest.raises(ValueError, match=f"codes of u must be in -1..2 .*, not {bad}"):
            design.total_vcov(Coded(np.where(codes < 0, bad, codes), values), domains=masks)


@pytest.mark.parametrize("year_round", [False, True])
@pytest.mark.parametrize("name", list(_designs()))
def test_coded_totals_and_counts_of_respondents_per_domain(name, year_round):
    """``totals=True``: the (C, k) totals sum_i w_i D_ic u_ij; ``counts=True``: the rows of
    positive weight in each domain per code (the last: code -1), written out row by row."""
    design = _designs()[name]
    rng = np.random.default_rng(4)
    K = 4
    coded = Coded(rng.integers(-1, K, size=design.n), rng.normal(size=(K, 3)))
    masks = _masks(design.data, year_round=year_round).astype(float)
    plan = design.domain_plan(masks)
    V, T, N = plan.total_vcov(coded, totals=True, counts=True)
    _close(V, _dense(design, coded.dense(), masks))
    w = design.weights.to_numpy()
    np.testing.assert_allclose(T, masks.T @ (coded.dense() * w[:, None]), rtol=1e-12)
    expected = np.zeros((masks.shape[1], K + 1))
    for i in np.flatnonzero(w > 0):
        expected[:, coded.codes[i]] += masks[i]  # code -1 is the last column
    np.testing.assert_array_equal(N, expected)
    V2, T2 = plan.total_vcov(coded, totals=True)
    np.testing.assert_array_equal(V2, V)
    np.testing.assert_array_equal(T2, T)


def test_dense_values_have_totals_but_no_counts():
    clustered = Design(load_data("apiclus1"), weights="pw", ids="dnum", fpc="fpc")
    for design, factored in ((_designs()["raked domain"], True), (clustered, False)):
        rng = np.random.default_rng(5)
        u = rng.normal(size=(design.n, 2))
        masks = _masks(design.data).astype(float)
        plan = design.domain_plan(masks)
        assert plan.factored == factored
        V, T, N = plan.total_vcov(u, totals=True, counts=True)
        assert N is None
        w = design.weights.to_numpy()
        np.testing.assert_allclose(T, masks.T @ (u * w[:, None]), rtol=1e-12)
        _close(V, _dense(design, u * (w > 0)[:, None], masks))
        V1, N1 = plan.total_vcov(u, counts=True)
        np.testing.assert_array_equal(V1, V)
        assert N1 is None


def test_a_numeric_calibration_takes_the_dense_path():
    """Calibration on a numeric variable has no calibration cells: the plan is not factored,
    and the covariance is the dense one."""
    design = _strat().calibrate({"api99": 6194 * 900.0}, method="linear", population=6194.0)
    masks = _masks(design.data).astype(float)
    plan = design.domain_plan(masks)
    assert not plan.factored
    u = np.random.default_rng(6).normal(size=(design.n, 2))
    _close(design.total_vcov(u, domains=plan), _dense(design, u, masks))


@pytest.mark.parametrize("varying", [False, True])
def test_coded_covariance_of_more_rows_than_a_block(varying):
    """More than 65,536 rows: the coded sums run by blocks of rows (a short last one),
    with weights constant in every cell (one count per cell and code) or not."""
    n = 70_000
    rng = np.random.default_rng(7)
    h = rng.integers(0, 3, size=n)
    w = np.array([10.0, 20.0, 35.0])[h]
    if varying:
        w = w * rng.uniform(0.5, 1.5, size=n)
    design = Design(pd.DataFrame({"h": h, "w": w}), weights="w", strata="h")
    g = rng.integers(0, 3, size=n)
    masks = np.column_stack([np.ones(n)] + [(g == j).astype(float) for j in range(3)])
    coded = Coded(rng.integers(-1, 3, size=n), rng.normal(size=(3, 2)))
    plan = design.domain_plan(masks)
    V, T, N = plan.total_vcov(coded, totals=True, counts=True)
    _close(V, _dense(design, coded.dense(), masks))
    np.testing.assert_allclose(T, masks.T @ (coded.dense() * w[:, None]), rtol=1e-10)
    np.testing.assert_array_equal(N[:, -1], masks.T @ (coded.codes == -1))
    np.testing.assert_array_equal(N[:, 0], masks.T @ (coded.codes == 0))


def test_many_strata_and_domain_patterns_for_few_rows():
    """Strata x domain patterns beyond 4n + 16 possible cells: the joint cell codes are
    compressed as they are built, with the same covariance."""
    rng = np.random.default_rng(8)
    n = 300
    data = pd.DataFrame({"h": np.repeat(np.arange(50), 6), "w": rng.uniform(1.0, 5.0, size=n)})
    design = Design(data, weights="w", strata="h")
    masks = rng.random((n, 9)) < 0.5
    plan = design.domain_plan(masks)
    assert plan.factored
    u = rng.normal(size=(n, 2))
    _close(design.total_vcov(u, domains=plan), _dense(design, u, masks.astype(float)))


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_a_raked_margin_has_no_variance(scale):
    """The totals and shares of a raking margin are fixed by the calibration: their residuals
    are 0, so is their variance (R: 0 up to rounding, ~1e-13). Summed per code, the
    variance would be the difference of two sums of ~1e9 (~1e15 with weights of a
    population of millions: ``scale``) and keep their rounding noise, of either sign; the
    whole-sample plan then residualises row by row."""
    data = load_data("apistrat").assign(w=lambda d: d["pw"] * scale)
    strat = Design(data, weights="w", strata="stype", fpc="fpc" if scale == 1.0 else None)
    total = float(strat.weights.sum())
    design = strat.rake({"sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total},
                         "awards": {"No": 0.45 * total, "Yes": 0.55 * total}})
    for estimate in (design.total("sch.wide"), design.mean("sch.wide"), design.total("awards")):
        assert np.all(estimate["se"].to_numpy() < 1e-9 * scale)
    codes = (design.data["sch.wide"] == "Yes").to_numpy().astype(int)
    bound = 1e-18 * scale ** 2
    V = design.variance_engine.total_vcov(Coded(codes, np.eye(2)))
    assert np.abs(V).max() < bound
    for category in range(2):  # each category's total alone (noise of either sign)
        V = design.variance_engine.total_vcov(Coded(codes, np.eye(2)[:, [category]]))
        assert np.abs(V).max() < bound
    # a margin within a domain is not fixed: there the coded sums hold
    masks = _masks(design.data).astype(float)
    _close(design.total_vcov(Coded(codes, np.eye(2)), domains=masks[:, 1:4]),
           _dense(design, np.eye(2)[codes], masks[:, 1:4]))


def test_values_outside_the_domain_do_not_count_even_nan():
    """The covariance of totals in a domain (a subset: weight 0 outside) is that of the
    values set to 0 outside it on the whole design (R's subset of a design keeps its
    rows with weight 0), whatever the values outside, NaN and inf included; on the dense
    path (clustered) as on the factored one."""
    clustered = Design(load_data("apiclus1"), weights="pw", ids="dnum", fpc="fpc")
    for design in (_designs()["raked"], clustered):
        domain = design.subset(design.data["stype"] != "E")
        outside = domain.weights.to_numpy() == 0
        assert outside.any()
        u = np.random.default_rng(9).normal(size=(domain.n, 2))
        expected = design.total_vcov(np.where(outside[:, None], 0.0, u))
        np.testing.assert_allclose(domain.total_vcov(u), expected, rtol=1e-12)
        u[outside, 0] = np.nan
        u[outside, 1] = np.inf
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(domain.total_vcov(u), expected, rtol=1e-12)


@pytest.mark.parametrize("weights", ["pw", "w", "domain"])
def test_calibrated_three_times(weights):
    """Raked, post-stratified, raked again: two calibrations whose w_new is not the final
    weight, each with its own weights in the cell sums, for one column (direct sums) and
    coded values with their counts; base weights equal within strata (weights constant in
    every cell: one sum per cell) or not, or only in the domain of a subset (outside it,
    the final weight 0 is constant in every cell, the calibrations' w_new are not)."""
    twice = _raked("w" if weights == "w" else "pw")
    if weights == "domain":
        data = twice.data
        data = data.assign(pw=np.where(data["yr.rnd"] == "No", data["pw"], data["w"]))
        twice = Design(data, weights="pw", strata="stype", fpc="fpc")
        total = float(twice.weights.sum())
        twice = twice.rake({"sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total}})
    twice = twice.poststratify(["stype"], {"stype": {"E": 4400.0, "H": 750.0, "M": 1100.0}})
    total = float(twice.weights.sum())
    design = twice.rake({"awards": {"No": 0.4 * total, "Yes": 0.6 * total}})
    assert len(design.calibrations) == 3
    if weights == "domain":
        design = design.subset(design.data["yr.rnd"] == "No")
    masks = _masks(design.data, year_round=True).astype(float)
    rng = np.random.default_rng(10)
    u = rng.normal(size=(design.n, 1))
    plan = design.domain_plan(masks)
    _close(design.total_vcov(u, domains=plan), _dense(design, u, masks))
    coded = Coded(rng.integers(-1, 3, size=design.n), rng.normal(size=(3, 2)))
    V, N = plan.total_vcov(coded, counts=True)
    _close(V, _dense(design, coded.dense(), masks))
    positive = design.weights.to_numpy() > 0
    np.testing.assert_array_equal(N[:, 0], masks.T @ ((coded.codes == 0) & positive))
    np.testing.assert_array_equal(N[:, -1], masks.T @ ((coded.codes == -1) & positive))


def test_replicate_totals_per_domain_are_the_replicate_weights_times_the_values():
    """On a replicate design, ``replicate_totals(u)`` holds each replicate's domain totals
    ``sum_i a_ir table[codes_i, c] u_ij`` (index c*k + j): the replicate weights (R's
    ``jk1weights``, test_replicate_weights.py) times the values; a vector is one column,
    coded values are their dense matrix."""
    design = Design(load_data("apiclus1"), weights="pw", ids="dnum", fpc="fpc").replicate("JK1")
    A = design.replicate_weights.to_numpy()
    masks = _masks(design.data).astype(float)
    plan = design.domain_plan(masks)
    assert not plan.factored
    rng = np.random.default_rng(11)
    u = rng.normal(size=design.n)
    expected = A.T @ (masks * u[:, None])  # one column: index c
    np.testing.assert_allclose(plan.replicate_totals(u), expected, rtol=1e-12)
    np.testing.assert_allclose(plan.replicate_totals(u[:, None]), expected, rtol=1e-12)
    coded = Coded(rng.integers(-1, 3, size=design.n), rng.normal(size=(3, 2)))
    dense = coded.dense()
    expected = np.column_stack([A.T @ (masks[:, [c]] * dense) for c in range(masks.shape[1])])
    np.testing.assert_allclose(plan.replicate_totals(coded), expected, rtol=1e-12)


@pytest.mark.parametrize("domains", ["banner", "whole sample"])
def test_two_strata(domains):
    """A raked design of two strata (apistrat without its high schools): the cells are
    within strata, and the strata's sums are centred on their own means, with fewer
    strata than domains (banner) or more (the whole sample as one domain)."""
    data = load_data("apistrat")
    data = data[data["stype"] != "H"].reset_index(drop=True)
    strat = Design(data, weights="pw", strata="stype", fpc="fpc")
    total = float(strat.weights.sum())
    design = strat.rake({"sch.wide": {"No": 0.2 * total, "Yes": 0.8 * total},
                         "awards": {"No": 0.45 * total, "Yes": 0.55 * total}})
    rng = np.random.default_rng(12)
    u = rng.normal(size=(design.n, 2))
    coded = Coded(rng.integers(-1, 3, size=design.n), rng.normal(size=(3, 2)))
    if domains == "banner":
        masks = _masks(design.data)[:, [0, 1, 4]].astype(float)
    else:
        masks = np.ones((design.n, 1))
    plan = design.domain_plan(masks)
    assert plan.factored
    for values in (u, u[:, :1], coded):
        dense = values.dense() if isinstance(values, Coded) else values
        _close(design.total_vcov(values, domains=plan), _dense(design, dense, masks))
    _close(design.variance_engine.total_vcov(coded), design.total_vcov(coded.dense()))


def test_totals_on_the_dense_path_of_a_domain_with_weights_of_1():
    """The dense path (clustered design) with ``totals=True``: a domain (rows of weight 0,
    some of them NaN), weights of 1 on some rows, domains as (codes, table) whose last
    pattern no row takes; the totals sum_i w_i table[codes_i, c] u_ij written out."""
    data = load_data("apiclus1")
    data = data.assign(w=np.where(data["stype"] == "H", 1.0, data["pw"]))
    clustered = Design(data, weights="w", ids="dnum", fpc="fpc")
    design = clustered.subset(clustered.data["yr.rnd"] == "No")
    w = design.weights.to_numpy()
    assert (w == 0).any() and (w == 1).any()
    rng = np.random.default_rng(15)
    codes = rng.integers(0, 3, size=design.n)
    table = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    u = rng.normal(size=(design.n, 2))
    u[w == 0, 0] = np.nan
    plan = design.domain_plan((codes, table))
    assert not plan.factored
    V, T = plan.total_vcov(u, totals=True)
    clean = np.where((w == 0)[:, None], 0.0, u)
    _close(V, _dense(design, clean, table[codes]))
    np.testing.assert_allclose(T, table[codes].T @ (clean * w[:, None]), rtol=1e-12)
    # coded values: the dense matrix, and no counts (not summed per code)
    coded = Coded(rng.integers(-1, 3, size=design.n), rng.normal(size=(3, 2)))
    V, T, N = plan.total_vcov(coded, totals=True, counts=True)
    _close(V, _dense(design, coded.dense(), table[codes]))
    np.testing.assert_allclose(T, table[codes].T @ (coded.dense() * w[:, None]), rtol=1e-12)
    assert N is None


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("name", ["raked", "raked domain"])
def test_influence_values_given_as_booleans(name, k):
    """Category indicators given as a boolean matrix are the 0/1 numbers (their cross-products
    are sums of products, not logical ors), on the direct (k <= 3) and sorted (k = 5) sums."""
    design = _designs()[name]
    rng = np.random.default_rng(16)
    u = np.eye(5, dtype=bool)[rng.integers(0, 5, size=design.n)][:, :k]
    masks = _masks(design.data).astype(float)
    _close(design.total_vcov(u, domains=masks), _dense(design, u.astype(float), masks))
    _close(design.total_vcov(u), design.total_vcov(u.astype(float)))


def test_a_calibration_undone_by_the_next():
    """Weights of 1 raked on sch.wide (to 2 and 0.5, exactly), then post-stratified back to
    the sample counts: the final weights are 1 again, but the raking's w_new is not, and its
    calibration residuals still count (its own weighted sums, not the final weight's)."""
    data = load_data("apistrat").assign(one=1.0)
    design = Design(data, weights="one", strata="stype")
    n_no = int((data["sch.wide"] == "No").sum())
    n_yes = len(data) - n_no
    design = design.rake({"sch.wide": {"No": 2.0 * n_no, "Yes": 0.5 * n_yes}})
    design = design.poststratify(["sch.wide"], {"sch.wide": {"No": float(n_no), "Yes": float(n_yes)}})
    assert np.all(design.weights.to_numpy() == 1.0)
    assert set(np.unique(design.calibrations[0].w_new)) == {0.5, 2.0}
    masks = _masks(design.data).astype(float)
    rng = np.random.default_rng(18)
    plan = design.domain_plan(masks)
    assert plan.factored
    u = rng.normal(size=(design.n, 1))
    _close(design.total_vcov(u, domains=plan), _dense(design, u, masks))
    coded = Coded(rng.integers(-1, 3, size=design.n), rng.normal(size=(3, 2)))
    _close(design.total_vcov(coded, domains=plan), _dense(design, coded.dense(), masks))


def test_a_missing_value_a_replicate_weighs_is_not_made_0():
    """A row of full-sample weight 0 that the replicates weigh counts in R's replicate
    totals, so a missing value on it leaves no number (R: "All replicates contained
    NAs"): the plan's covariance is NaN, not that of the value set to 0. Once the row is
    outside a subset, no weight counts it and its NaN does not matter (R's
    ``[.svyrep.design`` drops it). Data: extra_svrepdesign.json (a JK1 design of 4 rows,
    the first of weight 0 and missing)."""
    ref = load_json("extra_svrepdesign.json")
    data = pd.DataFrame(ref["data"]["z4na"]).astype(float)
    rep = ReplicateDesign(data, repweights="^r[0-9]", weights="w", type="JK1", scale=0.75)
    y = data[["y"]].to_numpy()
    assert rep.weights.iloc[0] == 0 and np.isnan(y[0, 0])
    ones = np.ones((rep.n, 1))
    with np.errstate(invalid="ignore"):
        assert np.isnan(rep.domain_plan(ones).total_vcov(y)).all()
        dom = rep.subset(data["y"].notna().to_numpy())
        expected = dom.total_vcov(np.nan_to_num(y))
        np.testing.assert_allclose(dom.domain_plan(ones).total_vcov(y), expected, rtol=1e-12)
    assert expected[0, 0] > 0


def test_counts_of_respondents_with_weights_whose_square_underflows():
    """R's ``unwtd.count`` counts the rows of nonzero weight, however small: weights of
    1e-170 (their squares underflow to 0) count as the rows they are."""
    data = load_data("apistrat")
    data["tiny"] = data["pw"] * 1e-170  # constant in each stratum: the per-cell sums
    design = Design(data, weights="tiny", strata="stype", fpc="fpc")
    rng = np.random.default_rng(5)
    coded = Coded(rng.integers(-1, 3, size=design.n), rng.normal(size=(3, 2)))
    masks = _masks(design.data)
    _, N = design.domain_plan(masks).total_vcov(coded, counts=True)
    expected = np.zeros((masks.shape[1], 4))
    for i in range(design.n):
        expected[:, coded.codes[i]] += masks[i]  # every row has a nonzero weight
    np.testing.assert_array_equal(N, expected)


def test_coded_values_of_a_design_without_rows_or_of_one_row():
    """No rows: no codes to check, totals and covariance 0. One row: its code is checked
    as any other (a code outside -1..len(values) refused, naming it)."""
    data = load_data("apistrat")
    values = np.array([[1.0, 2.0], [3.0, -1.0]])
    empty = Design(data.iloc[:0], weights="pw")
    V, T = empty.domain_plan(np.ones((0, 1), dtype=bool)).total_vcov(
        Coded(np.zeros(0, dtype=np.int64), values), totals=True)
    np.testing.assert_array_equal(V, np.zeros((2, 2)))
    np.testing.assert_array_equal(T, np.zeros((1, 2)))
    one = Design(data.iloc[:1], weights="pw")
    with pytest.raises(ValueError, match="codes of u must be in -1..2 .*, not 5"):
        one.domain_plan(np.ones((1, 1), dtype=bool)).total_vcov(Coded(np.array([5]), values))


def test_a_refused_code_above_the_range_is_named_when_minus_1_is_present():
    """Codes -1 and 3 of two values: the code refused is 3 (-1 is allowed)."""
    design = _designs()["raked"]
    codes = np.zeros(design.n, dtype=np.int64)
    codes[:2] = [-1, 3]
    with pytest.raises(ValueError, match="codes of u must be in -1..2 .*, not 3$"):
        design.total_vcov(Coded(codes, np.ones((2, 1))), domains=_masks(design.data))


def test_a_raked_subset_without_rows_has_totals_and_covariance_0():
    """A subset that keeps nobody (every weight 0): each domain total is a sum over no rows,
    0, and so is its covariance, whatever the calibrations' own weights."""
    design = _designs()["raked"]
    empty = design.subset(np.zeros(design.n, dtype=bool))
    rng = np.random.default_rng(4)
    coded = Coded(rng.integers(-1, 3, size=empty.n), rng.normal(size=(3, 2)))
    V, T = empty.domain_plan(_masks(empty.data)).total_vcov(coded, totals=True)
    np.testing.assert_array_equal(V, np.zeros_like(V))
    np.testing.assert_array_equal(T, np.zeros_like(T))


def test_a_stratum_lonely_in_the_subset_is_adjusted_as_on_the_dense_path():
    """``lonely_psu_domain="adjust"`` (R ``survey.adjust.domain.lonely``) on a subset where a
    stratum keeps one PSU: the plan's covariance is the dense one (checked against R in
    test_options.py), not the factored form, which does not adjust it."""
    data = load_data("apistrat")
    design = Design(data, strata="stype", weights="pw", fpc="fpc", lonely_psu="adjust",
                    lonely_psu_domain="adjust")
    sub = design.subset(design.data["api00"] > 850)
    assert (sub.data.loc[sub.weights.to_numpy() > 0, "stype"] == "H").sum() == 1  # lonely in the subset
    u = np.random.default_rng(6).normal(size=(sub.n, 2))
    masks = _masks(sub.data)
    _close(sub.domain_plan(masks).total_vcov(u), _dense(sub, u, masks))
