"""Where a ramlab project keeps its inputs and outputs.

:class:`Layout` names the project's directories (``notebooks/``, ``data/``,
``reports/``, ``build/``) and finds each survey-year's notebook, spec and
data file; :func:`audience_dirs` says where each audience's reports go.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ramlab.errors import BuildError

__all__ = ["AUDIENCES", "GENERIC_NOTEBOOK", "TRENDS_NOTEBOOK", "PROGRAMME_NOTEBOOK", "Layout", "audience_dirs"]

#: Who a build is for: partner reports go to ``reports/``; internal ones (which
#: may show unweighted tables and small bases) to ``build/internal/reports/``,
#: so that sharing ``reports/`` can never leak them.
AUDIENCES = ("partner", "internal")
#: Report notebook of the surveys that have no ``impact_<survey>.ipynb`` of their own.
GENERIC_NOTEBOOK = "report.ipynb"
#: The trends notebook, run for every survey with two years or more.
TRENDS_NOTEBOOK = "trends.ipynb"
#: The programme notebook: the latest edition of every survey, side by side.
PROGRAMME_NOTEBOOK = "programme.ipynb"

_DATA_FILE = re.compile(r"^(?P<survey>[a-z][a-z0-9-]*)_(?P<year>\d{4})\.sav$")
@dataclass(frozen=True)
class Layout:
    """Where a project keeps its inputs and outputs.

    Parameters
    ----------
    root : Path
        The project directory (the one holding ``notebooks/`` and ``data/``).
    """

    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def specs(self) -> Path:
        return self.data / "specs"

    @property
    def raw(self) -> Path:
        return self.data / "raw"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def build(self) -> Path:
        """Intermediate products (executed notebooks): never shared."""
        return self.root / "build"

    @classmethod
    def discover(cls, start=None) -> "Layout":
        """Find the project directory from `start` (default: the working directory).

        The first of `start` and its parents that holds both ``notebooks/``
        and ``data/`` is the root. Raises BuildError when there is none.
        """
        start = Path.cwd() if start is None else Path(start)
        start = start.resolve()
        for candidate in (start, *start.parents):
            if (candidate / "notebooks").is_dir() and (candidate / "data").is_dir():
                return cls(candidate)
        raise BuildError(
            f"no ramlab project found from {start}: expected a directory holding "
            "notebooks/ and data/ (run from the project, or pass --root)"
        )

    def notebook_for(self, survey: str) -> Path:
        """The report notebook of `survey`.

        ``notebooks/impact_<survey>.ipynb`` when the survey has its own;
        otherwise the generic, spec-driven ``notebooks/report.ipynb`` when it
        exists; otherwise ``impact_<survey>.ipynb`` (which a build reports as
        missing).
        """
        own = self.notebooks / f"impact_{survey}.ipynb"
        generic = self.notebooks / GENERIC_NOTEBOOK
        return generic if not own.is_file() and generic.is_file() else own

    def spec_for(self, survey: str, year: int) -> Path | None:
        """The spec of a survey-year: ``data/specs/<survey>_<year>.yaml``, else ``<survey>.yaml``.

        ``.yml`` is accepted too. None when there is none.
        """
        for stem in (f"{survey}_{int(year)}", survey):
            for suffix in (".yaml", ".yml"):
                path = self.specs / (stem + suffix)
                if path.is_file():
                    return path
        return None

    def data_file_for(self, survey: str, year: int) -> Path:
        return self.raw / f"{survey}_{int(year)}.sav"

    def survey_years(self) -> dict[str, dict[int, tuple[Path, Path]]]:
        """Every survey-year with both a data file and a spec.

        Returns
        -------
        dict
            ``{survey: {year: (data file, spec)}}``. A data file is
            ``data/raw/<survey>_<year>.sav``; other names are ignored.
        """
        found: dict[str, dict[int, tuple[Path, Path]]] = {}
        for path in sorted(self.raw.glob("*.sav")) if self.raw.is_dir() else []:
            match = _DATA_FILE.match(path.name)
            if match is None:
                continue
            survey, year = match["survey"], int(match["year"])
            spec = self.spec_for(survey, year)
            if spec is not None:
                found.setdefault(survey, {})[year] = (path, spec)
        return found



def audience_dirs(root, audience: str = "partner") -> tuple[Path, Path]:
    """``(reports_dir, build_dir)`` of an audience.

    partner: ``reports/`` and ``build/``; internal: ``build/internal/reports/``
    and ``build/internal/``.
    """
    if audience not in AUDIENCES:
        raise BuildError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")
    root = Path(root)
    if audience == "partner":
        return root / "reports", root / "build"
    return root / "build" / audience / "reports", root / "build" / audience
