"""Stacked years of a survey in tables (ramlab.stack, issue 12 item 9).

References: the published figures of PHARE-Associations 2015 (mécénat 67 %)
and IMPACT-Associations 2021 (mécénat 59 %), in ../shared/domain/IMPACT.md;
the stacked design's variance itself is checked against R survey in
tests/design/test_stack.py. A year's column of the stacked table must be
that year's own table (each year keeps its own design and calibration).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import ramlab
from ramlab import crosstab, tables
from ramlab.errors import RamlabError, TableError
from ramlab.format import round_half_up
from ramlab.io.survey import load_survey

PLAN = "Non, mais je pense le faire dans les 6 mois"


@pytest.fixture(scope="module")
def years():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rounded margins rescaled
        return {y: load_survey("associations", y) for y in (2015, 2021)}


@pytest.fixture(scope="module")
def stacked(years):
    return ramlab.stack(years)


def test_one_survey_with_a_year_column(years, stacked):
    assert len(stacked.data) == sum(s.n for s in years.values())
    assert list(stacked.data["year"].cat.categories) == [2015, 2021]
    # categories: the union, the latest edition's order first
    assert list(stacked.data["q8_1"].cat.categories) == [
        "Oui", PLAN, "Non, je n'en ai pas l'intention", "Non"]
    assert stacked.spec.questions["q8"].categories == list(stacked.data["q8_1"].cat.categories)
    assert {"partenariat", "q6", "q8"} <= set(stacked.spec.questions)
    np.testing.assert_allclose(
        stacked.design.weights.groupby(stacked.data["year"], observed=True).sum().to_numpy(),
        [s.design.weights.sum() for s in years.values()])


def test_crosstab_by_year_is_each_years_table_and_never_zero(years, stacked):
    t = crosstab(stacked, "q8_1", "year")
    col15, col21 = ("year", "2015"), ("year", "2021")
    # published figures: mécénat 67 % in 2015, 59 % in 2021
    assert round_half_up(100 * t.frame.loc[("q8_1", "", "Oui"), col15]) == 67
    assert round_half_up(100 * t.frame.loc[("q8_1", "", "Oui"), col21]) == 59
    for year, col in ((2015, col15), (2021, col21)):
        own = crosstab(years[year], "q8_1")
        for row in own.frame.index:
            if own.kinds[row] in ("category", "n", "base"):
                assert t.frame.loc[row, col] == pytest.approx(own.frame.loc[row, ("Total", "Ensemble")],
                                                              rel=1e-10)
                if own.kinds[row] == "category":
                    assert t.se.loc[row, col] == pytest.approx(own.se.loc[row, ("Total", "Ensemble")],
                                                               rel=1e-8)
    # an answer offered in one year only is missing in the other, never 0 %
    assert np.isnan(t.frame.loc[("q8_1", "", PLAN), col15])
    assert np.isnan(t.frame.loc[("q8_1", "", "Non"), col21])
    assert "%" not in t.display_frame().loc[("q8_1", "", PLAN), col15]
    # no mean row on an item of a yes/no grid (issue 12: only where the spec asks for one)
    assert ("q8_1", "", "Moyenne") not in t.frame.index
    # the change of "Oui" is tested; nothing on the answers not offered; no
    # test of association over structural zeros
    tested = set(t.tests["row"])
    assert tested == {"Oui"}
    assert t.chisq.empty


def test_change_tested_with_the_sum_of_the_variances(years, stacked):
    t = crosstab(stacked, "innovation", "year")
    assert len(t.chisq) == 1 and 0 < t.chisq["p_value"].iloc[0] < 1  # same answers both years
    row = ("innovation", "", "Total Oui")
    trend = tables.trend(years, "innovation")
    v = t.se.loc[row, ("year", "2015")] ** 2 + t.se.loc[row, ("year", "2021")] ** 2
    assert trend.se.loc[row, ("Évolution", "2015-2021")] == pytest.approx(np.sqrt(v), rel=1e-10)


def test_a_question_of_one_year(stacked):
    t = crosstab(stacked, "partenariat", "year")
    assert t.frame.loc[("partenariat", "", "Oui"), ("Total", "Ensemble")] == pytest.approx(
        t.frame.loc[("partenariat", "", "Oui"), ("year", "2015")])
    assert np.isnan(t.frame.loc[("partenariat", "", "Oui"), ("year", "2021")])


def test_trend_by_subgroup(years):
    t = tables.trend(years, "q8", by="taille")
    groups = list(years[2021].data["taille"].cat.categories)
    items = t.frame.index.get_level_values("item")
    for g in groups:
        assert any(str(i).startswith(f"{g} – ") for i in items)
    own = crosstab(years[2021], "q8", "taille")
    g = groups[0]
    item = own.frame.index[0][1]
    got = t.frame.loc[("q8", f"{g} – {item}", "Oui"), ("Année", "2021")]
    assert got == pytest.approx(own.frame.loc[("q8", item, "Oui"), ("taille", g)], rel=1e-10)
    assert t.frame.loc[("q8", f"{g} – {item}", "Oui"), ("Évolution", "2015-2021")] == pytest.approx(
        got - t.frame.loc[("q8", f"{g} – {item}", "Oui"), ("Année", "2015")])
    assert set(t.tests["item"]) >= {f"{g} – {item}"}
    with pytest.raises(TableError, match="'id'.*not a categorical"):
        tables.trend(years, "q8", by="id")


def test_stack_errors(years):
    with pytest.raises(RamlabError, match="two surveys"):
        ramlab.stack({2021: years[2021]})
    with pytest.raises(RamlabError, match="stack takes surveys"):
        ramlab.stack({2015: years[2015].design, 2021: years[2021]})
    with pytest.raises(RamlabError, match="already has a column 'taille'"):
        ramlab.stack(years, column="taille")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        maires = load_survey("maires", 2020)
    with pytest.raises(RamlabError, match="different studies.*across='surveys'"):
        ramlab.stack({2021: years[2021], 2020: maires})
    with pytest.raises(RamlabError, match="across must be"):
        ramlab.stack(years, across="populations")


def test_surveys_stacked_keep_each_their_base(years):
    """innovation is asked of the partners among associations, of every mayor: each keeps its own."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        maires = load_survey("maires", 2020)
    both = ramlab.stack({"associations": years[2021], "maires": maires}, column="population",
                        across="surveys")
    t = crosstab(both, "innovation", "population")
    for name, survey in (("associations", years[2021]), ("maires", maires)):
        own = crosstab(survey, "innovation")
        for row in ("Total Oui", "Base pondérée", "Base brute (effectif)"):
            assert t.frame.loc[("innovation", "", row), ("population", name)] == pytest.approx(
                own.frame.loc[("innovation", "", row), ("Total", "Ensemble")], rel=1e-10)


