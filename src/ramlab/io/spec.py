"""Declarative survey specifications: study, questions, bases, breakdowns, weighting.

A survey-year is described by one YAML file, ``<data_dir>/specs/<survey>_<year>.yaml``,
and its population margins by one YAML file per margin in
``<data_dir>/population/``. :func:`load_spec` reads and validates both; every
problem raises :class:`~ramlab.errors.SpecError` naming the file (``.path``) and
the key (``.key``, a dotted path such as ``questions.q6.type``).

Spec layout (keys in brackets are optional)::

    survey: associations            # survey id
    year: 2021
    [data_file: associations_2021.sav]   # in <data_dir>/raw/, default <survey>_<year>.sav
    study: {title, population, population_size, unit, mode, fieldwork_start,
            fieldwork_end, sample_size, institute, source, [report], [note],
            [unit_gender: feminine | masculine],
            [population_status: published | inference | assumption]}
    bases:                          # "ensemble" is added when absent
      <id>: {label, [short_label], [filter: <condition>]}
    questions:                      # in questionnaire order
      <id>: {text, type, [title], [column] | items: {column: label},
             categories: [labels in code order], [nets: {label: [categories]}],
             [missing: [categories]], [show_missing: false], [selected: label],
             [item_nets: {label: {any | all: [categories]}}] (grid),
             [count_label], [base: ensemble], [note], [changes],
             [message: "[q7_1 Cité] des associations ..."], [published: false],
             [finding: {"q8_2 Oui": "à pratiquer l'innovation sociale"}],
             [concept: id shared across surveys], [comparable: false], [concept_note]}
    breakdowns: [taille, secteur, region]
    weighting: {mode: rake | rake_from_delivered | delivered, [weight_variable],
                tolerance, margins: [{variable, file, [groups: {label: [categories]}]}]}
    [report: {[message], [messages: [message, ...]], [adjust: holm | bonferroni | bh | none], [main_breakdowns: [taille]],
              [hide_below: 30], [low_base_below: 75], [max_findings: 5],
              [ungroup_in_tables: [region]]}]

A ``message`` holds placeholders ``[target row]`` filled from the tables
(:mod:`ramlab.io.message`); an unknown placeholder is a SpecError at load.
A question's ``finding`` gives, for rows named as placeholders are (without
the brackets: ``"q8_2 Oui"``, ``"innovation Total Oui"``), the French phrase
that a computed finding on that row uses: "Les associations « 50 salariés et
plus » sont plus nombreuses à pratiquer l'innovation sociale (63 %) que celles
« Moins de 10 salariés » (41 %)". A phrase starts with "à " and an infinitive
and is not a sentence (no final stop, no bracket); the agreement comes from
``study.unit_gender``, which a spec with phrases must give.
The ``report`` options: the correction applied to the significance letters
and the computed findings alike, the breakdowns of the report's body (the
others go to its appendix), the unweighted base under which a group is hidden
and under which it is marked "base faible", the number of computed findings,
and the margins whose weighting groups are not applied in the tables.

A base filter ``<condition>`` is one of ``{column: c, in: [labels]}``,
``{question: q, any_in: [labels]}``, ``{question: q, all_in: [labels]}``,
``{all: [conditions]}``, ``{any: [conditions]}``, ``{not: condition}`` or
``{base: id}``. It is parsed and checked once, when the spec is loaded, into a
:class:`Condition` (``Base.filter``), which every user of a base evaluates.

A population file holds ``variable, label, year, source, status (published |
inference | assumption), [note] (required unless published), unit (count |
percent), [ordered: false] (an ordinal variable such as size bands),
categories: {label: value}`` in code order.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ramlab.errors import MarginRescaledWarning, SpecError, warn
from ramlab.files import record_input
from ramlab.io.labels import normalize_label

__all__ = [
    "Spec",
    "Question",
    "Base",
    "Condition",
    "parse_conditions",
    "Margin",
    "Weighting",
    "load_spec",
    "load_margin",
    "read_yaml",
    "normalize_label",
    "default_data_dir",
    "QUESTION_TYPES",
    "WEIGHTING_MODES",
    "REPORT_DEFAULTS",
]

QUESTION_TYPES = ("single", "multi", "grid", "scale", "numeric")
WEIGHTING_MODES = ("rake", "rake_from_delivered", "delivered")
POPULATION_STATUSES = ("published", "inference", "assumption")
#: Relative gap between a margin's total and the population size due to float rounding only.
_FLOAT_GAP = 1e-9

_TOP_KEYS = {
    "survey", "year", "data_file", "study", "bases", "questions", "breakdowns", "weighting", "report",
}
_STUDY_KEYS = {
    "title", "population", "population_size", "unit", "mode", "fieldwork_start",
    "fieldwork_end", "sample_size", "institute", "source",
}
_STUDY_OPTIONAL = {"report", "note", "unit_gender", "population_status"}
#: Grammatical gender of ``study.unit`` (the agreement of computed findings).
UNIT_GENDERS = ("feminine", "masculine")
_QUESTION_KEYS = {
    "text", "type", "title", "column", "items", "categories", "nets", "missing",
    "show_missing", "selected", "count_label", "base", "note", "changes",
    "message", "published", "concept", "comparable", "concept_note", "item_nets", "finding",
}
_REPORT_KEYS = {
    "message", "messages", "adjust", "main_breakdowns", "hide_below", "low_base_below", "max_findings",
    "ungroup_in_tables",
}
#: Multiple-comparison corrections a report may name (R ``p.adjust``; "bh": Benjamini-Hochberg).
REPORT_ADJUST = ("holm", "bonferroni", "bh", "none")
#: Report options of a spec when it does not set them (see :class:`Spec`).
REPORT_DEFAULTS = {
    "message": None,
    "messages": [],  # further report-level messages, in order, after "message"
    "adjust": "holm",
    "main_breakdowns": None,  # None: the first breakdown
    "hide_below": 30,
    "low_base_below": 75,
    "max_findings": 5,
    "ungroup_in_tables": [],
}
_BASE_KEYS = {"label", "short_label", "filter"}
_WEIGHTING_KEYS = {"mode", "weight_variable", "tolerance", "margins"}
_MARGIN_KEYS = {"variable", "file", "groups"}
_POPULATION_KEYS = {"variable", "label", "year", "source", "status", "note", "unit", "ordered", "categories"}


def default_data_dir() -> Path:
    """The project's ``data/`` directory (or ``$RAMLAB_DATA_DIR`` when set)."""
    env = os.environ.get("RAMLAB_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "data"


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class Question:
    """One question of the questionnaire.

    Attributes
    ----------
    id, text, type : str
        Identifier (kept across years for trends), French wording, and one of
        "single", "multi", "grid", "scale", "numeric".
    columns : tuple of str
        Data columns: one for single/scale/numeric, the items for multi/grid.
    item_labels : dict
        {column: French label} for multi/grid items.
    categories : list of str
        Answer labels in code order, user-missing ones included (for multi:
        the labels of the 0/1 columns, e.g. ["Non cité", "Cité"]).
    nets : dict
        {French net label: [category labels]}, e.g. "Total Oui".
    missing : list of str
        Categories excluded from the base (e.g. "Ne sait pas").
    show_missing : bool
        Show the missing categories as a row instead of excluding them.
    selected : str or None
        For multi: the category meaning "chosen".
    base : str
        Id of a :class:`Base`.
    title, count_label, note : str or None
        Short French title, label of the mean number of answers (multi), and a
        note shown with the question (e.g. "figures not published").
    changes : str or None
        French note on what changed since earlier years (wording, base), for
        trends; a question keeps its id across years.
    message : str or None
        The finding in one French sentence, with placeholders filled from the
        table (grammar: :mod:`ramlab.io.message`); the section title when set.
    published : bool
        The question's results are published by the Observatoire; only those
        are presented as key figures of a survey (default false).
    concept : str or None
        Id shared by the questions of different surveys that measure the same
        thing (the programme report puts them side by side).
    comparable : bool
        Same wording and base as the previous edition and as the other
        surveys' questions of its concept: only then is a change or a
        difference between surveys tested (default false: "non comparable").
    concept_note : str or None
        French note on how the wording differs from the other surveys of the
        concept (shown in the programme report).
    item_nets : dict
        Grid only: nets across the items, ``{label: ("any" | "all", (categories))}``:
        the share of respondents who give one of the categories to at least
        one item ("any": "Au moins un partenariat") or to every item ("all").
        The table adds one row per net (item and row both the label); a
        message cites it as ``[q6 Au moins un partenariat]``.
    finding : dict
        ``{(item column or "", row label): French phrase}``: the phrase of the
        computed findings on that row ("à pratiquer l'innovation sociale"),
        written in the spec as ``finding: {"q8_2 Oui": "..."}``.
    """

    id: str
    text: str
    type: str
    columns: tuple
    item_labels: dict = field(default_factory=dict)
    categories: list = field(default_factory=list)
    nets: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    show_missing: bool = False
    selected: str | None = None
    base: str = "ensemble"
    title: str | None = None
    count_label: str | None = None
    note: str | None = None
    changes: str | None = None
    message: str | None = None
    published: bool = False
    concept: str | None = None
    comparable: bool = False
    concept_note: str | None = None
    item_nets: dict = field(default_factory=dict)
    finding: dict = field(default_factory=dict)

    @property
    def valid_categories(self) -> list:
        """Categories that count in the base (``categories`` minus ``missing``)."""
        return [c for c in self.categories if c not in self.missing]


@dataclass(frozen=True)
class Condition:
    """A base filter, parsed and checked when the spec is loaded.

    One of the forms of the spec's filter grammar (see the module docstring):

    - ``column``: ``data[name]`` is one of ``labels``;
    - ``any_in`` / ``all_in``: any / every data column of question ``name``
      (``columns``) is one of ``labels``;
    - ``all`` / ``any`` / ``not``: of the sub-conditions ``parts``;
    - ``base``: the filter of base ``name`` (``parts`` holds it; empty when
      that base has none, i.e. every respondent).

    Build conditions with :func:`parse_conditions`.
    """

    form: str
    name: str | None = None
    labels: tuple = ()
    columns: tuple = ()
    parts: tuple = ()

    def evaluate(self, data):
        """Boolean Series on ``data.index``: the rows that meet the condition (NaN: no)."""
        import numpy as np
        import pandas as pd

        if self.form == "column":
            return data[self.name].isin(self.labels).fillna(False).astype(bool)
        if self.form in ("any_in", "all_in"):
            hits = np.column_stack([data[c].isin(self.labels) for c in self.columns])
            agg = hits.any(axis=1) if self.form == "any_in" else hits.all(axis=1)
            return pd.Series(agg, index=data.index)
        if self.form == "not":
            return ~self.parts[0].evaluate(data)
        if self.form == "base":
            if not self.parts:
                return pd.Series(True, index=data.index)
            return self.parts[0].evaluate(data)
        out = self.parts[0].evaluate(data)
        for part in self.parts[1:]:
            out = (out & part.evaluate(data)) if self.form == "all" else (out | part.evaluate(data))
        return out

    def describe(self) -> str:
        """The condition in words, e.g. ``q6 any in ['Oui'] and not taille in ['a']``."""
        if self.form == "column":
            return f"{self.name} in {list(self.labels)}"
        if self.form in ("any_in", "all_in"):
            return f"{self.name} {self.form.replace('_', ' ')} {list(self.labels)}"
        if self.form == "not":
            return f"not ({self.parts[0].describe()})"
        if self.form == "base":
            return f"base {self.name}"
        joiner = " and " if self.form == "all" else " or "
        return joiner.join(f"({p.describe()})" for p in self.parts)

    def _collect(self, own) -> list:
        """``own(condition)`` of this condition and of its parts (not through the bases it names)."""
        if self.form == "base":
            return []
        out = list(own(self))
        for part in self.parts:
            out.extend(part._collect(own))
        return out

    def data_columns(self) -> list:
        """The data columns this condition reads (not through the bases it names)."""
        return self._collect(lambda c: c.columns)

    def questions(self) -> list:
        """The question ids this condition reads (not through the bases it names)."""
        return self._collect(lambda c: [c.name] if c.form in ("any_in", "all_in") else [])

    def label_uses(self) -> list:
        """``(data column, labels)`` of every test on labels (not through the bases it names)."""
        return self._collect(lambda c: [(col, c.labels) for col in c.columns]
                             if c.form in ("column", "any_in", "all_in") else [])

    def __str__(self):
        return self.describe()


@dataclass(frozen=True)
class Base:
    """A base (the respondents a question is asked of), e.g. "Ensemble".

    ``mask(data)`` returns a boolean Series aligned on ``data.index``. Use it
    as ``design.subset(base.mask(data))``: a domain of the full weighted design.
    ``filter`` is the base's parsed :class:`Condition` (None: every respondent).
    """

    id: str
    label: str
    filter: Condition | None = None
    short_label: str | None = None

    def mask(self, data):
        import pandas as pd

        if self.filter is None:
            return pd.Series(True, index=data.index, name=self.id)
        return self.filter.evaluate(data).rename(self.id)


@dataclass(frozen=True)
class Margin:
    """One population margin (one file in ``data/population/``).

    Attributes
    ----------
    variable : str
        The data column the margin describes.
    column : str
        The column raked on: ``variable``, or ``<variable>_redressement`` when
        small categories are grouped.
    counts : dict
        {category: population count} per original category, rescaled to the
        population size when the file's total was within tolerance.
    targets : dict
        {category of ``column``: population count} after grouping.
    groups : dict
        {group label: [categories]} (grouping applied before raking).
    path, label, year, source, status, note, unit
        Provenance, as stated in the file.
    ordered : bool
        The categories are ordinal (e.g. size bands).
    file_total : float
        The total as the file gives it (sum of counts, or of percents x size / 100).
    rescaled : bool
        True when ``counts`` were rescaled to the population size.
    """

    variable: str
    column: str
    path: Path
    label: str
    year: int
    source: str
    status: str
    note: str | None
    unit: str
    counts: dict
    targets: dict
    groups: dict
    file_total: float
    rescaled: bool
    ordered: bool = False

    def grouped(self, series):
        """Map a categorical Series onto the raking categories (``targets`` order)."""
        import pandas as pd

        lookup = {}
        for group, members in self.groups.items():
            for m in members:
                lookup[m] = group
        values = series.astype(object).map(lambda v: lookup.get(v, v) if isinstance(v, str) else v)
        return pd.Series(
            pd.Categorical(values, categories=list(self.targets)),
            index=series.index,
            name=self.column,
        )


@dataclass(frozen=True)
class Weighting:
    """How a survey-year is weighted.

    ``mode``: "rake" (equal design weights, then rake on the margins),
    "rake_from_delivered" (the file's weight as the seed of a re-rake) or
    "delivered" (the file's weight as is, no raking).
    """

    mode: str
    weight_variable: str | None
    tolerance: float
    margins: tuple

    @property
    def targets(self) -> dict:
        """{column: {category: count}}, the ``margins`` argument of ``Design.rake``."""
        return {m.column: dict(m.targets) for m in self.margins}

    @property
    def groupings(self) -> dict:
        """{variable: {group label: [categories]}} for margins with groups."""
        return {m.variable: dict(m.groups) for m in self.margins if m.groups}

    def prepare(self, data):
        """Return ``data`` with the grouped raking columns added (attrs kept)."""
        extra = {m.column: m.grouped(data[m.variable]) for m in self.margins if m.groups}
        if not extra:
            return data
        out = data.assign(**extra)
        out.attrs = dict(data.attrs)
        return out


@dataclass(frozen=True)
class Spec:
    """A validated survey-year specification (see the module docstring)."""

    path: Path
    data_dir: Path
    survey: str
    year: int
    data_file: Path
    study: dict
    questions: dict
    bases: dict
    breakdowns: list
    weighting: Weighting
    report: dict = field(default_factory=lambda: dict(REPORT_DEFAULTS))

    @property
    def main_breakdowns(self) -> list:
        """Breakdowns shown in the body of the report (the others go to the appendix)."""
        main = self.report.get("main_breakdowns")
        return list(self.breakdowns[:1] if main is None else main)

    @property
    def adjust(self):
        """The report's multiple-comparison correction, as ``banner(adjust=)`` takes it."""
        method = self.report.get("adjust", "holm")
        return None if method == "none" else method

    def required_columns(self) -> list:
        """Every data column the spec needs, in a stable order."""
        cols = []
        for q in self.questions.values():
            cols.extend(q.columns)
        cols.extend(self.breakdowns)
        cols.extend(m.variable for m in self.weighting.margins)
        if self.weighting.mode != "rake" and self.weighting.weight_variable:
            cols.append(self.weighting.weight_variable)
        for base in self.bases.values():
            if base.filter is not None:
                cols.extend(base.filter.data_columns())
        return list(dict.fromkeys(cols))

    def check_data(self, data) -> None:
        """Check a frame from :func:`ramlab.io.sav.read_sav` against the spec.

        Raises
        ------
        DataFileError
            A variable the spec needs is absent (names the file and variable).
        SpecError
            A spec category is not among the file's labels, the file has a
            label the spec lacks, a margin category is absent from the data or
            the data has a category the margin lacks, or the sample size
            differs (names the spec or population file and the key).
        """
        from ramlab.io.sav import require_columns

        file = data.attrs.get("file", str(self.data_file))
        require_columns(data, self.required_columns(), path=file)
        for q in self.questions.values():
            self._check_question(q, data, file)
        for m in self.weighting.margins:
            _check_margin_data(m, data, file)
        for base in self.bases.values():
            self._check_filter_labels(base, data, file)
        expected = self.study["sample_size"]
        if expected != len(data):
            raise SpecError(
                f"{self.path}: study.sample_size is {expected} but {file} has {len(data)} "
                f"respondents",
                path=str(self.path), key="study.sample_size",
            )

    def _check_filter_labels(self, base, data, file) -> None:
        """A base filter's labels must be labels of its columns: a misspelt label would
        otherwise select nobody without a word."""
        if base.filter is None:
            return
        for column, labels in base.filter.label_uses():
            known = _labels_of(data, column)
            if known is None:
                continue
            _require_labels(labels, known, path=self.path, column=column, file=file,
                            what=f"base {base.id!r}: ", key=lambda label: f"bases.{base.id}")

    def _check_question(self, q, data, file) -> None:
        """Check one question's columns in ``data`` (see :meth:`check_data`)."""
        import pandas as pd

        if q.type == "numeric":
            for col in q.columns:
                if not pd.api.types.is_numeric_dtype(data[col]) or isinstance(
                    data[col].dtype, pd.CategoricalDtype
                ):
                    raise SpecError(
                        f"{self.path}: question {q.id!r} is numeric but column {col!r} "
                        f"of {file} is not",
                        path=str(self.path), key=f"questions.{q.id}.type",
                    )
            return
        for col in q.columns:
            labels = _labels_of(data, col)
            if labels is None:
                raise SpecError(
                    f"{self.path}: question {q.id!r}: column {col!r} of {file} has no "
                    f"value labels",
                    path=str(self.path), key=f"questions.{q.id}.categories",
                )
            if not isinstance(data[col].dtype, pd.CategoricalDtype):
                raise SpecError(
                    f"{self.path}: question {q.id!r} is {q.type} but column {col!r} of "
                    f"{file} is read as numbers: its value labels "
                    f"({', '.join(map(repr, labels))}) cover less than half of its "
                    f"values; make the question numeric or label its codes",
                    path=str(self.path), key=f"questions.{q.id}.type",
                )
            _require_labels(q.categories, labels, path=self.path, column=col, file=file,
                            what=f"question {q.id!r}: category ",
                            key=lambda cat: f"questions.{q.id}.categories")
            extra = [lab for lab in labels if lab not in q.categories]
            if extra:
                raise SpecError(
                    f"{self.path}: question {q.id!r}: {file} labels {col!r} with "
                    f"{', '.join(map(repr, extra))}, which the spec's categories lack",
                    path=str(self.path), key=f"questions.{q.id}.categories",
                )


# --------------------------------------------------------------------------- loading


def load_spec(path_or_survey_id, *, year=None, data_dir=None) -> Spec:
    """Load and validate a survey specification and its population margins.

    Parameters
    ----------
    path_or_survey_id : str or os.PathLike
        A spec file (``.yaml``), or a survey id such as ``"associations"``
        resolved to ``<data_dir>/specs/<survey>_<year>.yaml``.
    year : int, optional
        The survey year; may be omitted when only one spec exists for the survey.
    data_dir : str or os.PathLike, optional
        The data directory (``specs/``, ``population/``, ``raw/``). Defaults to
        the spec file's grandparent for a path, else :func:`default_data_dir`.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Naming the file and the key at fault. Margins whose total differs from
        ``study.population_size`` by less than ``weighting.tolerance``
        (relative) are rescaled with a ``UserWarning`` naming the margin file
        and both totals; a larger gap is a SpecError.

    Examples
    --------
    >>> import warnings
    >>> from ramlab import load_spec
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # two margins rescaled (gap 0.10 %)
    ...     spec = load_spec("associations", year=2021)
    >>> list(spec.questions)[:5]
    ['q2', 'q6', 'q7', 'q8', 'innovation']
    """
    path, data_dir = _resolve(path_or_survey_id, year, data_dir)
    raw = read_yaml(path)
    return _build_spec(raw, path, data_dir, year)


def _resolve(target, year, data_dir):
    target_str = os.fspath(target)
    as_path = Path(target_str)
    if as_path.suffix in (".yaml", ".yml") or as_path.is_file():
        if not as_path.is_file():
            raise SpecError(f"Spec file not found: {as_path}", path=str(as_path))
        ddir = Path(data_dir) if data_dir is not None else as_path.resolve().parent.parent
        return as_path, ddir
    ddir = Path(data_dir) if data_dir is not None else default_data_dir()
    specs = ddir / "specs"
    if year is not None:
        path = specs / f"{target_str}_{int(year)}.yaml"
        if not path.is_file():
            raise SpecError(
                f"No spec for survey {target_str!r}, year {year}: {path} not found",
                path=str(path),
            )
        return path, ddir
    found = sorted(specs.glob(f"{target_str}_*.yaml"))
    if len(found) != 1:
        raise SpecError(
            f"Survey {target_str!r}: give a year; specs found in {specs}: "
            f"{', '.join(p.name for p in found) or 'none'}",
            path=str(specs),
        )
    return found[0], ddir


# Characters that change a label's bytes but not what a reader sees: zero-width
# spaces and joiners used as spaces, the word joiner, and a stray byte-order mark.
class _DuplicateKey(Exception):
    """Raised by the loader on a key given twice in one mapping."""

    def __init__(self, key, line, first_line):
        super().__init__(key)
        self.key, self.line, self.first_line = key, line, first_line


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML's safe loader, refusing a key given twice in one mapping.

    PyYAML keeps the last value of a duplicated key without a word (a second
    question ``q6`` silently replaces the first); YAML 1.2 says keys are unique.
    Keys brought in by a merge (``<<: *anchor``) may be overridden, as YAML allows.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise _DuplicateKey(key, line, first)
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _construct_label(loader, node):
    return normalize_label(loader.construct_scalar(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:map", _StrictLoader.construct_yaml_map)
_StrictLoader.add_constructor("tag:yaml.org,2002:str", _construct_label)


def read_yaml(path) -> dict:
    """Read a YAML file (spec, margin, generator configuration) strictly.

    Parameters
    ----------
    path : str or os.PathLike
        The file, UTF-8; its top level must be a mapping.

    Returns
    -------
    dict

    Every string (keys and values) is put in :func:`normalize_label` form.

    Raises
    ------
    SpecError
        On a syntax error (the message gives the line and column, on one line;
        also ``.line`` and ``.column``, 1-based), a key given twice in one
        mapping (the message names the key and both lines), an unreadable file,
        or a top level that is not a mapping. ``.path`` names the file.
    """
    path = Path(path)
    record_input(path)
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 - a safe loader
    except _DuplicateKey as exc:
        raise SpecError(
            f"{path}, line {exc.line}: duplicate key {exc.key!r} (already given on line "
            f"{exc.first_line}); each key may appear once",
            path=str(path), key=str(exc.key), line=exc.line,
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        context = " ".join(str(exc.context or "").split())
        where = f", line {line}, column {column}" if mark is not None else ""
        detail = f"{problem} ({context})" if context and context != problem else problem
        raise SpecError(
            f"{path}{where}: not valid YAML: {detail}", path=str(path), line=line, column=column
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(
            f"{path}: not valid YAML: {' '.join(str(exc).split())}", path=str(path)
        ) from exc
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})", path=str(path)
        ) from exc
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc})", path=str(path)) from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level", path=str(path))
    return raw


