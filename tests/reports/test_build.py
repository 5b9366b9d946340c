"""ramlab build: parameter checking, HTML cleaning, atomic replacement, and the 2021 report.

The fast tests use small notebooks written here (no kernel, except the one
failing-notebook test). One test builds the IMPACT-Associations 2021 report
through papermill and checks that the page shows the published figures of
../shared/domain/IMPACT.md (the reference values come from the publications,
not from ramlab).
"""

from __future__ import annotations

import base64
import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)

from ramlab.files import write_atomic
from ramlab.format import french_spaces
from ramlab.reports import build, execute, factory, layout, render
from ramlab.reports.parameters import check_parameters, notebook_parameters, validate_parameters
from ramlab.reports.jobs import plan
from ramlab.cli import main
from ramlab.errors import BuildError, ParameterError

ROOT = Path(__file__).resolve().parents[2]
NNBSP = "\u202f"

# A 1x1 PNG: a chart stand-in.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2"
        "21bc330000000049454e44ae426082"
    )
).decode()
PARAMETERS = (
    'survey: str = "small"\nyear: int = 2021\ndata_dir: str = "../data"\n'
    'audience: str = "partner"\nratio: float = 0.5'
)


def _notebook(*cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = list(cells)
    return nb


def _parameters_cell(source=PARAMETERS):
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


class _VisibleText(HTMLParser):
    """Text a reader sees: everything outside <style>, <script> and <head>."""

    def __init__(self):
        super().__init__()
        self.parts, self._hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return re.sub(r"[ \t\r\n]+", " ", " ".join(parser.parts))


def _assert_self_contained(html: str):
    assert '<html lang="fr">' in html
    for src in re.findall(r"<script[^>]*\bsrc=\"([^\"]*)\"", html):
        pytest.fail(f"the page loads a script: {src}")
    assert "require.js" not in html and "mathjax" not in html.lower() and "mermaid" not in html
    for src in re.findall(r"<img[^>]*\bsrc=\"([^\"]*)\"", html):
        assert src.startswith("data:image/"), src[:60]


# ---------------------------------------------------------------------------
# Cleaning and rendering


def _executed_notebook():
    """An executed notebook as papermill leaves it, with everything a reader must not see."""
    parameters = _parameters_cell()
    injected = new_code_cell('survey = "small"\nyear = 2021\n')
    injected.metadata["tags"] = ["injected-parameters"]
    chart = new_code_cell("import secret_module\nplt.plot([1, 2])")
    chart.outputs = [
        new_output("stream", name="stderr", text="UserWarning: something internal\n"),
        new_output(
            "execute_result",
            data={"text/plain": "[<matplotlib.lines.Line2D at 0x7f3a2c1d0>]"},
            execution_count=3,
        ),
        new_output(
            "display_data",
            data={"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"},
        ),
    ]
    table = new_code_cell("ramlab.tables.crosstab(design, 'q7')")
    table.outputs = [
        new_output(
            "execute_result",
            data={"text/html": "<table><tr><td>73\u202f%</td></tr></table>", "text/plain": "Table"},
            execution_count=4,
        ),
        new_output(
            "display_data",
            data={"application/vnd.ramlab.keyfigures+json": {"Q7": "73 %"}, "text/plain": "{}"},
        ),
        new_output("display_data", data={"application/javascript": "alert(1)", "text/plain": ""}),
    ]
    silent = new_code_cell("x = 1")
    printed = new_code_cell("print('Bonjour')")
    printed.outputs = [new_output("stream", name="stdout", text="Bonjour\n")]
    failed = new_code_cell("1 / 0")
    failed.outputs = [
        new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=["Traceback"])
    ]
    return _notebook(
        new_markdown_cell("# Rapport de test"),
        parameters,
        injected,
        chart,
        table,
        silent,
        printed,
        failed,
    )


