"""The shipped survey-years reproduce their published figures.

Reference values are the published results collected in
../shared/domain/IMPACT.md (PHARE-Associations 2015, PHARE-Entreprises 2015,
IMPACT-Entreprises 2021, the mayors' surveys of 2016 and 2020), never values
computed by ramlab. Each figure is a weighted estimate (``Design.mean``) on the
base the publication gives, taken as a domain of the full weighted design
(``design.subset(mask)``), and must lie within 1 point of the published figure
and round (half up) to it. IMPACT-Associations 2021 is covered by
tests/test_survey.py.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

import _population as P
from ramlab.io import synth
from ramlab.format import round_half_up
from ramlab.io.survey import load_survey

DATA = Path(__file__).resolve().parents[2] / "data"
OUI = "Oui"
TOP2 = ["Oui, tout à fait", "Oui, plutôt"]
RURAL = "Commune rurale (moins de 2 000 habitants)"
SURVEY_YEARS = [
    ("associations", 2015),
    ("entreprises", 2015),
    ("entreprises", 2021),
    ("maires", 2016),
    ("maires", 2020),
]

_CACHE = {}


def _survey(survey, year):
    if (survey, year) not in _CACHE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rounded margins rescaled
            _CACHE[survey, year] = load_survey(survey, year, data_dir=DATA)
    return _CACHE[survey, year]


def _domain(s, base):
    """The weighted design restricted to a base of the spec (a domain, not a copy)."""
    return s.design.subset(s.spec.bases[base].mask(s.data))


def _pct(design, column, categories):
    est = design.mean(column)["estimate"]
    return 100 * sum(est[c] for c in categories)


def _check(value, published):
    assert abs(value - published) <= 1, (value, published)
    assert round_half_up(value) == published, (value, published)


def _check_top2(s, column, published):
    """A top-2 box on a scale with "Ne sait pas": excluded from the base (the default)
    or shown as a row, the published figure holds either way."""
    q = s.spec.questions[column]
    base = s.spec.bases[q.base].mask(s.data)
    answered = base & ~s.data[column].isin(q.missing)
    _check(_pct(s.design.subset(answered), column, q.nets["Total Oui"]), published)
    _check(_pct(_domain(s, q.base), column, q.nets["Total Oui"]), published)


# --------------------------------------------------------------------------- all years


@pytest.mark.parametrize("survey, year", SURVEY_YEARS)
def test_file_is_synthetic_and_weighted_to_the_population(survey, year):
    s = _survey(survey, year)
    assert s.synthetic
    assert s.n == s.spec.study["sample_size"]
    assert s.design.weights.sum() == pytest.approx(s.spec.study["population_size"], rel=1e-10)
    assert np.all(s.unweighted.weights == 1)


@pytest.mark.parametrize("survey, year", SURVEY_YEARS)
def test_generated_weight_column_is_raked_to_the_population(survey, year, tmp_path):
    # A freshly generated file (not the shipped one): its delivered weight sums to
    # the population size of the spec and reproduces the population margins,
    # both read here from the YAML files (tests/_population.py).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = synth.generate(survey, year, data_dir=DATA, output=tmp_path / f"{survey}_{year}.sav")
    raw, meta = P.read_raw(out)
    doc = P.spec_doc(survey, year)
    assert len(raw) == doc["study"]["sample_size"]
    assert raw["poids"].sum() == pytest.approx(doc["study"]["population_size"], rel=1e-9)
    errors = P.margin_errors(raw["poids"], raw, meta, doc)
    assert max(errors.values()) <= 1e-8, errors


def test_recurring_questions_keep_their_ids_and_columns():
    a15, a21 = (_survey("associations", y).spec for y in (2015, 2021))
    e15, e21 = (_survey("entreprises", y).spec for y in (2015, 2021))
    m16, m20 = (_survey("maires", y).spec for y in (2016, 2020))
    for qid in ("q7", "q8", "innovation"):
        assert a15.questions[qid].columns == a21.questions[qid].columns
    for qid in ("partenariat", "q7", "q8", "innovation", "performance"):
        assert e15.questions[qid].columns == e21.questions[qid].columns
    for qid in ("q2", "innovation"):
        assert m16.questions[qid].columns == m20.questions[qid].columns
    # The same modes grid in every survey, with the 2015 wording of the item.
    assert a15.questions["q8"].item_labels["q8_2"] == "Innovation sociétale"
    assert e15.questions["q8"].item_labels["q8_2"] == "Innovation sociétale"
    assert e21.questions["q8"].item_labels["q8_2"] == "Innovation sociale"
    for spec in (a15, e15, e21):
        assert "sociétale" in spec.questions["q8"].changes


# --------------------------------------------------------------------------- associations 2015


def test_associations_2015_partner_with_companies_53():
    s = _survey("associations", 2015)
    _check(_pct(_domain(s, "ensemble"), "partenariat", [OUI]), 53)


@pytest.mark.parametrize(
    "column, published", [("q8_1", 67), ("q8_3", 29), ("q8_4", 26), ("q8_2", 25)]
)
def test_associations_2015_modes(column, published):
    # Base: associations with partnerships with companies.
    _check(_pct(_domain(_survey("associations", 2015), "partenaires"), column, [OUI]), published)


@pytest.mark.parametrize(
    "column, published", [("q7_2", 47), ("q7_1", 43), ("q7_3", 22), ("q7_4", 4)]
)
def test_associations_2015_levels(column, published):
    _check(_pct(_domain(_survey("associations", 2015), "partenaires"), column, ["Cité"]), published)


def test_associations_2015_source_of_innovation_86():
    _check_top2(_survey("associations", 2015), "innovation", 86)


# --------------------------------------------------------------------------- entreprises 2015


def test_entreprises_2015_partnerships_37():
    _check(_pct(_domain(_survey("entreprises", 2015), "ensemble"), "partenariat", [OUI]), 37)


@pytest.mark.parametrize(
    "column, published", [("q8_3", 45), ("q8_1", 30), ("q8_4", 25), ("q8_2", 16)]
)
def test_entreprises_2015_modes(column, published):
    # Base: establishments with partnerships.
    _check(_pct(_domain(_survey("entreprises", 2015), "partenaires"), column, [OUI]), published)


def test_entreprises_2015_responsible_practices_is_the_first_mode():
    s = _survey("entreprises", 2015)
    d = _domain(s, "partenaires")
    values = {c: _pct(d, c, [OUI]) for c in s.spec.questions["q8"].columns}
    assert max(values, key=values.get) == "q8_3"


@pytest.mark.parametrize(
    "column, published", [("q7_1", 74), ("q7_2", 51), ("q7_3", 25), ("q7_4", 15)]
)
def test_entreprises_2015_levels(column, published):
    _check(_pct(_domain(_survey("entreprises", 2015), "partenaires"), column, ["Cité"]), published)


@pytest.mark.parametrize("column, published", [("innovation", 81), ("performance", 86)])
def test_entreprises_2015_source_of_innovation_and_performance(column, published):
    _check_top2(_survey("entreprises", 2015), column, published)


# --------------------------------------------------------------------------- entreprises 2021


def test_entreprises_2021_partnerships_about_57():
    _check(_pct(_domain(_survey("entreprises", 2021), "ensemble"), "partenariat", [OUI]), 57)


def test_entreprises_2021_with_partnerships_195776():
    partners = _domain(_survey("entreprises", 2021), "partenaires")
    assert abs(partners.weights.sum() - 195776) < 0.5
    assert round_half_up(partners.weights.sum()) == 195776


def test_entreprises_plus_20_points_in_5_years():
    p15 = _pct(_domain(_survey("entreprises", 2015), "ensemble"), "partenariat", [OUI])
    p21 = _pct(_domain(_survey("entreprises", 2021), "ensemble"), "partenariat", [OUI])
    _check(p21 - p15, 20)


def test_entreprises_2021_source_of_innovation_83():
    _check_top2(_survey("entreprises", 2021), "innovation", 83)


# --------------------------------------------------------------------------- maires


def test_maires_2016_n_304_and_85_percent_rural():
    s = _survey("maires", 2016)
    assert s.n == 304
    # 85 % rural communes: among the respondents and after weighting.
    _check(_pct(s.unweighted, "taille", [RURAL]), 85)
    _check(_pct(s.design, "taille", [RURAL]), 85)


def test_maires_2016_source_of_innovation_87():
    _check_top2(_survey("maires", 2016), "innovation", 87)


@pytest.mark.parametrize("column", ["q2_1", "q2_2"])
def test_maires_2020_co_construction_useful_92(column):
    # "pour réduire les fragilités" (q2_1), "pour faire émerger de nouveaux moteurs de
    # développement économique durable" (q2_2): 92 % "Oui" (tout à fait + plutôt).
    _check(_pct(_domain(_survey("maires", 2020), "ensemble"), column, TOP2), 92)


def test_maires_2020_co_construction_useful_for_both_92():
    s = _survey("maires", 2020)
    # The joint reading: "Oui" to both items at once.
    s.data["_both"] = (s.data["q2_1"].isin(TOP2) & s.data["q2_2"].isin(TOP2)).astype(float)
    try:
        value = 100 * s.design.mean("_both")["estimate"].iloc[0]
    finally:
        del s.data["_both"]
    _check(value, 92)
