"""Ratios, joint covariances, contrasts and variances against R survey.

Reference values: tests/fixtures/r/ratio.json, made by ratio.R (svyratio,
svymean/svytotal vcov, svycontrast, svyvar on dstrat, dclus1, the raked
dclus1 and its JK1 replicate design).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import _rref as R

RAT = R.load_json("ratio.json")


@lru_cache(maxsize=None)
def _design(name):
    spec = RAT["designs"][name]
    d = R.design_from_spec(spec)
    if "rake" in spec:
        d = d.rake(spec["rake"], tol=1e-12)
    if "replicate" in spec:
        d = d.replicate(**spec["replicate"])
    return d


def _cases(estimator):
    return [c for c in RAT["cases"] if c["estimator"] == estimator]


@pytest.mark.parametrize("case", _cases("ratio"), ids=lambda c: c["id"])
def test_ratio_against_r(case):
    out = _design(case["design"]).ratio(case["numerator"], case["denominator"], by=case.get("by"))
    r = case["result"]
    R.assert_close(out["estimate"].to_numpy(), np.ravel(r["estimate"]), 1e-8, what="ratio")
    R.assert_close(out["se"].to_numpy(), np.ravel(r["se"]), 1e-6, what="se")
    if case.get("by"):
        assert [str(g) for g in out.index] == r["groups"]


@pytest.mark.parametrize("case", _cases("mean_joint") + _cases("total_joint"), ids=lambda c: c["id"])
def test_joint_covariance_against_r(case):
    d = _design(case["design"])
    kind = case["estimator"].split("_")[0]
    frame, V = getattr(d, kind)(case["variables"], cov=True)
    r = case["result"]
    assert list(frame.index) == r["names"] == list(V.index)
    R.assert_close(frame["estimate"].to_numpy(), r["estimate"], 1e-8, what="estimates")
    R.assert_close(V.to_numpy(), np.asarray(r["vcov"]), 1e-6, what="covariance")
    np.testing.assert_allclose(frame["se"] ** 2, np.diag(V), rtol=1e-12)


@pytest.mark.parametrize("case", _cases("contrast"), ids=lambda c: c["id"])
def test_contrast_against_r(case):
    d = _design(case["design"])
    out, V = d.contrast(d.mean(case["variables"], cov=True), case["contrast"])
    r = case["result"]
    R.assert_close(out["estimate"].to_numpy(), np.ravel(r["estimate"]), 1e-8, what="contrast")
    R.assert_close(out["se"].to_numpy(), np.ravel(r["se"]), 1e-6, what="se")


@pytest.mark.parametrize("case", _cases("var"), ids=lambda c: c["id"])
def test_var_against_r(case):
    out = _design(case["design"]).var(case["variables"])
    r = case["result"]
    R.assert_close(out["estimate"].to_numpy(), np.ravel(r["estimate"]), 1e-8, what="variance")
    R.assert_close(out["se"].to_numpy(), np.ravel(r["se"]), 1e-6, what="se")


def test_contrast_expression_refuses_other_code():
    d = _design("dstrat")
    est = d.mean(["api00", "api99"], cov=True)
    with pytest.raises(ValueError, match="only numbers"):
        d.contrast(est, "__import__('os').getcwd()")
    with pytest.raises(KeyError, match="api98"):
        d.contrast(est, "api00 - api98")


def test_ratio_of_a_missing_value_is_nan_unless_left_out():
    d = _design("dstrat")
    data = d.data.copy()
    data.loc[data.index[0], "api99"] = np.nan
    from ramlab import Design

    d2 = Design(data, strata="stype", weights="pw", fpc="fpc")
    assert np.isnan(d2.ratio("api00", "api99")["estimate"].iloc[0])
    kept = d2.ratio("api00", "api99", na_rm=True)
    dom = d2.subset(data["api99"].notna()).ratio("api00", "api99")
    np.testing.assert_allclose(kept.to_numpy(), dom.to_numpy(), rtol=1e-12)