def test_clean_notebook_keeps_only_what_a_reader_sees():
    nb = _executed_notebook()
    before = nbformat.writes(nb)
    cleaned = render.clean_notebook(nb)

    assert nbformat.writes(nb) == before, "the input notebook must not change"
    kinds = [(cell.cell_type, cell.source.splitlines()[0]) for cell in cleaned.cells]
    assert kinds == [
        ("markdown", "# Rapport de test"),
        ("code", "import secret_module"),
        ("code", "ramlab.tables.crosstab(design, 'q7')"),
        ("code", "print('Bonjour')"),
    ]
    chart, table, printed = cleaned.cells[1:]
    assert [output.output_type for output in chart.outputs] == ["display_data"]
    assert set(chart.outputs[0].data) == {"image/png"}
    assert [set(output.data) for output in table.outputs] == [{"text/html"}]
    assert printed.outputs[0].name == "stdout"


def test_render_html_is_french_self_contained_and_free_of_code():
    html = render.render_html(render.clean_notebook(_executed_notebook()))
    text = visible_text(html)

    _assert_self_contained(html)
    assert "data:image/png;base64," in html
    assert "73\u202f%" in text and "Bonjour" in text and "Rapport de test" in text
    for hidden in ("secret_module", "ramlab.", "import ", "Line2D", "UserWarning", "Traceback",
                   "ZeroDivisionError", "injected", "In [", "Out[", "Figure size", "alert(1)"):
        assert hidden not in text, hidden
    assert "alert(1)" not in html and "UserWarning" not in html
    assert "<title>Rapport de test</title>" in html
    assert '<nav aria-label="Sommaire" class="ramlab-toc" id="toc">' not in html  # no section heading


def test_table_of_contents_links_every_section_with_unique_anchors():
    # headings from Markdown cells, HTML outputs and Markdown outputs; an id already taken
    nb = nbformat.v4.new_notebook()
    html_output = lambda text: nbformat.v4.new_output("display_data", data={"text/html": text})  # noqa: E731
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Titre"),
        nbformat.v4.new_markdown_cell("## Résultats"),
        nbformat.v4.new_code_cell("", outputs=[html_output("<h3>Détail</h3><p>a</p><h3>Détail</h3>")]),
        nbformat.v4.new_code_cell("", outputs=[
            nbformat.v4.new_output("display_data", data={"text/markdown": "## L'enquête"}),
            html_output('<p id="l-enquete">déjà pris</p>'),
        ]),
    ]
    html = render.render_html(nb)
    ids = re.findall(r'\bid="([^"]*)"', html)
    assert len(ids) == len(set(ids))
    nav = html[html.index("<nav"): html.index("</nav>")]
    targets = re.findall(r'href="#([^"]*)"', nav)
    assert targets == ["resultats", "detail", "detail-2", "l-enquete-2"]
    for target in targets:  # each entry leads to its heading, which links to itself
        assert re.search(rf'<h[23] id="{target}">[^<]*<a class="anchor-link" href="#{target}">', html)
    assert nav.index('<ol><li><a href="#detail"') > nav.index("#resultats"), "h3 nested under h2"
    assert html.index("<nav") > html.index("</h1>")
    assert "<nav" not in render.render_html(nbformat.v4.new_notebook())


# ---------------------------------------------------------------------------
# Parameters

DECLARED = {
    "survey": {"name": "survey", "inferred_type_name": "str", "default": '"small"', "help": ""},
    "year": {"name": "year", "inferred_type_name": "int", "default": "2021", "help": ""},
    "ratio": {"name": "ratio", "inferred_type_name": "float", "default": "0.5", "help": ""},
    "flag": {"name": "flag", "inferred_type_name": "None", "default": "False", "help": ""},
    "anything": {"name": "anything", "inferred_type_name": "None", "default": "None", "help": ""},
}


def test_validate_parameters_accepts_the_declared_types():
    validate_parameters(
        DECLARED, {"survey": "maires", "year": 2016, "ratio": 1, "flag": True, "anything": [1]}
    )


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"yeer": 2021}, "'yeer'"),
        ({"year": "2021"}, "'year'"),
        ({"year": 2021.0}, "'year'"),
        ({"year": True}, "'year'"),
        ({"survey": 3}, "'survey'"),
        ({"ratio": "0.5"}, "'ratio'"),
        ({"flag": 1}, "'flag'"),
    ],
)
def test_validate_parameters_names_the_bad_parameter(parameters, named):
    with pytest.raises(ParameterError, match=named):
        validate_parameters(DECLARED, parameters)


