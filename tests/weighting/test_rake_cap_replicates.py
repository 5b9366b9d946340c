"""Raking a replicate design with ``cap=``: every replicate's weights respect the cap.

R's ``rake`` has no limits on the weights (``trimWeights`` trims after the
fact and leaves the margins unmet; ``calibrate(bounds.const = TRUE)`` is
compared in ``test_rake_cap.py``), so this tests ramlab's documented
contract (:func:`ramlab.weighting.rake_weights`, ``cap``: w_i = clip(d_i
g_cell(i), lo, hi) with every margin met), which a replicate design applies to
each replicate (raked from its own weights, as R's ``rake`` of a
``svrepdesign``). Issue 15, mutation testing (tests/MUTATION.md).
"""

from __future__ import annotations

import numpy as np
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import BoundsError

MARGINS = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}}


def _sums(w, column):
    return {k: float(w[(column == k).to_numpy()].sum()) for k in column.cat.categories}


def test_every_replicate_of_a_capped_raking_respects_the_cap_and_the_margins():
    data = R.load_data("apiclus1")
    rep = Design(data, ids="dnum", weights="pw", fpc="fpc").replicate("JK1")
    free = rep.rake(MARGINS)
    capped = rep.rake(MARGINS, cap=(None, 80))
    # the full sample's raked weights (at most 67) are within the cap, some
    # replicates' (up to 97) are not
    assert free.weights.max() < 80 < free.replicate_weight_values.max()
    np.testing.assert_allclose(capped.weights, free.weights, rtol=1e-12)
    reps = capped.replicate_weight_values
    assert reps.max() <= 80 * (1 + 1e-12)
    for r in range(reps.shape[1]):
        for var, margin in MARGINS.items():
            got = _sums(reps[:, r], data[var])
            for category, target in margin.items():
                assert abs(got[category] - target) <= 1e-9 * target, (r, var, category)


def test_a_replicate_whose_rows_cannot_reach_a_target_within_the_cap_is_named():
    # cap 60: the full sample's 14 schools of type H can weigh 840 >= 755, but a
    # JK1 replicate that deletes a district with H schools keeps fewer of them
    data = R.load_data("apiclus1")
    rep = Design(data, ids="dnum", weights="pw", fpc="fpc").replicate("JK1")
    Design(data, ids="dnum", weights="pw", fpc="fpc").rake(MARGINS, cap=(None, 60))  # the full sample alone is fine
    h_rows = (rep.replicate_weight_values[(data["stype"] == "H").to_numpy()] > 0).sum(axis=0)
    first = int(np.flatnonzero(h_rows * 60 < 755)[0])  # the first replicate out of reach
    msg = (rf"^replicate {first + 1}: cap \(None, 60\) cannot be met: category 'H' of 'stype' "
           rf"has a target of 755\.0, but its {h_rows[first]} rows weigh at most {float(h_rows[first] * 60)!r}")
    with pytest.raises(BoundsError, match=msg):
        rep.rake(MARGINS, cap=(None, 60))
