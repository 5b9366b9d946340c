"""The replicate variance of domains, against R (R ``svrVar``, ``[.svyrep.design``).

R: ``tests/fixtures/r/extra_replicate_variance.R``. A domain of a domain keeps
the rows of both; a replicate whose estimate is undefined (the domain has no
row it weighs) is left out of the variance, as R's ``svrVar`` discards NA
replicates with a warning; a replicate of rscale 0 leaves the centre.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import _rref as R
from ramlab import Design, ReplicateDesign
from ramlab.variance import replicate_vcov

FIX = R.load_json("extra_replicate_variance.json")
CASES = {c["id"]: c["result"] for c in FIX["cases"]}


def _rclus1():
    spec = FIX["designs"]["dclus1"]
    d = Design(R.load_data(spec["data"]), ids=spec["ids"], weights=spec["weights"], fpc=spec["fpc"])
    return d.replicate("JK1")


def _close(out, ref, what):
    R.assert_close(out["estimate"].to_numpy(), ref["estimate"], 1e-10, what=f"{what} estimate")
    R.assert_close(out["se"].to_numpy(), ref["se"], 1e-9, atol=1e-9, what=f"{what} SE")


def test_a_domain_of_a_domain_keeps_the_rows_of_both_as_r():
    r = CASES["subset_of_subset_jk1"]
    rep = _rclus1()
    data = rep.data
    # the second condition also holds for schools outside the first domain
    assert ((data["api00"] > 700) & (data["stype"] != "E")).any()
    dom = rep.subset((data["stype"] == "E").to_numpy()).subset((data["api00"] > 700).to_numpy())
    assert dom.n_held_rows == r["nrow"]
    assert dom.degf() == r["degf"]
    _close(dom.mean("api00"), r["mean"], "mean")
    _close(dom.total("enroll"), r["total"], "total")


def test_degrees_of_freedom_of_a_domain_of_one_row_and_of_none_as_r():
    rep = _rclus1()
    one = CASES["one_school_jk1"]
    assert rep.subset((rep.data["snum"] == one["snum"]).to_numpy()).degf() == one["degf"] == 0
    assert rep.subset((rep.data["api00"] > 2000).to_numpy()).degf() == CASES["empty_domain_jk1"]["degf"] == -1


@pytest.mark.parametrize("mse", [False, True], ids=["centre_mean", "mse"])
def test_a_replicate_of_rscale_0_leaves_the_centre_as_r(mse):
    """R ``svrVar``: the centre is the mean of the replicates with ``rscales > 0`` (or, mse, the estimate)."""
    spec = FIX["designs"]["small"]
    df = pd.DataFrame(spec["data"])
    d = ReplicateDesign(df, repweights=spec["repweights"], weights=spec["weights"], type=spec["type"],
                        scale=spec["scale"], rscales=spec["rscales"], mse=mse)
    r = CASES["other_rscales_with_zero" + ("_mse" if mse else "")]
    _close(d.mean("y"), r["mean"], "mean")
    _close(d.total("y"), r["total"], "total")


def _with_warnings(f):
    """f() and the messages of the warnings it gave (every one, numpy's too)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = f()
    return out, [str(w.message) for w in caught]


def test_a_replicate_without_rows_of_the_domain_is_discarded_as_r():
    """R ``svrVar``: the replicate that deletes the domain's only PSU gives NA; R discards it and warns."""
    r = CASES["one_school_jk1"]
    rep = _rclus1()
    one = rep.subset((rep.data["snum"] == r["snum"]).to_numpy())
    out, said = _with_warnings(lambda: one.mean("api00"))
    _close(out, r["mean"], "mean")
    assert said == r["mean_warning"] == ["1 replicates gave NA results and were discarded."]
    out, said = _with_warnings(lambda: one.ratio("api00", "enroll"))
    R.assert_close(out["estimate"].to_numpy(), r["ratio"]["estimate"], 1e-10, what="ratio")
    R.assert_close(out["se"].to_numpy(), r["ratio"]["se"], 0, atol=1e-12, what="ratio SE")
    assert said and set(said) == set(r["ratio_warning"])
    out, said = _with_warnings(lambda: one.total("enroll"))  # a total is never NA: no warning
    _close(out, r["total"], "total")
    assert said == []


def test_each_group_keeps_its_own_replicates_as_r_svyby():
    """R ``svyby(..., svymean)``: a group inside one district loses one replicate, the others none."""
    r = CASES["by_group_inside_one_psu_jk1"]
    rep = _rclus1()
    g = r["group_of"]
    data = rep.data
    groups = np.where(data[g["column"]] == g["value"], g["group"],
                      np.where(data["stype"] == "E", "E", "other"))
    spec = FIX["designs"]["dclus1"]
    d = Design(data.assign(g=groups), ids=spec["ids"], weights=spec["weights"], fpc=spec["fpc"])
    out, said = _with_warnings(lambda: d.replicate("JK1").mean("api00", by="g"))
    assert list(out.index) == r["groups"]
    R.assert_close(out["estimate"].to_numpy(), r["estimate"], 1e-10, what="estimates")
    R.assert_close(out["se"].to_numpy(), r["se"], 1e-9, atol=1e-9, what="SEs")
    assert said == r["warning"]


def test_covariance_with_a_group_that_lost_a_replicate_as_r():
    """R ``svyby(..., covmat = TRUE)`` on the groups of ``by_group_inside_one_psu_jk1``: the group
    inside one district ("one") has no estimate in the replicate deleting it. The entries of "one" are
    R's svrVar of the replicates where both groups have an estimate (a constant group: 0); each group's
    variance keeps its own replicates, as R's ``svyby`` SEs (R's covmat drops that replicate for every
    group, so its other entries differ)."""
    r = CASES["by_group_inside_one_psu_jk1_covmat"]
    own = CASES["by_group_inside_one_psu_jk1"]
    assert r["groups"] == own["groups"] == ["E", "one", "other"]
    thetas = np.array([[np.nan if v is None else v for v in row] for row in r["replicates"]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        V = replicate_vcov(thetas, scale=r["scale"], rscales=np.array(r["rscales"]), mse=False,
                           coef=np.array(r["estimate"]))
    assert [str(w.message) for w in caught] == [r["warning"][0]] == ["1 replicates gave NA results and were discarded."]
    ref = np.array(r["vcov"])
    R.assert_close(V[1], ref[1], 1e-9, atol=1e-9, what="covariances of the group inside one district")
    R.assert_close(V[:, 1], ref[:, 1], 1e-9, atol=1e-9, what="covariances of the group inside one district")
    R.assert_close(np.sqrt(np.diag(V)), own["se"], 1e-9, atol=1e-9, what="SEs of the groups")


def _nan_matrix(rows):
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _vcov_with_warnings(r, mse):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        V = replicate_vcov(_nan_matrix(r["thetas"]), scale=r["scale"], rscales=np.array(r["rscales"], dtype=float),
                           mse=mse, coef=np.atleast_1d(np.array(r["coef"], dtype=float)))
    return V, [str(w.message) for w in caught]


def test_each_entry_is_rs_svrvar_of_the_columns_it_involves():
    """R ``svrVar`` of two of three columns whose NaN replicates differ: each 2 x 2 block is R's;
    two columns without a common replicate have no covariance (R stops: "All replicates contained NAs")."""
    r = CASES["svrvar_three_patterns"]
    V, said = _vcov_with_warnings(r, mse=False)
    assert said and all(m.endswith(" replicates gave NA results and were discarded.") for m in said)  # no numpy warning
    p13, p23 = np.array(r["pair13"]["vcov"]), np.array(r["pair23"]["vcov"])
    R.assert_close(V[[0, 0, 2], [0, 2, 0]], [p13[0, 0], p13[0, 1], p13[1, 0]], 1e-12, what="columns 1 and 3")
    R.assert_close(V[[1, 1, 2], [1, 2, 1]], [p23[0, 0], p23[0, 1], p23[1, 0]], 1e-12, what="columns 2 and 3")
    R.assert_close(V[2, 2], r["col3"]["vcov"][0][0], 1e-12, what="column 3 alone")  # its four replicates
    assert r["pair12"] == "All replicates contained NAs"
    assert np.isnan(V[0, 1]) and np.isnan(V[1, 0])


@pytest.mark.parametrize("mse", [False, True])
def test_a_column_left_with_a_replicate_of_rscale_0_as_r(mse):
    """R ``svrVar``: the only estimate is in a replicate of rscale 0: centred on the mean of the
    replicates of positive rscale (none), NaN; centred on the full-sample estimate (mse), 0."""
    r = CASES["svrvar_only_rscale_0_left" + ("_mse" if mse else "")]
    V, said = _vcov_with_warnings(r, mse=mse)
    assert said == r["warning"] == ["3 replicates gave NA results and were discarded."]
    if mse:
        R.assert_close(V, r["vcov"], 1e-12, what="vcov")
    else:
        assert r["vcov"] == [[None]] and np.isnan(V).all()
