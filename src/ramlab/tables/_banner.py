"""The banner's computation: :func:`banner` and :func:`crosstab`.

Each question is resolved (:mod:`._questions`), estimated in every column
from one joint covariance (:mod:`._estimation`), tested (:mod:`.significance`)
and stacked into one :class:`~ramlab.tables.Table`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ramlab.format import fmt_int
from ramlab.tables._estimation import EmptyGroups, QuestionCovariance, compute_block
from ramlab.tables._options import ROW_LABELS, TOTAL_LABEL, QuestionInfo, TableOptions
from ramlab.tables._questions import banner_columns, columns_used, resolve_question, unwrap, user_missing
from ramlab.tables._stacked import mask_not_asked
from ramlab.tables._table import Table
from ramlab.tables.significance import chisq_records, significance_marks

TEST_COLUMNS = ["question", "item", "row", "variable", "column", "versus", "estimate", "se",
                "t", "df", "p_value", "p_adjusted", "mark"]
CHISQ_COLUMNS = ["question", "item", "variable", "statistic", "ndf", "ddf", "p_value"]


# The keyword options of banner and crosstab, documented once.
_OPTIONS_DOC = """\
    spec : ramlab.io.spec.Spec, optional
        The survey specification: question types, labels, nets, missing
        answers, bases, unit and source line.
    base : str or boolean array, optional
        A base id of the spec or a boolean mask (one value per row) that
        replaces the questions' own bases. Default: each question's base.
    base_label : str, optional
        French label of the base (default: the spec's base label, "Ensemble",
        or "Sous-population" for a mask).
    cells : {"column%", "row%", "count"}
        Weighted column percentages (default), row percentages or weighted counts.
    letters : bool
        Significance marks (column percentages only).
    alpha : (float, float)
        Thresholds for lower-case and upper-case letters (default 0.05, 0.01).
    adjust : {None, "bonferroni", "holm", "bh"}
        Multiple-comparison correction over the comparisons of one row within
        one banner variable.
    versus : {"columns", "complement"}
        Compare the columns of a banner variable pairwise (letters), or each
        column with the rest of the base (marks + / ++ and − / −−).
    min_base : int
        Columns whose unweighted base is under `min_base` are flagged and not tested.
    hide_small : bool
        Hide flagged cells (NaN in ``frame``, "–" in the display): partner reports.
    show_missing : bool, optional
        Show the spec's missing answers ("Ne sait pas") as rows inside the
        base instead of excluding them; default per question as the spec says.
    chisq : bool
        Rao-Scott tests of association (``Design.chisq``) per question/item
        and banner variable, in ``Table.chisq``.
    digits, mean_digits : int
        Decimals shown for percentages and for means / medians.
    source : str, optional
        Source line (default ``spec.study["source"]``).
    means : bool
        The mean row of a scale question (its answers scored 1, 2, ... or by
        their SPSS codes); ``means=False`` leaves it out.
    ci : bool
        Show the 95 % confidence interval of each cell, "59 % [55 ; 63]"
        (proportions: R ``svyciprop(method = "xlogit")``; means: t interval
        on the design df). ``Table.to_frame("tidy")`` always has them."""


def banner(design, rows, cols, *, spec=None, base=None, base_label=None, cells="column%",
           letters=True, alpha=(0.05, 0.01), adjust=None, versus="columns", min_base=30,
           hide_small=False, show_missing=None, chisq=True, digits=0, mean_digits=1, source=None,
           means=True, ci=False):
    """A banner table: questions down the side, total and breakdown groups across.

    Parameters
    ----------
    design : ramlab.design.Design or ramlab.io.survey.Survey
        The full weighted design (a Survey brings its spec). Every column and
        base is a domain of it.
    rows : str or list of str
        Question ids of `spec` or plain data columns (categorical -> single
        choice, ordered categorical -> scale, numeric -> numeric).
    cols : str or list of str or None
        Banner variables (data columns or single-choice question ids); each
        group is a column, lettered A, B, C ... across the banner.
    [options]
    Returns
    -------
    Table

    Notes
    -----
    Column percentages are domain ratio estimates and their SEs are the
    linearisation SEs of R ``svyby(~y, ~g, design, svymean)``. Letters are
    contrasts of domain estimates with their joint covariance (R:
    ``svyby(..., covmat = TRUE)`` then ``svycontrast``), two-sided on t with
    ``design.degf()`` df (R: ``svyttest``). Medians follow R ``svyquantile``
    (survey 4.1, ``qrule = "math"``); see :func:`weighted_quantile`.

    Every row whose weight is not 0 is in its domains, as in R: a negative
    weight (an unbounded linear calibration) counts with its sign in the
    estimates and weighted bases, and as a row in the unweighted bases (R
    ``unwtd.count``); a weight of 0 does not. A Rao-Scott test of a weighted
    table with a negative cell is left blank (NaN), where R's ``svychisq``
    stops.

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, banner
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "Oui", "Oui"]),
    ...                    "x": [1.0, 2.0, 3.0, 4.0], "g": pd.Categorical(["a", "a", "b", "b"])})
    >>> t = banner(Design(df), ["q", "x"], ["g"], min_base=0, chisq=False)
    >>> list(t.questions)
    ['q', 'x']
    >>> t.frame.loc[("x", "", "Moyenne")].tolist()  # total, then groups a and b
    [2.5, 1.5, 3.5]
    """
    design, spec, domain = unwrap(design, spec)
    rows = [rows] if isinstance(rows, str) else rows
    cols = [] if cols is None else ([cols] if isinstance(cols, str) else cols)
    opts = TableOptions(cells=cells, letters=bool(letters), alpha=alpha, adjust=adjust,
                        versus=versus, min_base=min_base, hide_small=bool(hide_small),
                        digits=digits, mean_digits=mean_digits, ci=bool(ci))
    data = design.data
    n = len(data)
    w = np.asarray(design.weights, dtype=float)
    columns, empty_columns = banner_columns(data, spec, cols, n, w)
    opts = _design_options(opts, design, spec, cols, empty_columns, chisq=chisq)
    study = dict(getattr(spec, "study", None) or {}) if spec is not None else {}
    out = _question_rows(design, spec, rows, columns, opts, w, chisq=chisq,
                         unit=study.get("unit") or "répondants", show_missing=show_missing,
                         base=base, base_label=base_label, domain=domain, means=means)
    table = out.table(columns, opts, _source_line(study, source),
                      synthetic=bool(data.attrs.get("synthetic", False)))
    # stacked years (ramlab.stack): an answer a year did not offer is missing there
    return mask_not_asked(table, data, spec)


def _question_rows(design, spec, rows, columns, opts, w, *, chisq, unit, show_missing, base,
                   base_label, domain, means):
    """Every question's rows, estimates, letters and covariance, gathered in one _Rows."""
    data = design.data
    nonzero = w != 0  # the rows R's domains hold: a negative weight counts, with its sign
    column_masks = np.column_stack([c.mask for c in columns])  # (n, C) domains of the columns
    vcov_plan = design.domain_plan(column_masks)  # shared by every question's total_vcov
    engine = design.variance_engine
    out = _Rows()
    for row in rows:
        block = resolve_question(
            data, spec, row, show_missing=show_missing, base=base, base_label=base_label,
            n=len(data), domain=domain, means=means,
        )
        block.columns_used = columns_used(spec, row)
        res, marks, keep, empty_notes = _estimate_question(
            design, block, columns, w, opts, column_masks, vcov_plan, chisq, out, nonzero)
        row_pos, row_keys = out.add_question(block, res, marks, opts)
        out.questions[block.id] = _question_info(block, spec, data, row, show_missing, unit, w,
                                                 row_keys, res, domain)
        out.questions[block.id].empty_notes = empty_notes
        out.covariances[block.id] = QuestionCovariance(res.V, row_pos, res.gradients, keep,
                                                       None if engine.linearised else engine.vcov_of)
    return out


