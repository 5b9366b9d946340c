"""Benchmark of ``ramlab build``: parallel speed-up, ramlab's overhead, unchanged rebuild.

Prints the figures of issue 5, point 7 (it asserts nothing):

- every default report built from scratch with ``--jobs 1``, then with
  ``--jobs 2``, in the same run, and the ratio (target: at most 0.6);
- the time per report spent outside the notebook's cells (target: under 1 s),
  with the share of it that is a Jupyter kernel start;
- an unchanged rebuild (target: under 2 s).

Each build runs in a fresh Python process, as ``ramlab build`` would, into
temporary ``reports/`` and ``build/`` directories (the project's own reports
and manifest are not touched)::

    python benchmarks/bench_build.py                         # the project's default reports
    python benchmarks/bench_build.py --survey associations   # one survey's reports and trends
    python benchmarks/bench_build.py --small                 # a tiny generated project

The ratio only means something on an otherwise idle machine with two cores
or more: report cells are CPU-bound, and two kernels sharing one busy core
run no faster than one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs one build in a fresh interpreter and prints its figures as JSON.
CHILD = r"""
import json, sys, time
start = time.perf_counter()
from ramlab.reports.factory import build_all
options = json.loads(sys.argv[1])
summary = build_all(**options, progress=False)
print(json.dumps({
    "wall": time.perf_counter() - start,
    "exit_code": summary.exit_code,
    "skipped": len(summary.skipped),
    "results": [
        {"key": r.job.key, "ok": r.ok, "seconds": r.seconds, "cells_seconds": r.cells_seconds,
         "message": r.message}
        for r in summary.results
    ],
}))
"""

KERNEL_START = r"""
import time
from jupyter_client.manager import start_new_kernel
start = time.perf_counter()
manager, client = start_new_kernel(kernel_name="python3")
elapsed = time.perf_counter() - start
client.stop_channels()
manager.shutdown_kernel(now=True)
print(elapsed)
"""


def _notebook(cells) -> str:
    return json.dumps({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [
            {"cell_type": kind, "id": f"c{index}", "metadata": {"tags": tags} if tags else {},
             "source": source, **({"outputs": [], "execution_count": None} if kind == "code" else {})}
            for index, (kind, source, tags) in enumerate(cells)
        ],
    })


def make_small_project(root: Path, *, years=(2015, 2018, 2021), work: float = 0.5) -> Path:
    """A tiny project: one survey, a few years and a trends notebook, cells sleeping `work` s."""
    (root / "notebooks").mkdir(parents=True)
    for sub in ("raw", "specs", "population"):
        (root / "data" / sub).mkdir(parents=True)
    body = (
        "import time\nfrom ramlab.reports import keyfigures\n"
        f"time.sleep({work})\n"
        "keyfigures.publish({'Année': str(year)})"
    )
    (root / "notebooks" / "impact_demo.ipynb").write_text(_notebook([
        ("markdown", "# Rapport de démonstration", None),
        ("code", 'survey: str = "demo"\nyear: int = 2021\ndata_dir: str = "../data"\naudience: str = "partner"', ["parameters"]),
        ("code", body, None),
        ("markdown", "Fin du rapport.", None),
    ]))
    (root / "notebooks" / "trends.ipynb").write_text(_notebook([
        ("markdown", "# Évolution", None),
        ("code", 'survey: str = "demo"\nyears: list = [2015]\ndata_dir: str = "../data"', ["parameters"]),
        ("code", f"import time\ntime.sleep({work})\nprint(years)", None),
    ]))
    for year in years:
        (root / "data" / "raw" / f"demo_{year}.sav").write_bytes(f"demo {year}".encode())
        (root / "data" / "specs" / f"demo_{year}.yaml").write_text(f"survey: demo\nyear: {year}\n")
    return root


# What every report notebook's kernel would import anyway: ramlab's dependencies.
FLOOR_IMPORTS = (
    "%matplotlib inline\n"
    "import matplotlib.pyplot\nimport numpy\nimport pandas\nimport scipy.stats\n"
    "import seaborn\nimport statsmodels.api\nimport pyreadstat\nimport yaml"
)


def make_floor_project(source: Path, root: Path) -> Path:
    """The imports-only floor of a project (issue 14, target 3).

    Same data (linked), and every notebook replaced by one that keeps its own
    parameters cell and then only imports ramlab's dependencies: building it runs
    papermill with the same kernel and renders with ramlab's template, so its time
    is what any report would cost before ramlab does anything.
    """
    (root / "notebooks").mkdir(parents=True)
    (root / "data").symlink_to((source / "data").resolve(), target_is_directory=True)
    for path in sorted((source / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        parameters = [c for c in notebook["cells"]
                      if "parameters" in c.get("metadata", {}).get("tags", [])]
        source_of = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                     for c in parameters]
        cells = [("markdown", "# Plancher : imports seuls", None)]
        cells += [("code", text, ["parameters"]) for text in source_of]
        cells += [("code", FLOOR_IMPORTS, None)]
        (root / "notebooks" / path.name).write_text(_notebook(cells), encoding="utf-8")
    return root


def _build(options: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(options)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"build failed:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    failed = [r["message"] for r in figures["results"] if not r["ok"]]
    if failed:
        raise SystemExit("a report failed, no figure measured:\n" + "\n".join(failed))
    return figures


def _seconds(value: float) -> str:
    return f"{value:.2f}".replace(".", ",") + " s"


def _ratio(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO, help="project directory (default: this one)")
    parser.add_argument("--small", action="store_true", help="benchmark a tiny generated project")
    parser.add_argument("--workdir", type=Path, default=None, help="where to build (default: a temporary dir)")
    parser.add_argument("--build-one", default=None, help="builder, module:function (default: ramlab's)")
    parser.add_argument("--survey", action="append", default=None,
                        help="only this survey (repeatable; default: every survey)")
    parser.add_argument("--year", action="append", type=int, default=None,
                        help="with --floor: only this year (repeatable)")
    parser.add_argument("--floor", action="store_true",
                        help="measure ramlab's own part: build time minus the imports-only floor F, "
                             "per report (paired rounds) and for the whole grid (issue 14)")
    parser.add_argument("--rounds", type=int, default=3, help="with --floor: paired rounds (default 3)")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="ramlab-bench-", dir=args.workdir))
    try:
        root = make_small_project(workdir / "project") if args.small else args.root.resolve()
        base = {"root": str(root)}
        if args.build_one:
            base["build_one"] = args.build_one
        if args.survey:
            base["surveys"] = args.survey
        if args.floor:
            return _against_floor(root, workdir, base, years=args.year, rounds=args.rounds)

        runs = {}
        for jobs in (1, 2):
            options = {**base, "jobs_n": jobs, "force": True,
                       "reports_dir": str(workdir / f"jobs{jobs}" / "reports"),
                       "build_dir": str(workdir / f"jobs{jobs}" / "build")}
            runs[jobs] = (options, _build(options))

        options, _ = runs[2]
        unchanged = {k: v for k, v in options.items() if k != "force"}
        for _attempt in range(3):  # an input edited meanwhile (a busy checkout) rebuilds: measure again
            start = time.perf_counter()
            again = _build(unchanged)
            rebuild = time.perf_counter() - start
            if not again["results"]:
                break
        kernel = float(subprocess.run(
            [sys.executable, "-c", KERNEL_START], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1])

        one, two = runs[1][1], runs[2][1]
        n = len(one["results"])
        cells = sum(r["cells_seconds"] for r in one["results"])
        outside = (one["wall"] - cells) / n
        per_job = statistics.median(r["seconds"] - r["cells_seconds"] for r in one["results"])
        print(f"projet : {root}{' (petit projet généré)' if args.small else ''}")
        print(f"rapports : {n} ({', '.join(r['key'] for r in one['results'])})")
        print(f"--jobs 1 : {_seconds(one['wall'])} (dont cellules {_seconds(cells)})")
        print(f"--jobs 2 : {_seconds(two['wall'])}")
        for jobs, figures in ((1, one), (2, two)):
            for r in figures["results"]:
                print(f"  --jobs {jobs} {r['key']} : {_seconds(r['seconds'])} "
                      f"(cellules {_seconds(r['cells_seconds'])})")
        print(f"rapport --jobs 2 / --jobs 1 : {_ratio(two['wall'] / one['wall'])} (objectif : au plus 0,6)")
        print(f"temps hors cellules par rapport (--jobs 1) : {_seconds(outside)} (objectif : moins de 1 s)")
        print(f"  dont, par rapport, dans son processus : {_seconds(per_job)} (médiane)")
        print(f"  dont démarrage d'un noyau Jupyter (mesuré à part) : {_seconds(kernel)}")
        once = one["wall"] - sum(r["seconds"] for r in one["results"])
        print(f"  reste, une fois par build (interpréteur, imports, processus) : {_seconds(once)}")
        print(f"temps propre de ramlab par rapport (hors cellules et hors noyau Jupyter) : "
              f"{_seconds(per_job - kernel + once / n)}")
        print(f"rebuild inchangé : {_seconds(rebuild)} ({again['skipped']} rapports sautés sur {n} ; "
              "objectif : moins de 2 s)")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _against_floor(root: Path, workdir: Path, base: dict, *, years, rounds: int) -> int:
    """Print each report's build time against its imports-only floor F, then the grid's."""
    floor_root = make_floor_project(root, workdir / "floor")

    def build(project: Path, name: str, jobs: int, *, grid: bool = False, **extra) -> dict:
        options = {k: v for k, v in base.items() if not (grid and k == "surveys")}
        return _build({**options, **extra, "root": str(project), "jobs_n": jobs, "force": True,
                       "reports_dir": str(workdir / name / "reports"),
                       "build_dir": str(workdir / name / "build")})

    picked = {"years": years} if years else {}
    own, real_s, floor_s = {}, {}, {}
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):  # alternate, so that machine load hits both alike
        real = build(root, "real", 1, **picked)
        floor = build(floor_root, "floor", 1, **picked)
        for r, f in zip(real["results"], floor["results"]):
            own.setdefault(r["key"], []).append(r["seconds"] - f["seconds"])
            real_s.setdefault(r["key"], []).append(r["seconds"])
            floor_s.setdefault(r["key"], []).append(f["seconds"])
        loads.append(os.getloadavg()[0])
    print(f"charge moyenne (1 min) pendant les tours : {_ratio(min(loads))} à {_ratio(max(loads))} "
          f"pour {os.cpu_count()} cœurs : les temps absolus en dépendent, les rapports appariés moins")
    print(f"projet : {root} ; plancher F : le même build, chaque notebook réduit à ses paramètres "
          f"et aux imports des dépendances ({rounds} tours appariés, --jobs 1, médianes)")
    for key in own:
        f = statistics.median(floor_s[key])
        print(f"  {key} : build {_seconds(statistics.median(real_s[key]))}, F {_seconds(f)}, "
              f"part propre de ramlab (build - F, apparié) {_seconds(statistics.median(own[key]))} "
              f"(objectif : moins de 1 s) ; build / F {_ratio(statistics.median(real_s[key]) / f)} "
              f"(apparié : {_ratio(statistics.median(r / f for r, f in zip(real_s[key], floor_s[key])))})")
    grid = build(root, "grid", 2, grid=True)  # every survey-year, trends included
    grid_floor_1 = build(floor_root, "grid-floor-1", 1, grid=True)
    total_f = sum(r["seconds"] for r in grid_floor_1["results"])
    print(f"grille complète ({len(grid['results'])} rapports, --jobs 2, depuis zéro) : "
          f"{_seconds(grid['wall'])} ; somme des planchers F (--jobs 1) {_seconds(total_f)} : "
          f"rapport {_ratio(grid['wall'] / total_f)} (charge moyenne {_ratio(os.getloadavg()[0])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
