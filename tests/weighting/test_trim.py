"""Trimming (R ``trimWeights``) on small weight vectors worked by hand.

R's rule (``survey:::trimWeights.survey.design2``): weights outside [lower,
upper] are set to the limit and the trimmed amount is spread equally over the
rows inside; ``strict = TRUE`` repeats this until no weight is outside. The
expected weights below follow that rule by hand; those of the unit design
agree with R 4.1-1 (``trimWeights(svydesign(id = ~1, weights = ~w, ...))``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ramlab.design import Design, ReplicateDesign
from ramlab.errors import BoundsError


def _design(w):
    return Design(pd.DataFrame({"x": np.arange(len(w), dtype=float), "w": w}), weights="w")


def test_trimming_is_one_round_unless_strict():
    d = _design([10.0, 10.0, 38.0, 60.0])
    # 60 -> 40, the 20 trimmed spread over three rows: 38 + 20/3 is above 40 again
    np.testing.assert_allclose(d.trim(upper=40).weights, [50 / 3, 50 / 3, 134 / 3, 40], rtol=1e-14)
    # strict: repeated until no weight is above 40; the total 118 is kept
    np.testing.assert_allclose(d.trim(upper=40, strict=True).weights, [19, 19, 40, 40], rtol=1e-12)


def test_trimming_with_a_lower_limit_only():
    # 10 -> 15; the 5 added is taken equally from the other two rows
    np.testing.assert_allclose(_design([10.0, 20.0, 30.0]).trim(lower=15).weights, [15, 17.5, 27.5],
                               rtol=1e-14)


def test_trimming_weights_below_one():
    # weights scaled to a mean of 1: every positive weight takes part
    got = _design([0.5, 0.5, 1.0, 2.0]).trim(upper=1.5).weights
    np.testing.assert_allclose(got, [2 / 3, 2 / 3, 7 / 6, 1.5], rtol=1e-14)


def test_equal_limits_and_a_single_row_inside():
    # R: trimWeights(lower = 20, upper = 20) on 10, 20, 30 gives 20, 20, 20
    np.testing.assert_allclose(_design([10.0, 20.0, 30.0]).trim(lower=20, upper=20).weights, [20, 20, 20])
    np.testing.assert_allclose(_design([10.0, 30.0, 50.0]).trim(lower=20, upper=40).weights, [20, 30, 40])


def test_trimming_errors_name_the_limits():
    d = _design([10.0, 50.0])
    with pytest.raises(BoundsError, match=r"^every weight is outside the limits \[20\.0, 40\.0\]$"):
        d.trim(lower=20, upper=40)
    with pytest.raises(BoundsError, match=r"^lower limit 50\.0 is above upper limit 40\.0$"):
        d.trim(lower=50, upper=40)


def test_strict_trimming_that_never_settles_says_so():
    # 1 / (1 / 49) is above 49 in floating point: R's strict recursion (it
    # stores 1/w) never ends on this limit; ramlab stops with an error.
    with pytest.raises(BoundsError, match=r"^trimming to \[-inf, 49\.0\] does not converge$"):
        _design([10.0, 10.0, 60.0]).trim(upper=49, strict=True)


def test_rows_outside_a_domain_keep_a_zero_weight():
    d = _design([10.0, 10.0, 38.0, 60.0, 25.0]).subset(np.array([True, True, True, True, False]))
    np.testing.assert_allclose(d.trim(upper=40).weights, [50 / 3, 50 / 3, 134 / 3, 40, 0], rtol=1e-14)


def test_every_replicate_is_trimmed_as_the_full_sample():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "w": [10.0, 10.0, 38.0, 60.0],
                       "r1": [0.0, 20.0, 38.0, 60.0], "r2": [20.0, 0.0, 30.0, 70.0]})
    d = ReplicateDesign(df, repweights=["r1", "r2"], type="JK1", weights="w")
    t = d.trim(upper=40)
    np.testing.assert_allclose(t.weights, [50 / 3, 50 / 3, 134 / 3, 40], rtol=1e-14)
    # each replicate's excess (20, 30) is spread over its two positive rows
    # inside; the row a replicate leaves out (weight 0) stays out
    np.testing.assert_allclose(t.replicate_weight_values, [[0, 35], [30, 0], [48, 45], [40, 40]],
                               rtol=1e-14)
    # strict: r1 is trimmed again until its total 118 is 38 + 40 + 40
    np.testing.assert_allclose(d.trim(upper=40, strict=True).replicate_weight_values[:, 0],
                               [0, 38, 40, 40], rtol=1e-12)


def test_trim_weights_default_is_one_round_and_no_replicates():
    from ramlab.weighting import trim_weights

    r = trim_weights(_design([10.0, 10.0, 38.0, 60.0]), upper=40)  # R's default strict = FALSE
    np.testing.assert_allclose(r.weights, [50 / 3, 50 / 3, 134 / 3, 40], rtol=1e-14)
    assert r.calibration is None and r.replicates is None
