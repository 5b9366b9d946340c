"""YAML files (spec, margin, generator configuration): strict reading, label matching,
margin paths.

Each bad input must give a SpecError naming the file, and the line or key at fault.
"""

import shutil
import unicodedata
import warnings
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from ramlab.errors import SpecError
from ramlab.io.sav import read_sav
from ramlab.io.spec import load_margin, load_spec
from ramlab.io.synth import load_config

DATA = Path(__file__).resolve().parents[2] / "data"
SPEC = "associations_2021.yaml"


@pytest.fixture
def data_dir(tmp_path):
    """A private copy of the shipped specs, margins and generator configurations."""
    for sub in ("specs", "population", "synth"):
        shutil.copytree(DATA / sub, tmp_path / sub)
    (tmp_path / "raw").mkdir()
    return tmp_path


def _load(data_dir, name=SPEC):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_spec(data_dir / "specs" / name, data_dir=data_dir)


def _line_of(text, fragment):
    return text[: text.index(fragment)].count("\n") + 1


# ------------------------------------------------------------------ duplicate keys (item 8)


def test_duplicate_question_id_names_file_line_and_key(data_dir):
    path = data_dir / "specs" / SPEC
    text = path.read_text(encoding="utf-8")
    # A second "q6" at the end of the questions: PyYAML keeps only the last one.
    extra = '  q6:\n    text: "Doublon"\n    type: numeric\n    column: q6_bis\n'
    text = text.replace("\nbreakdowns:", "\n" + extra + "\nbreakdowns:", 1)
    path.write_text(text, encoding="utf-8")
    first, second = _line_of(text, "\n  q6:") + 1, _line_of(text, extra) + 0
    with pytest.raises(SpecError) as info:
        _load(data_dir)
    err = info.value
    assert err.path == str(path)
    assert err.key == "q6"
    assert err.line == second
    message = str(err)
    assert str(path) in message and f"line {second}" in message and "'q6'" in message
    assert f"line {first}" in message


def test_duplicate_margin_category_names_file_line_and_category(data_dir):
    path = data_dir / "population" / "associations_2021_taille.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.rstrip("\n") + '\n  "10 à 49 salariés": 1\n'
    path.write_text(text, encoding="utf-8")
    line = text.rstrip("\n").count("\n") + 1
    with pytest.raises(SpecError, match=r"associations_2021_taille\.yaml, line \d+") as info:
        _load(data_dir)
    assert info.value.key == "10 à 49 salariés"
    assert info.value.line == line
    assert info.value.path == str(path)


def test_duplicate_key_in_generator_configuration(data_dir):
    path = data_dir / "synth" / "associations_2021.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("seed: 20210503\n", "seed: 20210503\nseed: 1\n", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match="duplicate key 'seed'") as info:
        load_config("associations", 2021, data_dir=data_dir)
    assert info.value.path == str(path)
    assert info.value.line == _line_of(text, "seed: 1")


def test_duplicate_key_inside_a_nested_mapping(data_dir):
    path = data_dir / "specs" / SPEC
    text = path.read_text(encoding="utf-8")
    text = text.replace("  sample_size: 1206\n", "  sample_size: 1206\n  sample_size: 1300\n", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match="duplicate key 'sample_size'") as info:
        _load(data_dir)
    assert info.value.line == _line_of(text, "  sample_size: 1300")


def test_merge_keys_may_still_be_overridden(tmp_path):
    # YAML merge keys ("<<") are a documented override, not a duplicate.
    path = tmp_path / "population" / "m.yaml"
    path.parent.mkdir()
    path.write_text(
        "variable: taille\nlabel: Taille\nyear: 2021\nsource: s\nstatus: published\n"
        "unit: percent\ncategories:\n  <<: {Petites: 40, Grandes: 10}\n  Grandes: 60\n",
        encoding="utf-8",
    )
    margin = load_margin(path, population_size=100, tolerance=0.0)
    assert margin.counts == {"Petites": 40.0, "Grandes": 60.0}


# ------------------------------------------------------------------ syntax errors (item 9)


