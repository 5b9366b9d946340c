"""Weighting matters, and hits the population margins, in every shipped survey-year.

For each survey-year with a data file (data/raw/*.sav) and a spec
(data/specs/), the expected margins are read here straight from the
population files (data/population/*.yaml, with the spec's grouping of small
categories), and the respondents' categories straight from the .sav with
pyreadstat (tests/_population.py): nothing of ramlab's own reading or margin
handling builds the reference. Two things must hold:

* the weighted margins equal the population margins (shares, to raking's
  tolerance), and the weights sum to the population size of the spec;
* the population margins differ from the unweighted sample somewhere, so
  that equal weights (no raking) would fail the first check.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import _population as P
from ramlab import load_survey

SURVEY_YEARS = P.survey_years()
#: raking's tolerance (largest relative error on a margin), ramlab's default
RAKE_TOL = 1e-10


def test_every_shipped_survey_year_is_covered():
    assert len(SURVEY_YEARS) >= 6
    assert ("associations", "2021") in SURVEY_YEARS and ("maires", "2020") in SURVEY_YEARS


@pytest.fixture(scope="module", params=SURVEY_YEARS, ids=lambda sy: f"{sy[0]}_{sy[1]}")
def weighted(request):
    survey, year = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rounded published shares rescaled
        s = load_survey(survey, int(year), data_dir=P.DATA)
    df, meta = P.read_raw(P.DATA / "raw" / f"{survey}_{year}.sav")
    return P.spec_doc(survey, year), s, df, meta


def test_weighted_margins_equal_the_population_margins(weighted):
    doc, s, df, meta = weighted
    w = s.design.weights.to_numpy(dtype=float)
    assert doc["weighting"]["mode"] == "rake"
    assert w.shape == (len(df),)
    assert w.sum() == pytest.approx(float(doc["study"]["population_size"]), rel=RAKE_TOL)
    errors = P.margin_errors(w, df, meta, doc)
    assert set(errors) == {m["variable"] for m in doc["weighting"]["margins"]}
    assert max(errors.values()) <= 10 * RAKE_TOL, errors


def test_raking_moves_the_sample_towards_the_population(weighted):
    doc, s, df, meta = weighted
    # equal weights are a point or more away from the population on some margin,
    # so skipping the raking fails test_weighted_margins_equal_the_population_margins
    unweighted = P.margin_errors(np.ones(len(df)), df, meta, doc)
    gaps = []
    for margin in doc["weighting"]["margins"]:
        cats = P.categories(df, meta, margin)
        gaps += [abs(np.mean(cats == c) - sh) for c, sh in P.population_shares(margin).items()]
    assert max(gaps) >= 0.01, max(gaps)
    assert max(unweighted.values()) > 0.05
    w = s.design.weights.to_numpy(dtype=float)
    assert w.max() / w.min() > 1.1
