"""Tests of the report factory (ramlab.factory): planning, fingerprints, skipping,
parallel runs, failures, key figures and the index page.

Each test builds a tiny project of its own in tmp_path. The builders below are
module-level so that the worker processes can import them; ``fake_build`` runs
no kernel (fast), ``papermill_build`` executes the notebook with papermill.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ramlab.reports import factory, findings, fingerprints, index, keyfigures, pool
from ramlab.reports.jobs import longest_first, plan
from ramlab.reports._worker import failing_cell
from ramlab.errors import BuildError, ParameterError

REPO = Path(__file__).resolve().parents[2]
NNBSP = "\u202f"


# ---------------------------------------------------------------------------
# Tiny projects


def notebook(cells) -> dict:
    """An nbformat 4.5 notebook from (cell_type, source[, tags]) tuples."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": kind,
                "id": f"cell-{index}",
                "metadata": {"tags": list(rest[0])} if rest else {},
                "source": source,
                **({"outputs": [], "execution_count": None} if kind == "code" else {}),
            }
            for index, (kind, source, *rest) in enumerate(cells)
        ],
    }


PARAMETERS = ("code", 'survey = "x"\nyear = 2000\ndata_dir = "../data"\naudience = "partner"', ["parameters"])
REPORT = [
    ("markdown", "# Rapport de test"),
    PARAMETERS,
    ("code", "from ramlab.reports import keyfigures\n"
             "keyfigures.publish({'Q7 Au niveau local': f'{year % 100}\u202f%'})"),
    ("code", "print(survey, year)"),
]
TRENDS = [
    ("code", 'survey = "x"\nyears = [2000]\ndata_dir = "../data"', ["parameters"]),
    ("code", "print(years)"),
]


def write_notebook(path: Path, cells) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook(cells)), encoding="utf-8")
    return path


def make_project(root: Path, *, surveys=None, trends=True) -> Path:
    """A project: ``surveys`` maps a survey to its years (data files + one spec)."""
    surveys = surveys or {"associations": [2015, 2021], "maires": [2020]}
    for survey, years in surveys.items():
        write_notebook(root / "notebooks" / f"impact_{survey}.ipynb", REPORT)
        for year in years:
            raw = root / "data" / "raw" / f"{survey}_{year}.sav"
            raw.parent.mkdir(parents=True, exist_ok=True)
            raw.write_bytes(f"{survey} {year}".encode())
        spec = root / "data" / "specs" / f"{survey}.yaml"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(
            f"survey: {survey}\nweighting:\n  margins:\n"
            f"    - variable: taille\n      file: {survey}_taille.yaml\n",
            encoding="utf-8",
        )
        population = root / "data" / "population" / f"{survey}_taille.yaml"
        population.parent.mkdir(parents=True, exist_ok=True)
        population.write_text(f"source: INSEE\n{survey}: 1\n", encoding="utf-8")
    if trends:
        write_notebook(root / "notebooks" / "trends.ipynb", TRENDS)
    return root


# ---------------------------------------------------------------------------
# Builders (run in the worker processes)


def _write_executed(job, figures):
    executed = notebook([("markdown", f"# Rapport {job.label}")])
    executed["cells"].append({
        "cell_type": "code", "id": "kf", "metadata": {"papermill": {"duration": 0.25}},
        "execution_count": 1, "source": "",
        "outputs": [{"output_type": "display_data", "metadata": {},
                     "data": {keyfigures.MIME: {"figures": figures}}}],
    })
    job.executed.parent.mkdir(parents=True, exist_ok=True)
    job.executed.write_text(json.dumps(executed), encoding="utf-8")


def fake_build(job):
    """No kernel: key figures from data/figures.json (``{job key: {label: text}}``) if any."""
    table = job.root / "data" / "figures.json"
    figures = json.loads(table.read_text())[job.key] if table.is_file() else {"n": "1"}
    _write_executed(job, figures)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.output.write_text(f"<html>{job.label}</html>", encoding="utf-8")
    log = job.root / "built.log"
    with log.open("a", encoding="utf-8") as stream:
        stream.write(job.key + "\n")


def flaky_kernel_build(job):
    """Fails like a kernel that did not start, the first time only."""
    marker = job.root / f"{job.name}.tried"
    if not marker.exists():
        marker.write_text("1")
        raise RuntimeError("Kernel died before replying to kernel_info")
    fake_build(job)