def test_syntax_error_gives_line_and_column_on_one_line(data_dir):
    path = data_dir / "specs" / SPEC
    text = path.read_text(encoding="utf-8")
    bad = '  population: "Associations employeuses en France\n'  # unclosed quote
    text = text.replace('  population: "Associations employeuses en France"\n', bad, 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as info:
        _load(data_dir)
    err = info.value
    message = str(err)
    # The build prints the first line of an error: line and column must be on it.
    assert "\n" not in message
    assert isinstance(err.line, int) and isinstance(err.column, int)
    assert f"line {err.line}, column {err.column}" in message
    assert str(path) in message
    assert err.line > _line_of(text, bad) - 1  # the scanner stops at or after the open quote


def test_syntax_error_position_is_the_offending_character(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("survey: a\nyear: 2021\nstudy:\n  title: [x, y\n  mode: z\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path, data_dir=tmp_path)
    # PyYAML's own marks, 0-based, give the reference position.
    import yaml

    with pytest.raises(yaml.MarkedYAMLError) as raw:
        yaml.safe_load(path.read_text(encoding="utf-8"))
    mark = raw.value.problem_mark
    assert (info.value.line, info.value.column) == (mark.line + 1, mark.column + 1)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ label matching (item 10)


def _mini(tmp_path, *, file_labels, spec_labels, margin_labels=None):
    """A one-question survey: data file, spec and one margin, labels as given."""
    data_dir = tmp_path / "data"
    for sub in ("specs", "population", "raw"):
        (data_dir / sub).mkdir(parents=True)
    codes = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    df = pd.DataFrame({"q1": codes, "taille": [1.0, 1.0, 2.0, 2.0, 1.0, 2.0]})
    pyreadstat.write_sav(
        df, str(data_dir / "raw" / "mini_2024.sav"),
        variable_value_labels={
            "q1": dict(zip([1.0, 2.0], file_labels)),
            "taille": {1.0: "Moins de 10 salariés", 2.0: "10 salariés et plus"},
        },
    )
    margin_labels = margin_labels or ["Moins de 10 salariés", "10 salariés et plus"]
    cats = "".join(f'  "{lab}": {v}\n' for lab, v in zip(margin_labels, (60, 40)))
    (data_dir / "population" / "mini_2024_taille.yaml").write_text(
        "variable: taille\nlabel: Taille\nyear: 2024\nsource: Test\nstatus: published\n"
        f"unit: count\ncategories:\n{cats}",
        encoding="utf-8",
    )
    quoted = ", ".join(f'"{lab}"' for lab in spec_labels)
    (data_dir / "specs" / "mini_2024.yaml").write_text(
        "survey: mini\nyear: 2024\n"
        "study: {title: T, population: P, population_size: 100, unit: u, mode: m,\n"
        "        fieldwork_start: 2024-01-01, fieldwork_end: 2024-01-31, sample_size: 6,\n"
        "        institute: I, source: S}\n"
        "questions:\n"
        f"  q1: {{text: Q, type: single, categories: [{quoted}]}}\n"
        "weighting:\n  mode: rake\n  tolerance: 0.001\n"
        "  margins:\n    - {variable: taille, file: mini_2024_taille.yaml}\n",
        encoding="utf-8",
    )
    return data_dir


def _nfd(text):
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    "file_labels, spec_labels",
    [
        ([_nfd("Très intéressé"), _nfd("Pas intéressé")], ["Très intéressé", "Pas intéressé"]),
        (["Très intéressé", "Pas intéressé"], [_nfd("Très intéressé"), _nfd("Pas intéressé")]),
        (["Très intéressé ", "Pas\u00a0intéressé"], ["Très intéressé", "Pas intéressé"]),
        (["Très\u200b intéressé", "Pas intéressé"], ["Très intéressé", "Pas intéressé\u202f"]),
    ],
    ids=["file-NFD", "spec-NFD", "file-trailing-and-no-break-space", "zero-width-and-narrow-space"],
)
def test_labels_match_after_nfc_and_invisible_whitespace(tmp_path, file_labels, spec_labels):
    data_dir = _mini(tmp_path, file_labels=file_labels, spec_labels=spec_labels)
    spec = load_spec("mini", year=2024, data_dir=data_dir)
    data = read_sav(spec.data_file)
    spec.check_data(data)
    # Once matched, the data's values are the spec's categories.
    assert list(data["q1"].cat.categories) == spec.questions["q1"].categories
    counts = data["q1"].value_counts()
    assert counts[spec.questions["q1"].categories[0]] == 3


def test_margin_labels_match_after_nfc(tmp_path):
    data_dir = _mini(
        tmp_path, file_labels=["Oui", "Non"], spec_labels=["Oui", "Non"],
        margin_labels=[_nfd("Moins de 10 salariés"), "10 salariés et plus"],
    )
    spec = load_spec("mini", year=2024, data_dir=data_dir)
    spec.check_data(read_sav(spec.data_file))


def test_label_not_found_lists_the_file_labels(tmp_path):
    data_dir = _mini(
        tmp_path, file_labels=["Oui", "Non"], spec_labels=["Oui", "Non"],
        margin_labels=["Moins de dix salariés", "10 salariés et plus"],
    )
    spec = load_spec("mini", year=2024, data_dir=data_dir)
    with pytest.raises(SpecError, match="'Moins de dix salariés'") as info:
        spec.check_data(read_sav(spec.data_file))
    assert "'Moins de 10 salariés', '10 salariés et plus'" in str(info.value)


def test_normalize_label():
    from ramlab.io.spec import normalize_label

    assert normalize_label(_nfd("Données")) == "Données"
    assert normalize_label("\ufeffOui\u00a0plutôt ") == "Oui plutôt"
    assert normalize_label("Ne\u200b sait pas") == "Ne sait pas"
    assert normalize_label("plain") == "plain"


# ------------------------------------------------------------------ margin paths (item 11)


@pytest.mark.parametrize(
    "name", ["../specs/associations_2021.yaml", "../../outside.yaml", "ABSOLUTE"],
)
def test_margin_file_outside_population_is_a_spec_error(data_dir, name):
    outside = data_dir.parent / "outside.yaml"
    shutil.copy(data_dir / "population" / "associations_2021_taille.yaml", outside)
    if name == "ABSOLUTE":
        name = str(outside)
    path = data_dir / "specs" / SPEC
    text = path.read_text(encoding="utf-8")
    text = text.replace("file: associations_2021_taille.yaml", f'file: "{name}"', 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match="data/population") as info:
        _load(data_dir)
    assert info.value.key == "weighting.margins.0.file"
    assert info.value.path == str(path)


def test_margin_file_in_a_subdirectory_of_population_is_accepted(data_dir):
    sub = data_dir / "population" / "2021"
    sub.mkdir()
    shutil.move(data_dir / "population" / "associations_2021_taille.yaml", sub / "taille.yaml")
    path = data_dir / "specs" / SPEC
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("file: associations_2021_taille.yaml", "file: 2021/taille.yaml", 1),
        encoding="utf-8",
    )
    spec = _load(data_dir)
    assert spec.weighting.margins[0].path == sub / "taille.yaml"
