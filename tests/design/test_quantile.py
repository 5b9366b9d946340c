"""Quantiles with Woodruff intervals against R 4.1 ``svyquantile``.

Reference values: tests/fixtures/r/quantile.json (quantile.R): three designs,
qrules math, school and hf7, interval types mean, beta, xlogit and asin, and
svyby medians.
"""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R

Q = R.load_json("quantile.json")
SUPPORTED = ("mean", "beta", "xlogit", "asin", "score")
CASES = [c for c in Q["cases"] if "by" not in c and c["interval_type"] in SUPPORTED]
BY = [c for c in Q["cases"] if "by" in c]


def _design(name):
    return R.design_from_spec(Q["designs"][name])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_quantile_and_interval_against_r(case):
    res = case["result"]
    out = _design(case["design"]).quantile(case["variable"], res["probs"], ci=True,
                                           interval_type=case["interval_type"], qrule=case["qrule"])
    R.assert_close(out["estimate"].to_numpy(), res["quantile"], 1e-8, what="quantile")
    R.assert_close(out["ci_low"].to_numpy(), res["ci_low"], 1e-6, what="ci_low")
    R.assert_close(out["ci_high"].to_numpy(), res["ci_high"], 1e-6, what="ci_high")
    R.assert_close(out["se"].to_numpy(), res["se"], 1e-6, what="se")


@pytest.mark.parametrize("case", BY, ids=lambda c: c["id"])
def test_by_medians_against_r(case):
    res = case["result"]
    out = _design(case["design"]).quantile(case["variable"], 0.5, ci=True, by=case["by"])
    assert [str(g) for g in out.index] == res["groups"]
    R.assert_close(out["estimate"].to_numpy(), res["quantile"], 1e-8, what="median")
    R.assert_close(out["se"].to_numpy(), res["se"], 1e-6, what="se")
    R.assert_close(out["ci_low"].to_numpy(), res["ci_low"], 1e-6, what="ci_low")
    R.assert_close(out["ci_high"].to_numpy(), res["ci_high"], 1e-6, what="ci_high")


def test_point_estimates_without_ci():
    d = _design("dclus1")
    out = d.quantile("api00", [0.25, 0.5])
    assert list(out.columns) == ["estimate"]
    with pytest.raises(ValueError, match="qrule"):
        d.quantile("api00", 0.5, qrule="hf9")