def broken_build(job):
    """Fails before any cell, with no kernel involved: never retried."""
    raise ValueError("modèle introuvable")


def papermill_build(job):
    """Execute with papermill as ramlab does (its kernel manager and environment), then
    write the report only when it succeeded."""
    from ramlab.reports.execute import execute_notebook

    execute_notebook(job)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.output.write_text(f"<html>{job.label}</html>", encoding="utf-8")


def reject_maires(notebook, parameters):
    if parameters["survey"] == "maires":
        raise ParameterError("unknown parameter 'survey' for the notebook")


def build(root, **options):
    options.setdefault("build_one", fake_build)
    options.setdefault("check", None)
    options.setdefault("jobs_n", 2)
    options.setdefault("stream", io.StringIO())
    return factory.build_all(root, **options)


def built(root) -> list[str]:
    log = root / "built.log"
    return log.read_text().split() if log.exists() else []


# ---------------------------------------------------------------------------
# Planning


def test_plan_lists_survey_years_with_spec_and_data_and_trends(tmp_path):
    root = make_project(tmp_path)
    (root / "data" / "raw" / "entreprises_2021.sav").write_bytes(b"no spec")
    (root / "data" / "specs" / "communes_2020.yaml").write_text("survey: communes\n")  # no data
    (root / "data" / "raw" / "notes.txt").write_text("not a survey file")
    jobs = plan(root)
    assert [job.key for job in jobs] == [
        "associations/2015", "associations/2021", "associations/trends", "maires/2020",
    ]
    report, trends = jobs[1], jobs[2]
    assert report.parameters == {
        "survey": "associations", "year": 2021, "data_dir": "../data", "audience": "partner",
    }
    assert report.notebook == root / "notebooks" / "impact_associations.ipynb"
    assert report.output == root / "reports" / "associations" / "2021.html"
    assert report.executed == root / "build" / "executed" / "associations_2021.ipynb"
    assert report.specs == (root / "data" / "specs" / "associations.yaml",)
    assert trends.notebook == root / "notebooks" / "trends.ipynb"
    assert trends.parameters == {"survey": "associations", "years": [2015, 2021], "data_dir": "../data"}
    assert trends.data == tuple(root / "data" / "raw" / f"associations_{y}.sav" for y in (2015, 2021))
    assert trends.output == root / "reports" / "associations" / "trends.html"
    assert (report.year, trends.year, trends.name) == (2021, None, "associations_trends")


def test_plan_prefers_a_year_spec_to_the_survey_spec(tmp_path):
    root = make_project(tmp_path)
    year_spec = root / "data" / "specs" / "associations_2021.yaml"
    year_spec.write_text("survey: associations\nyear: 2021\n")
    specs = {job.key: job.specs for job in plan(root)}
    assert specs["associations/2021"] == (year_spec,)
    assert specs["associations/2015"] == (root / "data" / "specs" / "associations.yaml",)
    assert specs["associations/trends"] == (root / "data" / "specs" / "associations.yaml", year_spec)


def test_plan_picks_part_of_the_grid(tmp_path):
    root = make_project(tmp_path)
    keys = lambda **kw: [job.key for job in plan(root, **kw)]  # noqa: E731
    assert keys(surveys="maires") == ["maires/2020"]
    assert keys(surveys=["associations"], years=[2021]) == ["associations/2021"]  # one year: no trend
    assert keys(years=2020) == ["maires/2020"]
    assert keys(surveys="associations", years=[2015, 2021])[-1] == "associations/trends"
    with pytest.raises(BuildError, match="entreprises"):
        plan(root, surveys="entreprises")
    with pytest.raises(BuildError, match="nothing to build"):
        plan(root, years=1999)


def test_plan_without_trends_notebook_has_no_trends(tmp_path):
    root = make_project(tmp_path, trends=False)
    assert "associations/trends" not in [job.key for job in plan(root)]


def test_internal_audience_builds_outside_the_shared_reports(tmp_path):
    root = make_project(tmp_path)
    job = plan(root, audience="internal")[0]
    assert job.output == root / "build" / "internal" / "reports" / "associations" / "2015.html"
    assert (root / "reports") not in job.output.parents
    with pytest.raises(BuildError, match="audience"):
        plan(root, audience="public")


# ---------------------------------------------------------------------------
# Fingerprints


def _jobs(root, **kw):
    return {job.key: job for job in plan(root, **kw)}


