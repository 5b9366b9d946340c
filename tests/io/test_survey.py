"""load_survey on the shipped 2021 file reproduces the published figures.

Reference values are the published 2021 figures of IMPACT-Associations &
Territoires (workshop deck of 15 March 2022 and press summaries, collected in
../shared/domain/IMPACT.md), not values computed by ramlab. Every sub-base is a
domain of the full weighted design (``design.subset(mask)``).
"""

import html
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import _population as P

from ramlab.errors import DataFileError, SpecError
from ramlab.format import round_half_up
from ramlab.io.survey import load_survey

DATA = Path(__file__).resolve().parents[2] / "data"
OUI = "Oui"
PLAN = "Non, mais je pense le faire dans les 6 mois"


def _load(data_dir=DATA):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rounded margins rescaled
        return load_survey("associations", 2021, data_dir=data_dir)


@pytest.fixture(scope="module")
def survey():
    return _load()


def _pct(design, column, categories):
    est = design.mean(column)["estimate"]
    return 100 * sum(est[c] for c in categories)


def _check(value, published):
    assert abs(value - published) <= 1, (value, published)
    assert round_half_up(value) == published, (value, published)


def test_survey_is_synthetic_and_weighted(survey):
    assert survey.synthetic
    assert survey.n == 1206
    assert survey.design.n == survey.unweighted.n == 1206
    assert np.all(survey.unweighted.weights == 1)


def test_weighted_bases(survey):
    # "Base : Ensemble (148 429 associations)"
    assert survey.design.weights.sum() == pytest.approx(148429, rel=1e-10)  # raking tol, relative
    # "Base : Ont mis en place au moins un partenariat ou prévoient d'en mettre en place
    # (147 511 associations)"
    partners = survey.domain("partenaires")
    assert round_half_up(partners.weights.sum()) == 147511
    assert abs(partners.weights.sum() - 147511) < 0.5
    assert partners.n == 1206  # a domain keeps every row, weight 0 outside


@pytest.mark.parametrize(
    "column, published",
    [("q6_1", 89), ("q6_2", 73), ("q6_3", 70), ("q6_4", 56), ("q6_5", 52), ("q6_6", 37), ("q6_7", 35)],
)
def test_q6_partners_oui(survey, column, published):
    _check(_pct(survey.domain("ensemble"), column, [OUI]), published)


def test_at_least_one_partnership_98(survey):
    q6 = survey.spec.questions["q6"].columns
    survey.data["_any_q6_oui"] = (survey.data[list(q6)] == OUI).any(axis=1).astype(float)
    try:
        value = 100 * survey.design.mean("_any_q6_oui")["estimate"].iloc[0]
    finally:
        del survey.data["_any_q6_oui"]
    _check(value, 98)


@pytest.mark.parametrize("column, published", [("q7_1", 73), ("q7_2", 47), ("q7_3", 26), ("q7_4", 11)])
def test_q7_levels(survey, column, published):
    _check(_pct(survey.domain("partenaires"), column, ["Cité"]), published)


def test_q7_mean_number_of_levels_1_6(survey):
    q7 = survey.spec.questions["q7"].columns
    survey.data["_q7_count"] = (survey.data[list(q7)] == "Cité").sum(axis=1).astype(float)
    try:
        value = survey.domain("partenaires").mean("_q7_count")["estimate"].iloc[0]
    finally:
        del survey.data["_q7_count"]
    assert abs(value - 1.6) <= 0.05
    assert round_half_up(value, 1) == 1.6


@pytest.mark.parametrize(
    "column, oui, oui_or_plan",
    [("q8_1", 59, 75), ("q8_2", 47, 73), ("q8_3", 45, 70), ("q8_4", 39, 58)],
)
def test_q8_modes(survey, column, oui, oui_or_plan):
    d = survey.domain("partenaires")
    _check(_pct(d, column, [OUI]), oui)
    _check(_pct(d, column, [OUI, PLAN]), oui_or_plan)


def test_mecenat_is_the_first_mode(survey):
    d = survey.domain("partenaires")
    values = {c: _pct(d, c, [OUI]) for c in survey.spec.questions["q8"].columns}
    assert max(values, key=values.get) == "q8_1"


def test_source_of_innovation_top2_90(survey):
    q = survey.spec.questions["innovation"]
    top2 = q.nets["Total Oui"]
    base = survey.spec.bases[q.base].mask(survey.data)
    answered = base & ~survey.data["innovation"].isin(q.missing)
    # "Ne sait pas" excluded from the base (the default) ...
    _check(_pct(survey.design.subset(answered), "innovation", top2), 90)
    # ... or shown as a row: the published 90 % holds either way.
    _check(_pct(survey.domain(q.base), "innovation", top2), 90)


