"""The public weighting functions stop after their documented default of 100 iterations.

``ramlab.weighting.rake_weights`` and ``calibrate_weights`` are public and
document ``max_iter=100`` (R ``rake``'s ``maxit`` is 10 and ``calibrate``'s 50:
ramlab's own contract). Each case below can never converge, so the error
reports the whole budget. Issue 15, mutation testing (tests/MUTATION.md).
"""

from __future__ import annotations

import pandas as pd
import pytest

from ramlab import ConvergenceError, Design
from ramlab.weighting import calibrate_weights, rake_weights


def test_raking_that_cannot_converge_stops_after_100_sweeps_by_default():
    # cells (a1, b1), (a1, b2), (a2, b1): a2 only with b1, so a2 <= b1 in any
    # weighting, and the margins a2 = 10 > b1 = 1 can only be approached
    df = pd.DataFrame({"a": pd.Categorical(["a1", "a1", "a2"]), "b": pd.Categorical(["b1", "b2", "b1"])})
    margins = {"a": {"a1": 1.0, "a2": 10.0}, "b": {"b1": 1.0, "b2": 10.0}}
    with pytest.raises(ConvergenceError, match=r"after 100 iterations") as info:
        rake_weights(Design(df), margins)
    assert info.value.iterations == 100


def test_calibration_that_cannot_converge_stops_after_100_iterations_by_default():
    # raking calibration keeps every weight positive: a negative total of a
    # positive variable is never reached
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ConvergenceError, match=r"after 100 iterations$") as info:
        calibrate_weights(Design(df), {"x": -1.0}, method="raking")
    assert info.value.iterations == 100


def test_the_design_methods_have_the_same_budget():
    """``Design.rake`` and ``Design.calibrate`` document ``max_iter=100`` too."""
    df = pd.DataFrame({"a": pd.Categorical(["a1", "a1", "a2"]), "b": pd.Categorical(["b1", "b2", "b1"])})
    with pytest.raises(ConvergenceError, match=r"after 100 iterations") as info:
        Design(df).rake({"a": {"a1": 1.0, "a2": 10.0}, "b": {"b1": 1.0, "b2": 10.0}})
    assert info.value.iterations == 100
    x = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ConvergenceError, match=r"after 100 iterations$") as info:
        Design(x).calibrate({"x": -1.0}, method="raking")
    assert info.value.iterations == 100


def test_the_design_method_passes_on_its_tolerance_and_budget():
    """``Design.calibrate(tol=, max_iter=)``: the caller's, not the defaults (1e-12, 100)."""
    import _rref as R

    d = Design(R.load_data("apistrat"), strata="stype", weights="pw", fpc="fpc")
    totals = {"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}}
    loose = d.calibrate(totals, method="raking", tol=1e-3, max_iter=2)  # 2 Newton steps: misfit 8.8e-5
    assert loose.total("awards")["estimate"].to_numpy() == pytest.approx([2027, 4167], rel=1e-3)
    with pytest.raises(ConvergenceError, match=r"after 2 iterations$"):
        d.calibrate(totals, method="raking", max_iter=2)