def _design_options(opts, design, spec, cols, empty_columns, *, chisq):
    """The options completed with what the design and the banner give."""
    opts = replace(opts, df=float(design.degf()), empty_columns=tuple(empty_columns),
                   banner_columns=tuple((col, spec.questions[col].columns[0]) for col in cols
                                        if spec is not None and col in getattr(spec, "questions", {})))
    if chisq and design.is_calibrated:
        # the domain designs of the tests keep every row: R's nrow(mm) and nu
        opts = replace(opts, chisq_rows=design.n_held_rows, chisq_df=design.held_degf)
    return opts


def crosstab(design, row, col=None, **options):
    """One question down the side, the total and the groups of one variable across.

    Same as ``banner(design, [row], [col] if col else [], ...)``.

    Parameters
    ----------
    design : ramlab.design.Design or ramlab.io.survey.Survey
        The full weighted design (a Survey brings its spec).
    row : str
        A question id of the spec or a data column.
    col : str or list of str, optional
        A breakdown variable (data column or single-choice question id): one
        column per group, lettered A, B, C ...; several make a banner.
    [options]

    Returns
    -------
    Table

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, crosstab
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "Oui", "Oui"]),
    ...                    "g": pd.Categorical(["a", "a", "b", "b"]), "w": [1.0, 2.0, 1.0, 1.0]})
    >>> t = crosstab(Design(df, weights="w"), "q", "g", min_base=0, chisq=False)
    >>> float(t.frame.loc[("q", "", "Oui"), ("Total", "Ensemble")])  # 3 of 5 weighted
    0.6
    >>> t.to_frame("tidy").loc[0, ["category", "group", "estimate", "n"]].astype(str).tolist()
    ['Non', 'Ensemble', '0.4', '4.0']
    """
    cols = [] if col is None else ([col] if isinstance(col, str) else list(col))
    return banner(design, [row], cols, **options)


