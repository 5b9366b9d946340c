"""Rao-Scott tests of banner tables on calibrated designs, against R's ``svychisq``.

On a calibrated, linearised design the banner takes each test's cell totals
and their covariance from the question's joint covariance (the cells are
atoms of the question) instead of building a domain design per test. The
references (tests/fixtures/r/extra_banner_chisq.R) are R's
``svychisq(~item + banner, subset(design, sub-base), statistic = "F")`` for a
single-choice question with an excluded "NSP", the items of a grid and of a
multi-response question, on dstrat and dclus1 calibrated by raking, and on
dstrat itself and the JK1 replicates of dclus1, where each test is made on
its domain design. A
multi-response item's test is that of the percentage the table shows: chosen
against not chosen on the question's respondents (R:
``svychisq(~chosen + banner, subset(update(design, chosen = item %in% "Oui"),
respondents))``), whatever the item's categories.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from _rref import assert_close, design_from_spec, load_json
from ramlab.io.spec import Base, Question
from ramlab.tables import banner

CASES = {c["id"]: c for c in load_json("extra_banner_chisq.json")["cases"]}
BANNER = ["stype", "yr.rnd"]


def _answers(df):
    """The answers of extra_banner_chisq.R (its notes), from the api columns."""
    df = df.copy()
    snum = df["snum"].to_numpy()

    def yes_no(yes, nsp, na=None):
        x = np.where(yes, "Oui", "Non").astype(object)
        x[nsp] = "NSP"
        if na is not None:
            x[na] = None
        return pd.Categorical(x, categories=["Oui", "Non", "NSP"])

    opin = np.where(df["api99"] < 600, "bas", np.where(df["api99"] < 750, "moyen", "haut")).astype(object)
    opin[snum % 5 == 0] = "NSP"
    opin[snum % 11 == 0] = None
    df["opin"] = pd.Categorical(opin, categories=["bas", "moyen", "haut", "NSP"])
    df["g1"] = yes_no(df["api00"] > 650, snum % 6 == 0)
    df["g2"] = yes_no(df["meals"] < 40, snum % 4 == 1, snum % 9 == 0)
    df["g3"] = yes_no(df["ell"] < 15, snum % 7 == 3)
    asked = (df["api00"] > 550).to_numpy()

    def item(yes):
        return pd.Categorical(np.where(asked, np.where(yes, "Oui", "Non"), None), categories=["Non", "Oui"])

    df["m1"], df["m2"], df["m3"] = item(df["api99"] > 650), item(df["meals"] > 50), item(df["enroll"] > 500)
    outside = (df["api00"] <= 600).to_numpy()
    df["d1"], df["d2"], df["d3"] = df["m1"].copy(), df["m2"].copy(), df["m3"].copy()
    df.loc[outside & (snum % 2 == 0), "d1"] = np.nan
    df.loc[outside & (snum % 3 == 0), "d2"] = np.nan
    df.loc[snum % 5 == 1, "d3"] = np.nan
    df["n1"] = yes_no(df["api99"] > 700, snum % 4 == 0, snum % 13 == 0)
    df["n2"] = yes_no(df["meals"] > 40, snum % 6 == 0, snum % 10 == 3)
    for c in ("m1", "m2", "d1", "d2"):  # the same answers, levels Oui, Non
        df[c + "r"] = df[c].cat.reorder_categories(["Oui", "Non"])
    # not categorical: the single-choice answers as text, the items as 0/1
    df["opin_txt"] = df["opin"].astype(object).where(df["opin"].notna(), None)
    for c in ("m1", "m2"):
        df[c + "f"] = np.where(df[c].isna(), np.nan, (df[c] == "Oui").astype(float))
    return df


def _calibrated(name):
    spec = load_json("extra_banner_chisq.json")["designs"][name.split("_")[0]]
    d = design_from_spec(spec)
    d = type(d)(_answers(d.data), weights=spec.get("weights"), ids=spec.get("ids"),
                strata=spec.get("strata"), fpc=spec.get("fpc"))
    if name == "dstrat":
        return d
    if name == "dclus1_jk1":  # R: as.svrepdesign(dclus1, type = "JK1")
        return d.replicate("JK1")
    if name == "dstrat_calraked":
        totals = {"sch.wide": {"No": 1072, "Yes": 5122}, "awards": {"No": 2027, "Yes": 4167}}
    else:
        totals = {"stype": {"E": 4421, "H": 755, "M": 1018}, "sch.wide": {"No": 1072, "Yes": 5122}}
    return d.calibrate(totals, method="raking", tol=1e-12, max_iter=1000)


ITEMS = {"g1": "Objectifs", "g2": "Repas", "g3": "Langue", "m1": "Progrès", "m2": "Cantine",
         "m3": "Effectif", "d1": "Progrès", "d2": "Cantine", "d3": "Effectif", "n1": "Progrès",
         "n2": "Cantine"}
ITEMS.update({c + suffix: ITEMS[c] for c in ("m1", "m2", "d1", "d2") for suffix in "rf"})


def _multi(qid, columns, **options):
    return Question(id=qid, text="Choix multiples", type="multi", columns=columns,
                    item_labels={c: ITEMS[c] for c in columns}, **options)


def _spec():
    opin = dict(categories=["bas", "moyen", "haut", "NSP"], missing=["NSP"])
    questions = [
        Question(id="opin", text="Opinion", type="single", columns=("opin",), **opin),
        Question(id="opin_txt", text="Opinion", type="single", columns=("opin_txt",), **opin),
        Question(id="g", text="Grille", type="grid", columns=("g1", "g2", "g3"),
                 item_labels={c: ITEMS[c] for c in ("g1", "g2", "g3")},
                 categories=["Oui", "Non", "NSP"], missing=["NSP"]),
        _multi("m", ("m1", "m2", "m3")),
        _multi("mr", ("m1r", "m2r")),  # "Oui" is the first category
        _multi("mf", ("m1f", "m2f")),  # 0/1 columns
        _multi("dm", ("d1", "d2", "d3")),
        _multi("dmr", ("d1r", "d2r")),
        _multi("n", ("n1", "n2"), missing=["NSP"]),  # Oui/Non/NSP, NSP excluded
    ]
    return SimpleNamespace(questions={q.id: q for q in questions},
                           bases={"ensemble": Base("ensemble", "Ensemble")},
                           study={"unit": "écoles", "source": "Source : données api (R survey)"})


def _check(table, question, item, case_id):
    res = CASES[case_id]["result"]
    by = CASES[case_id]["by"]
    rows = table.chisq[(table.chisq["question"] == question) & (table.chisq["item"] == item)
                       & (table.chisq["variable"] == by)]
    assert len(rows) == 1, (question, item, by)
    row = rows.iloc[0]
    assert_close([row["statistic"], row["ndf"], row["ddf"], row["p_value"]],
                 [res["statistic"], res["parameter"]["ndf"], res["parameter"]["ddf"], res["p_value"]],
                 1e-6, what=case_id)


@pytest.fixture(scope="module", params=["dstrat_calraked", "dclus1_calraked", "dstrat", "dclus1_jk1"])
def calibrated(request):
    return request.param, _calibrated(request.param)


def test_banner_rao_scott_of_single_grid_and_multi_items_on_a_calibrated_design_is_rs(calibrated):
    name, d = calibrated
    t = banner(d, ["opin", "opin_txt", "g", "m", "mr", "mf"], BANNER, spec=_spec(), min_base=0)
    assert len(t.chisq) == 2 * (2 + 3 + 3 + 2 + 2)
    for by in BANNER:
        for q in ("opin", "opin_txt"):  # categorical or text: the same test
            _check(t, q, "", f"{name}_opin_{by}")
        for g in ("g1", "g2", "g3"):
            _check(t, "g", ITEMS[g], f"{name}_{g}_{by}")
        for q, items in (("m", ("m1", "m2", "m3")), ("mr", ("m1r", "m2r")), ("mf", ("m1", "m2"))):
            for m in items:
                _check(t, q, ITEMS[m], f"{name}_{m}_{by}")


def test_banner_rao_scott_with_the_missing_answer_shown_keeps_it_as_a_level(calibrated):
    name, d = calibrated
    t = banner(d, ["opin"], BANNER, spec=_spec(), min_base=0, show_missing=True)
    for by in BANNER:
        _check(t, "opin", "", f"{name}_opin_shown_{by}")


def test_banner_rao_scott_of_multi_items_on_a_domain_of_a_calibrated_design_is_rs(calibrated):
    # outside the domain (weight 0) some rows answer one item and not another;
    # inside it, d3 is missing for some who answer d1 and d2
    name, d = calibrated
    dom = d.subset(d.data["api00"] > 600)
    t = banner(dom, ["dm", "dmr"], BANNER, spec=_spec(), min_base=0)
    for by in BANNER:
        for q, items in (("dm", ("d1", "d2", "d3")), ("dmr", ("d1r", "d2r"))):
            for m in items:
                _check(t, q, ITEMS[m], f"{name}_{m}_domain_{by}")


def test_banner_rao_scott_on_data_whose_index_is_not_0_to_n_is_rs():
    # a design built from a filtered or re-indexed data frame: the test's
    # domain design must follow the rows, not positions (chisq.json, R svychisq)
    spec = load_json("chisq.json")["designs"]["dstrat"]
    d = design_from_spec(spec)
    data = d.data.copy()
    data.index = [f"école {k}" for k in range(len(data) - 1, -1, -1)]
    d = type(d)(data, weights=spec["weights"], strata=spec["strata"], fpc=spec["fpc"])
    t = banner(d, ["sch.wide"], ["stype"], min_base=0)
    res = next(c for c in load_json("chisq.json")["cases"] if c["id"] == "dstrat_sch.wide_stype_F")["result"]
    row = t.chisq.iloc[0]
    assert_close([row["statistic"], row["ndf"], row["ddf"], row["p_value"]],
                 [res["statistic"], res["parameter"]["ndf"], res["parameter"]["ddf"], res["p_value"]], 1e-6)


def test_banner_rao_scott_of_a_multi_item_coded_oui_non_nsp_tests_its_percentage_as_r(calibrated):
    # items of three categories, "NSP" excluded: a respondent who answered
    # "NSP" or nothing to this item but answered the other one is "not chosen",
    # as in the item's percentage; who answered neither is out of its base
    name, d = calibrated
    t = banner(d, ["n"], BANNER, spec=_spec(), min_base=0)
    assert len(t.chisq) == 2 * 2
    for by in BANNER:
        for m in ("n1", "n2"):
            _check(t, "n", ITEMS[m], f"{name}_{m}_{by}")


def test_banner_rao_scott_of_multi_items_on_data_whose_index_is_not_0_to_n_is_rs():
    # the "chosen" indicator of a multi-response item is a Series on the
    # data's index (not positions): data indexed by text in reverse order,
    # dstrat uncalibrated (each test on its domain design), R's svychisq
    spec = load_json("extra_banner_chisq.json")["designs"]["dstrat"]
    d = design_from_spec(spec)
    data = _answers(d.data)
    data.index = [f"école {k}" for k in range(len(data) - 1, -1, -1)]
    d = type(d)(data, weights=spec.get("weights"), ids=spec.get("ids"),
                strata=spec.get("strata"), fpc=spec.get("fpc"))
    t = banner(d, ["m", "n"], BANNER, spec=_spec(), min_base=0)
    for by in BANNER:
        for q, items in (("m", ("m1", "m2", "m3")), ("n", ("n1", "n2"))):
            for m in items:
                _check(t, q, ITEMS[m], f"dstrat_{m}_{by}")
