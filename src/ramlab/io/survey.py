"""A survey-year loaded in one line: spec, data, weighted and unweighted designs.

>>> s = load_survey("associations", 2021)          # doctest: +SKIP
>>> s.domain("partenaires").mean("q8_1")            # doctest: +SKIP

The weighting follows the spec (``weighting.mode``) and goes through
:meth:`ramlab.design.Design.rake`, the one weighting path of ramlab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ramlab.io.sav import read_sav
from ramlab.io.spec import Spec, default_data_dir, load_spec

__all__ = ["Survey", "load_survey", "profile"]


@dataclass(frozen=True)
class Survey:
    """A loaded survey-year.

    Attributes
    ----------
    spec : ramlab.io.spec.Spec
        The validated specification.
    data : pandas.DataFrame
        The respondents as :func:`ramlab.io.sav.read_sav` returns them, plus the
        grouped raking columns (``<variable>_redressement``) when the spec
        groups small categories; ``attrs`` are kept (``attrs["synthetic"]``).
    design : ramlab.design.Design
        Weighted as the spec says: raked from equal weights ("rake"), raked
        from the file's weight ("rake_from_delivered"), or the file's weight
        as delivered ("delivered").
    unweighted : ramlab.design.Design
        The same rows with equal weights (1 per respondent).
    """

    spec: Spec
    data: pd.DataFrame
    design: object
    unweighted: object

    @property
    def synthetic(self) -> bool:
        """True when the file marks itself as synthetic (read from the file)."""
        return bool(self.data.attrs.get("synthetic", False))

    @property
    def n(self) -> int:
        """Number of respondents (unweighted)."""
        return len(self.data)

    def domain(self, base):
        """The weighted design restricted to a base: ``design.subset(base mask)``.

        Parameters
        ----------
        base : str
            A base id of the spec (e.g. ``"ensemble"``, ``"partenaires"``).
        """
        return self.design.subset(self.spec.bases[base].mask(self.data))

    def profile(self) -> pd.DataFrame:
        """Sample profile before and after weighting against the population.

        See :func:`profile`.
        """
        return profile(self)


def load_survey(survey, year, *, data_dir=None) -> Survey:
    """Load, check and weight a survey-year.

    Parameters
    ----------
    survey : str
        Survey id, e.g. ``"associations"``.
    year : int
        Survey year.
    data_dir : str or os.PathLike, optional
        Holds ``specs/``, ``population/`` and ``raw/``; defaults to the
        project's ``data/``.

    Returns
    -------
    Survey

    Raises
    ------
    SpecError
        The spec or a margin file is invalid, or the spec disagrees with the
        file's labels (a category the file lacks, a margin category absent).
    DataFileError
        The data file is missing or damaged, or lacks a variable the spec needs.
    MarginError, ConvergenceError, WeightError
        From the weighting (see :meth:`ramlab.design.Design.rake`).

    Notes
    -----
    Small categories grouped in the spec (e.g. Corse with Provence-Alpes-Côte
    d'Azur) are merged into ``<variable>_redressement`` before raking. Raking:
    R ``survey::rake`` / ``calibrate(calfun = "raking")`` (Deming & Stephan 1940).
    """
    from ramlab.design import Design

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    spec = load_spec(survey, year=year, data_dir=data_dir)
    raw = read_sav(spec.data_file)
    spec.check_data(raw)
    data = spec.weighting.prepare(raw)
    w = spec.weighting
    if w.mode == "rake":
        design = Design(data).rake(w.targets)
    elif w.mode == "rake_from_delivered":
        design = Design(data, weights=w.weight_variable).rake(w.targets)
    else:  # "delivered"
        design = Design(data, weights=w.weight_variable)
    return Survey(spec=spec, data=data, design=design, unweighted=Design(data))


def profile(survey: Survey) -> pd.DataFrame:
    """Sample profile before and after weighting, against the population margins.

    Parameters
    ----------
    survey : Survey

    Returns
    -------
    pandas.DataFrame
        One row per (variable, category) of each raking margin (grouped
        categories as raked), index named ("variable", "category"), columns:
        ``label`` (variable label), ``n`` (respondents), ``sample`` (unweighted
        share), ``weighted`` (share after weighting), ``population``
        (population share), ``population_count``, ``weighted_count``; shares
        are proportions in [0, 1].
    """
    data = survey.data
    w = survey.design.weights.to_numpy(dtype=float)
    rows = []
    for margin in survey.spec.weighting.margins:
        col = data[margin.column]
        total_pop = sum(margin.targets.values())
        n_total = int(col.notna().sum())
        w_total = w[col.notna().to_numpy()].sum()
        label = data.attrs.get("variable_labels", {}).get(margin.variable, margin.label)
        for cat, count in margin.targets.items():
            hit = (col == cat).to_numpy()
            n = int(hit.sum())
            wc = float(w[hit].sum())
            rows.append(
                {
                    "variable": margin.variable,
                    "category": cat,
                    "label": label,
                    "n": n,
                    "sample": n / n_total if n_total else np.nan,
                    "weighted": wc / w_total if w_total else np.nan,
                    "population": count / total_pop,
                    "population_count": count,
                    "weighted_count": wc,
                }
            )
    return pd.DataFrame(rows).set_index(["variable", "category"])
