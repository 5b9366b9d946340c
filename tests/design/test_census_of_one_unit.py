"""A design whose only sampled unit is its whole population (fpc = 1) has no sampling variance.

R's ``svydesign`` refuses any design of one PSU ("Design has only one primary
sampling unit"); ramlab accepts it when the unit is a census, and then owes
the census contract: SE 0 (a census stratum adds no variance). Without an
fpc, one PSU is a lonely PSU (``LonelyPSUError``, as R's ``survey.lonely.psu
= "fail"``).
"""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import LonelyPSUError


@pytest.mark.parametrize("variables", [["enroll"], ["enroll", "api00"]])
def test_a_census_of_one_unit_has_standard_error_zero(variables):
    one = R.load_data("apistrat").iloc[[0]].reset_index(drop=True)  # `one` is 1: N = n = 1
    out = Design(one, fpc="one").total(variables)
    np.testing.assert_array_equal(out["estimate"].to_numpy(), one[variables].to_numpy(float)[0])
    np.testing.assert_array_equal(out["se"].to_numpy(), 0.0)


def test_one_unit_without_fpc_is_a_lonely_psu():
    one = R.load_data("apistrat").iloc[[0]].reset_index(drop=True)
    with pytest.raises(LonelyPSUError, match="has only one PSU at stage 1"):
        Design(one).total("enroll")
