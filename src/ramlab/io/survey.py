"""A survey-year loaded in one line: spec, data, weighted and unweighted designs.

    s = load_survey("associations", 2021)
    s.domain("partenaires").mean("q8_1")

(:func:`load_survey` has a running example.)

The weighting follows the spec (``weighting.mode``) and goes through
:meth:`ramlab.design.Design.rake`, the one weighting path of ramlab.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ramlab.errors import MarginRescaledWarning, SpecError, warn
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
    base : str or None
        For a domain (:meth:`domain`), the base id it is restricted to (None
        for a mask); ``is_domain`` is True for a domain.

    The estimators of ``design`` (``mean``, ``total``, ``ciprop``, ``chisq``,
    ``glm``, ``subset``, ...) are the survey's own: ``s.mean("q8_1")``.
    """

    spec: Spec
    data: pd.DataFrame
    design: object
    unweighted: object
    base: str | None = None
    is_domain: bool = False

    @property
    def synthetic(self) -> bool:
        """True when the file marks itself as synthetic (read from the file)."""
        return bool(self.data.attrs.get("synthetic", False))

    @property
    def n(self) -> int:
        """Number of respondents (unweighted)."""
        return len(self.data)

    def __repr__(self):
        study = self.spec.study
        mode = {"rake": "raked", "rake_from_delivered": "re-raked",
                "delivered": "delivered weight"}.get(self.spec.weighting.mode, self.spec.weighting.mode)
        margins = ", ".join(m.variable for m in self.spec.weighting.margins)
        years = (self.data.attrs.get("stacked") or {}).get("years") or [self.spec.year]
        return (f"<Survey {self.spec.survey} {'+'.join(map(str, years))}: {self.n} respondents, "
                f"{study.get('population_size', '?')} {study.get('unit', '')} ({mode}"
                + (f" on {margins}" if margins and mode != "delivered weight" else "") + ")"
                + (f"; domain {self.base or 'mask'}" if self.is_domain else "")
                + ("; synthetic data" if self.synthetic else "") + ">")

    def _repr_html_(self):
        """JupyterLab's view: the study, the design, n, the weighting and the design effect."""
        from ramlab.design import design_facts, facts_html
        from ramlab.format import fmt_int

        study = self.spec.study
        w = self.spec.weighting
        facts = [("Population", f"{study.get('population', '')} "
                                f"({fmt_int(study.get('population_size', 0))} {study.get('unit', '')})")]
        facts += design_facts(self.design, w.weight_variable if w.mode != "rake" else None)
        if w.margins:
            facts.append(("Marges", ", ".join(m.label for m in w.margins)))
        if self.is_domain:
            label = self.spec.bases[self.base].label if self.base in self.spec.bases else "masque"
            facts.append(("Domaine", label))
        notes = list(self.margin_notes)
        if self.synthetic:
            notes.insert(0, "Données synthétiques : aucune réponse réelle.")
        return facts_html(study.get("title", f"{self.spec.survey} {self.spec.year}"), facts, notes)

    @property
    def margin_notes(self) -> list:
        """French notes for the methodology box: one per margin rescaled to the population.

        A margin published as rounded shares (e.g. regions summing to 99.9 %)
        is brought to the population total before the weighting; the note
        says so, with the file's total and the gap.
        """
        from ramlab.format import fmt_int, fmt_number

        population = self.spec.study["population_size"]
        unit = self.spec.study.get("unit", "")
        notes = []
        for margin in self.spec.weighting.margins:
            if not margin.rescaled:
                continue
            gap = abs(margin.file_total - population) / population
            notes.append(
                f"La marge « {margin.label} » est publiée en parts arrondies, dont le total "
                f"({fmt_int(margin.file_total)} {unit}".rstrip()
                + f") diffère de la population ({fmt_int(population)}) de "
                f"{fmt_number(100 * gap, 2)}\u202f% : elle a été ramenée au total de la "
                "population avant le redressement."
            )
        return notes

    def domain(self, base):
        """The survey restricted to a base: its designs are ``design.subset(mask)``.

        Parameters
        ----------
        base : str or boolean Series or array
            A base id of the spec (e.g. ``"ensemble"``, ``"partenaires"``), or
            a boolean mask aligned on ``data`` (one value per respondent).

        Returns
        -------
        Survey
            The same spec and data; ``design`` and ``unweighted`` are domains
            of the full designs (weight 0 outside), ``base`` says which. Its
            estimators are its design's: ``s.domain("partenaires").mean("q8_1")``,
            and ``crosstab(s.domain("partenaires"), ...)`` notes the base.

        Raises
        ------
        SpecError
            `base` is not a base of the spec (lists the bases).
        """
        if isinstance(base, str):
            if base not in self.spec.bases:
                raise SpecError(
                    f"{self.spec.path}: {base!r} is not a base of the spec; its bases are "
                    f"{', '.join(map(repr, self.spec.bases))} (or give a boolean mask)",
                    path=str(self.spec.path), key="bases",
                )
            mask = self.spec.bases[base].mask(self.data)
        elif isinstance(base, (pd.Series, np.ndarray, list)):
            mask = base
            base = None
        else:
            raise TypeError(
                f"domain() takes a base id of the spec or a boolean mask, not {type(base).__name__}"
            )
        return replace(self, design=self.design.subset(mask), unweighted=self.unweighted.subset(mask),
                       base=base, is_domain=True)

    def __getattr__(self, name):
        # A survey estimates through its design: s.domain("partenaires").glm(...).
        if name.startswith("_") or name in _FIELDS:
            raise AttributeError(name)
        return getattr(self.design, name)

    def codebook(self):
        """The variables: name, label, type, categories with codes, user-missing codes,
        base and share missing, with an HTML view (:class:`ramlab.io.codebook.Codebook`)."""
        from ramlab.io.codebook import codebook

        return codebook(self)

    def profile(self) -> pd.DataFrame:
        """Sample profile before and after weighting against the population.

        See :func:`profile`.
        """
        return profile(self)


_FIELDS = frozenset(f.name for f in fields(Survey))


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

    Examples
    --------
    >>> import warnings
    >>> from ramlab import load_survey
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the margins rescaled (see Survey.notes)
    ...     s = load_survey("associations", 2021)
    >>> s
    <Survey associations 2021: 1206 respondents, 148429 associations (raked on taille, secteur, region); synthetic data>
    >>> round(float(s.design.weights.sum()))  # the population, as published
    148429
    >>> round(100 * s.ciprop("q8_1", category="Oui")["estimate"])  # mécénat, published: 59 %
    59
    """
    from ramlab.design import Design

    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    spec = _load_spec_once(survey, year, data_dir)
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


def _load_spec_once(survey, year, data_dir):
    """load_spec, its per-file rescaling warnings gathered into one for this load."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = load_spec(survey, year=year, data_dir=data_dir)
    for w in caught:
        if not issubclass(w.category, MarginRescaledWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    rescaled = [m for m in spec.weighting.margins if m.rescaled]
    if rescaled:
        population = spec.study["population_size"]
        detail = ", ".join(
            f"{m.variable!r} ({m.file_total:,.1f}, gap "
            f"{abs(m.file_total - population) / population:.2%})" for m in rescaled)
        warn(
            f"{survey} {year}: margins published as rounded shares were rescaled to the "
            f"population total {population:,}: {detail}. Survey.margin_notes states it "
            f"for the methodology box.",
            MarginRescaledWarning,
        )
    return spec


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