def test_weighted_and_unweighted_results_differ(survey):
    data = survey.data
    partners = survey.spec.bases["partenaires"].mask(data)
    gaps = [
        _pct(survey.unweighted, "q6_5", [OUI]) - _pct(survey.design, "q6_5", [OUI]),
        _pct(survey.unweighted.subset(partners), "q7_3", ["Cité"])
        - _pct(survey.domain("partenaires"), "q7_3", ["Cité"]),
    ]
    assert all(abs(g) > 3 for g in gaps), gaps


def test_profile_before_and_after_weighting(survey):
    prof = survey.profile()
    assert list(prof.index.names) == ["variable", "category"]
    assert set(prof.index.get_level_values("variable")) == {"taille", "secteur", "region"}
    # After raking the weighted profile equals the population margins ...
    np.testing.assert_allclose(prof["weighted"], prof["population"], atol=1e-8)
    assert prof["population_count"].groupby(level="variable").sum().tolist() == pytest.approx([148429] * 3)
    # ... before, large associations are over-represented (20 % sampled, 5 % in the population).
    big = prof.loc[("taille", "50 salariés et plus")]
    assert big["sample"] > 3 * big["population"]
    assert prof["n"].groupby(level="variable").sum().tolist() == [1206] * 3
    # The grouped category is what is raked on.
    assert ("region", "Provence-Alpes-Côte d'Azur et Corse") in prof.index
    assert ("region", "Corse") not in prof.index


def test_corse_is_grouped_before_raking(survey):
    data = survey.data
    corse = data["region"] == "Corse"
    assert corse.sum() > 0
    assert (data.loc[corse, "region_redressement"] == "Provence-Alpes-Côte d'Azur et Corse").all()


