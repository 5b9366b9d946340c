"""What ``ramlab build`` refuses (issue 11, the build's cases): each test fails on the code before.

14. a notebook that ends early (``sys.exit(0)``, ``os._exit``, SIGKILL, a cell
    over ``--timeout``) is a failure naming the cell; the previous report stays;
15. ``--timeout`` takes a positive number of seconds, 2.5 included.
"""

from __future__ import annotations

import functools

import pytest

from ramlab.cli import main
from ramlab.errors import ParameterError
from ramlab.reports.build import build_report
from test_factory import REPORT, build, make_project, write_notebook

OLD_REPORT = "<html>rapport précédent, complet</html>"


def _project_with_cell(root, source):
    make_project(root, surveys={"maires": [2020]}, trends=False)
    write_notebook(root / "notebooks" / "impact_maires.ipynb",
                   [*REPORT[:3], ("code", source), ("code", "print('fin du rapport')")])
    report = root / "reports" / "maires" / "2020.html"
    report.parent.mkdir(parents=True)
    report.write_text(OLD_REPORT, encoding="utf-8")
    return report


@pytest.mark.parametrize(
    ("source", "ename"),
    [
        ("import sys\nsys.exit(0)", "SystemExit"),
        ("import os\nos._exit(0)", "DeadKernelError"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "DeadKernelError"),
        ("import time\ntime.sleep(60)", "CellTimeoutError"),
    ],
    ids=["sys.exit(0)", "os._exit", "SIGKILL", "timeout"],
)
def test_a_notebook_that_ends_early_fails_naming_the_cell(tmp_path, source, ename):
    report = _project_with_cell(tmp_path, source)
    summary = build(tmp_path, build_one=functools.partial(build_report, timeout=2.5), jobs_n=1)
    [result] = summary.results
    assert not result.ok and summary.exit_code == 1
    assert result.cell == 4, result.message  # 1-based, in the source notebook
    assert result.ename == ename
    assert "la cellule 4 de notebooks/impact_maires.ipynb" in result.message
    assert report.read_text(encoding="utf-8") == OLD_REPORT  # not replaced


def test_a_notebook_that_runs_every_cell_under_a_fractional_timeout_is_built(tmp_path):
    report = _project_with_cell(tmp_path, "x = 1")
    summary = build(tmp_path, build_one=functools.partial(build_report, timeout=2.5), jobs_n=1)
    assert summary.exit_code == 0, summary.results[0].message
    assert "fin du rapport" in report.read_text(encoding="utf-8")


def test_timeout_is_rounded_up_to_whole_seconds():
    from ramlab.reports.execute import cell_timeout

    assert cell_timeout(2.5) == 3 and cell_timeout(600) == 600 and cell_timeout("0.1") == 1
    assert cell_timeout(None) is None


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "-inf", "dix"])
def test_timeout_refuses_what_is_not_a_positive_finite_number(value, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["build", "--root", str(tmp_path / "none"), f"--timeout={value}"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "--timeout" in error and repr(value) in error, error
    from ramlab.reports.execute import cell_timeout

    with pytest.raises(ParameterError, match="positive|number"):
        cell_timeout(value)
