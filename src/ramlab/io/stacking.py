"""The years of a survey stacked into one survey: ``ramlab.stack({2015: s15, 2021: s21})``.

    stacked = stack({2015: load_survey("associations", 2015),
                     2021: load_survey("associations", 2021)})
    crosstab(stacked, "q8_1", "year")

(:func:`stack` has a running example.)

Each year keeps its own design and calibration (:func:`ramlab.design.stack_designs`:
the year's strata and units, prefixed with the year, and its calibrations,
over its own rows), so a change between two years is tested with the sum of
the years' variances, as for independent samples.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ramlab.errors import RamlabError
from ramlab.io.spec import Base
from ramlab.io.survey import Survey

__all__ = ["stack", "stack_data", "not_asked"]


def _union(lists):
    """Union of category lists, in order: the first list's, then the others' new ones."""
    out = []
    for values in lists:
        out.extend(v for v in values if v not in out)
    return out


@dataclasses.dataclass(frozen=True)
class StackedBase(Base):
    """A base of a stacked survey: each year's own base on its rows, False where absent."""

    by_year: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)
    column: str = "year"

    def mask(self, data):
        # each year's filter on the whole frame (no copy of its rows), kept on its rows;
        # years that share a base are evaluated once
        years = data[self.column].to_numpy()
        out = np.zeros(len(data), dtype=bool)
        done = {}
        for year, base in self.by_year.items():
            rows = years == year
            if not rows.any():
                continue
            key = (base.id, repr(base.filter))
            if key not in done:
                done[key] = base.mask(data).to_numpy(dtype=bool)
            out[rows] = done[key][rows]
        return pd.Series(out, index=data.index, name=self.id)


def _merge_questions(specs):
    """Each question once: the latest year's, its categories the union (latest order first)."""
    latest_first = list(reversed(specs))
    ids = _union([list(s.questions) for s in latest_first])
    merged = {}
    for qid in ids:
        qs = [s.questions[qid] for s in latest_first if qid in s.questions]
        q = qs[0]
        merged[qid] = dataclasses.replace(
            q,
            columns=tuple(_union([q2.columns for q2 in qs])),
            categories=_union([q2.categories for q2 in qs]),
            missing=_union([q2.missing for q2 in qs]),
            item_labels={k: v for q2 in reversed(qs) for k, v in q2.item_labels.items()},
        )
    return merged


def stack_data(frames, *, column="year", order=None):
    """Data frames one above the other, with the column that says where each row comes from.

    Parameters
    ----------
    frames : mapping {key: pandas.DataFrame}
        The samples' data, in the order of the stacked rows.
    column : str
        The new ordered categorical column holding each row's key.
    order : mapping {data column: list}, optional
        Categories to put first (a spec's order); the others follow, the
        latest frame's first.

    Returns
    -------
    pandas.DataFrame
        The columns of any frame (missing where a frame lacks one);
        categoricals on the union of their categories; ``attrs`` merged
        (later frames win), ``synthetic`` if any frame is, and
        ``attrs["stacked"] = {"column", "years", "not_asked": {}}``.
    """
    keys = list(frames)
    frames = list(frames.values())
    names = _union([list(f.columns) for f in reversed(frames)])
    out = {}
    for name in names:
        parts = [f[name] if name in f.columns else None for f in frames]
        cats = [p.cat.categories for p in parts
                if p is not None and isinstance(p.dtype, pd.CategoricalDtype)]
        if cats:
            categories = _union([(order or {}).get(name, []), *[list(c) for c in reversed(cats)]])
            ordered = all(p is None or (isinstance(p.dtype, pd.CategoricalDtype) and p.cat.ordered)
                          for p in parts)
            values = np.concatenate([
                np.full(len(f), np.nan, dtype=object) if p is None else p.astype(object).to_numpy()
                for f, p in zip(frames, parts)
            ])
            out[name] = pd.Categorical(values, categories=categories, ordered=ordered)
        else:
            out[name] = pd.concat(
                [pd.Series(np.nan, index=f.index) if p is None else p for f, p in zip(frames, parts)],
                ignore_index=True,
            )
    out[column] = pd.Categorical(np.repeat(keys, [len(f) for f in frames]), categories=keys,
                                 ordered=True)
    data = pd.DataFrame(out)
    data.attrs = _merged_attrs(frames)
    data.attrs["stacked"] = {"column": column, "years": keys, "not_asked": {}}
    return data


