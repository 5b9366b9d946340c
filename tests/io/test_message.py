"""Authored messages: the placeholder grammar, checked when the spec is loaded."""

import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from ramlab.errors import SpecError
from ramlab.io.message import MEAN, check, parse
from ramlab.io.spec import load_spec

DATA = Path(__file__).resolve().parents[2] / "data"


def _load(data_dir, survey="associations", year=2021):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_spec(survey, year=year, data_dir=data_dir)


@pytest.fixture(scope="module")
def spec():
    return _load(DATA)


@pytest.fixture
def data_dir(tmp_path):
    for sub in ("specs", "population"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    return tmp_path


def _set_message(data_dir, where, message):
    path = data_dir / "specs" / "associations_2021.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if where == "report":
        doc["report"] = {"message": message}
    else:
        doc["questions"][where]["message"] = message
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_placeholders_name_an_item_a_category_a_net_or_a_mean(spec):
    found = check("[q7_1 Cité] local, [q7 moyenne] échelon, [innovation Total Oui], "
                  "[q8_2 Oui], [q6_1 Oui ou dans les 6 mois], [innovation moyenne]", spec.questions)
    assert [(p.question, p.item, p.row) for p in found] == [
        ("q7", "q7_1", "Cité"), ("q7", "", MEAN), ("innovation", "", "Total Oui"),
        ("q8", "q8_2", "Oui"), ("q6", "q6_1", "Oui ou dans les 6 mois"), ("innovation", "", MEAN),
    ]


def test_doubled_brackets_are_literal_and_braces_are_plain_text():
    assert parse("a [[b]] {q7_1:Cité} c") == ["a ", "[", "b", "]", " {q7_1:Cité} c"]


@pytest.mark.parametrize("message, says", [
    ("[q9 Oui] des associations", "'q9' is neither a question nor an item"),
    ("[q8 Oui] des associations", "'q8' is a grid; name one of its items"),
    ("[q7_1 Oui] des associations", "row 'Oui' is not valid for 'q7_1'"),
    ("[innovation Ne sait pas]", "row 'Ne sait pas' is not an answer, net or mean"),
    ("[q7_1] des associations", "needs a target and a row"),
    ("73 ] des associations", "unmatched ']'"),
    ("[q6_1 Moyenne]", "row 'Moyenne' is not an answer"),
])
def test_an_unknown_placeholder_is_a_spec_error_at_load(data_dir, message, says):
    path = _set_message(data_dir, "q7", message)
    with pytest.raises(SpecError) as err:
        _load(data_dir)
    assert err.value.key == "questions.q7.message"
    assert str(path) in str(err.value) and says in str(err.value)


def test_the_report_message_is_checked_too(data_dir):
    _set_message(data_dir, "report", "[q7_9 Cité] des associations")
    with pytest.raises(SpecError, match=r"report\.message: .*'q7_9'"):
        _load(data_dir)


def test_a_grid_message_can_cite_its_net_across_items(spec):
    assert spec.questions["q6"].item_nets == {"Au moins un partenariat": ("any", ("Oui",))}
    found = check("[q6 Au moins un partenariat] des associations", spec.questions)
    assert [(p.question, p.item, p.row) for p in found] == [("q6", "", "Au moins un partenariat")]
    with pytest.raises(ValueError, match="nets across items"):
        check("[q8 Au moins un partenariat]", spec.questions)  # q8 defines none


def _edit(data_dir, change):
    path = data_dir / "specs" / "associations_2021.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("where, nets, says", [
    ("q6", {"Tous": {"every": ["Oui"]}}, "expected {any: [categories]} or {all: [categories]}"),
    ("q6", {"Tous": {"all": ["Peut-être"]}}, "'Peut-être' is not one of the valid categories"),
    ("innovation", {"Tous": {"any": ["Oui, plutôt"]}}, "only a grid question takes item_nets"),
])
def test_item_nets_are_checked_at_load(data_dir, where, nets, says):
    path = _edit(data_dir, lambda doc: doc["questions"][where].__setitem__("item_nets", nets))
    with pytest.raises(SpecError) as err:
        _load(data_dir)
    assert err.value.key.startswith(f"questions.{where}.item_nets")
    assert str(path) in str(err.value) and says in str(err.value)


def test_every_report_message_is_checked(data_dir):
    _edit(data_dir, lambda doc: doc.__setitem__("report", {"messages": ["[q6 Oui] des associations"]}))
    with pytest.raises(SpecError, match=r"report\.messages\[0\]: .*'q6' is a grid"):
        _load(data_dir)