def _hashes(root, **kw):
    return {key: fingerprints.inputs_hash(job) for key, job in _jobs(root, **kw).items()}


@pytest.fixture(autouse=True)
def package_copy(tmp_path, monkeypatch):
    """A stand-in for ramlab's source tree, so that a test may edit 'ramlab's source'.

    Used by every test: a rebuild must not depend on edits made to the real
    package while the tests run.
    """
    package = tmp_path / "package"
    (package / "templates" / "ramlab").mkdir(parents=True)
    (package / "tables.py").write_text("X = 1\n")
    (package / "templates" / "ramlab" / "index.html.j2").write_text("{{ body }}\n")
    monkeypatch.setattr(fingerprints, "package_dir", lambda: package)
    return package


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)


ALL = {"associations/2015", "associations/2021", "associations/trends", "maires/2020"}
ASSOCIATIONS = ALL - {"maires/2020"}
#: edit -> the jobs whose fingerprint it must change (and no other)
EDITS = {
    "report notebook": (
        lambda root, pkg: write_notebook(
            root / "notebooks" / "impact_associations.ipynb", REPORT + [("code", "1")]),
        {"associations/2015", "associations/2021"},
    ),
    "trends notebook": (
        lambda root, pkg: write_notebook(root / "notebooks" / "trends.ipynb", TRENDS[:1]),
        {"associations/trends"},
    ),
    "data": (
        lambda root, pkg: (root / "data" / "raw" / "associations_2021.sav").write_bytes(b"new"),
        {"associations/2021", "associations/trends"},
    ),
    "spec": (lambda root, pkg: _append(root / "data" / "specs" / "associations.yaml", "# x\n"), ASSOCIATIONS),
    "population": (
        lambda root, pkg: (root / "data" / "population" / "associations_taille.yaml")
        .write_text("source: INSEE 2022\n"),
        ASSOCIATIONS,
    ),
    "ramlab source": (lambda root, pkg: (pkg / "tables.py").write_text("X = 2\n"), ALL),
    "new ramlab module": (lambda root, pkg: (pkg / "charts.py").write_text("Y = 1\n"), ALL),
    "template": (
        lambda root, pkg: (pkg / "templates" / "ramlab" / "index.html.j2").write_text("<p>\n"), ALL),
    "locked dependencies": (lambda root, pkg: _append(root / "requirements.lock", "numpy==2.4\n"), ALL),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_hash_changes_with_each_input(tmp_path, package_copy, edit):
    root = make_project(tmp_path / "project")
    (root / "requirements.lock").write_text("pandas==2.2\n")
    before = _hashes(root)
    change, expected = EDITS[edit]
    change(root, package_copy)
    after = _hashes(root)
    assert {key for key in before if after[key] != before[key]} == expected


def test_hash_changes_with_parameters_and_flags(tmp_path, package_copy):
    root = make_project(tmp_path / "project")
    job = _jobs(root)["associations/2021"]
    reference = fingerprints.inputs_hash(job)
    other = dataclasses.replace(job, parameters={**job.parameters, "year": 2020})
    assert fingerprints.inputs_hash(other) != reference
    assert fingerprints.inputs_hash(dataclasses.replace(job, excel=True)) != reference
    internal = _jobs(root, audience="internal")["associations/2021"]
    assert fingerprints.inputs_hash(internal) != reference


def test_trends_hash_changes_with_every_year(tmp_path, package_copy):
    root = make_project(tmp_path / "project")
    before = _hashes(root)
    (root / "data" / "raw" / "associations_2015.sav").write_bytes(b"corrected 2015")
    after = _hashes(root)
    assert after["associations/trends"] != before["associations/trends"]
    assert after["associations/2021"] == before["associations/2021"]


def test_hash_ignores_what_is_not_an_input(tmp_path, package_copy):
    root = make_project(tmp_path / "project")
    before = _hashes(root)
    data = root / "data" / "raw" / "associations_2021.sav"
    os.utime(data, (1, 1))  # same content, other time
    (package_copy / "__pycache__").mkdir()
    (package_copy / "__pycache__" / "tables.cpython-311.pyc").write_bytes(b"\0")
    (root / "data" / "population" / "maires_taille.yaml").write_text("source: other\n")
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / "index.html").write_text("<html></html>")
    after = _hashes(root)
    assert after["associations/2021"] == before["associations/2021"]
    assert after["maires/2020"] != before["maires/2020"]  # its own margin did change


