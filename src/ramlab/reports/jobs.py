"""The jobs of a build: what ``ramlab build`` will run, and in which order.

A :class:`Job` is one notebook run (a survey-year report, a survey's
trends, or the programme report across surveys) and its products; :func:`plan` lists the jobs of a build from the
project's :class:`~ramlab.reports.layout.Layout`; :func:`longest_first`
orders them for the worker pool. Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ramlab.errors import BuildError
from ramlab.reports.layout import PROGRAMME_NOTEBOOK, TRENDS_NOTEBOOK, Layout, audience_dirs

__all__ = ["Job", "plan", "longest_first"]


@dataclass(frozen=True)
class Job:
    """One notebook run of a build (a survey-year report or a survey's trends), and its products.

    :func:`plan` makes the jobs of a build; :func:`ramlab.reports.build.build_report`
    builds one.

    Attributes
    ----------
    kind : {"report", "trends", "programme"}
    survey : str
        The survey ("programme" for the programme report).
    years : tuple of int
        The survey-year of a report; every year compared by a trends job;
        the years of the editions compared by the programme report.
    notebook, output, executed : Path
        Source notebook, HTML report, executed notebook (kept outside reports/).
    data, specs : tuple of Path
        The data file and spec of each year.
    root : Path
        The project directory.
    parameters : dict
        Injected into the notebook's ``parameters`` cell.
    audience : {"partner", "internal"}
    excel : bool
        Also write the report's tables to ``excel`` (a workbook beside the report).
    """

    kind: str
    survey: str
    years: tuple
    notebook: Path
    output: Path
    executed: Path
    data: tuple
    specs: tuple
    root: Path
    parameters: dict = field(default_factory=dict, hash=False)
    audience: str = "partner"
    excel: bool = False

    @property
    def year(self) -> int | None:
        """The survey-year of a report job; None for a trends job."""
        return self.years[0] if self.kind == "report" else None

    @property
    def _part(self) -> str:
        if self.kind == "report":
            return str(self.year)
        if self.kind == "programme":
            return self.period
        return "trends"

    @property
    def period(self) -> str:
        """``2020-2021``: the first and last year of the job (one year: that year)."""
        first, last = min(self.years), max(self.years)
        return str(first) if first == last else f"{first}-{last}"

    @property
    def name(self) -> str:
        """File-safe name: ``associations_2021``, ``associations_trends``, ``programme_2020-2021``."""
        return f"{self.survey}_{self._part}"

    @property
    def key(self) -> str:
        """Manifest key: ``associations/2021``, ``associations/trends``, ``programme/2020-2021``."""
        return f"{self.survey}/{self._part}"

    @property
    def label(self) -> str:
        """French label for messages: ``associations 2021``, ``associations évolution 2015-2021``."""
        if self.kind == "report":
            return f"{self.survey} {self.year}"
        if self.kind == "programme":
            return f"programme {self.period}"
        return f"{self.survey} évolution {self.years[0]}-{self.years[-1]}"

    @property
    def workbook(self) -> Path:
        """The Excel workbook of a report built with ``--excel``: ``<output>.xlsx``."""
        return self.output.with_suffix(".xlsx")


def _as_set(values, convert):
    if values is None:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    return {convert(value) for value in values}


def plan(
    root,
    *,
    surveys=None,
    years=None,
    audience: str = "partner",
    excel: bool = False,
    reports_dir=None,
    build_dir=None,
) -> list[Job]:
    """List the jobs of a build.

    A report job is a survey-year with both a data file
    (``data/raw/<survey>_<year>.sav``) and a spec (:meth:`ramlab.reports.layout.Layout.spec_for`); its notebook is
    ``notebooks/impact_<survey>.ipynb`` (:class:`ramlab.reports.layout.Layout`). When
    ``notebooks/trends.ipynb`` exists, a survey with two such years or more
    also gets a trends job, which compares every one of its years.

    Parameters
    ----------
    root : path
        The project directory.
    surveys, years : str/int or iterable, optional
        Keep these surveys / survey-years only. A trends job is kept when its
        survey is and `years` is None or holds two of its years or more (it
        still compares all of them: a partial trend would overwrite the full one).
    audience, excel :
        Build flags, carried by every job.
    reports_dir, build_dir : path, optional
        Override :func:`audience_dirs` (the benchmark builds into a temporary
        directory).

    Returns
    -------
    list of Job
        Reports by survey then year, each survey's trends after its reports, then
        the programme report (when every survey is built).

    Raises
    ------
    BuildError
        When `surveys` or `years` name nothing that can be built.
    """
    layout = Layout(Path(root).resolve())
    default_reports, default_build = audience_dirs(layout.root, audience)
    reports_dir = Path(reports_dir) if reports_dir is not None else default_reports
    build_dir = Path(build_dir) if build_dir is not None else default_build
    wanted_surveys = _as_set(surveys, str)
    wanted_years = _as_set(years, int)

    available = layout.survey_years()
    if wanted_surveys is not None and wanted_surveys - set(available):
        missing = ", ".join(sorted(wanted_surveys - set(available)))
        known = ", ".join(sorted(available)) or "none"
        raise BuildError(
            f"nothing to build for survey {missing}: a survey needs a data file "
            f"{layout.raw}/<survey>_<year>.sav and a spec in {layout.specs} (available: {known})"
            + _missing_files(layout, wanted_surveys - set(available), wanted_years)
        )

    data_dir = os.path.relpath(layout.data, layout.notebooks)
    common = dict(root=layout.root, audience=audience, excel=bool(excel))
    jobs = []
    for survey in sorted(available):
        if wanted_surveys is None or survey in wanted_surveys:
            jobs += _survey_jobs(
                layout, survey, available[survey], wanted_years, reports_dir=reports_dir,
                build_dir=build_dir, data_dir=data_dir, excel=excel, common=common,
            )
    programme = _programme_job(layout, available, wanted_surveys, wanted_years,
                               reports_dir=reports_dir, build_dir=build_dir, data_dir=data_dir,
                               common=common)
    if programme is not None:
        jobs.append(programme)
    if not jobs:
        raise _nothing_to_build(layout, wanted_surveys, wanted_years)
    return jobs


def _survey_jobs(layout, survey, files, wanted_years, *, reports_dir, build_dir, data_dir, excel, common):
    """The report jobs of one survey's years (those wanted), then its trends job when it has one."""
    audience = common["audience"]
    trends_notebook = layout.notebooks / TRENDS_NOTEBOOK
    jobs = []
    for year in sorted(files):
        if wanted_years is not None and year not in wanted_years:
            continue
        data, spec = files[year]
        jobs.append(
            Job(
                kind="report",
                survey=survey,
                years=(year,),
                notebook=layout.notebook_for(survey),
                output=reports_dir / survey / f"{year}.html",
                executed=build_dir / "executed" / f"{survey}_{year}.ipynb",
                data=(data,),
                specs=(spec,),
                parameters=_report_parameters(
                    layout, survey, year, data_dir=data_dir, audience=audience,
                    workbook=reports_dir / survey / f"{year}.xlsx" if excel else None,
                ),
                **common,
            )
        )
    all_years = sorted(files)
    picked = all_years if wanted_years is None else [y for y in all_years if y in wanted_years]
    if len(all_years) >= 2 and len(picked) >= 2 and trends_notebook.is_file():
        jobs.append(
            Job(
                kind="trends",
                survey=survey,
                years=tuple(all_years),
                notebook=trends_notebook,
                output=reports_dir / survey / "trends.html",
                executed=build_dir / "executed" / f"{survey}_trends.ipynb",
                data=tuple(files[y][0] for y in all_years),
                specs=tuple(files[y][1] for y in all_years),
                parameters={"survey": survey, "years": all_years, "data_dir": data_dir},
                **common,
            )
        )
    return jobs


def _nothing_to_build(layout, wanted_surveys, wanted_years) -> BuildError:
    """The error of a plan without any job, naming what was asked for and the files it lacks."""
    wanted = ", ".join(
        part for part in (
            wanted_surveys and "survey " + " ".join(sorted(wanted_surveys)),
            wanted_years and "year " + " ".join(map(str, sorted(wanted_years))),
        ) if part
    )
    return BuildError(
        "nothing to build" + (f" for {wanted}" if wanted else "")
        + f": no survey-year has both a data file in {layout.raw} and a spec in {layout.specs}"
        + _missing_files(layout, wanted_surveys or (), wanted_years)
    )


def _missing_files(layout, surveys, years) -> str:
    """For survey-years asked for by name (survey and year), the files they lack."""
    missing = []
    for survey in sorted(surveys):
        for year in sorted(years or ()):
            data = layout.data_file_for(survey, year)
            if not data.is_file():
                missing.append(f"{data} does not exist")
            if layout.spec_for(survey, year) is None:
                missing.append(f"{layout.specs / f'{survey}_{year}.yaml'} does not exist")
    return "; " + "; ".join(missing) if missing else ""


def _programme_job(layout, available, wanted_surveys, wanted_years, *, reports_dir, build_dir,
                   data_dir, common):
    """The programme report's job: the latest edition of every survey, side by side.

    Planned when ``notebooks/programme.ipynb`` exists, two surveys or more
    can be built, and the build is not limited to some surveys or years (a
    partial build would overwrite the programme with a partial comparison).
    """
    notebook = layout.notebooks / PROGRAMME_NOTEBOOK
    if wanted_surveys is not None or wanted_years is not None or len(available) < 2:
        return None
    if not notebook.is_file():
        return None
    editions = {survey: max(files) for survey, files in sorted(available.items())}
    years = tuple(sorted(set(editions.values())))
    period = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    return Job(
        kind="programme",
        survey="programme",
        years=years,
        notebook=notebook,
        output=reports_dir / "programme" / f"{period}.html",
        executed=build_dir / "executed" / f"programme_{period}.ipynb",
        data=tuple(available[s][y][0] for s, y in editions.items()),
        specs=tuple(available[s][y][1] for s, y in editions.items()),
        parameters={"period": period, "editions": editions, "data_dir": data_dir,
                    "audience": common["audience"]},
        **common,
    )


def _report_parameters(layout, survey, year, *, data_dir, audience, workbook) -> dict:
    """The parameters of a report notebook: survey, year, data_dir, audience[, excel_path].

    Paths are relative to ``notebooks/`` (the kernel's working directory), so
    that the parameters, and the fingerprints, do not depend on where the
    project is checked out.
    """
    parameters = {"survey": survey, "year": int(year), "data_dir": data_dir, "audience": audience}
    if workbook is not None:
        parameters["excel_path"] = os.path.relpath(workbook, layout.notebooks)
    return parameters


def longest_first(jobs: list, records: dict) -> list:
    """Jobs in the order to start them: the longest first, so that no long job starts last.

    A job's length is its last build time from the manifest. Jobs never built
    come first (they may be long): trends (several years of data), then by
    size of their data files.
    """
    def expected(job):
        seconds = (records.get(job.key) or {}).get("seconds")
        if seconds:
            return (1, -float(seconds))
        size = sum(path.stat().st_size for path in job.data if path.is_file())
        return (0, job.kind not in ("trends", "programme"), -size)

    return sorted(jobs, key=expected)
