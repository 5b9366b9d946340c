"""The record each weighting step leaves on the design (``Design.calibrations``), and the
replicate weights it returns.

Contract: :class:`ramlab.variance.Calibration` documents its ``method`` as
"rake", "linear", "raking", "logit" or "poststratify"; the refusal of a
linearised SE after a calibration that sends rows to a weight of 0 quotes it.
"""

from __future__ import annotations

import pytest

import _rref as R
from ramlab import Design
from ramlab.weighting import calibrate_weights, poststratify_weights, rake_weights, trim_weights

TYPES = {"E": 4421.0, "H": 755.0, "M": 1018.0}
SCHWIDE = {"No": 1072.0, "Yes": 5122.0}


def _dclus1():
    return Design(R.load_data("apiclus1"), ids="dnum", weights="pw", fpc="fpc")


STEPS = {
    "rake": lambda d: d.rake({"stype": TYPES, "sch.wide": SCHWIDE}),
    "linear": lambda d: d.calibrate({"stype": TYPES}, method="linear"),
    "raking": lambda d: d.calibrate({"stype": TYPES}, method="raking"),
    "logit": lambda d: d.calibrate({"stype": TYPES}, method="logit", bounds=(0.5, 2.0)),
    "poststratify": lambda d: d.poststratify("stype", TYPES),
}


@pytest.mark.parametrize("method", list(STEPS))
def test_each_weighting_step_records_its_documented_method(method):
    d = STEPS[method](_dclus1())
    assert len(d.calibrations) == 1
    assert d.calibrations[0].method == method
    # trimming keeps the records as they are (R's trimWeights)
    assert [c.method for c in d.trim(upper=200.0).calibrations] == [method]


def test_the_weighting_functions_give_no_replicate_weights_to_a_design_without_replicates():
    # Reweighting.replicates: the replicate weights of a replicate design, None otherwise
    d = _dclus1()
    assert rake_weights(d, {"stype": TYPES}).replicates is None
    assert calibrate_weights(d, {"stype": TYPES}).replicates is None
    assert poststratify_weights(d, "stype", TYPES).replicates is None
    assert trim_weights(d, upper=200.0).replicates is None
