"""The notebooks of notebooks/: committed clean, typed parameters, and they run.

Every notebook is checked as committed (no outputs, kernel ``python3``, one
``parameters`` cell of typed assignments ``name: type = value``, no function or
class defined in a notebook: the code lives in ``src/ramlab/``). The exploration
and trends notebooks are then executed with papermill on the shipped data, as a
researcher or ``ramlab build`` would run them.

Reference values are the published figures of ../shared/domain/IMPACT.md that
the shipped synthetic files reproduce (PHARE-Associations 2015, IMPACT-Associations
2021), never figures produced by ramlab.
"""

from __future__ import annotations

import ast
import html
import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from ramlab.format import french_spaces

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOK_NAMES = sorted(path.name for path in NOTEBOOK_DIR.glob("*.ipynb"))
# One entry per notebook file: impact_<survey>.ipynb may be a symlink to the generic
# report.ipynb (one source), which is then checked once, under its own name.
NOTEBOOKS = sorted({path.resolve() for path in NOTEBOOK_DIR.glob("*.ipynb")})
DATA = ROOT / "data"
NNBSP = "\u202f"
# Types a parameters cell may declare: those ramlab build can check a value against.
PARAMETER_TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}


def _pct(value: int) -> str:
    return f"{value}{NNBSP}%"