def test_check_parameters_reads_the_typed_parameters_cell(tmp_path):
    path = tmp_path / "report.ipynb"
    nbformat.write(_notebook(_parameters_cell(), new_code_cell("x = 1")), path)
    check_parameters(path, {"survey": "small", "year": 2020, "data_dir": "d", "ratio": 2})
    with pytest.raises(ParameterError, match="'year'.*must be int"):
        check_parameters(path, {"year": "2020"})
    with pytest.raises(ParameterError, match="unknown parameter 'audiance'"):
        check_parameters(path, {"audiance": "partner"})  # misspelt


def test_source_cell_position_skips_the_injected_cell():
    cells = [new_markdown_cell("# T"), _parameters_cell(), new_code_cell("a"), new_code_cell("b")]
    # executed: [md, parameters, injected, a, b]
    assert [execute.source_cell_position(cells, i, injected=True) for i in (0, 1, 3, 4)] == [1, 2, 3, 4]
    assert execute.source_cell_position(cells, 3, injected=False) == 4
    no_parameters = [new_markdown_cell("# T"), new_code_cell("a")]
    # executed: [injected, md, a]
    assert execute.source_cell_position(no_parameters, 2, injected=True) == 2


# ---------------------------------------------------------------------------
# Jobs, atomic replacement, failures