def _crosstab_signature():
    params = list(inspect.signature(banner).parameters.values())
    head = [
        inspect.Parameter("design", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("row", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("col", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
    ]
    return inspect.Signature(head + [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY])


# help(crosstab) shows banner's keyword options, written once in banner's signature.
crosstab.__signature__ = _crosstab_signature()
for _f in (banner, crosstab):
    if _f.__doc__:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("    [options]\n", _OPTIONS_DOC + "\n")


def _estimate_question(design, block, columns, w, opts, column_masks, plan, chisq, out, nonzero):
    """Estimates and marks of one question in every column; its tests go to `out`.

    Returns the estimates, the marks, the columns it was computed on (None:
    all) and the notes on the groups left empty.
    """
    try:
        res = compute_block(design, block, columns, w, opts, column_masks, plan, nonzero)
        keep, empty_notes = None, []
    except EmptyGroups as groups:
        # A banner group with respondents in the file but none in this
        # question's base: the question is computed without it, and its
        # column stays empty for this question, with a note.
        keep = [c for c in range(len(columns)) if c not in set(groups.columns)]
        empty_notes = [
            f"{columns[c].variable_label or columns[c].variable} : aucun répondant "
            f"dans « {columns[c].label} » pour cette question, colonne vide."
            for c in groups.columns
        ]
    sub = columns if keep is None else [columns[c] for c in keep]
    if keep is not None:
        sub_masks = column_masks[:, keep]
        res = compute_block(design, block, sub, w, opts, sub_masks, design.domain_plan(sub_masks), nonzero)
    marks, records = significance_marks(block, sub, res.est, res.gradients, res.n_unw, opts)
    if records is not None:
        out.tests.append(records)
    if chisq and len(sub) > 1:
        out.chisq.extend(chisq_records(design, block, sub, w, opts, T=res.T, V=res.V, nonzero=nonzero))
    if keep is not None:
        res, marks = _widen(keep, len(columns), res, marks)
    return res, marks, keep, empty_notes


def _widen(keep, C, res, marks):
    """Results computed on the columns ``keep``, placed in all ``C`` table columns:
    estimates NaN, bases 0 and no marks in the others."""
    def widen(a, fill, dtype=float):
        out = np.full((a.shape[0], C), fill, dtype=dtype)
        out[:, keep] = a
        return out

    wide = replace(res, est=widen(res.est, np.nan), se=widen(res.se, np.nan),
                   n_unw=widen(res.n_unw, 0.0), w_base=widen(res.w_base, 0.0),
                   low=widen(res.low, np.nan), high=widen(res.high, np.nan))
    return wide, widen(marks, "", object)


def _source_line(study, source):
    if source is None:
        source = study.get("source", "") or ""
    if source and not source.startswith("Source"):
        source = "Source : " + source
    return source


def _question_info(block, spec, data, row, show_missing, unit, w, row_keys, res, domain):
    # the note counts the spec's base, or else the rows tabulated (answered, in the base)
    everyone = float(w.sum() if block.base_mask.all() else w[block.base_mask].sum())
    weighted_base = everyone if block.spec_base else float(res.w_base[0, 0])
    base_label = block.base_label
    if base_label is None:  # a plain column without a base: who answers it
        if weighted_base >= everyone * (1 - 1e-12):
            base_label = domain or TOTAL_LABEL
        else:
            base_label = f"{domain}, répondants à la question" if domain else "Répondants à la question"
    q = spec.questions.get(row) if spec is not None and hasattr(spec, "questions") else None
    miss = list(getattr(q, "missing", None) or []) if q is not None else user_missing(data, row)
    if show_missing is None:
        show = getattr(q, "show_missing", False) if q is not None else False
    else:
        show = show_missing
    missing_note = ""
    if miss and not show and block.type in ("single", "scale", "grid"):
        quoted = ", ".join(f"« {m} »" for m in miss)
        missing_note = f"Réponses {quoted} exclues de la base."
    return QuestionInfo(
        text=block.text,
        type=block.type,
        base_label=base_label,
        weighted_base=weighted_base,
        base_line=f"Base : {base_label} ({fmt_int(weighted_base)} {unit})",
        unit=unit,
        row_keys=row_keys,
        missing_note=missing_note,
        title=getattr(q, "title", None) if q is not None else None,
        note=getattr(q, "note", None) if q is not None else None,
    )


@dataclass
class _Rows:
    """The rows of a table as they are stacked, question after question."""

    index: list = field(default_factory=list)
    kinds: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    ses: list = field(default_factory=list)
    bounds: list = field(default_factory=list)  # (low, high) of the medians' own intervals
    marks: list = field(default_factory=list)
    smalls: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    chisq: list = field(default_factory=list)
    questions: dict = field(default_factory=dict)
    covariances: dict = field(default_factory=dict)

    def _append(self, key, kind, values, errs, marks, small, bounds=None):
        self.index.append(key)
        self.kinds.append(kind)
        self.frames.append(values)
        self.ses.append(errs)
        self.bounds.append(bounds)
        self.marks.append(marks)
        self.smalls.append(small)

    def add_question(self, block, res, marks, opts):
        """Stack the rows of one question, each item's bases after its rows.

        Returns the position of each row's estimate, by (item, label), and the
        rows' stable keys (data columns rather than labels), for trends.
        """
        C = res.est.shape[1]
        small_col = res.n_unw < opts.min_base  # (groups, C)
        row_pos, row_keys = {}, []
        item_columns = dict(zip([e.label for e in block.estimates if e.kind == "category"],
                                block.columns_used)) if block.type == "multi" else {}
        for g, (item_key, _, _) in enumerate(block.groups):
            for e, spec_e in enumerate(block.estimates):
                if spec_e.group != g:
                    continue
                row_pos[(spec_e.item, spec_e.label)] = e
                if block.type == "multi" and spec_e.kind == "category":
                    row_keys.append(("", item_columns.get(spec_e.label, spec_e.label)))
                else:
                    row_keys.append((item_key, spec_e.label))
                values, errs, mk = res.est[e].copy(), res.se[e].copy(), marks[e].copy()
                low, high = res.low[e].copy(), res.high[e].copy()
                small = small_col[g].copy()
                if opts.hide_small:
                    values[small], errs[small], low[small], high[small] = np.nan, np.nan, np.nan, np.nan
                    mk[small] = ""
                self._append((block.id, spec_e.item, spec_e.label), spec_e.kind, values, errs, mk, small,
                             (low, high) if spec_e.kind == "median" else None)
            item = block.estimates[[e.group for e in block.estimates].index(g)].item if block.estimates else ""
            for kind, values in (("n", res.n_unw[g]), ("base", res.w_base[g])):
                row_keys.append((item_key, ROW_LABELS[kind]))
                self._append((block.id, item, ROW_LABELS[kind]), kind, np.asarray(values, dtype=float),
                             np.full(C, np.nan), np.full(C, "", dtype=object), np.zeros(C, dtype=bool))
        return row_pos, row_keys

    def table(self, columns, opts, source, *, synthetic):
        col_index = pd.MultiIndex.from_tuples(
            [(c.variable, c.label) for c in columns], names=["variable", "column"]
        )
        row_index = pd.MultiIndex.from_tuples(self.index, names=["question", "item", "row"])

        def frame(rows):
            return pd.DataFrame(np.vstack(rows), index=row_index, columns=col_index)

        intervals = None
        if any(b is not None for b in self.bounds):
            none = np.full(len(columns), np.nan)
            intervals = tuple(frame([none if b is None else b[i] for b in self.bounds]) for i in (0, 1))

        return Table(
            frame=frame(self.frames),
            se=frame(self.ses),
            marks=frame(self.marks),
            small=frame(self.smalls),
            kinds=pd.Series(self.kinds, index=row_index, name="kind"),
            tests=(pd.DataFrame({k: np.concatenate([r[k] for r in self.tests]) for k in TEST_COLUMNS})
                   if self.tests else pd.DataFrame(columns=TEST_COLUMNS)),
            chisq=pd.DataFrame(self.chisq, columns=CHISQ_COLUMNS),
            questions=self.questions,
            columns=columns,
            options=opts,
            source=source,
            synthetic=synthetic,
            covariance=self.covariances,
            intervals=intervals,
        )