def _stack_data(surveys, questions, column):
    """The years' rows one above the other; categoricals on the union of their categories."""
    spec_order = {col: q.categories for q in questions.values() for col in q.columns}
    data = stack_data({k: s.data for k, s in surveys.items()}, column=column, order=spec_order)
    data.attrs["stacked"]["not_asked"] = _not_asked_map(surveys, questions)
    return data


def _merged_attrs(frames):
    attrs = {}
    for key in ("variable_labels", "value_labels", "user_missing"):
        merged = {}
        for f in frames:  # later years win
            merged.update(f.attrs.get(key) or {})
        attrs[key] = merged
    attrs["synthetic"] = any(f.attrs.get("synthetic", False) for f in frames)
    attrs["file"] = " ; ".join(str(f.attrs.get("file", "")) for f in frames)
    return attrs


def _not_asked_map(surveys, questions):
    """{data column: {category: [years where it was not an answer]}}."""
    out = {}
    for q in questions.values():
        for col in q.columns:
            per = {}
            for year, s in surveys.items():
                q_year = s.spec.questions.get(q.id)
                asked = (q_year.categories if q_year is not None and col in q_year.columns else [])
                for cat in q.categories:
                    if cat not in asked:
                        per.setdefault(cat, []).append(year)
            if per:
                out[col] = per
    return out


def not_asked(data, column, category, years=None):
    """True when ``category`` of ``column`` was not an answer in one of ``years`` (default: any)."""
    info = data.attrs.get("stacked") or {}
    missing = info.get("not_asked", {}).get(column, {}).get(category, [])
    if years is None:
        return bool(missing)
    return any(y in missing for y in years)


def _merge_bases(surveys, column):
    ids = _union([list(s.spec.bases) for s in reversed(list(surveys.values()))])
    merged = {}
    for bid in ids:
        per = {y: s.spec.bases[bid] for y, s in surveys.items() if bid in s.spec.bases}
        merged[bid] = _stacked_base(bid, per, column)
    return merged


def _stacked_base(bid, per, column):
    latest = list(per.values())[-1]
    return StackedBase(id=bid, label=latest.label, filter=latest.filter,
                       short_label=latest.short_label, by_year=per, column=column)


def _own_bases(surveys, questions, bases, column):
    """Each question on each year's (or population's) own base, when their base ids differ.

    A question asked of every respondent in one survey and of the partners
    only in another (``innovation`` of the mayors and of the associations)
    gets a base of its own, ``<question>:base``: each survey's base of the
    question on its rows.
    """
    for qid, q in list(questions.items()):
        per = {y: s.spec.bases[s.spec.questions[qid].base] for y, s in surveys.items()
               if qid in s.spec.questions}
        if len({b.id for b in per.values()}) > 1:
            bid = f"{qid}:base"
            bases[bid] = _stacked_base(bid, per, column)
            questions[qid] = dataclasses.replace(q, base=bid)