def test_ramlab_source_is_the_installed_package(monkeypatch):
    monkeypatch.undo()
    assert fingerprints.package_dir() == Path(factory.__file__).parents[1]
    assert (fingerprints.package_dir() / "reports" / "templates").is_dir()


def test_population_files_are_those_the_spec_names_else_all(tmp_path):
    population = tmp_path / "population"
    population.mkdir()
    for name in ("a_taille.yaml", "a_region.csv", "b_taille.yaml"):
        (population / name).write_text(name)
    spec = tmp_path / "a.yaml"
    spec.write_text("weighting:\n  margins:\n    - file: a_taille.yaml\n    - file: population/a_region.csv\n")
    assert [p.name for p in fingerprints.population_files([spec], population)] == ["a_region.csv", "a_taille.yaml"]
    spec.write_text("weighting: {margins: standard}\n")  # names none: every file counts
    assert len(fingerprints.population_files([spec], population)) == 3
    spec.write_text("weighting: [unclosed\n")  # unreadable: every file counts
    assert len(fingerprints.population_files([spec], population)) == 3


# ---------------------------------------------------------------------------
# Skipping, manifest, key figures


def test_unchanged_jobs_are_skipped(tmp_path):
    root = make_project(tmp_path)
    first = build(root)
    assert first.exit_code == 0 and not first.skipped
    assert sorted(built(root)) == sorted(job.key for job in first.jobs)
    manifest = json.loads((root / "build" / "manifest.json").read_text())
    assert manifest["records"]["associations/2021"]["output"] == "reports/associations/2021.html"

    second = build(root)
    assert second.results == [] and len(second.skipped) == 4
    assert len(built(root)) == 4

    (root / "reports" / "maires" / "2020.html").unlink()  # a missing report is rebuilt
    (root / "data" / "raw" / "associations_2015.sav").write_bytes(b"new")
    third = build(root)
    assert sorted(result.job.key for result in third.results) == [
        "associations/2015", "associations/trends", "maires/2020",
    ]
    assert build(root, force=True).results.__len__() == 4


