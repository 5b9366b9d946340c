"""The bootstrap replicates of ``Design.replicate`` (R ``as.svrepdesign``,
``bootweights``, ``subbootweights``).

R's random numbers are not numpy's, so the replicates cannot be compared one
by one: tests/fixtures/r/extra_bootstrap.json (extra_bootstrap.R) records, from
R's own replicates, what R's algorithm fixes whatever the draws: each
stratum's PSU counts sum to n_h in every replicate, a census stratum and a
stratum of one PSU always get factor 1, every PSU is drawn by some replicate,
and the scale; and R's refusal of a subbootstrap with a stratum of one PSU.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import DesignError

BOOT = R.load_json("extra_bootstrap.json")
CASES = {c["id"]: c for c in BOOT["cases"]}


def _design(name):
    spec = BOOT["designs"][name]
    return Design(pd.DataFrame(spec["data"]), ids=spec["ids"], strata=spec["strata"], fpc=spec["fpc"],
                  weights=spec["weights"])


def _factors_by_stratum(design, rep):
    """{stratum: (PSUs x replicates) factors}, one row per PSU (its first row)."""
    data = design.data
    factors = rep.replicate_weight_values / design.weights.to_numpy()[:, None]
    first = ~data["psu"].duplicated().to_numpy()
    return {h: factors[first & (data["h"] == h).to_numpy()] for h in pd.unique(data["h"])}


@pytest.mark.parametrize("case_id", ["boot1_bootstrap_fpc", "boot1_bootstrap_nofpc", "boot2_subbootstrap"])
def test_bootstrap_replicates_keep_what_r_fixes_whatever_the_draws(case_id):
    case = CASES[case_id]
    design = _design(case["design"])
    rep = design.replicate(case["type"], replicates=case["replicates"], seed=5)
    r = case["result"]
    assert rep.n_replicates == r["n_replicates"]
    R.assert_close(rep.scale, r["scale"], 1e-12, what="scale")
    R.assert_close(rep.rscales, r["rscales"], 1e-12, what="rscales")
    by_stratum = _factors_by_stratum(design, rep)
    assert sorted(by_stratum) == sorted(r["strata"])
    for h, f in by_stratum.items():
        rs = r["strata"][h]
        assert f.shape[0] == rs["npsu"]
        # every replicate draws n_h PSUs of the stratum (n_h - 1, each counted n_h / (n_h - 1))
        R.assert_close(np.unique(np.round(f.sum(axis=0), 12)), rs["sums"], 1e-12, what=f"sums of {h}")
        assert (f.max(axis=1) > 0).all() == rs["every_psu_drawn"], h
        if "every_replicate_leaves_one_out" in rs:  # subbootstrap: n_h - 1 whole draws, times n_h / (n_h - 1)
            n = rs["npsu"]
            assert (f.min(axis=0) == 0).all() == rs["every_replicate_leaves_one_out"], h
            counts = f * (n - 1) / n
            np.testing.assert_allclose(counts, np.round(counts), atol=1e-12, err_msg=h)
            assert counts.max() <= max(rs["counts"]) == n - 1, h
        if "values" in rs and len(rs["values"]) == 1:  # a census stratum, a stratum of one PSU
            np.testing.assert_array_equal(f, rs["values"][0], err_msg=h)
        elif "values" in rs:
            # counts of whole draws, never more than the stratum's draws
            np.testing.assert_array_equal(f, np.round(f))
            assert f.min() >= 0 and f.max() <= rs["npsu"]


def test_bootstrap_with_fpc_draws_without_replacement_from_the_repeated_psus():
    """R: sample(rep(upsu, length = N_h), n_h): a PSU is drawn at most as often as it is repeated."""
    design = _design("boot1_fpc")
    f = _factors_by_stratum(design, design.replicate("bootstrap", replicates=200, seed=2))["C"]
    assert f.max() <= np.ceil(7 / 3)  # N_h = 7, n_h = 3


def test_subbootstrap_refuses_a_stratum_of_one_psu_naming_it():
    # R stops too (n_h / (n_h - 1) = Inf times no draw gives NaN replicate weights)
    assert CASES["boot1_subbootstrap_one_psu_stratum"]["result"]["error"]
    with pytest.raises(DesignError) as err:
        _design("boot1_nofpc").replicate("subbootstrap", seed=1)
    assert "'B'" in str(err.value) and "'h'" in str(err.value)
    assert err.value.variable == "h"


def test_which_psus_get_the_extra_copies_of_the_pool_is_random_as_r():
    """R's bootstratum shuffles the stratum's PSUs (sample(unique(psu))) before
    rep(upsu, length = N_h): with N_h = 7 and n_h = 3, the PSU repeated three times, the only
    one that can be drawn three times, is any of the three, not always the first."""
    design = _design("boot1_fpc")
    thrice = set()
    for seed in range(12):
        f = _factors_by_stratum(design, design.replicate("bootstrap", replicates=100, seed=seed))["C"]
        thrice |= set(np.flatnonzero((f == 3).any(axis=1)))
    assert thrice == {0, 1, 2}