def stack(surveys, *, column="year", across="years"):
    """Stack the years of a survey into one survey, each year keeping its own design.

    Parameters
    ----------
    surveys : mapping {year: Survey}
        Two editions or more (from :func:`ramlab.load_survey`), in the order
        the stacked rows and the ``year`` categories take.
    column : str
        Name of the column that holds the year (an ordered categorical).
    across : {"years", "surveys"}
        ``"surveys"`` stacks surveys of different studies (the populations of
        the programme: ``{"associations": a, "maires": m}``, with
        ``column="population"``); their questions are matched on their ids,
        and each keeps its own base.

    Returns
    -------
    Survey
        ``data``: the years' rows one above the other, with ``column``; a
        question's categories are the union of the years' (the latest
        edition's order, then answers of earlier editions only). ``design``:
        each year's weighted design as a set of strata, with its own
        calibration (:func:`ramlab.design.stack_designs`); ``unweighted``
        likewise with equal weights. ``spec``: the latest year's, with every
        question and base of any year; a base is each year's own filter on
        its rows, and is false on the rows of a year without it.

    Raises
    ------
    RamlabError
        Fewer than two surveys, not Surveys, surveys of different studies
        (unless ``across="surveys"``),
        or a data column named ``column`` already.

    Notes
    -----
    An answer offered in one year only is not an answer of the other years:
    a table of the stacked survey shows it as missing ("–") there, never
    0 % (see :func:`not_asked`). Tests between years (e.g.
    ``crosstab(stacked, "q8_1", "year")``) use the stacked design: the
    variance of a change is the sum of the years' variances, each with its
    calibration (R: the rbind of the years with year-prefixed strata,
    calibrated on year-specific margins; ``tests/fixtures/r/extra_stack.R``).

    Examples
    --------
    >>> from ramlab import load_survey, stack
    >>> stacked = stack({year: load_survey("associations", year) for year in (2015, 2021)})
    >>> stacked.data["year"].value_counts().sort_index().to_dict()
    {2015: 1100, 2021: 1206}
    """
    from ramlab.design import Design, stack_designs

    surveys = dict(surveys)
    _check_stack(surveys, column, across)
    specs = [s.spec for s in surveys.values()]
    questions = _merge_questions(specs)
    data = _stack_data(surveys, questions, column)
    spec = _stacked_spec(surveys, questions, column)
    design = stack_designs({y: s.design for y, s in surveys.items()}, data)
    unweighted = stack_designs({y: Design(s.data) for y, s in surveys.items()}, data)
    return Survey(spec=spec, data=data, design=design, unweighted=unweighted)


def _check_stack(surveys, column, across):
    """Refuse what :func:`stack` cannot stack, naming the survey and the way out."""
    if len(surveys) < 2:
        raise RamlabError(f"stack needs two surveys or more, got {len(surveys)}")
    for year, s in surveys.items():
        if not isinstance(s, Survey):
            raise RamlabError(
                f"stack: {year!r} is a {type(s).__name__}; stack takes surveys from "
                f"ramlab.load_survey ({{year: Survey}})"
            )
        if column in s.data.columns:
            raise RamlabError(f"stack: the data of {year!r} already has a column {column!r}; "
                              f"give another name (column=...)")
    if across not in ("years", "surveys"):
        raise RamlabError(f"stack: across must be 'years' or 'surveys', not {across!r}")
    studies = {s.spec.survey for s in surveys.values()}
    if len(studies) > 1 and across == "years":
        raise RamlabError(f"stack: the surveys are of different studies ({sorted(studies)}); "
                          f"stack the years of one survey, or pass across='surveys'")


def _stacked_spec(surveys, questions, column):
    """The stacked survey's spec: the latest one's, with every question (``questions``,
    completed here with their own bases where the surveys' differ), base and breakdown,
    and the sources of all."""
    specs = [s.spec for s in surveys.values()]
    latest = specs[-1]
    study = dict(latest.study)
    study["source"] = "Sources : " + " ; ".join(
        str(sp.study.get("source", "")).removeprefix("Source : ") for sp in specs)
    bases = _merge_bases(surveys, column)
    _own_bases(surveys, questions, bases, column)
    return dataclasses.replace(
        latest,
        study=study,
        questions=questions,
        bases=bases,
        breakdowns=_union([s.breakdowns for s in reversed(specs)]),
    )