def _err(path, key, message):
    return SpecError(f"{path}: {key}: {message}", path=str(path), key=key)


def _choice(path, key, value, allowed, what):
    """`value` if it is one of `allowed`, else a SpecError naming `what` and the choices."""
    if value not in allowed:
        raise _err(path, key, f"unknown {what} {value!r} (allowed: {', '.join(allowed)})")
    return value


def _check_keys(path, where, mapping, allowed, required=()):
    if not isinstance(mapping, dict):
        raise _err(path, where or "(top)", "expected a mapping")
    for key in mapping:
        if key not in allowed:
            full = f"{where}.{key}" if where else str(key)
            raise _err(path, full, f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in mapping or mapping[key] is None:
            full = f"{where}.{key}" if where else key
            raise _err(path, full, "required key is missing")


def _str(path, key, value, *, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _err(path, key, f"expected a non-empty string, got {value!r}")
    return value


def _int(path, key, value, *, minimum=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(path, key, f"expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise _err(path, key, f"expected an integer >= {minimum}, got {value}")
    return value


def _str_list(path, key, value):
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _err(path, key, f"expected a non-empty list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise _err(path, key, "duplicate labels")
    return list(value)


def _build_study(path, raw_study):
    """The ``study`` block, checked: texts, sizes, fieldwork dates as dates, the options."""
    _check_keys(path, "study", raw_study, _STUDY_KEYS | _STUDY_OPTIONAL, required=tuple(_STUDY_KEYS))
    study = dict(raw_study)
    for key in ("title", "population", "unit", "mode", "institute", "source"):
        _str(path, f"study.{key}", study[key])
    _int(path, "study.population_size", study["population_size"], minimum=1)
    _int(path, "study.sample_size", study["sample_size"], minimum=1)
    for key in ("fieldwork_start", "fieldwork_end"):
        value = study[key]
        if isinstance(value, str):
            try:
                value = _dt.date.fromisoformat(value)
            except ValueError:
                raise _err(path, f"study.{key}", f"expected a date YYYY-MM-DD, got {value!r}") from None
        if not isinstance(value, _dt.date):
            raise _err(path, f"study.{key}", f"expected a date YYYY-MM-DD, got {value!r}")
        study[key] = value
    if study["fieldwork_end"] < study["fieldwork_start"]:
        raise _err(path, "study.fieldwork_end", "ends before study.fieldwork_start")
    if "unit_gender" in study:
        _choice(path, "study.unit_gender", study["unit_gender"], UNIT_GENDERS, "grammatical gender")
    # how the population size is known, stated wherever it is shown (an estimate is not a count)
    study["population_status"] = study.get("population_status", "published")
    _choice(path, "study.population_status", study["population_status"], POPULATION_STATUSES,
            "population status")
    return study


def _build_spec(raw, path, data_dir, year):
    _check_keys(path, "", raw, _TOP_KEYS, required=("survey", "year", "study", "questions", "weighting"))
    survey = _str(path, "survey", raw["survey"])
    spec_year = _int(path, "year", raw["year"], minimum=1900)
    if year is not None and int(year) != spec_year:
        raise _err(path, "year", f"the file says {spec_year}, {year} was asked for")
    data_file = Path(data_dir) / "raw" / _str(
        path, "data_file", raw.get("data_file") or f"{survey}_{spec_year}.sav"
    )

    study = _build_study(path, raw["study"])

    questions_raw = raw["questions"]
    if not isinstance(questions_raw, dict) or not questions_raw:
        raise _err(path, "questions", "expected a non-empty mapping of questions")
    questions = {}
    for qid, q in questions_raw.items():
        questions[str(qid)] = _build_question(path, str(qid), q)
    _check_unique_columns(path, questions)
    for q in questions.values():
        _check_message(path, f"questions.{q.id}.message", q.message, questions)
    questions = {qid: _with_findings(path, q, questions_raw[qid].get("finding"), study)
                 for qid, q in questions.items()}

    bases_raw = raw.get("bases") or {}
    if not isinstance(bases_raw, dict):
        raise _err(path, "bases", "expected a mapping of bases")
    bases_spec = {"ensemble": {"label": "Ensemble"}}
    bases_spec.update(bases_raw)
    bases_list = []
    for bid, b in bases_spec.items():
        _check_keys(path, f"bases.{bid}", b, _BASE_KEYS, required=("label",))
        _str(path, f"bases.{bid}.label", b["label"])
        bases_list.append((str(bid), b))
    if bases_spec["ensemble"].get("filter") is not None:
        raise _err(path, "bases.ensemble.filter", "the base 'ensemble' takes no filter")

    breakdowns = raw.get("breakdowns") or []
    if breakdowns:
        breakdowns = _str_list(path, "breakdowns", breakdowns)

    weighting = _build_weighting(path, data_dir, raw["weighting"], study["population_size"])
    report = _build_report(path, raw.get("report"), questions, breakdowns, weighting)

    spec = Spec(
        path=Path(path), data_dir=Path(data_dir), survey=survey, year=spec_year,
        data_file=data_file, study=study, questions=questions, bases={},
        breakdowns=breakdowns, weighting=weighting, report=report,
    )
    conditions = parse_conditions({bid: b.get("filter") for bid, b in bases_list}, questions, path=path)
    for bid, b in bases_list:
        spec.bases[bid] = Base(
            id=bid, label=b["label"], filter=conditions[bid], short_label=b.get("short_label"),
        )
    for q in questions.values():
        if q.base not in spec.bases:
            raise _err(
                path, f"questions.{q.id}.base",
                f"unknown base {q.base!r} (bases: {', '.join(spec.bases)})",
            )
    return spec


def _build_question(path, qid, q):
    where = f"questions.{qid}"
    _check_keys(path, where, q, _QUESTION_KEYS, required=("text", "type"))
    qtype = _choice(path, f"{where}.type", q["type"], QUESTION_TYPES, "question type")
    text = _str(path, f"{where}.text", q["text"])
    items = q.get("items")
    if qtype in ("multi", "grid"):
        if q.get("column") is not None:
            raise _err(path, f"{where}.column", f"a {qtype} question takes items, not column")
        if not isinstance(items, dict) or not items:
            raise _err(path, f"{where}.items", "expected a mapping {column: French label}")
        item_labels = {}
        for col, lab in items.items():
            item_labels[str(col)] = _str(path, f"{where}.items.{col}", lab)
        columns = tuple(item_labels)
    else:
        if items is not None:
            raise _err(path, f"{where}.items", f"a {qtype} question takes no items")
        item_labels = {}
        columns = (_str(path, f"{where}.column", q.get("column") or qid),)

    if qtype == "numeric":
        for key in ("categories", "nets", "missing", "selected"):
            if q.get(key) is not None:
                raise _err(path, f"{where}.{key}", "a numeric question takes no categories")
        categories = []
    else:
        if q.get("categories") is None:
            raise _err(path, f"{where}.categories", "required key is missing")
        categories = _str_list(path, f"{where}.categories", q["categories"])

    missing = q.get("missing") or []
    if missing:
        missing = _str_list(path, f"{where}.missing", missing)
        for cat in missing:
            if cat not in categories:
                raise _err(path, f"{where}.missing", f"{cat!r} is not one of the categories")
    nets_raw = q.get("nets") or {}
    if not isinstance(nets_raw, dict):
        raise _err(path, f"{where}.nets", "expected a mapping {net label: [categories]}")
    nets = {}
    for label, members in nets_raw.items():
        members = _str_list(path, f"{where}.nets.{label}", members)
        for cat in members:
            if cat not in categories:
                raise _err(path, f"{where}.nets.{label}", f"{cat!r} is not one of the categories")
            if cat in missing:
                raise _err(path, f"{where}.nets.{label}", f"{cat!r} is a missing category")
        nets[str(label)] = members
    item_nets = _item_nets(path, where, q.get("item_nets"), qtype, categories, missing)
    selected = q.get("selected")
    if qtype == "multi":
        selected = _str(path, f"{where}.selected", selected)
        if selected not in categories:
            raise _err(path, f"{where}.selected", f"{selected!r} is not one of the categories")
    elif selected is not None:
        raise _err(path, f"{where}.selected", "only a multi question takes 'selected'")
    show_missing = q.get("show_missing", False)
    if not isinstance(show_missing, bool):
        raise _err(path, f"{where}.show_missing", f"expected true or false, got {show_missing!r}")
    return Question(
        id=qid, text=text, type=qtype, columns=columns, item_labels=item_labels,
        categories=categories, nets=nets, missing=missing, show_missing=show_missing,
        selected=selected, base=str(q.get("base") or "ensemble"),
        title=_str(path, f"{where}.title", q.get("title"), optional=True),
        count_label=_str(path, f"{where}.count_label", q.get("count_label"), optional=True),
        note=_str(path, f"{where}.note", q.get("note"), optional=True),
        changes=_str(path, f"{where}.changes", q.get("changes"), optional=True),
        message=_str(path, f"{where}.message", q.get("message"), optional=True),
        published=_bool(path, f"{where}.published", q.get("published", False)),
        concept=_str(path, f"{where}.concept", q.get("concept"), optional=True),
        comparable=_bool(path, f"{where}.comparable", q.get("comparable", False)),
        concept_note=_str(path, f"{where}.concept_note", q.get("concept_note"), optional=True),
        item_nets=item_nets,
    )


def _item_nets(path, where, raw, qtype, categories, missing):
    """A grid's nets across items, ``{label: (mode, categories)}``; SpecError naming the key."""
    if raw is None:
        return {}
    key = f"{where}.item_nets"
    if qtype != "grid":
        raise _err(path, key, f"only a grid question takes item_nets, not a {qtype} question")
    if not isinstance(raw, dict):
        raise _err(path, key, "expected a mapping {net label: {any: [categories]} or {all: [categories]}}")
    out = {}
    for label, rule in raw.items():
        if not isinstance(rule, dict) or len(rule) != 1 or next(iter(rule)) not in ("any", "all"):
            raise _err(path, f"{key}.{label}", f"expected {{any: [categories]}} or {{all: [categories]}}, got {rule!r}")
        mode, members = next(iter(rule.items()))
        members = _str_list(path, f"{key}.{label}.{mode}", members)
        for cat in members:
            if cat not in categories or cat in missing:
                raise _err(path, f"{key}.{label}.{mode}", f"{cat!r} is not one of the valid categories")
        out[str(label)] = (mode, tuple(members))
    return out


#: A finding phrase: "à" and a word, no bracket, no line break, no final punctuation.
_PHRASE = re.compile(r"à [^\[\]\n]*[^\s.!?;:,]")


def _with_findings(path, question, raw, study):
    """`question` with its ``finding`` phrases resolved to (item, row); SpecError naming the key."""
    if raw is None:
        return question
    from dataclasses import replace

    from ramlab.io.message import MEAN, resolve

    where = f"questions.{question.id}.finding"
    if not isinstance(raw, dict) or not raw:
        raise _err(path, where, 'expected a mapping {"<item or question> <row>": "à ..."}, '
                                f'e.g. {{"{question.columns[0]} {(list(question.nets) or question.categories or ["Oui"])[0]}": '
                                f'"à pratiquer ..."}}, got {raw!r}')
    if study.get("unit_gender") is None:
        raise _err(path, where, f"finding phrases agree with study.unit ({study['unit']!r}): "
                                f"give study.unit_gender ({' or '.join(UNIT_GENDERS)})")
    out = {}
    for key, phrase in raw.items():
        full = f"{where}.{key}"
        target, _, row = str(key).strip().partition(" ")
        try:
            ph = resolve(target, row.strip(), {question.id: question}, text=str(key))
        except ValueError as exc:
            raise _err(path, full, f"{exc} (a phrase names a row of question {question.id})") from None
        if ph.row == MEAN or (question.type == "grid" and not ph.item):
            raise _err(path, full, "a finding phrase names an answer or a net of one item, not a mean "
                                   "or a net across items")
        if not isinstance(phrase, str) or not _PHRASE.fullmatch(phrase.strip()):
            raise _err(path, full, f"expected a phrase that starts with 'à ' and an infinitive, without "
                                   f"brackets or final punctuation (\"à pratiquer le mécénat\"), got {phrase!r}")
        out[(ph.item, ph.row)] = phrase.strip()
    return replace(question, finding=out)


def _bool(path, key, value):
    if not isinstance(value, bool):
        raise _err(path, key, f"expected true or false, got {value!r}")
    return value


def _check_message(path, key, message, questions):
    """SpecError naming `key` and the placeholder when `message` does not resolve."""
    if message is None:
        return
    from ramlab.io.message import check

    try:
        check(message, questions)
    except ValueError as exc:
        raise _err(path, key, str(exc)) from None


def _build_report(path, raw, questions, breakdowns, weighting):
    """The ``report`` options of a spec, checked, with :data:`REPORT_DEFAULTS` filled in."""
    report = dict(REPORT_DEFAULTS)
    if raw is None:
        return report
    _check_keys(path, "report", raw, _REPORT_KEYS)
    report.update(raw)
    _check_message(path, "report.message", _str(path, "report.message", report["message"], optional=True),
                   questions)
    messages = _str_list(path, "report.messages", report["messages"]) if report["messages"] else []
    for i, message in enumerate(messages):
        _check_message(path, f"report.messages[{i}]", message, questions)
    report["messages"] = messages
    _choice(path, "report.adjust", report["adjust"], REPORT_ADJUST, "multiple-comparison correction")
    if report["main_breakdowns"] is not None:
        main = report["main_breakdowns"]
        if not isinstance(main, list) or not all(isinstance(b, str) for b in main):
            raise _err(path, "report.main_breakdowns", f"expected a list of breakdowns, got {main!r}")
        for b in main:
            if b not in breakdowns:
                raise _err(path, "report.main_breakdowns",
                           f"{b!r} is not a breakdown (breakdowns: {', '.join(breakdowns)})")
    hide = _int(path, "report.hide_below", report["hide_below"], minimum=0)
    low = _int(path, "report.low_base_below", report["low_base_below"], minimum=0)
    if low < hide:
        raise _err(path, "report.low_base_below", f"{low} is under report.hide_below ({hide})")
    _int(path, "report.max_findings", report["max_findings"], minimum=0)
    keep = report["ungroup_in_tables"] or []
    grouped = {m.variable for m in weighting.margins if m.groups}
    if not isinstance(keep, list) or any(v not in grouped for v in keep):
        raise _err(path, "report.ungroup_in_tables",
                   f"expected a list of margins with groups ({', '.join(sorted(grouped)) or 'none'}), "
                   f"got {keep!r}")
    report["ungroup_in_tables"] = list(keep)
    return report


def _check_unique_columns(path, questions):
    seen = {}
    for q in questions.values():
        for col in q.columns:
            if col in seen:
                raise _err(
                    path, f"questions.{q.id}",
                    f"column {col!r} is already used by question {seen[col]!r}",
                )
            seen[col] = q.id


_FILTER_FORMS = ("column", "question", "all", "any", "not", "base")


def parse_conditions(filters, questions, *, path="<spec>") -> dict:
    """Parse and check the base filters of a spec, following base references.

    Parameters
    ----------
    filters : mapping {base id: filter mapping or None}
        The ``filter`` of each base as written in the spec (None: no filter).
    questions : mapping {question id: Question}
        The spec's questions (for ``question`` conditions and label checks).
    path : str
        The spec file, named in errors.

    Returns
    -------
    dict {base id: Condition or None}

    Raises
    ------
    SpecError
        A malformed condition, an unknown question, base or label, or a
        circular base reference (``.key`` names the condition, e.g.
        ``bases.partenaires.filter.any_in``).
    """
    parsed = {}

    def base(bid, stack):
        if bid in stack:
            raise _err(path, f"bases.{bid}.filter", f"circular base reference {' -> '.join(stack + [bid])}")
        if bid not in parsed:
            raw = filters[bid]
            key = f"bases.{bid}.filter"
            parsed[bid] = None if raw is None else _parse(raw, key, stack + [bid])
        return parsed[bid]

    def _parse(cond, key, stack):
        if not isinstance(cond, dict) or not cond:
            raise _err(path, key, f"expected a condition mapping, got {cond!r}")
        head = [k for k in cond if k in _FILTER_FORMS]
        if len(head) != 1:
            raise _err(path, key, f"a condition has exactly one of {', '.join(_FILTER_FORMS)}")
        form = head[0]
        if form == "column":
            return _column_condition(path, key, cond, questions)
        if form == "question":
            return _question_condition(path, key, cond, questions)
        if form in ("all", "any"):
            _check_keys(path, key, cond, {form})
            if not isinstance(cond[form], list) or not cond[form]:
                raise _err(path, f"{key}.{form}", "expected a non-empty list of conditions")
            parts = tuple(_parse(sub, f"{key}.{form}.{i}", stack) for i, sub in enumerate(cond[form]))
            return Condition(form, parts=parts)
        if form == "not":
            _check_keys(path, key, cond, {"not"})
            return Condition("not", parts=(_parse(cond["not"], f"{key}.not", stack),))
        _check_keys(path, key, cond, {"base"})
        if cond["base"] not in filters:
            raise _err(path, f"{key}.base", f"unknown base {cond['base']!r}")
        target = base(cond["base"], stack)
        return Condition("base", name=cond["base"], parts=() if target is None else (target,))

    for bid in filters:
        base(bid, [])
    return parsed


def _column_condition(path, key, cond, questions):
    _check_keys(path, key, cond, {"column", "in"}, required=("column", "in"))
    column = _str(path, f"{key}.column", cond["column"])
    labels = _str_list(path, f"{key}.in", cond["in"])
    for q in questions.values():
        if column in q.columns and q.type != "numeric":
            for lab in labels:
                if lab not in q.categories:
                    raise _err(path, f"{key}.in", f"{lab!r} is not a category of {q.id!r}")
    return Condition("column", name=column, labels=tuple(labels), columns=(column,))


def _question_condition(path, key, cond, questions):
    ops = [k for k in cond if k in ("any_in", "all_in")]
    _check_keys(path, key, cond, {"question", "any_in", "all_in"}, required=("question",))
    if len(ops) != 1:
        raise _err(path, key, "a question condition takes exactly one of any_in, all_in")
    qid = cond["question"]
    if qid not in questions:
        raise _err(path, f"{key}.question", f"unknown question {qid!r}")
    labels = _str_list(path, f"{key}.{ops[0]}", cond[ops[0]])
    for lab in labels:
        if lab not in questions[qid].categories:
            raise _err(path, f"{key}.{ops[0]}", f"{lab!r} is not a category of {qid!r}")
    return Condition(ops[0], name=qid, labels=tuple(labels), columns=tuple(questions[qid].columns))


# --------------------------------------------------------------------------- weighting


def _build_weighting(path, data_dir, w, population_size):
    _check_keys(path, "weighting", w, _WEIGHTING_KEYS, required=("mode", "tolerance", "margins"))
    mode = _choice(path, "weighting.mode", w["mode"], WEIGHTING_MODES, "mode")
    weight_variable = _str(path, "weighting.weight_variable", w.get("weight_variable"), optional=True)
    if mode != "rake" and weight_variable is None:
        raise _err(path, "weighting.weight_variable", f"mode {mode!r} needs the file's weight column")
    tol = w["tolerance"]
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 0.1:
        raise _err(path, "weighting.tolerance", f"expected a relative tolerance in [0, 0.1), got {tol!r}")
    margins_raw = w["margins"]
    if mode == "delivered" and not margins_raw:
        margins_raw = []
    elif not isinstance(margins_raw, list) or not margins_raw:
        raise _err(path, "weighting.margins", "expected a non-empty list of margins")
    margins = []
    seen = set()
    for i, m in enumerate(margins_raw):
        key = f"weighting.margins.{i}"
        _check_keys(path, key, m, _MARGIN_KEYS, required=("variable", "file"))
        variable = _str(path, f"{key}.variable", m["variable"])
        if variable in seen:
            raise _err(path, f"{key}.variable", f"{variable!r} has two margins")
        seen.add(variable)
        name = _str(path, f"{key}.file", m["file"])
        # Margins are data with a source: they live in <data_dir>/population/,
        # never elsewhere (an absolute path or "../" would leave it).
        parts = Path(name).parts
        if Path(name).is_absolute() or Path(name).drive or ".." in parts:
            raise _err(
                path, f"{key}.file",
                f"{name!r} leaves {Path(data_dir) / 'population'}: a margin file must live "
                f"under data/population/ (give its name there, e.g. "
                f"{Path(name).name!r})",
            )
        file = Path(data_dir) / "population" / name
        if not file.is_file():
            raise _err(path, f"{key}.file", f"population file not found: {file}")
        margins.append(
            load_margin(
                file, population_size=population_size, tolerance=float(tol),
                groups=m.get("groups"), expected_variable=variable,
                spec_path=path, spec_key=key,
            )
        )
    return Weighting(mode=mode, weight_variable=weight_variable, tolerance=float(tol), margins=tuple(margins))


def load_margin(path, *, population_size, tolerance, groups=None, expected_variable=None,
                spec_path=None, spec_key=None) -> Margin:
    """Load one population-margin file and scale it to the population size.

    Parameters
    ----------
    path : str or os.PathLike
        The margin file (layout in the module docstring).
    population_size : int
        The population total (``study.population_size``).
    tolerance : float
        Largest relative gap |file total - population_size| / population_size
        that is rescaled (with a ``UserWarning`` naming the file and both
        totals); a larger gap raises SpecError. Rounded published shares (e.g.
        regional shares that sum to 99.9) need a small tolerance.
    groups : dict, optional
        {group label: [categories]}: small categories merged before raking.
    expected_variable : str, optional
        The variable the spec says this margin describes.

    Returns
    -------
    Margin
    """
    path = Path(path)
    raw = read_yaml(path)
    _check_keys(path, "", raw, _POPULATION_KEYS,
                required=("variable", "label", "year", "source", "status", "unit", "categories"))
    variable = _str(path, "variable", raw["variable"])
    if expected_variable is not None and variable != expected_variable:
        raise _err(path, "variable", f"the file describes {variable!r}, the spec expects {expected_variable!r}")
    status = _choice(path, "status", raw["status"], POPULATION_STATUSES, "status")
    note = _str(path, "note", raw.get("note"), optional=True)
    if status != "published" and note is None:
        raise _err(path, "note", f"a margin with status {status!r} must say why in a note")
    unit = raw["unit"]
    if unit not in ("count", "percent"):
        raise _err(path, "unit", f"expected 'count' or 'percent', got {unit!r}")
    ordered = raw.get("ordered", False)
    if not isinstance(ordered, bool):
        raise _err(path, "ordered", f"expected true or false, got {ordered!r}")
    counts, file_total, rescaled = _margin_counts(
        path, raw, variable=variable, unit=unit, population_size=population_size, tolerance=tolerance
    )
    group_map = _margin_groups(path, groups, counts, spec_path=spec_path, spec_key=spec_key)
    targets = {}
    for cat, count in counts.items():
        group = next((g for g, mem in group_map.items() if cat in mem), None)
        key = group or cat
        targets[key] = targets.get(key, 0.0) + count
    return Margin(
        variable=variable,
        column=f"{variable}_redressement" if group_map else variable,
        path=path, label=_str(path, "label", raw["label"]),
        year=_int(path, "year", raw["year"], minimum=1900),
        source=_str(path, "source", raw["source"]), status=status, note=note, unit=unit,
        counts=counts, targets=targets, groups=group_map, file_total=file_total,
        rescaled=rescaled, ordered=ordered,
    )


def _margin_counts(path, raw, *, variable, unit, population_size, tolerance):
    """A margin file's categories as counts summing to ``population_size``.

    Returns ``(counts, file_total, rescaled)``; see :func:`load_margin`.
    """
    cats = raw["categories"]
    if not isinstance(cats, dict) or not cats:
        raise _err(path, "categories", "expected a mapping {category: value}")
    values = {}
    for cat, value in cats.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise _err(path, f"categories.{cat}", f"expected a positive number, got {value!r}")
        values[str(cat)] = float(value)
    scale = population_size / 100.0 if unit == "percent" else 1.0
    counts = {cat: v * scale for cat, v in values.items()}
    file_total = sum(counts.values())
    gap = abs(file_total - population_size) / population_size
    rescaled = False
    if gap > tolerance:
        raise _err(
            path, "categories",
            f"total {file_total:,.1f} differs from the population size {population_size:,} "
            f"by {gap:.2%}, more than the tolerance {tolerance:.2%}",
        )
    # Percentages that add up to 100 only up to float rounding (e.g. 99.99999999999999)
    # are no rescaling to report: the margin is exact, only its sum is not.
    if gap > _FLOAT_GAP:
        shown = f"{sum(values.values()):g}%" if unit == "percent" else f"{file_total:,.1f}"
        warn(
            f"{path}: margin {variable!r} totals {shown} ({file_total:,.1f}) instead of "
            f"{population_size:,} (gap {gap:.2%}, within tolerance {tolerance:.2%}); "
            f"rescaled to {population_size:,}",
            MarginRescaledWarning,
        )
        counts = {cat: v * population_size / file_total for cat, v in counts.items()}
        rescaled = True
    elif file_total != population_size:
        counts = {cat: v * population_size / file_total for cat, v in counts.items()}

    return counts, file_total, rescaled


def _margin_groups(path, groups, counts, *, spec_path, spec_key):
    """{group label: [categories]} of a spec margin's ``groups``, checked against ``counts``."""
    group_map = {}
    if groups:
        gkey = f"{spec_key}.groups" if spec_key else "groups"
        gpath = spec_path or path
        if not isinstance(groups, dict):
            raise _err(gpath, gkey, "expected a mapping {group label: [categories]}")
        for label, members in groups.items():
            members = _str_list(gpath, f"{gkey}.{label}", members)
            if len(members) < 2:
                raise _err(gpath, f"{gkey}.{label}", "a group merges at least two categories")
            for cat in members:
                if cat not in counts:
                    raise _err(gpath, f"{gkey}.{label}", f"{cat!r} is not a category of {path.name}")
                if any(cat in other for other in group_map.values()):
                    raise _err(gpath, f"{gkey}.{label}", f"{cat!r} is in two groups")
            group_map[str(label)] = members
    return group_map


def _check_margin_data(m, data, file) -> None:
    """Check that a margin's categories are the labels of its column in ``data``."""
    labels = _labels_of(data, m.variable)
    if labels is None:
        raise SpecError(
            f"{m.path}: column {m.variable!r} of {file} has no value labels",
            path=str(m.path), key="variable",
        )
    _require_labels(m.counts, labels, path=m.path, column=m.variable, file=file,
                    what="category ", key=lambda cat: f"categories.{cat}")
    present = data[m.variable].dropna().unique()
    for cat in present:
        if cat not in m.counts:
            raise SpecError(
                f"{m.path}: {file} has respondents in {m.variable!r} = {cat!r}, "
                f"a category the margin lacks",
                path=str(m.path), key="categories",
            )


def _require_labels(wanted, labels, *, path, column, file, what, key):
    """SpecError on the first of ``wanted`` that is not among ``labels`` (the file's own,
    listed in the message); ``key(label)`` is the spec key to name."""
    for label in wanted:
        if label not in labels:
            raise SpecError(
                f"{path}: {what}{label!r} is not among the labels of {column!r} in {file} "
                f"({', '.join(map(repr, labels))})",
                path=str(path), key=key(label),
            )


def _labels_of(data, column):
    import pandas as pd

    s = data[column]
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [str(c) for c in s.cat.categories]
    labels = data.attrs.get("value_labels", {}).get(column)
    return list(labels.values()) if labels else None

