"""Design.replicate (R ``as.svrepdesign``): its refusals, the replicate types it
makes, and identities of the jackknife (R ``jk1weights``, ``jknweights``).

For totals the jackknife replicate variance equals the linearised one exactly
(each replicate deletes one PSU and reweights its stratum's others by
n_h / (n_h - 1)): with two PSUs of totals t1, t2, the JK1 variance is
(1/2) [(2 t2 - (t1 + t2))^2 + (2 t1 - (t1 + t2))^2] = (t1 - t2)^2, the
with-replacement linearised variance 2 [((t1 - t2) / 2)^2 + ((t2 - t1) / 2)^2].
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import DesignError
from ramlab.variance import REPLICATE_TYPES


def _strat(**kw):
    return Design(R.load_data("apistrat"), strata="stype", weights="pw", **kw)


def _clus(**kw):
    return Design(R.load_data("apiclus1"), ids="dnum", weights="pw", **kw)


def _scd():
    """R's scd: 3 strata of two ambulances (BRR and Fay need two PSUs per stratum)."""
    return Design(R.load_data("scd"), strata="ESA", ids="ambulance")


def _refusal(design, type, **kw):
    with pytest.raises(ValueError) as err:
        design.replicate(type, **kw)
    return str(err.value)


def test_refusals_name_the_type_and_the_type_to_use():
    msg = _refusal(_strat(), "JK1")
    assert re.search(r"\bJK1\b", msg) and re.search(r"type='JKn'(?!\w)", msg), msg
    msg = _refusal(_clus(), "JKn")
    assert re.search(r"\bJKn\b", msg) and re.search(r"type='JK1'(?!\w)", msg), msg
    for type in ("BRR", "Fay"):
        msg = _refusal(_clus(), type, rho=0.5)
        assert re.search(rf"\b{type}\b", msg) and "two PSUs" in msg, msg


@pytest.mark.parametrize("rho", [None, 0.0, 1.0, 1.5])
def test_fay_needs_rho_strictly_between_0_and_1(rho):
    msg = _refusal(_scd(), "Fay", rho=rho)
    assert re.search(r"\btype='Fay'", msg) and re.search(r"\brho\b", msg), msg
    assert re.search(r"\b0\b.*\b1\b", msg), msg


def test_jk1_refuses_more_than_one_fpc_naming_it():
    data = R.load_data("apiclus1")
    data["fpc2"] = np.where(data["dnum"] == data["dnum"].iloc[0], 700.0, 757.0)
    with pytest.raises(DesignError) as err:
        Design(data, ids="dnum", weights="pw", fpc="fpc2").replicate("JK1")
    msg = str(err.value)
    assert re.search(r"\bJK1\b", msg) and "'fpc2'" in msg and re.search(r"\b2 different\b", msg), msg
    assert err.value.variable == "fpc2"
    # R refuses too (jk1weights: "More than one fpc value given"); the same fpc everywhere is fine
    Design(data.assign(fpc2=757.0), ids="dnum", weights="pw", fpc="fpc2").replicate("JK1")


def test_jk1_of_two_psus_gives_the_textbook_variance_of_a_total():
    data = pd.DataFrame({"psu": ["a", "a", "b", "b", "b"], "y": [1.0, 2.0, 4.0, 5.0, 9.0],
                         "w": [2.0, 3.0, 1.0, 1.0, 2.0]})
    t1, t2 = 2 * 1 + 3 * 2, 4 + 5 + 2 * 9
    out = Design(data, ids="psu", weights="w").replicate("JK1").total("y")
    R.assert_close(out["estimate"].iloc[0], t1 + t2, 1e-14)
    R.assert_close(out["se"].iloc[0], abs(t1 - t2), 1e-12)


@pytest.mark.parametrize("type, kw, expected", [
    ("JK1", {}, "JK1"), ("JKn", {}, "JKn"), ("BRR", {}, "BRR"), ("Fay", {"rho": 0.5}, "Fay"),
    ("bootstrap", {"seed": 1}, "bootstrap"), ("subbootstrap", {"seed": 1}, "bootstrap")])
def test_replicate_types_are_replicate_design_types(type, kw, expected):
    """R's svrVar treats a subbootstrap as a bootstrap (scale 1 / (R - 1), rscales 1);
    ramlab's replicate types (REPLICATE_TYPES) have no other name for it."""
    if type in ("BRR", "Fay"):
        design = _scd()
    elif type == "JK1":
        design = _clus()
    else:
        design = _strat()
    rep = design.replicate(type, **kw)
    assert rep.type == expected and rep.type in REPLICATE_TYPES


@pytest.mark.parametrize("type", ["JK1", "JKn"])
def test_a_first_stage_with_replacement_is_quiet_and_has_the_linearised_variance(type):
    """An infinite population (a size of Inf, a sampling fraction of 0, as R's svydesign): no
    correction (factor 1), and no numpy warning."""
    data = R.load_data("apiclus1" if type == "JK1" else "apistrat")
    if type == "JK1":  # as a population size of Inf
        data["N"] = np.inf
        design = Design(data, ids="dnum", weights="pw", fpc="N")
    else:  # stratum E with replacement, the others without
        data["frac"] = np.where(data["stype"] == "E", 0.0, 1.0 / data["pw"])
        design = Design(data, strata="stype", weights="pw", fpc="frac")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = design.replicate(type)
        got = rep.total("enroll")
    lin = design.total("enroll")
    R.assert_close(got["estimate"].iloc[0], lin["estimate"].iloc[0], 1e-12)
    R.assert_close(got["se"].iloc[0], lin["se"].iloc[0], 1e-10)


def test_an_unknown_type_is_refused_with_the_choices():
    msg = _refusal(_clus(), "jk1")
    assert "'jk1'" in msg and all(re.search(rf"'{t}'", msg) for t in ("JK1", "JKn", "BRR", "Fay", "bootstrap",
                                                                     "subbootstrap")), msg
