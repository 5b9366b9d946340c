"""Bounded calibration of a replicate design whose weights R's grake rescales.

Every replicate is calibrated from its own weights (R
``calibrate.svyrep.design``); when all the ratios population total / sample
total of a replicate exceed 20, R rescales that replicate's weights by their
mean (the intercept's ratio included) and applies the bounds to g divided by
it. Reference: ``extra_rep_calibrate.json`` (R survey 4.1-1).
"""

from __future__ import annotations

import pytest

import _rref as R
from ramlab.design import Design

REF = R.load_json("extra_rep_calibrate.json")


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_replicates_calibrated_as_r_after_rescaling(case):
    d = Design(R.load_data("apiclus1"), ids="dnum").replicate("JK1")
    bounds = None if case["bounds"] is None else tuple(case["bounds"])
    c = d.calibrate(case["totals"], method=case["calfun"], bounds=bounds)
    R.assert_close(c.weights.to_numpy(), case["result"]["weights"], 1e-8, what="weights")
    R.assert_close(c.replicate_weight_values, case["result"]["replicate_weights"], 1e-8,
                   what="replicate weights")