def _code(cell) -> str:
    """A code cell's source without IPython magics or shell escapes (for ast)."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()
    )


def _available_years(survey: str) -> list[int]:
    """Years with both a spec and a data file (the rule of ramlab build)."""
    return sorted(
        int(path.stem.rsplit("_", 1)[1])
        for path in (DATA / "raw").glob(f"{survey}_*.sav")
        if (DATA / "specs" / f"{path.stem}.yaml").is_file()
    )


# --------------------------------------------------------------------------------------
# As committed
# --------------------------------------------------------------------------------------
def test_the_project_ships_the_three_notebooks():
    names = set(NOTEBOOK_NAMES)
    assert {"trends.ipynb", "exploration.ipynb", "report.ipynb"} <= names
    assert any(name.startswith("impact_") for name in names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_kernel_python3(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.metadata.kernelspec.language == "python"
    assert "papermill" not in nb.metadata, "an executed copy was committed"
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {position} has outputs"
            assert cell.execution_count is None, f"cell {position} has an execution count"
        assert "papermill" not in cell.metadata, f"cell {position} carries papermill metadata"
        assert "injected-parameters" not in cell.metadata.get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_of_typed_assignments(path):
    import papermill

    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{len(tagged)} cells tagged 'parameters'"
    cell = tagged[0]
    assert cell.cell_type == "code"
    statements = ast.parse(cell.source).body
    assert statements, "empty parameters cell"
    declared = {}
    for statement in statements:
        assert isinstance(statement, ast.AnnAssign), (
            f"line {statement.lineno} is not a typed assignment `name: type = value`"
        )
        assert isinstance(statement.target, ast.Name) and statement.value is not None
        assert isinstance(statement.annotation, ast.Name), "annotation must be a plain type name"
        type_name = statement.annotation.id
        assert type_name in PARAMETER_TYPES, f"{statement.target.id}: type {type_name!r}"
        default = ast.literal_eval(statement.value)
        expected = PARAMETER_TYPES[type_name]
        assert isinstance(default, expected) and not (
            isinstance(default, bool) and expected is not bool
        ), f"{statement.target.id}: default {default!r} is not {type_name}"
        declared[statement.target.id] = type_name
    # papermill (and so ramlab build's parameter check) reads the same types
    inspected = papermill.inspect_notebook(str(path))
    assert {name: p["inferred_type_name"] for name, p in inspected.items()} == declared


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_call_ramlab_and_define_nothing(path):
    nb = nbformat.read(path, as_version=4)
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(_code(cell))):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                         ast.Lambda)), (
                f"cell {position} defines code: move it to src/ramlab/"
            )


def test_build_checks_the_trends_parameters_it_passes():
    from ramlab.reports.parameters import check_parameters
    from ramlab.errors import ParameterError

    notebook = NOTEBOOK_DIR / "trends.ipynb"
    # what ramlab.reports.jobs.plan passes to a trends job
    check_parameters(notebook, {"survey": "associations", "years": [2015, 2021], "data_dir": "../data"})
    with pytest.raises(ParameterError, match="years"):
        check_parameters(notebook, {"years": 2021})
    with pytest.raises(ParameterError, match="year"):
        check_parameters(notebook, {"year": 2021})


# --------------------------------------------------------------------------------------
# Executed with papermill
# --------------------------------------------------------------------------------------
def _execute(name, output_dir, **parameters):
    """Run notebooks/<name> with papermill (kernel python3, cwd notebooks/)."""
    import papermill

    output = Path(output_dir) / name
    env = {
        # this environment's kernel "python3" first, as ramlab build does
        "JUPYTER_PATH": os.pathsep.join(
            p for p in (str(Path(sys.prefix) / "share" / "jupyter"), os.environ.get("JUPYTER_PATH")) if p
        ),
        "IPYTHONDIR": str(Path(output_dir) / "ipython"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        papermill.execute_notebook(
            str(NOTEBOOK_DIR / name),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(NOTEBOOK_DIR),
            progress_bar=False,
            log_output=False,
        )
    return nbformat.read(output, as_version=4)


def _outputs(nb, mimetype):
    return [
        output["data"][mimetype]
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if mimetype in output.get("data", {})
    ]


def _charts(nb):
    """Charts shown: ramlab charts (an SVG <img> in HTML) and plain matplotlib figures (PNG)."""
    svg = [t for t in _outputs(nb, "text/html") if 'class="ramlab-chart' in t]
    return svg + _outputs(nb, "image/png")


def _text(nb) -> str:
    """What the outputs show, as plain text (tags stripped, entities decoded, spaces folded)."""
    markup = re.sub(r"<style.*?</style>", " ", "\n".join(_outputs(nb, "text/html")), flags=re.S)
    markup = html.unescape(re.sub(r"</?[A-Za-z][^>]*>", " ", markup))
    text = "\n".join(_outputs(nb, "text/markdown")) + "\n" + markup
    return re.sub(r"[ \t\r\n]+", " ", text)


def _assert_clean_run(nb):
    for position, cell in enumerate(nb.cells, start=1):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"cell {position}: {output.get('ename')}"


@pytest.fixture(scope="module")
def exploration(tmp_path_factory):
    return _execute("exploration.ipynb", tmp_path_factory.mktemp("exploration"))


def test_exploration_runs_on_the_shipped_2021_data(exploration):
    _assert_clean_run(exploration)
    text = _text(exploration)
    source = exploration.cells
    # the survey-year is loaded weighted, in one line
    assert any(cell.source.strip() == 's = load_survey("associations", year)' for cell in source)
    # weighted total of IMPACT-Associations 2021: 148 429 employer associations
    assert f"148{NNBSP}429 associations" in text
    # the cross-tab has its base and source lines, and the synthetic mark
    assert french_spaces(f"Base : Ont mis en place au moins un partenariat ou prévoient d'en mettre en place (147{NNBSP}511 associations)") in text
    assert french_spaces("Source : IMPACT-Associations 2021, Comisis-OpinionWay") in text
    assert "Données synthétiques" in text
    # mécénat, first mode in 2021: 59 % "Oui" among associations with a partnership
    assert re.search(rf"Oui {_pct(59)}", text)
    # a chart for the cross-tab and one for the predictive margins
    assert len(_charts(exploration)) >= 2


def test_exploration_answers_its_hypothesis_from_the_model(exploration):
    text = _text(exploration)
    assert "mecenat ~ C(taille) + C(secteur)" in text
    assert "quasibinomial" in text  # a survey-weighted logistic model, as R svyglm
    match = re.search(
        rf"À secteur égal, (\d+){NNBSP}% des associations de 50 salariés et plus pratiquent "
        rf"le mécénat, contre (\d+){NNBSP}% de celles de moins de 10 salariés, soit un écart "
        rf"de (−?\d+) points \((p < 0,001|p = 0,\d{{3}})\)",
        text,
    )
    assert match, "the conclusion sentence is missing"
    large, small, gap = int(match[1]), int(match[2]), int(match[3].replace("−", "-"))
    assert abs((large - small) - gap) <= 1  # the gap is the difference of the margins shown
    # the sentence quotes the margins table shown above it (computed, not typed in)
    margins = next(t for t in _outputs(exploration, "text/html") if "Part ajustée" in t)
    for value in (large, small):
        assert f">{_pct(value)}<" in margins
    assert re.search(r"\*\*(Oui|Non)[^*]*\*\*", "\n".join(_outputs(exploration, "text/markdown")))


@pytest.fixture(scope="module")
def trends(tmp_path_factory):
    return _execute("trends.ipynb", tmp_path_factory.mktemp("trends"))


def test_trends_runs_on_the_shipped_data(trends):
    from ramlab.io.sav import read_sav

    _assert_clean_run(trends)
    text = _text(trends)
    # Both shipped years are required: a missing file must fail here, not switch to
    # a weaker check (the single-year notebook has its own test below).
    years = [y for y in (2015, 2021) if y in _available_years("associations")]
    assert years == [2015, 2021], "data/raw/associations_2015.sav and _2021.sav are both needed"
    synthetic = all(
        read_sav(DATA / "raw" / f"associations_{y}.sav").attrs.get("synthetic") for y in years
    )
    assert synthetic and "Données synthétiques" in text
    assert "Une seule édition disponible" not in text
    assert "évolutions 2015–2021" in text
    # one trend table and one line chart per question asked in both years
    tables = [t for t in _outputs(trends, "text/html") if "ramlab-table" in t]
    assert len(tables) >= 3
    assert len(_charts(trends)) == len(tables)
    # the base and source of each year
    assert "Évolution (points)" in text
    assert "2015 : Base : Ont des partenariats avec des entreprises" in text
    assert "Sources : PHARE-Associations 2015" in text and "IMPACT-Associations 2021" in text
    # published figures: levels 2015 -> 2021, local 43 % -> 73 %; source of innovation 86 % -> 90 %;
    # mécénat 67 % -> 59 %. The 2015 base (partnerships with companies) differs from 2021's: the
    # spec does not declare these questions comparable, so no change is computed or starred.
    assert re.search(rf"Au niveau local ou micro local \(ville, quartier\) {_pct(43)} {_pct(73)} non comparable", text)
    assert re.search(rf"Total Oui {_pct(86)} {_pct(90)} non comparable", text)
    assert re.search(rf"Mécénat Oui {_pct(67)} {_pct(59)} non comparable", text)
    assert "* : évolution significative" not in text and not re.search(r"[+−]\d+ \*", text)
    # no stray row: the 2015 « Non » of q8 (three answers in 2021) has no row of its own
    assert not re.search(rf"Non {_pct(33)} ", text.split("Nature de vos pratiques")[-1][:3000])
    # the spec's wording change is said before the table
    assert "Comparabilité" in text and "« Innovation sociétale »" in text
    # a question asked in one year only is listed, not compared
    assert "Questions non comparables" in text


def test_trends_compares_an_item_renamed_between_years(trends):
    """2015 « innovation sociétale » is 2021 « innovation sociale » (q8_2): one row, one change.

    Published: 25 % in 2015, 47 % in 2021, so +22 points.
    """
    if len(_available_years("associations")) < 2:
        pytest.fail("associations 2015 and 2021 data are both needed for this trend")
    text = _text(trends)
    assert re.search(rf"Innovation sociale Oui {_pct(25)} {_pct(47)} non comparable", text), (
        "the renamed item is not matched across years"
    )


def test_trends_test_a_change_only_where_the_spec_says_comparable(tmp_path):
    """Entreprises 2015 -> 2021, same wording and base: 37 % -> about 57 % have partnerships,
    "+20 points en 5 ans" (published), tested and starred; q8 changed its answers: not tested."""
    nb = _execute("trends.ipynb", tmp_path, survey="entreprises", years=[2015, 2021])
    _assert_clean_run(nb)
    text = _text(nb)
    assert re.search(rf"Oui {_pct(37)} {_pct(57)} \+20 \*\*", text)
    assert "* : évolution significative" in text
    q8 = text.split("Nature de vos pratiques partenariales")[-1][:2500]
    assert "non comparable" in q8 and not re.search(r"[+−]\d+ \*", q8)
    assert text.count("Comparabilité :") == 1  # one note for q8, once


def test_trends_with_a_single_year_says_so(tmp_path):
    nb = _execute("trends.ipynb", tmp_path, survey="associations", years=[2021, 2099])
    _assert_clean_run(nb)
    text = _text(nb)
    assert "Aucune donnée n'est disponible pour l'enquête « associations » en 2099" in text
    assert "Une seule édition disponible" in text
    assert "n'est disponible que pour 2021 : aucune évolution ne peut être calculée" in text
    assert "Données synthétiques" in text  # the 2021 file is synthetic
    assert not [t for t in _outputs(nb, "text/html") if "ramlab-table" in t]
    assert not _charts(nb)


MARKUP = "<b>Balisé</b> & <i>co</i>"


@pytest.fixture(scope="module")
def marked_data(tmp_path_factory):
    """A data directory whose specs hold markup in titles, a base label and a message."""
    import yaml

    root = tmp_path_factory.mktemp("marked")
    for sub in ("specs", "population"):
        shutil.copytree(DATA / sub, root / sub)
    (root / "raw").mkdir()
    for sav in (DATA / "raw").glob("*.sav"):
        (root / "raw" / sav.name).symlink_to(sav)
    for name in ("associations_2015", "associations_2021", "entreprises_2021", "maires_2020"):
        path = root / "specs" / f"{name}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["study"]["title"] = f"{MARKUP} {name}"
        doc["questions"]["innovation"]["title"] = MARKUP
        doc["questions"]["innovation"]["message"] = f"[innovation Total Oui] {MARKUP}"
        doc["questions"]["innovation"]["published"] = True
        for base in (doc.get("bases") or {}).values():
            base["label"] = f"{base['label']} {MARKUP}"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


@pytest.mark.parametrize("name, parameters", [
    ("report.ipynb", {"survey": "associations", "year": 2021}),
    ("trends.ipynb", {"survey": "associations", "years": [2015, 2021]}),
    ("programme.ipynb", {"period": "2020-2021",
                         "editions": {"associations": 2021, "entreprises": 2021, "maires": 2020}}),
])
def test_markup_in_a_spec_comes_out_as_text(marked_data, tmp_path, name, parameters):
    nb = _execute(name, tmp_path, data_dir=str(marked_data), **parameters)
    _assert_clean_run(nb)
    shown = "\n".join(_outputs(nb, "text/html") + _outputs(nb, "text/markdown"))
    assert "<b>" not in shown and "<i>" not in shown
    assert "&lt;b&gt;Balisé&lt;/b&gt;" in shown
