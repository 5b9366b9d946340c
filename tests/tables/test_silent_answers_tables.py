"""Issue 12, part A, in tables and surveys: numeric groupings, the base notes, errors.

Each test fails on the code before the fix. The figures are the published
ones of IMPACT-Associations 2021 (148 429 associations; 147 511 with a
partnership or planning one), which the shipped synthetic file reproduces.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ramlab import crosstab, load_survey
from ramlab.errors import SpecError, TableError
from ramlab.format import fmt_int


@pytest.fixture(scope="module")
def s():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_survey("associations", 2021)


# -- 1. a numeric column used as categories -------------------------------------------
@pytest.mark.parametrize("col", ["poids", "id"])
def test_numeric_banner_variable_is_an_error(s, col):
    with pytest.raises(TableError, match=rf"'{col}' is a float64 column.*pd\.cut.*astype\('category'\)"):
        crosstab(s, "q8_1", col)


def test_labelled_integer_codes_make_a_banner(s):
    data = s.data.assign(code=s.data["taille"].cat.codes.astype(float) + 1)
    data.attrs = dict(s.data.attrs, value_labels={"code": {1: "a", 2: "b", 3: "c"}})
    from ramlab.design import Design

    d = Design(data, weights=s.design.weights)
    by_code = crosstab(d, "q8_1", "code", chisq=False)
    by_size = crosstab(d, "q8_1", "taille", chisq=False)
    np.testing.assert_array_equal(by_code.frame.to_numpy(), by_size.frame.to_numpy())


# -- 2. bases in the notes ----------------------------------------------------------------
def _base_row(t, q):
    return float(t.frame.loc[(q, "", "Base pondérée")].iloc[0])


def test_note_of_a_grid_item_is_its_question_base(s):
    t = crosstab(s, "q8_1", "taille")
    assert round(_base_row(t, "q8_1")) == 147511
    line = t.notes("q8_1")[0]
    assert line == f"Base : {s.spec.bases['partenaires'].label} ({fmt_int(147511)} associations)"


def test_note_on_a_domain_names_the_domain_and_keeps_the_source(s):
    t = crosstab(s.domain("partenaires"), "q8_1", "taille")
    notes = t.notes("q8_1")
    assert notes[0] == f"Base : {s.spec.bases['partenaires'].label} ({fmt_int(147511)} associations)"
    assert any(line.startswith("Source") for line in notes)


def test_note_of_a_column_with_missing_answers_counts_those_who_answer(s):
    data = s.data.copy()
    data.attrs = dict(s.data.attrs)
    from ramlab.design import Design

    d = Design(data, weights=s.design.weights)
    t = crosstab(d, "q8_1", "taille")
    answered = s.design.weights[s.data["q8_1"].notna()].sum()
    assert t.notes("q8_1")[0] == f"Base : Répondants à la question ({fmt_int(answered)} répondants)"
    assert _base_row(t, "q8_1") == pytest.approx(answered)


# -- 7. consistent errors ---------------------------------------------------------------
def test_misspelled_base_names_the_bases(s):
    with pytest.raises(SpecError, match=r"'partenaire' is not a base.*'partenaires'"):
        s.domain("partenaire")


def test_domain_of_a_mask(s):
    mask = s.data["taille"] == "Moins de 10 salariés"
    by_mask = s.domain(mask).mean("q8_1", na_rm=True)
    by_subset = s.design.subset(mask).mean("q8_1", na_rm=True)
    pd.testing.assert_frame_equal(by_mask, by_subset)
    t = crosstab(s.domain(mask), "q6_1")
    assert t.notes("q6_1")[0].startswith("Base : Sous-population (")


def test_crosstab_with_several_breakdowns_is_a_banner(s):
    t = crosstab(s, "q8_1", ["taille", "secteur"], chisq=False)
    assert set(t.frame.columns.get_level_values("variable")) == {"Total", "taille", "secteur"}
    single = crosstab(s, "q8_1", "secteur", chisq=False)
    np.testing.assert_allclose(t.frame["secteur"].to_numpy(), single.frame["secteur"].to_numpy())


# -- Also: a mean row only where the spec asks for one ---------------------------------
def test_no_mean_row_on_an_item_of_a_yes_no_grid(s):
    assert s.data["q8_1"].cat.ordered  # read from the file as an ordered categorical
    rows = [r for _, _, r in crosstab(s, "q8_1").frame.index]
    assert "Moyenne" not in rows and rows[0] == "Oui"


def test_means_false_leaves_the_mean_row_out(s):
    with_mean = crosstab(s, "innovation", "taille")  # a scale question of the spec
    without = crosstab(s, "innovation", "taille", means=False)
    assert "mean" in set(with_mean.kinds) and "mean" not in set(without.kinds)
    shared = without.frame.index
    np.testing.assert_allclose(without.frame.to_numpy(), with_mean.frame.loc[shared].to_numpy())


def test_a_misspelt_breakdown_names_the_close_ones(s):
    with pytest.raises(TableError, match=r"banner column 'tailel' is absent .*did you mean 'taille'"):
        crosstab(s, "q7", "tailel")
    with pytest.raises(TableError, match=r"banner column 'zzz' is absent from the data and the spec$"):
        crosstab(s, "q7", "zzz")
