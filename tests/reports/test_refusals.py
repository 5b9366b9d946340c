"""What ``ramlab build`` refuses (issue 11, the build's cases): each test fails on the code before.

13. the files a notebook reads (not the ones planned) are hashed and named
    in the provenance: an edit to them rebuilds;
14. a notebook that ends early (``sys.exit(0)``, ``os._exit``, SIGKILL, a cell
    over ``--timeout``) is a failure naming the cell; the previous report stays;
15. ``--timeout`` takes a positive number of seconds, 2.5 included;
16. builds run at the same time in one project keep each other's manifest
    records, and a build that waits for the manifest's lock says so;
17. leftovers of a killed build are removed by the next; a read-only
    ``reports/`` or ``build/`` is a named error; "Premier build" only when
    there was no earlier build.
"""

from __future__ import annotations

import fcntl
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ramlab.cli import main
from ramlab.errors import ParameterError
from ramlab.reports.build import build_report
from test_factory import REPO, REPORT, broken_build, build, fake_build, make_project, write_notebook

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


# ---------------------------------------------------------------------------
# 16. Concurrent builds


def slow_fake_build(job):
    """fake_build, after long enough for another build to start and finish meanwhile."""
    time.sleep(6)
    fake_build(job)


def _build_process(root, surveys, builder):
    code = (
        "import sys, test_factory, test_refusals\n"
        "from ramlab.reports import factory\n"
        f"s = factory.build_all({str(root)!r}, surveys={surveys!r}, build_one={builder},"
        " check=None, jobs_n=1)\n"
        "sys.exit(s.exit_code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO / "src")])}
    return subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_concurrent_builds_of_two_surveys_keep_each_others_records(tmp_path):
    root = make_project(tmp_path, trends=False)
    slow = _build_process(root, ["associations"], "test_refusals.slow_fake_build")
    time.sleep(1.5)  # the slow build has read the (empty) manifest
    fast = _build_process(root, ["maires"], "test_factory.fake_build")
    assert fast.wait(timeout=120) == 0, fast.stdout.read()
    assert slow.wait(timeout=120) == 0, slow.stdout.read()
    records = json.loads((root / "build" / "manifest.json").read_text())["records"]
    assert sorted(records) == ["associations/2015", "associations/2021", "maires/2020"]
    index = (root / "reports" / "index.html").read_text(encoding="utf-8")
    assert "maires/2020.html" in index and "associations/2021.html" in index


def test_a_build_waiting_for_the_manifest_says_so(tmp_path):
    root = make_project(tmp_path, surveys={"maires": [2020]}, trends=False)
    lock = root / "build" / "manifest.json.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another build writing the manifest
        waiting = _build_process(root, ["maires"], "test_factory.fake_build")
        release = threading.Timer(180, fcntl.flock, (held, fcntl.LOCK_UN))  # never hang
        release.start()
        lines = []
        try:
            for line in waiting.stdout:  # the build blocks on the lock, after saying so
                lines.append(line)
                if "en attente" in line:
                    break
            assert not (root / "build" / "manifest.json").exists()  # nothing written while waiting
        finally:
            release.cancel()
            fcntl.flock(held, fcntl.LOCK_UN)
    assert waiting.wait(timeout=120) == 0
    out = "".join(lines) + waiting.stdout.read()
    assert "un autre build écrit le manifeste (manifest.json.lock) ; en attente" in out, out
    assert "maires/2020" in json.loads((root / "build" / "manifest.json").read_text())["records"]


# ---------------------------------------------------------------------------
# 17. Leftovers, permissions, first build


def test_leftovers_of_a_killed_build_are_removed_by_the_next(tmp_path):
    root = make_project(tmp_path, surveys={"maires": [2020]}, trends=False)
    report = root / "reports" / "maires" / "2020.html"
    killed = (  # a build killed while it writes the report: its temporary file stays
        "import os, signal\n"
        "from ramlab.files import write_atomic\n"
        "import ramlab.files as files\n"
        f"with files.replacing({str(report)!r}) as temporary:\n"
        "    open(temporary, 'w').write('<html>à moitié')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", killed], env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    ipython = Path(tempfile.mkdtemp(prefix=f"ramlab-ipython-{_dead_pid()}-"))  # a killed job's
    leftovers = [p for p in report.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers and not report.exists()
    assert build(root).exit_code == 0
    assert sorted(p.name for p in report.parent.iterdir()) == ["2020.html"]
    assert not ipython.exists()


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.parametrize("read_only", ["reports", "build"])
def test_a_read_only_output_directory_is_a_named_error(tmp_path, read_only):
    if shutil.which("unshare") is None or subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True
    ).returncode != 0:
        message = "needs unshare (user and mount namespaces) for a read-only mount"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run this check)")
        pytest.skip(message)
    root = make_project(tmp_path, surveys={"maires": [2020]}, trends=False)
    directory = root / read_only
    directory.mkdir(exist_ok=True)
    script = (
        f"mount --bind {directory} {directory} && mount -o remount,bind,ro {directory} && "
        f"exec {sys.executable} -m ramlab.cli build --root {root}"
    )
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"ramlab: error: cannot write to {directory}" in done.stderr, output
    assert "Read-only file system" in done.stderr
    assert "Traceback" not in output and "TypeError" not in output