def test_unchanged_rebuild_imports_nothing_heavy(tmp_path, package_copy):
    root = make_project(tmp_path)
    assert build(root).exit_code == 0
    code = (
        "import io, sys, test_factory\n"
        "from pathlib import Path\n"
        "from ramlab.reports import factory, fingerprints\n"
        f"fingerprints.package_dir = lambda: Path({str(package_copy)!r})\n"
        f"s = factory.build_all({str(root)!r}, build_one=test_factory.fake_build, check=None,"
        " stream=io.StringIO())\n"
        "assert s.results == [] and len(s.skipped) == 4, s\n"
        "heavy = [m for m in ('pandas', 'numpy', 'matplotlib', 'papermill', 'nbformat',"
        " 'nbconvert', 'IPython') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO / "src")])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    # test_factory imports pytest, which imports none of them either
    assert out.strip() == "[]"


def test_key_figure_changes_are_reported(tmp_path):
    root = make_project(tmp_path, surveys={"associations": [2021]}, trends=False)
    figures = root / "data" / "figures.json"
    figures.write_text(json.dumps({"associations/2021": {"Q7 Au niveau local": f"73{NNBSP}%", "n": "1 206"}}))
    first_out = io.StringIO()
    first = build(root, stream=first_out)
    assert first.changes == []  # first build: nothing to compare with
    assert "Premier build" in first_out.getvalue()
    assert "Aucun chiffre clé modifié" not in first_out.getvalue()
    figures.write_text(json.dumps({"associations/2021": {"Q7 Au niveau local": f"74{NNBSP}%", "Q8": "59"}}))
    (root / "data" / "raw" / "associations_2021.sav").write_bytes(b"corrected")
    second = build(root)
    assert second.changes == [
        f"associations 2021 : Q7 Au niveau local 73{NNBSP}% -> 74{NNBSP}%",
        "associations 2021 : Q8 (nouveau) -> 59",
        "associations 2021 : n 1 206 -> (retiré)",
    ]
    out = io.StringIO()
    (root / "data" / "raw" / "associations_2021.sav").write_bytes(b"corrected again")
    assert build(root, stream=out).changes == []
    assert "Aucun chiffre clé modifié" in out.getvalue()


def test_keyfigures_publish_validates_and_read_merges():
    with pytest.raises(TypeError, match="displayed text"):
        keyfigures._validated({"Q7": 0.73})
    with pytest.raises(TypeError, match="label"):
        keyfigures._validated({"": "73 %"})
    executed = {"cells": [
        {"outputs": [{"output_type": "display_data", "data": {keyfigures.MIME: {"figures": {"a": "1", "b": "2"}}}}]},
        {"outputs": [{"output_type": "stream", "text": "x"}]},
        {"outputs": [{"output_type": "display_data", "data": {keyfigures.MIME: {"figures": {"a": "3"}}}}]},
    ]}
    assert keyfigures.read(executed) == {"a": "3", "b": "2"}
    assert keyfigures.diff({"a": "1"}, {"a": "1"}) == []


# ---------------------------------------------------------------------------
# Running: failures, retries, parameter checks, progress


def test_failing_job_names_its_cell_and_others_go_on(tmp_path):
    root = make_project(tmp_path, surveys={"associations": [2021], "maires": [2020]}, trends=False)
    write_notebook(root / "notebooks" / "impact_maires.ipynb", REPORT[:3] + [
        ("markdown", "## Résultats"),
        ("code", "raise KeyError('Q7')"),
        ("code", "print('jamais')"),
    ])
    first = build(root, build_one=fake_build)  # a previous good edition of every report
    assert first.exit_code == 0
    previous = (root / "reports" / "maires" / "2020.html").read_text()
    previous_record = json.loads((root / "build" / "manifest.json").read_text())["records"]["maires/2020"]

    out = io.StringIO()
    summary = build(root, build_one=papermill_build, stream=out, force=True)
    assert summary.exit_code == 1
    (ok,) = [result for result in summary.results if result.ok]
    (failed,) = summary.failed
    assert ok.job.key == "associations/2021" and ok.key_figures == {"Q7 Au niveau local": f"21{NNBSP}%"}
    assert ok.title == "Rapport de test" and ok.cells_seconds > 0
    assert failed.job.key == "maires/2020"
    # cell 5 of the source notebook, although papermill injected a parameters cell
    assert (failed.cell, failed.ename, failed.evalue) == (5, "KeyError", "'Q7'")
    assert (
        "la cellule 5 de notebooks/impact_maires.ipynb (« raise KeyError('Q7') ») a échoué — "
        "KeyError : 'Q7'" in failed.message
    )
    assert "build/executed/maires_2020.ipynb" in failed.message
    assert failed.job.executed.is_file()  # kept for inspection, outside reports/
    assert (root / "reports" / "maires" / "2020.html").read_text() == previous
    record = json.loads((root / "build" / "manifest.json").read_text())["records"]["maires/2020"]
    assert record == previous_record  # so the next build tries again
    assert "ÉCHEC" in out.getvalue() and "1 échec" in out.getvalue()


def test_failing_cell_position_without_cell_ids():
    executed = notebook([
        ("markdown", "**An Exception was encountered**", ["papermill-error-cell-tag"]),
        PARAMETERS,
        ("code", "survey = 'a'", ["injected-parameters"]),
        ("code", "ok = 1"),
        ("markdown", "anchor", ["papermill-error-cell-tag"]),
        ("code", "1/0"),
    ])
    for cell in executed["cells"]:
        cell.pop("id")
    executed["cells"][5]["outputs"] = [{"output_type": "error", "ename": "ZeroDivisionError",
                                        "evalue": "division by zero", "traceback": []}]
    assert failing_cell(executed) == (3, "ZeroDivisionError", "division by zero")
    # sys.exit(0) ends the run early: a failure like any other (issue 11, 14)
    executed["cells"][5]["outputs"] = [{"output_type": "error", "ename": "SystemExit", "evalue": "0"}]
    assert failing_cell(executed) == (3, "SystemExit", "0")


def test_failed_kernel_start_is_retried_once(tmp_path):
    root = make_project(tmp_path, surveys={"associations": [2021]}, trends=False)
    out = io.StringIO()
    summary = build(root, build_one=flaky_kernel_build, stream=out)
    (result,) = summary.results
    assert result.ok and result.attempts == 2
    assert "noyau relancé une fois" in out.getvalue()
    (root / "data" / "raw" / "associations_2021.sav").write_bytes(b"changed")
    (result,) = build(root, build_one=broken_build).results
    assert not result.ok and result.attempts == 1
    assert result.cell is None and "ValueError : modèle introuvable" in result.message
    assert (root / "build" / "logs" / "associations_2021.log").read_text().count("ValueError") >= 1


def test_parameters_are_checked_before_any_run(tmp_path):
    root = make_project(tmp_path)
    with pytest.raises(ParameterError, match="maires 2020 : unknown parameter"):
        build(root, check=reject_maires)
    assert built(root) == [] and not (root / "reports" / "associations").exists()


def checked_fake_build(job):
    if not job.notebook.is_file():
        raise BuildError(f"{job.name}: notebook not found: {job.notebook}")
    fake_build(job)


def test_a_missing_notebook_fails_its_own_jobs_only(tmp_path):
    root = make_project(tmp_path)
    (root / "notebooks" / "impact_maires.ipynb").unlink()
    # ramlab.build's check raises a BuildError for the missing notebook: not a parameter error
    summary = build(root, build_one=checked_fake_build, check="ramlab.reports.parameters:check_parameters")
    assert [result.job.key for result in summary.failed] == ["maires/2020"]
    assert "notebook not found" in summary.failed[0].message and summary.exit_code == 1
    assert sorted(built(root)) == ["associations/2015", "associations/2021", "associations/trends"]


def test_progress_is_plain_text_off_a_terminal(tmp_path):
    root = make_project(tmp_path)
    out = io.StringIO()
    build(root, stream=out)
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert "4 rapports, 4 à construire, 0 inchangé" in text
    assert "[4/4] " in text and "associations 2021 : construit en " in text
    assert "4 construits, 0 échec, 0 inchangé" in text


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_shows_the_running_jobs(tmp_path):
    from ramlab.reports.progress import Progress

    jobs = plan(make_project(tmp_path))
    out = Terminal()
    display = Progress(out, len(jobs))
    display.tick(jobs[:2])
    assert out.getvalue().startswith("\r\x1b[K0/4 terminés ; en cours : associations 2015 (0 s), ")
    assert out.getvalue().endswith("; 2 en attente")
    display.finished(pool.JobResult(job=jobs[0], ok=False, seconds=2.25, message="associations 2015 : raté"))
    display.tick(jobs[1:2])
    display.close()
    lines = out.getvalue().split("\r\x1b[K")
    assert lines[2] == f"[1/4] associations 2015 : ÉCHEC en 2,3\u00a0s\n    associations 2015 : raté\n"
    assert lines[3].startswith("1/4 terminés, 1 en échec ; en cours : associations 2021")
    assert lines[4] == ""  # the status line is cleared at the end


def test_longest_jobs_start_first(tmp_path):
    root = make_project(tmp_path)
    (root / "data" / "raw" / "maires_2020.sav").write_bytes(b"x" * 1000)
    jobs = plan(root)
    order = [job.key for job in longest_first(jobs, {})]
    assert order == ["associations/trends", "maires/2020", "associations/2015", "associations/2021"]
    records = {"maires/2020": {"seconds": 3.0}, "associations/2015": {"seconds": 9.0},
               "associations/2021": {"seconds": 1.0}, "associations/trends": {"seconds": 5.0}}
    order = [job.key for job in longest_first(jobs, records)]
    assert order == ["associations/2015", "associations/trends", "maires/2020", "associations/2021"]


# ---------------------------------------------------------------------------
# Parallel kernels

PROBE = [
    ("markdown", "# Sonde"),
    PARAMETERS,
    ("code",
     "import os, time\n"
     "from ramlab.reports import keyfigures\n"
     "start = time.time()\n"
     "time.sleep(1.5)\n"
     "keyfigures.publish({'ipythondir': os.environ['IPYTHONDIR'],\n"
     "                    'history': str(get_ipython().history_manager.enabled),\n"
     "                    'pid': str(os.getpid()),\n"
     "                    'blas': os.environ.get('OPENBLAS_NUM_THREADS', '') + os.environ.get('OMP_NUM_THREADS', ''),\n"
     "                    'start': repr(start), 'end': repr(time.time())})"),
]


def test_parallel_kernels_do_not_collide(tmp_path):
    root = make_project(tmp_path, surveys={"associations": [2015, 2021]}, trends=False)
    write_notebook(root / "notebooks" / "impact_associations.ipynb", PROBE)
    summary = build(root, build_one=papermill_build, jobs_n=2)
    assert summary.exit_code == 0, [result.message for result in summary.results]
    first, second = (result.key_figures for result in summary.results)
    assert first["ipythondir"] != second["ipythondir"]
    assert first["pid"] != second["pid"]
    assert first["history"] == second["history"] == "False"
    # one BLAS / OpenMP thread per kernel: two kernels on two cores, not 2 x cores threads
    if "OPENBLAS_NUM_THREADS" not in os.environ and "OMP_NUM_THREADS" not in os.environ:
        assert first["blas"] == second["blas"] == "11"
    # the two kernels ran at the same time
    assert float(first["start"]) < float(second["end"]) and float(second["start"]) < float(first["end"])


# ---------------------------------------------------------------------------
# Index page


def test_index_links_every_report_with_escaped_figures(tmp_path):
    reports = tmp_path / "reports"
    entries = [
        {"survey": "associations", "kind": "report", "years": [2021],
         "output": reports / "associations" / "2021.html",
         "title": "IMPACT-Associations & Territoires 2021",
         "key_figures": {"Q7 Au niveau local : Cité": f"73{NNBSP}%", "Q7 : Base pondérée": "147 511"},
         "essentiel": {
             "card": [["Enquête", "IMPACT"], ["Population", "Associations <em>employeuses</em>"],
                      ["Répondants", "1 206 répondants"]],
             "sentences": [
                 {"text": "non publiée, en tête", "figure": "9", "base": "b", "synthetic": True,
                  "published": False},
                 {"text": f"73{NNBSP}% des associations <script>alert(1)</script>", "figure": f"73{NNBSP}%",
                  "base": "Base : Ensemble (148 429 associations)", "synthetic": True},
                 {"text": "deuxième", "figure": "1", "base": "b", "synthetic": False},
                 {"text": "troisième", "figure": "2", "base": "b", "synthetic": False},
                 {"text": "quatrième", "figure": "3", "base": "b", "synthetic": False},
             ]},
         "built_at": "2026-11-26T08:00:00+00:00"},
        {"survey": "associations", "kind": "trends", "years": [2015, 2021],
         "output": reports / "associations" / "trends.html", "title": "", "key_figures": {}},
        {"survey": "maires", "kind": "report", "years": [2020],
         "output": reports / "maires" / "2020.html", "title": "Maires \"2020\"", "key_figures": {},
         "essentiel": {"card": [], "sentences": [
             {"text": "publiée", "figure": "87", "base": "b", "synthetic": True, "published": True},
             {"text": "chiffre du générateur", "figure": "89", "base": "b", "synthetic": True,
              "published": False}]}},
        {"survey": "programme", "kind": "programme", "years": [2020, 2021],
         "output": reports / "programme" / "2020-2021.html", "title": "Programme"},
    ]
    path = index.write_index(reports, entries)
    page = path.read_text(encoding="utf-8")
    assert path == reports / "index.html"
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    assert '<a href="associations/2021.html">Édition 2021</a>' in page
    assert '<a href="associations/trends.html">Évolution 2015–2021</a>' in page
    assert '<a href="maires/2020.html">Édition 2020</a>' in page
    assert "IMPACT-Associations &amp; Territoires 2021" in page
    # the landing page: study card and three sentences, never codes or bases as findings
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "Associations &lt;em&gt;employeuses&lt;/em&gt;" in page and "<em>" not in page
    assert "deuxième" in page and "troisième" in page and "quatrième" not in page
    assert "Q7" not in page and "Base pondérée" not in page and "Cité" not in page
    # published sentences first; on synthetic data, published and non-published figures marked apart
    assert "non publiée, en tête" not in page
    published, unpublished = findings.MARKS[True], findings.MARKS[False]
    assert page.count(f'class="synthetic-mark {published[0]}">{published[1]}</span>') == 2
    assert page.count(f'class="synthetic-mark {unpublished[0]}">{unpublished[1]}</span>') == 1
    assert page.index("chiffre du générateur") < page.index(unpublished[1]) < page.index("</li>",
                                                                               page.index("chiffre du générateur"))
    assert "Maires &quot;2020&quot;" in page and f"73{NNBSP}%" in page
    assert "Construit le 26 novembre 2026" in page
    # self-contained: nothing fetched from anywhere
    assert "http" not in page and "src=" not in page and "@import" not in page
    assert page.index('id="enquete-associations"') < page.index('id="enquete-maires"')
    # the programme report comes first, linked
    assert '<a href="programme/2020-2021.html">Les trois enquêtes côte à côte, 2020–2021</a>' in page
    assert page.index('id="enquete-programme"') < page.index('id="enquete-associations"')
    assert [p.name for p in reports.iterdir()] == ["index.html"]  # no temporary file left
    stamp = path.stat().st_mtime_ns
    time.sleep(0.01)
    index.write_index(reports, entries)
    assert path.stat().st_mtime_ns == stamp  # unchanged content is not rewritten


def test_build_writes_the_index_of_every_built_report(tmp_path):
    root = make_project(tmp_path)
    build(root)
    build(root, surveys="maires", force=True)  # a partial build still lists every report
    page = (root / "reports" / "index.html").read_text(encoding="utf-8")
    for href in ("associations/2015.html", "associations/2021.html", "associations/trends.html",
                 "maires/2020.html"):
        assert f'href="{href}"' in page
    assert "Rapport associations 2021" in page
    assert "<dd>1</dd>" not in page  # key figures are not listed: sentences are, when published


def test_empty_index(tmp_path):
    page = index.write_index(tmp_path, []).read_text(encoding="utf-8")
    assert "Aucun rapport" in page and '<html lang="fr">' in page


# ---------------------------------------------------------------------------
# Light import, benchmark


def test_importing_the_factory_imports_nothing_heavy():
    code = (
        "import sys\n"
        "import ramlab.reports.factory, ramlab.reports.keyfigures, ramlab.reports._worker, ramlab.reports.pool\n"
        "heavy = ('pandas', 'numpy', 'matplotlib', 'scipy', 'papermill', 'nbformat',"
        " 'nbconvert', 'IPython', 'jupyter_client', 'yaml')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_benchmark_runs_on_a_small_project(tmp_path):
    script = REPO / "benchmarks" / "bench_build.py"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, str(script), "--small", "--workdir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for figure in ("--jobs 1", "--jobs 2", "rapport --jobs 2 / --jobs 1",
                   "hors cellules par rapport", "rebuild inchangé"):
        assert figure in out, out


def test_benchmark_measures_a_small_project_against_its_imports_only_floor(tmp_path):
    script = REPO / "benchmarks" / "bench_build.py"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, str(script), "--small", "--floor", "--rounds", "1", "--year", "2021",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"demo/2021 : build .* F .* part propre de ramlab \(build - F, apparié\)", out), out
    assert re.search(r"grille complète \(4 rapports, --jobs 2, depuis zéro\) .* somme des planchers F", out), out
    assert re.search(r"build / F \d+,\d\d \(apparié : \d+,\d\d\)", out), out
    assert re.search(r"charge moyenne \(1 min\) pendant les tours : \d+,\d\d à \d+,\d\d", out), out


