"""Standard errors of calibrated designs with weights of 0, before or after calibration.

R's ``svyrecvar`` residualises w_old / w_new; ramlab defines that ratio as 0
where the calibrated weight is 0 for a row of weight 0 in the sample, and
refuses the SE when a bounded calibration sends rows to its lower bound 0 (R
stops there). Those rows are ordinary input: the SE or the refusal must come
without numpy's divide-by-zero or 0 / 0 warnings.
"""

from __future__ import annotations

import warnings

import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import WeightError


def _apistrat_with_zero_weights():
    df = R.load_data("apistrat")
    df["w0"] = df["pw"].where(df.index % 10 != 0, 0.0)  # every tenth school weighs 0
    return Design(df, strata="stype", weights="w0", fpc="fpc")


def test_se_of_a_raked_design_with_rows_of_weight_0_is_quiet():
    d = _apistrat_with_zero_weights()
    raked = d.rake({"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = raked.mean("api00")
    assert out["se"].iloc[0] > 0


def test_se_of_a_calibration_bounded_at_0_is_refused_quietly():
    """Rows the calibration sends to 0 are refused (R stops; tests/weighting/test_calibration_model.py),
    without numpy warnings; the rows that weighed 0 before it are not counted among them."""
    d = _apistrat_with_zero_weights()
    cal = d.calibrate({"stype": {"E": 4421, "H": 755, "M": 1018}, "api99": 6194 * 700.0}, method="linear",
                      bounds=(0, 3))
    sent = int(((cal.weight_values == 0) & (d.weight_values > 0)).sum())
    assert sent > 0 and (d.weight_values == 0).sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(WeightError, match=rf"calibration 1 of 1 \(method 'linear'\) sends {sent} rows? "):
            cal.mean("api00")
