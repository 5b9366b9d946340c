"""What ``ReplicateDesign`` (R ``svrepdesign``) refuses, and the options it keeps.

Errors name the column and the value (house rule: ramlab.errors); a design
built from columns keeps its type (R warns on jackknife quantile intervals,
``svyquantile.svyrep.design``) and its weight column (shown in JupyterLab).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design, ReplicateDesign
from ramlab.errors import ColumnNotFoundError, WeightError
from ramlab.weighting import Reweighting


def _jk1(n=4):
    """JK1 replicates of n rows: row i left out of replicate i, the others weigh n / (n - 1)."""
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0, 6.0][:n], "w": [2.0] * n, "g": ["a", "a", "b", "b"][:n],
                       "one": [1.0] * n})
    for i in range(n):
        df[f"r{i}"] = [0.0 if j == i else 2 * n / (n - 1) for j in range(n)]
    return df


def test_data_that_is_not_a_dataframe_is_refused():
    with pytest.raises(TypeError, match=r"^data must be a pandas DataFrame$"):
        ReplicateDesign(_jk1().to_numpy(), repweights="^r", type="JK1")


def test_an_unknown_type_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"^type must be one of \(.*'JK1'.*\), not 'jackknife'$"):
        ReplicateDesign(_jk1(), repweights="^r", type="jackknife")


def test_replicate_columns_that_do_not_exist_are_named():
    with pytest.raises(KeyError, match=r"no column of the data matches the replicate weights pattern '\^rep'"):
        ReplicateDesign(_jk1(), repweights="^rep", type="JK1")
    with pytest.raises(ColumnNotFoundError, match=r"^replicate weights column 'r9' is not in the data"):
        ReplicateDesign(_jk1(), repweights=["r0", "r9"], type="JK1")
    with pytest.raises(ValueError, match=r"^repweights names no column$"):
        ReplicateDesign(_jk1(), repweights=[], type="JK1")


def test_a_missing_replicate_weight_names_its_column():
    df = _jk1()
    df.loc[0, "r2"] = np.nan  # row 0, third column: the column is named, not the row
    with pytest.raises(WeightError, match=r"^replicate weight 'r2' has missing values$") as e:
        ReplicateDesign(df, repweights="^r", type="JK1")
    assert e.value.variable == "r2"


def test_missing_values_of_nullable_columns_are_weight_errors():
    df = _jk1()
    df["r1"] = pd.array([np.nan if i == 3 else v for i, v in enumerate(df["r1"])], dtype="Float64")
    with pytest.raises(WeightError, match=r"^replicate weight 'r1' has missing values$"):
        ReplicateDesign(df, repweights="^r", type="JK1")
    df = _jk1()
    df["r1"] = pd.Series([pd.NA if i == 3 else v for i, v in enumerate(df["r1"])], dtype=object)
    with pytest.raises(WeightError, match=r"^replicate weight 'r1' has missing values$"):
        ReplicateDesign(df, repweights="^r", type="JK1")
    for missing in (pd.array([2.0, None, 2.0, 2.0], dtype="Float64"), pd.Series([2.0, pd.NA, 2.0, 2.0], dtype=object)):
        df = _jk1()
        df["w"] = missing
        with pytest.raises(WeightError, match=r"^weight 'w' has 1 missing values$") as e:
            ReplicateDesign(df, repweights="^r", type="JK1", weights="w")
        assert e.value.variable == "w"


def test_a_weight_column_that_does_not_exist_is_named():
    with pytest.raises(ColumnNotFoundError, match=r"^weights column 'pw' is not in the data"):
        ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="pw")


def test_a_jackknife_design_from_columns_warns_on_quantile_intervals_as_r():
    """R ``svyquantile.svyrep.design``: "Jackknife replicate weights may not give valid standard errors"."""
    d = ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="w")
    assert d.type == "JK1"
    with pytest.warns(UserWarning, match="^Jackknife replicate weights may not give valid standard errors"):
        d.quantile("x", 0.5, ci=True, interval_type="quantile")


def test_the_weight_column_is_shown():
    html = ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="w")._repr_html_()
    assert "poids « w » tel que livré" in html
    html = ReplicateDesign(_jk1(), repweights="^r", type="JK1")._repr_html_()
    assert "aucun (poids égaux)" in html
    # a replicate design made from a weighted design names its weight column too
    html = Design(_jk1(), weights="w").replicate("JK1")._repr_html_()
    assert "poids « w » tel que livré" in html


STEPS = {c["id"]: c for c in R.load_json("extra_replicate_steps.json")["cases"]}


REP_DESIGNS = R.load_json("extra_replicate_steps.json")["designs"]


def _dclus1():
    spec = REP_DESIGNS["dclus1"]
    return Design(R.load_data(spec["data"]), ids=spec["ids"], weights=spec["weights"], fpc=spec["fpc"])


def test_replicates_of_a_domain_as_r():
    """R ``as.svrepdesign(subset(dclus1, stype == "E"), type = "JK1")``: replicates over every PSU."""
    r = STEPS["dclus1_subset_E_jk1"]["result"]
    d = _dclus1()
    rep = d.subset((d.data["stype"] == "E").to_numpy()).replicate("JK1")
    assert rep.type == "JK1" and rep.steps[0][0] == "subset"
    R.assert_close(rep.scale, r["scale"], 1e-12, what="scale")
    for kind, var in (("mean", "api00"), ("total", "enroll")):
        out = getattr(rep, kind)(var)
        R.assert_close(out["estimate"].to_numpy(), r[kind]["estimate"], 1e-10, what=f"{kind} estimate")
        R.assert_close(out["se"].to_numpy(), r[kind]["se"], 1e-10, what=f"{kind} SE")


def test_replicate_refuses_weights_given_by_apply_weighting():
    d = _dclus1()
    given = d.apply_weighting(Reweighting(d.weight_values * 2, None))
    with pytest.raises(ValueError, match=r"^the design was given weights by apply_weighting: replicate\(\) "
                                         r"cannot apply that step to the replicates; reweight the replicate design$"):
        given.replicate("JK1")


def test_a_replicate_design_needs_its_replicates_reweighted():
    rep = ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="w")
    with pytest.raises(ValueError, match=r"^a weighting of a replicate design must reweight its replicates$"):
        rep.apply_weighting(Reweighting(rep.weight_values * 2, None))


def test_a_raked_replicate_design_remembers_the_calibration_and_the_step():
    rep = ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="w")
    assert not rep.is_calibrated and rep.steps == ()
    raked = rep.rake({"g": {"a": 5.0, "b": 7.0}})
    assert raked.is_calibrated and len(raked.calibrations) == 1
    assert [s[0] for s in raked.steps] == ["rake"]
    np.testing.assert_allclose(raked.total("one")["estimate"], 12.0, rtol=1e-10)
    assert "calage sur marges (raking)" in raked._repr_html_()
    trimmed = raked.trim(lower=1.0, upper=4.0)  # R trimWeights: keeps the calibration
    assert len(trimmed.calibrations) == 1 and [s[0] for s in trimmed.steps] == ["rake", "trim"]


def test_from_replicates_defaults_and_weight_name():
    df = _jk1()
    reps = df[[f"r{i}" for i in range(4)]].to_numpy()
    rep = ReplicateDesign.from_replicates(df, df["w"].to_numpy(), reps, type="JK1", scale=0.75,
                                          rscales=np.ones(4), weight_name="w")
    assert rep.mse is False and rep.type == "JK1"
    assert "poids « w » tel que livré" in rep._repr_html_()
    # integers are the same numbers: the same estimates and SEs
    ints = ReplicateDesign.from_replicates(df, [2, 2, 2, 2], (reps * 3).astype(int), type="JK1", scale=0.75,
                                           rscales=[1, 1, 1, 1])
    floats = ReplicateDesign.from_replicates(df, [2.0] * 4, reps * 3.0, type="JK1", scale=0.75,
                                             rscales=np.ones(4))
    pd.testing.assert_frame_equal(ints.mean("x"), floats.mean("x"))
    pd.testing.assert_frame_equal(ints.total("x"), floats.total("x"))


@pytest.mark.parametrize("case_id", ["dstrat_nofpc_jkn", "lone1_jkn_adjust"])
def test_jkn_without_fpc_and_with_a_lonely_stratum_of_one_row_as_r(case_id):
    """R ``as.svrepdesign(type = "JKn")``: rscales (n_h - 1) / n_h without fpc; a lonely stratum of a
    single row under ``survey.lonely.psu = "adjust"`` (its fpc is read from that row)."""
    case = STEPS[case_id]
    spec, r = REP_DESIGNS[case["design"]], case["result"]
    data = R.load_data(spec["data"]) if isinstance(spec["data"], str) else pd.DataFrame(spec["data"])
    d = Design(data, ids=spec["ids"], strata=spec["strata"], weights=spec["weights"], fpc=spec["fpc"],
               lonely_psu="adjust")
    rep = d.replicate("JKn")
    R.assert_close(rep.rscales, r["rscales"], 1e-12, what="rscales")
    assert rep.scale == r["scale"] and rep.degf() == r["degf"]
    var = "api00" if case_id.startswith("dstrat") else "y"
    out = rep.mean(var)
    R.assert_close(out["estimate"].to_numpy(), r["mean"]["estimate"], 1e-10, what="mean")
    R.assert_close(out["se"].to_numpy(), r["mean"]["se"], 1e-10, what="mean SE")


def test_a_domain_and_a_weighting_keep_the_weight_column_and_the_base_weights():
    """``weight_name`` and ``base_weights`` (documented: the weights the design was
    constructed with, before domains and weighting) survive a domain and a weighting."""
    d = ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="w")
    for derived in (d.subset((d.data["g"] == "a").to_numpy()), d.poststratify("g", {"a": 10.0, "b": 6.0})):
        assert derived.weight_name == "w"
        np.testing.assert_array_equal(derived.base_weights, [2.0, 2.0, 2.0, 2.0])
        assert not np.array_equal(derived.weight_values, derived.base_weights)


def test_the_replicate_weights_cannot_be_changed_through_the_design():
    """Designs are immutable: derived designs share the replicate weights, so the array a
    design hands out is read-only (a write would change every design made from it)."""
    d = ReplicateDesign(_jk1(), repweights="^r", type="JK1", weights="w")
    se = d.mean("x")["se"].iloc[0]
    with pytest.raises(ValueError, match="read-only"):
        d.replicate_weight_values[0, 1] = 99.0
    assert d.mean("x")["se"].iloc[0] == se