def test_index_flags_reports_built_on_synthetic_data(tmp_path):
    reports = tmp_path / "reports"
    entries = [
        {"survey": "associations", "kind": "report", "years": [2021], "synthetic": True,
         "output": reports / "associations" / "2021.html"},
        {"survey": "maires", "kind": "report", "years": [2020],
         "output": reports / "maires" / "2020.html"},
    ]
    page = index.write_index(reports, entries).read_text(encoding="utf-8")
    assert '<div class="ramlab-synthetic" role="note"><strong>Données synthétiques</strong>' in page
    assert page.count('class="synthetic-badge"') == 1
    real = index.write_index(reports, entries[1:]).read_text(encoding="utf-8")
    assert "Données synthétiques" not in real


def test_the_executed_notebook_is_written_when_code_cells_start_not_at_every_step(tmp_path, monkeypatch):
    import papermill.engines

    root = make_project(tmp_path, surveys={"maires": [2020]}, trends=False)
    cells = [*REPORT, ("markdown", "## Deux"), ("code", "print(2)"), ("markdown", "## Trois")]
    write_notebook(root / "notebooks" / "impact_maires.ipynb", cells)
    written = []
    write = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb",
                        lambda nb, path: written.append(len(nb.cells)) or write(nb, path))
    [job] = plan(root)
    papermill_build(job)
    code = sum(kind == "code" for kind, *_ in cells) + 1  # and papermill's parameters cell
    # papermill's write at the start, one per code cell start, one at the end (not 2 per cell)
    assert len(written) == code + 2, written
    executed = json.loads(job.executed.read_text(encoding="utf-8"))
    assert all(c["metadata"]["papermill"]["status"] == "completed" for c in executed["cells"])
    assert "2\n" in executed["cells"][-2]["outputs"][0]["text"]