def test_stacked_repr_and_view(stacked):
    assert repr(stacked).startswith("<Survey associations 2015+2021: 2306 respondents")
    view = stacked._repr_html_()
    assert "2 calage(s) conservé(s)" in view and "strates" in view


def test_trend_of_stacked_years_against_r():
    """trend() on each year's own raked design = R's stacked design (extra_stack.R)."""
    import _rref as R

    from ramlab.design import Design

    X = R.load_json("extra_stack.json")
    cases = {c["id"]: c["result"] for c in X["cases"]}
    d15 = Design(R.load_data("apistrat"), strata="stype", weights="pw", fpc="fpc").rake(X["margins"])
    d21 = Design(R.load_data("apiclus1"), ids="dnum", weights="pw", fpc="fpc").rake(X["margins"])
    t = tables.trend({2015: d15, 2021: d21}, "stype")
    by_year = cases["stack_by_year_stype"]  # rows 2015, 2021; columns stypeE, stypeH, stypeM
    for pos, year in enumerate(("2015", "2021")):
        got = [t.frame.loc[("stype", "", s), ("Année", year)] for s in "EHM"]
        R.assert_close(got, np.asarray(by_year["estimate"])[pos], 1e-8, what=f"{year} estimates")
        got = [t.se.loc[("stype", "", s), ("Année", year)] for s in "EHM"]
        R.assert_close(got, np.asarray(by_year["se"])[pos], 1e-6, what=f"{year} SEs")
    change = cases["stack_change_stypeE"]
    row = t.tests[t.tests["row"] == "E"].iloc[0]
    R.assert_close(row["estimate"], change["estimate"], 1e-8, what="change")
    R.assert_close(row["se"], change["se"], 1e-6, what="change se")
    # the t test on the stacked design's df (R: degf(dstack))
    from scipy import stats

    degf = X["designs"]["dstack"]["degf"]
    assert row["df"] == degf
    p = 2 * stats.t.sf(abs(change["estimate"] / change["se"]), degf)
    R.assert_close(row["p_value"], p, 1e-5, what="p-value")


def test_trend_of_the_report_is_each_years_own_table(years, stacked):
    """The stacked trend: each year's figures are its own survey's, the change tested on the sum
    of the two variances and the sum of the two designs' df."""
    from scipy import stats

    t = tables.trend(stacked, "q8")
    assert tables.trend(years, "q8").frame.equals(t.frame)
    own = {y: crosstab(s, "q8") for y, s in years.items()}
    # rows matched on their data column and answer (2015 named an item differently)
    located = {y: dict(zip(o.questions["q8"].row_keys, o.frame.index)) for y, o in own.items()}
    tested = 0
    for rkey, key in zip(t.questions["q8"].row_keys, t.frame.index):
        if t.kinds[key] not in ("category", "net"):
            continue
        values = {}
        for y in (2015, 2021):
            if rkey in located[y]:
                at = located[y][rkey]
                values[y] = (own[y].frame.loc[at, ("Total", "Ensemble")],
                             own[y].se.loc[at, ("Total", "Ensemble")])
                assert t.frame.loc[key, ("Année", str(y))] == pytest.approx(values[y][0], rel=1e-10)
                assert t.se.loc[key, ("Année", str(y))] == pytest.approx(values[y][1], rel=1e-8)
            else:  # an answer of one edition only: missing the other year
                assert np.isnan(t.frame.loc[key, ("Année", str(y))])
        if len(values) < 2:
            assert np.isnan(t.frame.loc[key, ("Évolution", "2015-2021")])
            continue
        diff = values[2021][0] - values[2015][0]
        sd = np.hypot(values[2015][1], values[2021][1])
        df = years[2015].design.degf() + years[2021].design.degf()
        test = t.tests[(t.tests["item"] == key[1]) & (t.tests["row"] == key[2])].iloc[0]
        assert test["estimate"] == pytest.approx(diff, rel=1e-9)
        assert test["se"] == pytest.approx(sd, rel=1e-8)
        assert test["p_value"] == pytest.approx(2 * stats.t.sf(abs(diff) / sd, df), rel=1e-6)
        tested += 1
    assert tested >= 4
