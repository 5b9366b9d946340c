"""Quantile point estimates against every ``qrule="math"`` case of R svyquantile.

quantile.json (quantile.R) computes each quantile under five interval types;
under ``qrule="math"`` (survey 4.1's default) the point estimate does not
depend on the interval type, so every such case checks
:func:`ramlab.tables.weighted_quantile` (the medians of banner tables). The
intervals, SEs and the ``"school"`` and ``"hf7"`` rules of ``d.quantile`` are
checked in tests/design/test_quantile.py.
"""

from __future__ import annotations

import pytest

import _rref as R
from ramlab.tables import weighted_quantile

Q = R.load_json("quantile.json")
MATH = [c for c in Q["cases"] if c["qrule"] == "math" and "by" not in c]


def test_every_interval_type_and_design_is_covered():
    assert {c["interval_type"] for c in MATH} == {"mean", "beta", "xlogit", "asin", "score"}
    assert {c["design"] for c in MATH} == {"dclus1", "dstrat", "dclus2"}
    assert len(MATH) == 18


@pytest.mark.parametrize("case", MATH, ids=lambda c: c["id"])
def test_quantile_point_estimate_equals_r(case):
    d = R.design_from_spec(Q["designs"][case["design"]])
    res = case["result"]
    for p, q in zip(res["probs"], res["quantile"]):
        # an order statistic of the data: equal, not close
        assert weighted_quantile(d.data[case["variable"]], d.weights, p) == q, (p, q)
