"""Survey specifications: the shipped spec, and each bad input named by file and key."""

import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from ramlab.errors import DataFileError, SpecError
from ramlab.io.sav import read_sav
from ramlab.io.spec import Base, Question, load_margin, load_spec, parse_conditions

DATA = Path(__file__).resolve().parents[2] / "data"
SPEC = "associations_2021.yaml"


def _quiet_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_spec(*args, **kwargs)


@pytest.fixture
def data_dir(tmp_path):
    """A private copy of the data directory that a test may edit."""
    for sub in ("specs", "population"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    (tmp_path / "raw").mkdir()
    return tmp_path


def _edit(path, change):
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def shipped():
    return _quiet_load("associations", year=2021, data_dir=DATA)


@pytest.fixture(scope="module")
def shipped_data():
    return read_sav(DATA / "raw" / "associations_2021.sav")


# ------------------------------------------------------------------ shipped spec


def test_shipped_spec_loads(shipped):
    s = shipped
    assert (s.survey, s.year) == ("associations", 2021)
    assert s.study["population_size"] == 148429
    assert s.study["unit"] == "associations"
    assert s.study["source"].startswith("Source : IMPACT-Associations 2021")
    assert list(s.questions)[:2] == ["q2", "q6"]
    assert s.questions["q6"].type == "grid" and len(s.questions["q6"].columns) == 7
    assert s.questions["q7"].type == "multi" and s.questions["q7"].selected == "Cité"
    assert s.questions["q7"].base == "partenaires"
    assert s.questions["innovation"].missing == ["Ne sait pas"]
    assert s.questions["innovation"].nets["Total Oui"] == ["Oui, tout à fait", "Oui, plutôt"]
    assert s.bases["ensemble"].label == "Ensemble"
    assert s.bases["partenaires"].label == (
        "Ont mis en place au moins un partenariat ou prévoient d'en mettre en place"
    )
    assert s.breakdowns == ["taille", "secteur", "region"]
    assert s.weighting.mode == "rake"
    assert s.data_file == DATA / "raw" / "associations_2021.sav"


def test_spec_by_path_and_by_id_agree(shipped):
    by_path = _quiet_load(DATA / "specs" / SPEC)
    assert by_path.questions == shipped.questions
    assert by_path.weighting.targets == shipped.weighting.targets


def test_shipped_spec_matches_shipped_file(shipped, shipped_data):
    shipped.check_data(shipped_data)


def test_rounded_shares_are_rescaled_with_a_warning_naming_file_and_totals(data_dir):
    with pytest.warns(UserWarning) as record:
        spec = load_spec("associations", year=2021, data_dir=data_dir)
    messages = [str(r.message) for r in record]
    region = [m for m in messages if "associations_2021_region.yaml" in m]
    assert len(region) == 1
    assert "99.9%" in region[0] and "148,429" in region[0]
    sector = [m for m in messages if "associations_2021_secteur.yaml" in m]
    assert len(sector) == 1 and "100.1%" in sector[0]
    assert not [m for m in messages if "taille" in m]  # counts that add up: no warning
    for margin in spec.weighting.margins:
        assert sum(margin.counts.values()) == pytest.approx(148429, rel=1e-12)
    region_margin = next(m for m in spec.weighting.margins if m.variable == "region")
    assert region_margin.rescaled
    # Île-de-France: 18.3 % of 148,429 rescaled by 100 / 99.9.
    assert region_margin.counts["Île-de-France"] == pytest.approx(148429 * 18.3 / 99.9)


def test_grouping_of_small_categories(shipped):
    margin = next(m for m in shipped.weighting.margins if m.variable == "region")
    group = "Provence-Alpes-Côte d'Azur et Corse"
    assert margin.column == "region_redressement"
    assert "Corse" not in margin.targets
    assert margin.targets[group] == pytest.approx(148429 * (7.6 + 0.5) / 99.9)
    data = pd.DataFrame(
        {"region": pd.Categorical(["Corse", "Bretagne", "Provence-Alpes-Côte d'Azur"],
                                  categories=list(margin.counts))}
    )
    prepared = shipped.weighting.prepare(data)
    assert list(prepared["region_redressement"]) == [group, "Bretagne", group]
    assert set(shipped.weighting.targets) == {"taille", "secteur", "region_redressement"}


# ------------------------------------------------------------------ bad inputs


def _expect(data_dir, change, key, *, file=SPEC, match=None):
    _edit(data_dir / ("specs" if file == SPEC else "population") / file, change)
    with pytest.raises(SpecError, match=match) as info:
        _quiet_load("associations", year=2021, data_dir=data_dir)
    assert info.value.key == key
    assert Path(info.value.path).name == file
    assert file in str(info.value) and key in str(info.value)
    return info.value


def test_unknown_question_type(data_dir):
    def change(doc):
        doc["questions"]["q6"]["type"] = "matrix"

    _expect(data_dir, change, "questions.q6.type", match="unknown question type 'matrix'")


def test_unknown_base(data_dir):
    def change(doc):
        doc["questions"]["q7"]["base"] = "adherents"

    _expect(data_dir, change, "questions.q7.base", match="unknown base 'adherents'")


def test_unknown_top_level_key(data_dir):
    def change(doc):
        doc["questionss"] = {}

    _expect(data_dir, change, "questionss", match="unknown key")


def test_missing_study_key(data_dir):
    def change(doc):
        del doc["study"]["population_size"]

    _expect(data_dir, change, "study.population_size", match="required")


def test_net_with_unknown_category(data_dir):
    def change(doc):
        doc["questions"]["innovation"]["nets"]["Total Oui"] = ["Oui, tout à fait", "Oui, un peu"]

    _expect(data_dir, change, "questions.innovation.nets.Total Oui", match="'Oui, un peu'")


def test_missing_label_not_a_category(data_dir):
    def change(doc):
        doc["questions"]["innovation"]["missing"] = ["NSP"]

    _expect(data_dir, change, "questions.innovation.missing", match="'NSP'")


def test_base_filter_label_not_a_category(data_dir):
    def change(doc):
        doc["bases"]["partenaires"]["filter"]["any_in"] = ["Oui", "Peut-être"]

    _expect(data_dir, change, "bases.partenaires.filter.any_in", match="'Peut-être'")


def test_base_filter_unknown_question(data_dir):
    def change(doc):
        doc["bases"]["partenaires"]["filter"]["question"] = "q99"

    _expect(data_dir, change, "bases.partenaires.filter.question", match="'q99'")


def test_unknown_weighting_mode(data_dir):
    def change(doc):
        doc["weighting"]["mode"] = "calage"

    _expect(data_dir, change, "weighting.mode", match="'calage'")


def test_delivered_mode_needs_a_weight_column(data_dir):
    def change(doc):
        doc["weighting"]["mode"] = "delivered"
        doc["weighting"]["weight_variable"] = None

    _expect(data_dir, change, "weighting.weight_variable")


def test_group_with_unknown_category(data_dir):
    def change(doc):
        doc["weighting"]["margins"][2]["groups"] = {"Sud-Est": ["Provence-Alpes-Côte d'Azur", "Corsica"]}

    _expect(data_dir, change, "weighting.margins.2.groups.Sud-Est", match="'Corsica'")


def test_margin_beyond_tolerance_is_an_error(data_dir):
    def change(doc):
        doc["categories"]["Île-de-France"] = 14.3  # shares now sum to 95.9 %

    err = _expect(data_dir, change, "categories", file="associations_2021_region.yaml",
                  match="more than the tolerance")
    assert "148,429" in str(err)


def test_margin_assumption_needs_a_note(data_dir):
    def change(doc):
        del doc["note"]

    _expect(data_dir, change, "note", file="associations_2021_region.yaml", match="assumption")


def test_margin_for_another_variable(data_dir):
    def change(doc):
        doc["variable"] = "departement"

    _expect(data_dir, change, "variable", file="associations_2021_region.yaml")


def test_year_asked_differs_from_file(data_dir):
    shutil.copy(data_dir / "specs" / SPEC, data_dir / "specs" / "associations_2015.yaml")
    with pytest.raises(SpecError) as info:
        _quiet_load("associations", year=2015, data_dir=data_dir)
    assert info.value.key == "year"


def test_spec_not_found(data_dir):
    with pytest.raises(SpecError, match="associations_2019.yaml"):
        load_spec("associations", year=2019, data_dir=data_dir)


def test_invalid_yaml(data_dir):
    (data_dir / "specs" / SPEC).write_text("survey: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match=SPEC):
        load_spec("associations", year=2021, data_dir=data_dir)


def test_load_margin_directly_rescales_within_tolerance():
    with pytest.warns(UserWarning, match="associations_2021_secteur.yaml"):
        margin = load_margin(DATA / "population" / "associations_2021_secteur.yaml",
                             population_size=148429, tolerance=0.005)
    assert margin.file_total == pytest.approx(148429 * 1.001)
    assert sum(margin.counts.values()) == pytest.approx(148429)
    with pytest.raises(SpecError, match="more than the tolerance"):
        load_margin(DATA / "population" / "associations_2021_secteur.yaml",
                    population_size=148429, tolerance=0.0005)


# ------------------------------------------------------------------ spec vs data


def test_category_the_file_lacks(data_dir, shipped_data):
    _edit(data_dir / "specs" / SPEC,
          lambda doc: doc["questions"]["q8"]["categories"].append("Déjà arrêté"))
    spec = _quiet_load("associations", year=2021, data_dir=data_dir)
    with pytest.raises(SpecError, match="'Déjà arrêté'.*associations_2021.sav") as info:
        spec.check_data(shipped_data)
    assert info.value.key == "questions.q8.categories"
    assert Path(info.value.path).name == SPEC


def test_file_label_the_spec_lacks(data_dir, shipped_data):
    def change(doc):
        q = doc["questions"]["innovation"]
        q["categories"].remove("Ne sait pas")
        q["missing"] = []

    _edit(data_dir / "specs" / SPEC, change)
    spec = _quiet_load("associations", year=2021, data_dir=data_dir)
    with pytest.raises(SpecError, match="'Ne sait pas'") as info:
        spec.check_data(shipped_data)
    assert info.value.key == "questions.innovation.categories"


def test_margin_category_the_file_lacks(data_dir, shipped_data):
    def change(doc):
        doc["categories"] = {("Sport et loisirs" if k.startswith("Arts") else k): v
                             for k, v in doc["categories"].items()}

    _edit(data_dir / "population" / "associations_2021_secteur.yaml", change)
    spec = _quiet_load("associations", year=2021, data_dir=data_dir)
    with pytest.raises(SpecError, match="'Sport et loisirs'") as info:
        spec.check_data(shipped_data)
    assert Path(info.value.path).name == "associations_2021_secteur.yaml"


def test_variable_the_file_lacks(shipped, shipped_data):
    data = shipped_data.drop(columns=["q8_2"])
    data.attrs = dict(shipped_data.attrs)
    with pytest.raises(DataFileError, match=r"associations_2021\.sav.*'q8_2'") as info:
        shipped.check_data(data)
    assert info.value.variable == "q8_2"


def test_sample_size_differs(shipped, shipped_data):
    data = shipped_data.iloc[:-1].copy()
    data.attrs = dict(shipped_data.attrs)
    with pytest.raises(SpecError) as info:
        shipped.check_data(data)
    assert info.value.key == "study.sample_size"


# ------------------------------------------------------------------ base filters


def test_base_filters_evaluate_as_stated(shipped):
    cats = ["Oui", "Non, mais je pense le faire dans les 6 mois", "Non, je n'en ai pas l'intention"]
    oui, plan, no = cats
    data = pd.DataFrame(
        {c: pd.Categorical(v, categories=cats) for c, v in {
            "q6_1": [oui, no, no, plan],
            "q6_2": [no, no, plan, no],
        }.items()}
    )
    data["taille"] = ["a", "b", "a", "b"]

    questions = {"q6": Question(id="q6", text="", type="grid", columns=("q6_1", "q6_2"),
                                categories=cats)}
    filters = {
        "p": {"question": "q6", "any_in": [oui, plan]},
        "all_no": {"question": "q6", "all_in": [no]},
        "combo": {"all": [{"base": "p"}, {"not": {"column": "taille", "in": ["a"]}}]},
        "either": {"any": [{"base": "all_no"}, {"column": "taille", "in": ["b"]}]},
    }
    conditions = parse_conditions(filters, questions)
    spec = SimpleNamespace(bases={bid: Base(id=bid, label=bid, filter=c) for bid, c in conditions.items()})
    assert list(spec.bases["p"].mask(data)) == [True, False, True, True]
    assert list(spec.bases["all_no"].mask(data)) == [False, True, False, False]
    assert list(spec.bases["combo"].mask(data)) == [False, False, False, True]
    assert list(spec.bases["either"].mask(data)) == [False, True, False, True]
    assert conditions["combo"].describe() == "(base p) and (not (taille in ['a']))"
    assert conditions["combo"].data_columns() == ["taille"]
    assert conditions["p"].questions() == ["q6"]


def test_circular_base_reference(data_dir):
    def change(doc):
        doc["bases"]["a"] = {"label": "A", "filter": {"base": "b"}}
        doc["bases"]["b"] = {"label": "B", "filter": {"not": {"base": "a"}}}

    _expect(data_dir, change, "bases.a.filter", match="circular")


def test_ordered_margin_flag(shipped):
    flags = {m.variable: m.ordered for m in shipped.weighting.margins}
    assert flags == {"taille": True, "secteur": False, "region": False}