def _project(tmp_path, *cells, survey="small"):
    """A project with one notebook and one survey-year (empty spec and data stand-ins)."""
    for folder in ("notebooks", "data/raw", "data/specs", "reports"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    nbformat.write(_notebook(*cells), tmp_path / "notebooks" / f"impact_{survey}.ipynb")
    (tmp_path / "data" / "raw" / f"{survey}_2021.sav").write_bytes(b"")
    (tmp_path / "data" / "specs" / f"{survey}_2021.yaml").write_text("")
    return layout.Layout(tmp_path)


def test_plan_needs_both_a_spec_and_a_data_file(tmp_path):
    layout = _project(tmp_path, _parameters_cell())
    (tmp_path / "data" / "raw" / "small_2015.sav").write_bytes(b"")
    (tmp_path / "data" / "specs" / "small_2015.yaml").write_text("")
    (tmp_path / "data" / "raw" / "small_2019.sav").write_bytes(b"")  # no spec for 2019
    (tmp_path / "data" / "raw" / "orphan_2021.sav").write_bytes(b"")  # no spec
    (tmp_path / "data" / "specs" / "maires_2020.yaml").write_text("")  # no data
    (tmp_path / "data" / "raw" / "notes.sav").write_bytes(b"")  # not <survey>_<year>

    jobs = plan(layout.root)  # no trends notebook in this project: reports only
    assert [(job.survey, job.year) for job in jobs] == [("small", 2015), ("small", 2021)]
    job = jobs[1]
    assert job.output == tmp_path / "reports" / "small" / "2021.html"
    assert job.executed == tmp_path / "build" / "executed" / "small_2021.ipynb"
    assert job.parameters == {"survey": "small", "year": 2021, "data_dir": "../data", "audience": "partner"}
    assert [j.year for j in plan(layout.root, years=2015)] == [2015]
    with pytest.raises(BuildError, match="maires_2020.sav"):
        plan(layout.root, surveys="maires", years=2020)
    with pytest.raises(BuildError, match="small_2019.yaml"):
        plan(layout.root, surveys="small", years=2019)
    with pytest.raises(BuildError, match="nothing to build"):
        plan(layout.root, surveys="entreprises")


def test_excel_flag_passes_the_workbook_path_relative_to_the_notebooks(tmp_path):
    layout = _project(tmp_path, _parameters_cell())
    (job,) = plan(layout.root, excel=True)
    assert job.excel and job.workbook == tmp_path / "reports" / "small" / "2021.xlsx"
    assert job.parameters["excel_path"] == "../reports/small/2021.xlsx"
    (internal,) = plan(layout.root, audience="internal")
    assert internal.parameters["audience"] == "internal"
    assert internal.output == tmp_path / "build" / "internal" / "reports" / "small" / "2021.html"


def test_a_survey_without_its_own_notebook_uses_the_generic_one(tmp_path):
    layout = _project(tmp_path, _parameters_cell())
    assert layout.notebook_for("small") == tmp_path / "notebooks" / "impact_small.ipynb"
    assert layout.notebook_for("maires") == tmp_path / "notebooks" / "impact_maires.ipynb"
    nbformat.write(_notebook(_parameters_cell()), tmp_path / "notebooks" / "report.ipynb")
    assert layout.notebook_for("maires") == tmp_path / "notebooks" / "report.ipynb"
    assert layout.notebook_for("small") == tmp_path / "notebooks" / "impact_small.ipynb"


def test_write_atomic_replaces_whole_or_not_at_all(tmp_path):
    report = tmp_path / "reports" / "small" / "2021.html"
    write_atomic(report, "<p>ancien</p>")
    old = report.read_bytes()
    with pytest.raises(UnicodeEncodeError):
        write_atomic(report, "<p>nouveau \ud800</p>")  # fails half-way through writing
    assert report.read_bytes() == old
    assert sorted(p.name for p in report.parent.iterdir()) == ["2021.html"]
    write_atomic(report, "<p>nouveau</p>")
    assert report.read_text(encoding="utf-8") == "<p>nouveau</p>"


def test_build_checks_every_parameter_before_running_anything(tmp_path):
    layout = _project(tmp_path, _parameters_cell("survey: str = 'small'\nyear: int = 2021"))
    (job,) = plan(layout.root)  # passes data_dir, which this notebook does not declare
    with pytest.raises(ParameterError, match="'data_dir'"):
        factory.build_all(layout.root, jobs_n=1, progress=False)
    assert not (tmp_path / "build" / "executed").exists() and not job.output.exists()
    assert main(["build", "--root", str(tmp_path), "--jobs", "1"]) == 2


def test_failing_notebook_names_its_cell_exits_nonzero_and_keeps_the_old_report(tmp_path, capsys):
    layout = _project(
        tmp_path,
        new_markdown_cell("# Rapport"),
        _parameters_cell(),
        new_code_cell("x = 1"),
        new_code_cell("ratio_of_nothing = 1 / 0"),
        new_code_cell("y = 2"),
    )
    report = layout.reports / "small" / "2021.html"
    report.parent.mkdir(parents=True)
    report.write_bytes(b"<html>previous good report</html>")

    status = main(["build", "--root", str(tmp_path), "--jobs", "1"])

    assert status != 0
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert "cellule 4 de notebooks/impact_small.ipynb" in err and "ZeroDivisionError" in err
    assert "ratio_of_nothing" in err
    assert report.read_bytes() == b"<html>previous good report</html>"
    assert sorted(p.name for p in report.parent.iterdir()) == ["2021.html"]
    assert (tmp_path / "build" / "executed" / "small_2021.ipynb").is_file()


# ---------------------------------------------------------------------------
# The IMPACT-Associations 2021 report

NOTEBOOK = ROOT / "notebooks" / "impact_associations.ipynb"


def test_report_notebook_is_committed_without_outputs_and_typed_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    declared = notebook_parameters(NOTEBOOK)
    assert {name: p["inferred_type_name"] for name, p in declared.items()} == {
        "survey": "str", "year": "int", "data_dir": "str", "audience": "str", "excel_path": "str",
    }
    assert "/" not in declared["data_dir"]["default"].strip("\"'")[:1], "no absolute default path"


def test_one_generic_report_notebook_for_every_survey():
    """impact_associations.ipynb is the generic notebook (a symlink), free of survey specifics."""
    generic = ROOT / "notebooks" / layout.GENERIC_NOTEBOOK
    assert NOTEBOOK.is_symlink() and NOTEBOOK.resolve() == generic.resolve()
    assert layout.Layout(ROOT).notebook_for("maires") == generic
    nb = nbformat.read(generic, as_version=4)
    specific = re.compile(r"\bq\d+\b|innovation|taille|secteur|region|associations|entreprises|maires", re.I)
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            assert not specific.search(cell.source), f"cell {position}: {specific.search(cell.source)[0]}"


def _after(text: str, label: str, *figures: str, within: int = 160) -> None:
    """Assert that `figures` follow `label` in `text`, in this order, within `within` characters."""
    start = text.find(label)
    assert start >= 0, f"{label!r} not in the report"
    window = text[start + len(label): start + len(label) + within]
    position = 0
    for figure in figures:
        found = window.find(figure, position)
        assert found >= 0, f"{figure!r} does not follow {label!r}: {window!r}"
        position = found + len(figure)


def _pct(value: int) -> str:
    return f"{value}{NNBSP}%"


@pytest.fixture(scope="module")
def report_2021(tmp_path_factory):
    """The 2021 report, built through papermill into a temporary directory."""
    from dataclasses import replace

    work = tmp_path_factory.mktemp("report")
    (job,) = plan(ROOT, surveys="associations", years=2021, excel=True)
    excel_path = work / "reports" / "2021.xlsx"
    job = replace(
        job, output=work / "reports" / "2021.html", executed=work / "build" / "executed" / "a.ipynb",
        parameters={**job.parameters, "excel_path": str(excel_path)},
    )
    assert build.build_report(job) == job.output
    assert job.executed.is_file()
    assert excel_path.is_file()
    return job.output.read_text(encoding="utf-8")


def test_report_2021_shows_the_published_figures(report_2021):
    from ramlab.io.spec import load_spec

    with warnings.catch_warnings():  # margins from rounded shares are rescaled, with a warning
        warnings.simplefilter("ignore", UserWarning)
        spec = load_spec("associations", year=2021, data_dir=ROOT / "data")
    body = re.sub(r'<nav id="toc".*?</nav>|<nav [^>]*id="toc".*?</nav>', "", report_2021, flags=re.S)
    text = visible_text(body)  # without the table of contents, which repeats the titles
    # a section is titled by its message; the question's wording follows the title
    titles = [question.text for question in spec.questions.values()]
    sections = {}
    for qid, title in zip(spec.questions, titles):
        start = text.index(title)
        ends = [text.find(t, start + len(title)) for t in titles if t != title]
        sections[qid] = text[start: min([e for e in ends if e > start] + [len(text)])]

    assert french_spaces(f"Base : Ensemble (148{NNBSP}429 associations)") in text
    q7 = sections["q7"]
    assert f"(147{NNBSP}511 associations)" in q7
    labels = list(spec.questions["q7"].item_labels.values())  # local, regional, national, international
    for label, value in zip(labels, (73, 47, 26, 11)):
        _after(q7, label, _pct(value))
    _after(q7, "en moyenne", "1,6")

    q8 = sections["q8"]
    for label, oui, oui_6_mois in zip(
        spec.questions["q8"].item_labels.values(), (59, 47, 45, 39), (75, 73, 70, 58)
    ):
        _after(q8, label, _pct(oui), _pct(oui_6_mois))

    q6 = sections["q6"]
    for label, oui in zip(spec.questions["q6"].item_labels.values(), (89, 73, 70, 56, 52, 37, 35)):
        _after(q6, label, _pct(oui))

    _after(sections["innovation"], "Total Oui", _pct(90))
    # every table states its unweighted base too
    assert text.count("Base brute") >= len(spec.questions)
    assert text.count(french_spaces(spec.study["source"])) >= len(spec.questions)


def test_report_2021_has_profile_diagnostics_and_the_synthetic_notice(report_2021):
    text = visible_text(report_2021)
    for heading in ("Échantillon brut", "Échantillon redressé", "Population",
                    "Efficacité de Kish", "Effectif efficace", "Poids minimum", "poids maximum"):
        assert heading in text, heading
    assert re.search(r'<div class="ramlab-synthetic"[^>]*>\s*<strong>Données synthétiques</strong>', report_2021)


def test_report_2021_is_clean_and_self_contained(report_2021):
    text = visible_text(report_2021)
    _assert_self_contained(report_2021)
    charts = re.findall(r'<img[^>]*src="data:image/svg\+xml;base64,[^"]*"[^>]*>', report_2021)
    assert len(charts) >= 5
    alts = [re.search(r'alt="([^"]*)"', tag)[1] for tag in charts]
    assert all(len(alt) > 40 and re.search(r"\d", alt) for alt in alts), alts  # says what it shows
    assert "<pre" not in report_2021 and "Traceback" not in report_2021
    assert "Line2D at 0x" not in report_2021 and "<Figure size" not in report_2021
    assert "Warning" not in text
    for code in ("ramlab.", "import ", "load_survey", "display(", "data_dir"):
        assert code not in text, code
    assert 'class="jp-InputPrompt' not in report_2021 and "hl-python" not in report_2021
    assert not re.search(r"(In|Out)\s*\[\d*\]", text), "prompts"


def test_report_2021_has_a_methodology_box_with_the_margin_of_error(report_2021):
    from ramlab.weighting import weight_summary
    from ramlab.io.survey import load_survey

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loaded = load_survey("associations", 2021, data_dir=ROOT / "data")
    deff = float(weight_summary(loaded.design.weights)["kish_deff"])
    # closed form: 1.96 * sqrt(0.25 * deff / n), in points, one decimal, French format
    moe = f"{1.96 * (0.25 * deff / loaded.n) ** 0.5 * 100:.1f}".replace(".", ",")
    box = report_2021[re.search(r'<aside[^>]*class="ramlab-methodology"', report_2021).start():]
    box = visible_text(box[: box.index("</aside>")])
    for expected in ("Associations employeuses en France", f"148{NNBSP}429", f"1{NNBSP}206 répondants",
                     "Questionnaire en ligne et par téléphone", "du 03/05/2021 au 18/06/2021",
                     "Provence-Alpes-Côte d'Azur et Corse", "Effet de plan (Kish)",
                     f"±{NNBSP}{moe} points"):
        assert expected in box, expected
    # the spec's rescaling warnings are a French note, not stderr
    assert "ramenée au total de la population" in box
    assert "rescaled" not in report_2021


def test_report_2021_has_a_provenance_footer_and_hides_key_figure_data(report_2021, tmp_path_factory):
    import hashlib
    import subprocess

    from ramlab import __version__

    footer = report_2021[report_2021.index('<footer class="ramlab-provenance"'):]
    text = visible_text(footer[: footer.index("</footer>")])
    digest = hashlib.sha256((ROOT / "data" / "raw" / "associations_2021.sav").read_bytes()).hexdigest()
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    commit = done.stdout.strip() if done.returncode == 0 else "inconnu"
    # a partner report: ramlab's version and the build date, nothing internal
    assert __version__ in text and "Construit le" in text
    full = (commit, f"associations_2021.sav ({digest[:12]})", "survey = 'associations'", "year = 2021")
    for internal in full + ("sha256", "Commit", "Paramètres", "/work/", "data_dir"):
        assert internal not in visible_text(report_2021), internal
    # the full provenance goes to the executed notebook
    (executed,) = tmp_path_factory.getbasetemp().rglob("executed/a.ipynb")
    origin = json.loads(executed.read_text(encoding="utf-8"))["metadata"]["ramlab"]["provenance"]
    assert origin["commit"] == commit and f"associations_2021.sav ({digest[:12]})" in origin["data"]
    assert "survey = 'associations'" in origin["parameters"]
    assert "vnd.ramlab.keyfigures" not in report_2021
    assert "vnd.ramlab.essentiel" not in report_2021


def test_report_2021_workbook_has_a_sheet_per_question_with_bases_and_letters(report_2021, tmp_path_factory):
    from openpyxl import load_workbook

    from ramlab.io.spec import load_spec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        spec = load_spec("associations", year=2021, data_dir=ROOT / "data")
    (path,) = [p for p in tmp_path_factory.getbasetemp().rglob("2021.xlsx")]
    book = load_workbook(path)
    assert len(book.sheetnames) == len(spec.questions)
    sheet = book[book.sheetnames[spec.questions and list(spec.questions).index("q7")]]
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert any("Base brute" in c for c in cells) and any("Base pondérée" in c for c in cells)
    assert any(re.fullmatch(r".*\(([A-Z])\)", c) for c in cells), "column letters"


def test_cli_build_passes_its_flags_to_the_factory(monkeypatch, tmp_path):
    import functools
    import os

    calls = []

    class Summary:
        exit_code = 0

    def fake_build_all(root, **options):
        calls.append((root, options))
        return Summary()

    monkeypatch.setattr(factory, "build_all", fake_build_all)
    assert main(["build", "--root", str(tmp_path), "--survey", "maires", "--survey", "entreprises",
                 "--year", "2016", "--year", "2020", "--audience", "internal", "--excel",
                 "--force", "--jobs", "3", "--timeout", "90"]) == 0
    root, options = calls[-1]
    assert root == tmp_path
    build_one = options.pop("build_one")
    assert options == {"surveys": ["maires", "entreprises"], "years": [2016, 2020], "jobs_n": 3,
                       "audience": "internal", "excel": True, "force": True}
    assert isinstance(build_one, functools.partial) and build_one.func is build.build_report
    assert build_one.keywords == {"timeout": 90.0}
    main(["build"])
    _, defaults = calls[-1]
    assert (defaults["surveys"], defaults["years"], defaults["audience"], defaults["excel"],
            defaults["force"], defaults["jobs_n"]) == (None, None, "partner", False, False,
                                                      os.cpu_count() or 1)
    with pytest.raises(SystemExit):
        main(["build", "--audience", "public"])


def test_partner_provenance_is_version_and_date_internal_is_everything():
    from ramlab.reports.provenance import for_audience, provenance_footer

    values = {"ramlab": "0.1.0", "commit": "abc1234", "data": "a.sav (0123456789ab)",
              "parameters": "survey = 'a'", "built": "30/11/2026 à 02:00 UTC"}
    assert for_audience(values, "partner") == {"ramlab": "0.1.0", "built": "30/11/2026 à 02:00 UTC"}
    assert for_audience(values, "internal") == values
    footer = provenance_footer(for_audience(values, "partner"))
    assert "abc1234" not in footer and "0123456789ab" not in footer and "0.1.0" in footer


def test_partner_report_2021_shows_no_code_path_hash_or_working_note(report_2021):
    from ramlab.io.spec import load_spec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        spec = load_spec("associations", year=2021, data_dir=ROOT / "data")
    text = visible_text(report_2021)
    assert 'class="ramlab-qid"' not in report_2021
    columns = [c for q in spec.questions.values() for c in q.columns]
    for code in [c for c in [*spec.questions, *columns] if re.fullmatch(r"q\d+(_\d+)?", c)]:
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", text, flags=re.I), code
    # a code that is also a word ("innovation") never opens a caption
    assert not re.search(r"<caption>\s*innovation", report_2021)
    for internal in ("/work/", str(ROOT), ".sav", "sha256", "Commit git", "Paramètres",
                     "Aucune source publiée", "inférence", "hypothèse ;"):
        assert internal not in text, internal
    # "L'essentiel" opens the report: the study card, then sentences with figure and base
    essentiel = text[text.index("L'essentiel"):]
    assert essentiel.index("Population") < essentiel.index(french_spaces("Base :"))
    assert report_2021.count('class="ramlab-finding ') >= 5


def test_job_kernels_freeze_what_an_import_cell_leaves():
    # A job's kernel runs the startup files of its private IPython profile; ramlab's
    # registers a hook that moves the objects alive after a cell that imported modules
    # out of the garbage collector's reach (gc.freeze), and nothing after other cells.
    import gc
    import sys
    import types
    from types import SimpleNamespace

    with execute.private_ipython_dir() as directory:
        startup = sorted((directory / "profile_default" / "startup").glob("*.py"))
        source = "".join(path.read_text(encoding="utf-8") for path in startup)
    hooks = []
    shell = SimpleNamespace(events=SimpleNamespace(register=lambda name, f: hooks.append((name, f))))
    namespace = {"get_ipython": lambda: shell}
    exec(compile(source, "startup", "exec"), namespace)
    assert [name for name, _ in hooks] == ["post_run_cell"]
    assert not [name for name in namespace if name.startswith("_ramlab")]  # the notebook sees nothing
    hook = hooks[0][1]
    gc.unfreeze()
    try:
        hook(None)  # a cell that imported nothing
        assert gc.get_freeze_count() == 0
        sys.modules["ramlab_test_imported_module"] = types.ModuleType("ramlab_test_imported_module")
        hook(None)  # a cell that imported a module
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        hook(None)  # nothing new since
        assert gc.get_freeze_count() == 0 < frozen
    finally:
        gc.unfreeze()
        sys.modules.pop("ramlab_test_imported_module", None)