def test_report_options_default_to_holm_and_the_issue_thresholds(spec):
    assert spec.adjust == "holm"
    assert (spec.report["hide_below"], spec.report["low_base_below"]) == (30, 75)
    assert spec.main_breakdowns == ["taille"]


@pytest.mark.parametrize("options, key", [
    ({"adjust": "tukey"}, "report.adjust"),
    ({"main_breakdowns": ["age"]}, "report.main_breakdowns"),
    ({"hide_below": 50, "low_base_below": 40}, "report.low_base_below"),
    ({"ungroup_in_tables": ["taille"]}, "report.ungroup_in_tables"),
    ({"colour": "bleu"}, "report.colour"),
])
def test_bad_report_options_are_named(data_dir, options, key):
    path = data_dir / "specs" / "associations_2021.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["report"] = options
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        _load(data_dir)
    assert err.value.key == key


@pytest.mark.parametrize("survey, year", [("maires", 2016), ("maires", 2020), ("associations", 2021)])
def test_a_rescaled_margin_differs_visibly_from_the_population(survey, year):
    # maires 2016: shares adding up to 100 % only up to float rounding made the report
    # say a margin "diffère de la population de 0,00 %".
    spec = _load(DATA, survey, year)
    size = spec.study["population_size"]
    for margin in spec.weighting.margins:
        gap = abs(margin.file_total - size) / size
        if margin.rescaled:
            assert round(100 * gap, 2) > 0, margin.path
        assert sum(margin.counts.values()) == pytest.approx(size, rel=1e-12)


def test_finding_phrases_name_rows_as_placeholders_do(spec):
    q8 = spec.questions["q8"].finding
    assert q8[("q8_2", "Oui")] == "à pratiquer l'innovation sociale"
    assert ("q8_1", "Oui ou dans les 6 mois") in q8
    assert spec.questions["q7"].finding[("q7_3", "Cité")] == "à travailler avec leurs partenaires au niveau national"
    assert spec.questions["innovation"].finding[("", "Total Oui")].startswith("à considérer")
    assert spec.study["unit_gender"] == "feminine"


@pytest.mark.parametrize("where, finding, key, says", [
    ("q8", {"q8_9 Oui": "à pratiquer"}, "q8_9 Oui", "'q8_9' is neither a question nor an item"),
    ("q8", {"q7_1 Cité": "à travailler"}, "q7_1 Cité", "a phrase names a row of question q8"),
    ("q8", {"q8_1 Peut-être": "à pratiquer"}, "q8_1 Peut-être", "row 'Peut-être' is not an answer"),
    ("q8", {"q8_1 Oui": "pratiquent le mécénat"}, "q8_1 Oui", "starts with 'à '"),
    ("q8", {"q8_1 Oui": "à pratiquer le mécénat."}, "q8_1 Oui", "final punctuation"),
    ("q8", {"q8_1 Oui": "à citer [q8_1 Oui]"}, "q8_1 Oui", "without brackets"),
    ("q8", {"q8_1 Oui": 3}, "q8_1 Oui", "got 3"),
    ("innovation", {"innovation moyenne": "à être positives"}, "innovation moyenne", "not a mean"),
    ("q6", {"q6 Au moins un partenariat": "à avoir un partenariat"}, "q6 Au moins un partenariat",
     "not a mean or a net across items"),
    ("q8", "à pratiquer le mécénat", None, "expected a mapping"),
])
def test_an_unknown_or_ill_formed_finding_phrase_is_a_spec_error_at_load(data_dir, where, finding, key, says):
    path = _edit(data_dir, lambda doc: doc["questions"][where].__setitem__("finding", finding))
    with pytest.raises(SpecError) as err:
        _load(data_dir)
    assert err.value.key == f"questions.{where}.finding" + (f".{key}" if key else "")
    assert str(path) in str(err.value) and says in str(err.value)


def test_finding_phrases_need_the_gender_of_the_unit(data_dir):
    path = _edit(data_dir, lambda doc: doc["study"].pop("unit_gender"))
    with pytest.raises(SpecError) as err:
        _load(data_dir)
    assert err.value.key.endswith(".finding") and "study.unit_gender" in str(err.value)
    assert str(path) in str(err.value)
    _edit(data_dir, lambda doc: doc["study"].__setitem__("unit_gender", "féminin"))
    with pytest.raises(SpecError, match=r"study\.unit_gender: unknown grammatical gender 'féminin'"):
        _load(data_dir)


def test_an_unknown_population_status_is_a_spec_error(data_dir):
    path = _edit(data_dir, lambda doc: doc["study"].__setitem__("population_status", "estimée"))
    with pytest.raises(SpecError, match=r"study\.population_status: unknown population status 'estimée'") as err:
        _load(data_dir)
    assert str(path) in str(err.value)
