"""The record each weighting step leaves on the design (``Design.calibrations``).

Contract: :class:`ramlab.variance.Calibration` documents its ``method`` as
"rake", "linear", "raking", "logit" or "poststratify"; the refusal of a
linearised SE after a calibration that sends rows to a weight of 0 quotes it.
"""

from __future__ import annotations

import pytest

import _rref as R
from ramlab import Design

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
