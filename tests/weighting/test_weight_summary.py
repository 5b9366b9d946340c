"""weight_summary against the textbook definitions it documents.

Kish (1965): design effect due to unequal weighting n * sum(w^2) / sum(w)^2
= 1 + CV^2 (CV with the population standard deviation), effective sample size
sum(w)^2 / sum(w^2). The expected values are computed here from the weights.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ramlab.design import Design
from ramlab.errors import WeightError
from ramlab.weighting import weight_summary

W = np.array([2.0, 3.0, 3.0, 8.0, 0.0])  # one row outside the domain (weight 0)


def _kish(w):
    w = w[w > 0]
    n, s, s2 = w.size, w.sum(), (w * w).sum()
    cv = np.sqrt(((w - w.mean()) ** 2).mean()) / w.mean()
    return {"n": n, "sum": s, "kish_deff": n * s2 / s**2, "n_eff": s**2 / s2,
            "efficiency": s**2 / (n * s2), "min": w.min(), "max": w.max(),
            "max_min_ratio": w.max() / w.min(), "cv": cv}


def test_weight_summary_of_a_design_is_kishs_on_its_weights():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0], "poids": W})
    s = weight_summary(Design(df, weights="poids"))
    expected = _kish(W)
    for key, value in expected.items():
        assert s[key] == pytest.approx(value, rel=1e-14), key
    assert s["n"] == 4 and s["sum"] == 16.0 and s["max_min_ratio"] == 4.0
    # Kish's identity: deff = 1 + CV^2 (population form of the CV)
    assert s["kish_deff"] == pytest.approx(1 + s["cv"] ** 2, rel=1e-14)


def test_weight_summary_of_numbers_held_as_python_objects():
    # a column built from mixed Python values has dtype object
    s = weight_summary(pd.Series([2, 3.0, 3, 8.0, 0], dtype=object))
    assert s["kish_deff"] == pytest.approx(_kish(W)["kish_deff"], rel=1e-14)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, -1.0])
def test_weight_summary_refuses_missing_infinite_and_negative_weights(bad):
    w = pd.Series([1.0, 2.0, bad], name="poids")
    with pytest.raises(WeightError, match=r"^weights must be finite and non-negative$") as e:
        weight_summary(w)
    assert e.value.variable == "poids"
    with pytest.raises(WeightError, match=r"^weights must be finite and non-negative$") as e:
        weight_summary([1.0, 2.0, bad])  # a list has no name
    assert e.value.variable is None


def test_weight_summary_without_positive_weights_is_empty_and_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division-by-zero or empty-array warning
        s = weight_summary([0.0, 0.0])
    assert s["n"] == 0 and s["sum"] == 0
    assert s.drop(["n", "sum"]).isna().all()
