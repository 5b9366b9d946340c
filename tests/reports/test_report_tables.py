"""The report's tables on the one-banner path: one banner per breakdown, cut per question."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ramlab import tables
from ramlab.reports import blocks

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def survey():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loaded, _ = blocks.load("associations", 2021, data_dir=DATA)
    return loaded


@pytest.mark.parametrize("breakdown", [None, "taille", "region"])
def test_banner_cut_per_question_equals_a_crosstab_per_question(survey, breakdown):
    options = blocks.table_options("partner", survey.spec)
    columns = blocks.table_breakdowns(survey)
    cols = [columns[breakdown]] if breakdown else []
    pieces = blocks.question_tables(tables.banner(survey, list(survey.spec.questions), cols, **options))
    assert list(pieces) == list(survey.spec.questions)
    for qid, piece in pieces.items():
        alone = tables.crosstab(survey, qid, cols[0] if cols else None, **options)
        # cells, standard errors and letters, as the reader sees them
        pd.testing.assert_frame_equal(piece.frame, alone.frame, check_exact=False, rtol=1e-12)
        pd.testing.assert_frame_equal(piece.se, alone.se, check_exact=False, rtol=1e-12)
        pd.testing.assert_frame_equal(piece.marks, alone.marks)
        pd.testing.assert_frame_equal(piece.small, alone.small)
        pd.testing.assert_series_equal(piece.kinds, alone.kinds)
        assert piece.questions == alone.questions and piece.options == alone.options
        assert (piece.intervals is None) == (alone.intervals is None)
        for mine, theirs in zip(piece.intervals or (), alone.intervals or ()):
            pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12)
        # the significance tests (Holm within a row) and the Rao-Scott tests
        assert len(piece.tests) == len(alone.tests)
        if len(alone.tests):
            text = ["question", "item", "row", "variable", "column", "versus", "mark"]
            assert piece.tests[text].equals(alone.tests[text])
            numbers = ["estimate", "se", "t", "p_value", "p_adjusted"]
            np.testing.assert_allclose(piece.tests[numbers].to_numpy(float),
                                       alone.tests[numbers].to_numpy(float), rtol=1e-10)
        np.testing.assert_allclose(piece.chisq[["statistic", "p_value"]].to_numpy(float),
                                   alone.chisq[["statistic", "p_value"]].to_numpy(float), rtol=1e-10)
        html = blocks.table_html(piece, survey.spec, audience="partner", data=survey.data)
        assert html == blocks.table_html(alone, survey.spec, audience="partner", data=survey.data)
        # the covariance travels with the piece: a contrast of two answers is the same
        first, second = alone.frame.index[:2]
        if first[1] == second[1] and alone.kinds.iloc[1] == "category":
            a = piece.contrast(first[2], second[2], question=qid, item=first[1])
            b = alone.contrast(first[2], second[2], question=qid, item=first[1])
            assert abs(a.se - b.se) <= 1e-12 and abs(a.estimate - b.estimate) <= 1e-12


def test_a_few_published_cells_of_the_banner_path(survey):
    """Cells of the banner path against crosstab's, one by one (a question of each type)."""
    options = blocks.table_options("partner", survey.spec)
    size = blocks.table_breakdowns(survey)["taille"]
    pieces = blocks.question_tables(tables.banner(survey, list(survey.spec.questions), [size], **options))
    checked = 0
    for qid in survey.spec.questions:
        alone = tables.crosstab(survey, qid, size, **options)
        estimates = alone.kinds.isin(["category", "net", "mean"]).to_numpy()
        for key in alone.frame.index[estimates][:2]:
            for column in alone.frame.columns:
                a, b = alone.frame.loc[key, column], pieces[qid].frame.loc[key, column]
                assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-12, (key, column)
                assert alone.marks.loc[key, column] == pieces[qid].marks.loc[key, column]
                checked += 1
    assert checked >= 20


def test_median_intervals_are_cut_with_their_question():
    """A banner with medians (numeric questions) cut per question: the intervals of each piece
    are its crosstab's, so the tidy frame (estimates, intervals) is the same."""
    from ramlab import Design, banner

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=300), "y": rng.gamma(2.0, size=300),
                       "q": pd.Categorical(rng.choice(["a", "b"], 300)),
                       "g": pd.Categorical(rng.choice(["u", "v"], 300))})
    pieces = blocks.question_tables(banner(Design(df), ["x", "q", "y"], ["g"], chisq=False, min_base=0))
    for qid in ("x", "q", "y"):
        alone = banner(Design(df), [qid], ["g"], chisq=False, min_base=0)
        assert (pieces[qid].intervals is None) == (alone.intervals is None)
        for mine, theirs in zip(pieces[qid].intervals or (), alone.intervals or ()):
            pd.testing.assert_frame_equal(mine, theirs)
        pd.testing.assert_frame_equal(pieces[qid].to_frame("tidy"), alone.to_frame("tidy"))
    assert pieces["x"].intervals is not None  # the medians of a numeric question have intervals
