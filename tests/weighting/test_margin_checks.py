"""Margins that cannot be met are refused with an error naming the variable and category.

Weights scaled to a mean below 1 and targets given as shares (below 1) are
usual; the checks must not depend on the size of the weights or targets.
"""

from __future__ import annotations

import pandas as pd
import pytest

from ramlab.design import Design
from ramlab.errors import BoundsError, MarginError


def _small_weights():
    df = pd.DataFrame({"a": pd.Categorical(["x", "x", "y", "y", "z"], categories=["x", "y", "z", "u"]),
                       "w": [0.5, 0.5, 0.4, 0.6, 0.8]})
    return Design(df, weights="w")


@pytest.mark.parametrize("margin, category, message", [
    # 'z' has one respondent of weight 0.8
    ({"x": 1.0, "y": 1.0}, "z", "margin of 'a': category 'z' has respondents but no target"),
    ({"x": 1.0, "y": 1.0, "z": 0.0}, "z", "margin of 'a': category 'z' has respondents but a target of 0"),
    # 'u' has no respondents and a target of 0.2
    ({"x": 0.3, "y": 0.3, "z": 0.2, "u": 0.2}, "u", "margin of 'a': category 'u' has no respondents (target 0.2)"),
])
def test_raking_refuses_a_category_its_sample_cannot_meet(margin, category, message):
    with pytest.raises(MarginError) as e:
        _small_weights().rake({"a": margin})
    assert str(e.value) == message
    assert e.value.variable == "a" and e.value.category == category


@pytest.mark.parametrize("bounds", [(1.0, None), (None, 1.0)])
@pytest.mark.parametrize("method", ["linear", "raking"])
def test_calibration_with_one_bound_it_cannot_meet_is_a_bounds_error(bounds, method):
    # x must go down (g < 1) and y up (g > 1): one bound at 1 forbids it
    with pytest.raises(BoundsError, match="cannot meet the totals within bounds"):
        _small_weights().calibrate({"a": {"x": 0.5, "y": 1.5, "z": 0.8}}, method=method, bounds=bounds)


def test_calibration_refuses_respondents_without_a_total():
    with pytest.raises(MarginError) as e:
        _small_weights().calibrate({"a": {"x": 1.0, "y": 1.0}})
    assert str(e.value) == "totals of 'a': category 'z' has respondents but no total"
    assert e.value.variable == "a" and e.value.category == "z"
