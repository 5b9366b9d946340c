"""The factored domain covariance (used by banner tables) equals the dense one.

``Design.total_vcov(u, domains=...)`` groups rows by cell instead of forming
the (n, C*k) matrix of influence values crossed with domains. The dense path
is the one checked against R survey (tests/test_design.py, test_weighting.py);
here the factored path must give the same matrix on designs that exercise
each of its branches: strata with fpc, one or two calibrations, a domain of a
calibrated design, and a clustered design (which falls back to the dense path).
"""

import numpy as np
import pytest

from ramlab.design import Design
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
    with pytest.raises(ValueError, match="another design"):
        strat.total_vcov(rng.normal(size=(strat.n, 2)), domains=plan)