def test_first_build_is_said_only_when_there_was_no_earlier_build(tmp_path):
    root = make_project(tmp_path, trends=False)
    failed = io.StringIO()
    build(root, build_one=broken_build, stream=failed)
    assert "Premier build" not in failed.getvalue()  # nothing was built
    first = io.StringIO()
    build(root, surveys="maires", stream=first)
    assert "Premier build" in first.getvalue()
    later = io.StringIO()
    build(root, surveys="associations", stream=later)  # new reports, not a first build
    assert "Premier build" not in later.getvalue()
    assert "pas de build antérieur à comparer" in later.getvalue()


# ---------------------------------------------------------------------------
# 13. The inputs hashed are the inputs read


def _sav(path, values):
    import pandas as pd
    import pyreadstat

    pyreadstat.write_sav(pd.DataFrame({"q1": [float(v) for v in values]}), str(path))


def test_the_file_a_notebook_reads_is_hashed_and_named_in_the_provenance(tmp_path):
    # the planned data file is data/raw/maires_2020.sav, but the notebook reads
    # another one (as a spec's data_file: makes load_survey do)
    root = make_project(tmp_path, surveys={"maires": [2020]}, trends=False)
    delivered = root / "data" / "raw" / "livraison_institut.sav"
    _sav(delivered, [1, 2, 3])
    write_notebook(root / "notebooks" / "impact_maires.ipynb", [
        *REPORT[:3],
        ("code", "from ramlab.io.sav import read_sav\n"
                 "print(len(read_sav('../data/raw/livraison_institut.sav')))"),
    ])
    built = functools.partial(build_report, timeout=120)
    assert build(root, build_one=built, jobs_n=1).exit_code == 0
    executed = json.loads((root / "build" / "executed" / "maires_2020.ipynb").read_text())
    data = executed["metadata"]["ramlab"]["provenance"]["data"]
    assert data.startswith("livraison_institut.sav (") and "maires_2020.sav" not in data
    record = json.loads((root / "build" / "manifest.json").read_text())["records"]["maires/2020"]
    assert "data/raw/livraison_institut.sav" in record["read"]
    assert "data:data/raw/livraison_institut.sav" in record["inputs"]

    unchanged = build(root, build_one=built, jobs_n=1)
    assert unchanged.results == [] and len(unchanged.skipped) == 1
    _sav(delivered, [1, 2, 4])  # the institute's file is corrected
    out = io.StringIO()
    again = build(root, build_one=built, jobs_n=1, stream=out)
    assert [r.job.key for r in again.results] == ["maires/2020"], out.getvalue()
    assert "maires 2020 : données" in out.getvalue()