@pytest.fixture
def data_copy(tmp_path):
    for sub in ("specs", "population", "raw"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    return tmp_path


def _set_mode(data_dir, mode, weight_variable="poids"):
    path = data_dir / "specs" / "associations_2021.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["weighting"]["mode"] = mode
    doc["weighting"]["weight_variable"] = weight_variable
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_delivered_mode_uses_the_file_weight_as_is(data_copy):
    # the file's column, read here with pyreadstat, not through ramlab
    raw, _ = P.read_raw(data_copy / "raw" / "associations_2021.sav")
    _set_mode(data_copy, "delivered", weight_variable="id")
    other = _load(data_copy)
    np.testing.assert_array_equal(other.design.weights.to_numpy(), raw["id"].to_numpy(dtype=float))


def test_rake_from_delivered_seeds_the_raking_with_the_file_weight(data_copy):
    # A seed unlike any raked weight (the respondent id, 1..1206): the result
    # must hit the population margins and stay proportional to the seed within
    # each cell of the margins' cross-classification (w = seed * g_cell).
    raw, meta = P.read_raw(data_copy / "raw" / "associations_2021.sav")
    _set_mode(data_copy, "rake_from_delivered", weight_variable="id")
    other = _load(data_copy)
    w = other.design.weights.to_numpy()
    doc = P.spec_doc("associations", 2021, data_copy)
    errors = P.margin_errors(w, raw, meta, doc, data_copy)
    assert max(errors.values()) <= 1e-9, errors
    cells = pd.Series(list(zip(*(P.categories(raw, meta, m) for m in doc["weighting"]["margins"]))))
    ratio = pd.Series(w / raw["id"].to_numpy(dtype=float))
    spread = ratio.groupby(cells).agg(lambda r: r.max() / r.min() - 1)
    assert spread.max() < 1e-9
    assert ratio.max() / ratio.min() > 1.5  # the cells are really adjusted


def test_missing_data_file(data_copy):
    (data_copy / "raw" / "associations_2021.sav").unlink()
    with pytest.raises(DataFileError, match="associations_2021.sav"):
        _load(data_copy)


def test_data_file_lacking_a_variable(data_copy):
    import pyreadstat

    path = data_copy / "raw" / "associations_2021.sav"
    df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    labels = {k: v for k, v in meta.variable_value_labels.items() if k != "q8_2"}
    pyreadstat.write_sav(df.drop(columns=["q8_2"]), str(path), variable_value_labels=labels,
                         missing_ranges={"innovation": [9]})
    with pytest.raises(DataFileError, match=r"associations_2021\.sav.*'q8_2'") as info:
        _load(data_copy)
    assert info.value.variable == "q8_2"
    assert info.value.path == str(path)


# ---------------------------------------------------------------------------
# Issue 12 item 16: the rescaling of a rounded margin, once per load
# ---------------------------------------------------------------------------
def test_rescaled_margins_warn_once_per_load_and_are_stated_in_french():
    from ramlab.errors import MarginRescaledWarning
    from ramlab.reports.blocks import methodology

    for _ in range(2):  # every load says it once, naming every rescaled margin
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = load_survey("associations", 2021, data_dir=DATA)
        rescaling = [w for w in caught if issubclass(w.category, MarginRescaledWarning)]
        assert len(rescaling) == 1, [str(w.message) for w in caught]
        assert issubclass(MarginRescaledWarning, UserWarning)
        message = str(rescaling[0].message)
        assert "'secteur'" in message and "'region'" in message and "'taille'" not in message
        assert rescaling[0].filename == __file__  # points at the caller of load_survey
    notes = s.margin_notes
    rescaled = [m for m in s.spec.weighting.margins if m.rescaled]
    assert len(notes) == len(rescaled) == 2
    assert all("parts arrondies" in n and "ramenée au total de la population" in n for n in notes)
    # the methodology box states them without being handed them
    box = methodology(s)
    for n in notes:
        assert html.escape(n) in box


# ---------------------------------------------------------------------------
# Issue 12 item 14: short reprs and an HTML view
# ---------------------------------------------------------------------------
def test_survey_and_design_reprs_are_short_and_their_html_says_the_design(survey):
    from ramlab.format import fmt_int, fmt_number

    text = repr(survey)
    assert len(text) < 200 and "\n" not in text  # was 9,900 characters
    assert "associations 2021" in text and "1206 respondents" in text and "synthetic" in text
    assert len(repr(survey.design)) < 120
    w = survey.design.weights.to_numpy()
    kish = len(w) * (w**2).sum() / w.sum() ** 2  # Kish (1965): n sum(w^2) / sum(w)^2
    for view in (survey._repr_html_(), survey.design._repr_html_()):
        assert "Effet de plan (Kish)" in view and fmt_number(kish, 2) in view
        assert fmt_int(survey.n) in view and "calage sur marges (raking)" in view
        assert "sondage aléatoire simple" in view
    page = survey._repr_html_()
    assert "Données synthétiques" in page and "parts arrondies" in page
    assert fmt_int(148429) in page
    domain = survey.domain("partenaires")._repr_html_()
    assert "domaine" in domain and fmt_int(1201) in domain


# ---------------------------------------------------------------------------
# Issue 12 item 13: the codebook
# ---------------------------------------------------------------------------
def test_codebook_reads_the_file_and_the_spec(survey):
    import pyreadstat

    book = survey.codebook()
    frame = book.frame
    assert list(frame["name"]) == list(survey.data.columns)
    row = frame.set_index("name")
    # codes and labels as the SPSS file declares them (pyreadstat's own metadata)
    _, meta = pyreadstat.read_sav(str(survey.spec.data_file), metadataonly=True,
                                  user_missing=True)
    labels = meta.variable_value_labels["innovation"]
    assert row.loc["innovation", "categories"] == " ; ".join(
        f"{int(k)} = {v}" for k, v in labels.items())
    (lo, hi), = [(r["lo"], r["hi"]) for r in meta.missing_ranges["innovation"]]
    assert row.loc["innovation", "user_missing"] == str(int(lo)) and lo == hi
    assert row.loc["taille", "label"] == meta.column_names_to_labels["taille"]
    # types and bases from the spec; the share missing is over the base
    assert row.loc["q8_1", "type"] == "grid" and row.loc["q8_1", "question"] == "q8"
    assert row.loc["poids", "type"] == "numeric" and row.loc["taille", "type"] == "categorical"
    base = survey.spec.bases["partenaires"]
    in_base = base.mask(survey.data).to_numpy(dtype=bool)
    assert row.loc["innovation", "base"] == base.label
    assert row.loc["innovation", "n_base"] == in_base.sum()
    dont_know = (survey.data["innovation"] == "Ne sait pas").to_numpy() | survey.data[
        "innovation"].isna().to_numpy()
    assert row.loc["innovation", "missing_share"] == pytest.approx(
        dont_know[in_base].mean())
    assert 0 < row.loc["innovation", "missing_share"] < 0.05
    view = book._repr_html_()
    assert "<th>Modalités (codes)</th>" in view and "Codes de non-réponse" in view
    assert "9 = Ne sait pas" in view
    assert len(repr(book)) < 100 and len(book) == len(frame)


def test_domain_survey_says_it_is_a_domain(survey):
    d = survey.domain("partenaires")
    assert "domain partenaires" in repr(d) and len(repr(d)) < 220
    assert survey.spec.bases["partenaires"].label.replace("'", "&#x27;") in d._repr_html_()


def test_a_misspelt_label_in_a_base_filter_is_a_spec_error(data_copy):
    """A filter on a data column (not a question) whose label the file lacks would select
    nobody without a word: it is an error naming the base, the label and the file's labels."""
    path = data_copy / "specs" / "associations_2021.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["bases"]["petites"] = {"label": "Associations de moins de 10 salariés",
                               "filter": {"column": "taille", "in": ["Moins de 10 salaries"]}}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError, match=r"base 'petites': 'Moins de 10 salaries' is not among "
                                        r"the labels of 'taille'") as info:
        _load(data_copy)
    assert info.value.key == "bases.petites"
    assert "'Moins de 10 salariés'" in str(info.value)  # the labels the file has are listed
