"""How a design reads its ids, strata and fpc (R ``svydesign``): the strata of later
stages, the weights an fpc implies. R reference: tests/fixtures/r/extra_structure.json
(extra_structure.R)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import _rref as R
from ramlab import Design
from ramlab.errors import LonelyPSUError, WeightError

X = R.load_json("extra_structure.json")
CASES = {c["id"]: c for c in X["cases"]}


def test_a_later_stage_stratum_is_named_by_its_parent_unit_as_r():
    """The strata of stage 2 are the districts: R names the one with a single school of 4
    "1.264" (the first stage's stratum, unstratified "1", then the district)."""
    case = CASES["dclus2_lonely_second_stage_unit"]
    r_label = re.search(r"Stratum \((.*?)\)", case["result"]["error"]).group(1)
    assert r_label == f"1.{case['district']}"
    data = R.load_data("apiclus2")
    data["fpc2_264"] = np.where(data["dnum"] == case["district"], 4, data["fpc2"])
    with pytest.raises(LonelyPSUError) as err:
        Design(data, ids=["dnum", "snum"], fpc=["fpc1", "fpc2_264"]).mean("api00")
    msg = str(err.value)
    assert re.search(rf"\({re.escape(r_label)}\)", msg) and re.search(r"\bstage 2\b", msg), msg


def test_weights_from_too_few_fpc_columns_are_refused_naming_them():
    with pytest.raises(WeightError) as err:
        Design(R.load_data("apiclus2"), ids=["dnum", "snum"], fpc="fpc1")
    msg = str(err.value)
    assert re.search(r"\bweights\b", msg) and "'fpc1'" in msg and re.search(r"\b2 stages\b", msg), msg
    assert err.value.variable == "fpc1"
