"""Issue 12, B10: numbers out of a table (tidy frame, CSV, numeric Excel cells, intervals)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import _rref as R
from ramlab.tables import banner, crosstab

ESTIMATION = R.load_json("estimation.json")


@pytest.fixture(scope="module")
def table():
    d = R.design_from_spec(ESTIMATION["designs"]["dclus1"])
    return banner(d, ["sch.wide", "api00"], ["stype"], min_base=0)


def test_tidy_has_one_row_per_cell(table):
    tidy = table.to_frame("tidy")
    shown = ~table.kinds.isin(["n", "base"])
    assert len(tidy) == shown.sum() * len(table.columns)
    assert list(tidy.columns[:6]) == ["question", "item", "category", "kind", "variable", "group"]
    for rec in tidy.itertuples():
        key = (rec.question, rec.item, rec.category)
        col = (rec.variable, rec.group)
        assert rec.estimate == table.frame.loc[key, col]
        assert rec.se == table.se.loc[key, col] or np.isnan(rec.se) and np.isnan(table.se.loc[key, col])
        assert rec.marks == table.marks.loc[key, col]
        assert rec.n == table.frame.loc[(rec.question, rec.item, "Base brute (effectif)"), col]
        assert rec.weighted_base == table.frame.loc[(rec.question, rec.item, "Base pondérée"), col]


def test_tidy_intervals(table):
    tidy = table.to_frame("tidy")
    qt = stats.t.ppf(0.975, table.options.df)
    pct = tidy[tidy["kind"] == "category"]
    p, se = pct["estimate"].to_numpy(), pct["se"].to_numpy()
    # R svyciprop(method = "xlogit"): t interval on the logit scale, back-transformed
    centre, half = np.log(p / (1 - p)), qt * se / (p * (1 - p))
    np.testing.assert_allclose(pct["ci_low"], 1 / (1 + np.exp(-(centre - half))), rtol=1e-12)
    np.testing.assert_allclose(pct["ci_high"], 1 / (1 + np.exp(-(centre + half))), rtol=1e-12)
    assert ((pct["ci_low"] > 0) & (pct["ci_high"] < 1)).all()
    mean = tidy[tidy["kind"] == "mean"]
    np.testing.assert_allclose(mean["ci_low"], mean["estimate"] - qt * mean["se"], rtol=1e-12)
    # a median: R svyquantile's Woodruff interval (the total column: the whole design's)
    median = tidy[(tidy["kind"] == "median") & (tidy["variable"] == "Total")]
    r = next(c for c in R.load_json("quantile.json")["cases"] if c["id"] == "dclus1_median_api00_default")
    assert median[["ci_low", "ci_high"]].values.ravel().tolist() == [r["result"]["ci_low"][0],
                                                                      r["result"]["ci_high"][0]]


def test_csv_and_dataframe(table):
    tidy = table.to_frame("tidy")
    back = pd.read_csv(io.StringIO(table.to_csv()), keep_default_na=False, na_values=[""])
    np.testing.assert_allclose(back["estimate"], tidy["estimate"], rtol=1e-15)
    assert list(back.columns) == list(tidy.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(table), tidy, check_dtype=False)
    pd.testing.assert_frame_equal(table.to_frame(), table.frame)


def test_excel_cells_are_numbers_with_formats(table, tmp_path):
    from openpyxl import load_workbook

    table.to_excel(tmp_path / "t.xlsx")
    sheet = load_workbook(tmp_path / "t.xlsx")["sch.wide"]
    rows = {r[0].value: r[1:] for r in sheet.iter_rows() if r[0].value}
    yes = rows["Yes"]
    values = [c.value for c in yes]
    np.testing.assert_allclose(values, table.frame.loc[("sch.wide", "", "Yes")].to_numpy(), rtol=1e-15)
    assert all(c.number_format.startswith("0%") for c in yes)
    marks = table.marks.loc[("sch.wide", "", "Yes")].to_numpy()
    for cell, mark in zip(yes, marks):
        assert (f'" {mark}"' in cell.number_format) == bool(mark)
    n = [c.value for c in rows["Base brute (effectif)"]]
    assert n == list(table.frame.loc[("sch.wide", "", "Base brute (effectif)")])
    api = {r[0].value: r[1:] for r in load_workbook(tmp_path / "t.xlsx")["api00"].iter_rows() if r[0].value}
    means = table.to_frame("tidy").query("kind == 'mean'")
    assert [c.value for c in api["Moyenne"]] == pytest.approx(list(means["estimate"]), rel=1e-15)
    assert all(c.number_format.startswith("0.0") for c in api["Moyenne"])


def test_ci_on_request(table):
    d = R.design_from_spec(ESTIMATION["designs"]["dclus1"])
    t = crosstab(d, "sch.wide", "stype", ci=True, min_base=0)
    low, high = t.to_frame("tidy").iloc[0][["ci_low", "ci_high"]]
    text = t.display_frame().iloc[0, 0]
    assert text.endswith(f"[{round(100 * low)} ; {round(100 * high)}]")
    assert any("intervalle de confiance" in line for line in t.notes("sch.wide"))
    assert "[" not in crosstab(d, "sch.wide", "stype", min_base=0).display_frame().iloc[0, 0]
