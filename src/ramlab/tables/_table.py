"""The :class:`Table` object: estimates, standard errors, marks, bases, and its views."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ramlab.errors import TableError
from ramlab.tables import _excel, _export, _render
from ramlab.tables._options import TOTAL, TOTAL_LABEL, TableOptions
from ramlab.tables.significance import t_pvalue


@dataclass(frozen=True)
class Contrast:
    """A contrast of two estimates: difference, linearised SE, t, df and p-value."""

    estimate: float
    se: float
    t: float
    df: float
    p_value: float


# --------------------------------------------------------------------------------------
# The table object
# --------------------------------------------------------------------------------------
@dataclass(eq=False)
class Table:
    """A banner table: estimates, standard errors, significance marks and bases.

    Attributes
    ----------
    frame : pandas.DataFrame
        Plain floats. Rows: MultiIndex ``(question, item, row)``; columns:
        MultiIndex ``(variable, column)`` with ``("Total", "Ensemble")`` first.
        Percentages are proportions (0-1); mean and median rows hold means; the
        rows "Base brute (effectif)" and "Base pondérée" hold the unweighted n
        and the weighted base of each column.
    se : pandas.DataFrame
        Linearised standard errors, same shape (NaN for bases); for medians,
        R ``svyquantile``'s SE derived from the Woodruff interval.
    marks : pandas.DataFrame
        Significance marks (strings), same shape.
    small : pandas.DataFrame
        True where the cell's unweighted base is under ``min_base``.
    kinds : pandas.Series
        Kind of each row: category, missing, net, mean, answers, median, n, base.
    tests : pandas.DataFrame
        Every significance test: question, item, row, variable, column, versus,
        estimate (difference), se, t, df, p_value, p_adjusted, mark.
    chisq : pandas.DataFrame
        Rao-Scott tests of association (``Design.chisq``, second-order F), one
        per question (per item for grids and multi-response questions) and
        banner variable: statistic, ndf, ddf, p_value.
    questions : dict of str to QuestionInfo
        Per question: text, type, base label and line, weighted base, notes.
    columns : list
        The table columns (variable, labels, letter).
    options : TableOptions
        How the table was computed and is shown (cells, letters, thresholds, digits).
    source : str
        Source line. ``synthetic``: built on synthetic data.
    covariance : dict
        Per question, the joint covariance of its atom totals and the
        gradients of its rows (for :meth:`contrast`).
    intervals : (pandas.DataFrame, pandas.DataFrame) or None
        (low, high) 95 % intervals of the rows whose interval is not made
        from the estimate and its SE: the medians' Woodruff intervals (R
        ``svyquantile(..., ci = TRUE)`` in each column's domain); NaN
        elsewhere. None when the table has no median.

    Methods
    -------
    contrast(row_a, row_b, column=...)
        Two rows of one question in one column (multi-response answers).
    items_by_answers(question)
        A grid as items x answers.
    to_frame(kind="wide" | "tidy"), to_csv(path)
        The numbers: ``pd.DataFrame(t)`` is ``t.to_frame("tidy")``.
    display_frame(), notes(question), to_html(**options), to_excel(path)
        What a reader sees, in French (the Excel cells are numbers).
    """

    frame: pd.DataFrame
    se: pd.DataFrame
    marks: pd.DataFrame
    small: pd.DataFrame
    kinds: pd.Series
    tests: pd.DataFrame
    chisq: pd.DataFrame
    questions: dict
    columns: list
    options: TableOptions
    source: str = ""
    synthetic: bool = False
    covariance: dict = field(default_factory=dict, repr=False)
    intervals: tuple | None = field(default=None, repr=False)

    # -- contrasts ---------------------------------------------------------------------
    def contrast(self, row_a, row_b, *, question=None, item="", column=(TOTAL, TOTAL_LABEL)):
        """Contrast of two rows of one question in the same column (estimate a - b).

        For two answers of a multi-response question this is the contrast of two
        ratios with their covariance (R: ``svyratio(~a + b, ~one, covmat = TRUE)``
        then ``svycontrast``). p-value two-sided on t with the design's df.
        """
        if question is None:
            if len(self.questions) != 1:
                raise TableError("contrast(): name the question (table has several)")
            question = next(iter(self.questions))
        if question not in self.covariance:
            raise TableError(f"contrast(): question {question!r} is not in this table")
        cov = self.covariance[question]
        col_pos = _column_position(self.columns, column)
        for label in (row_a, row_b):
            if (item, label) not in cov.rows:
                raise TableError(
                    f"contrast(): row {label!r} (item {item!r}) not in question {question!r}"
                )
        est = float(self.frame.loc[(question, item, row_a), column]) - float(
            self.frame.loc[(question, item, row_b), column]
        )
        se = float(np.sqrt(cov.variance([(1, (item, row_a), col_pos), (-1, (item, row_b), col_pos)])))
        t = est / se if se > 0 else np.nan
        df = self.options.df
        return Contrast(est, se, t, df, float(t_pvalue(t, df)))

    def items_by_answers(self, question=None):
        """A grid question as items x answers (total column): proportions 0-1."""
        if question is None:
            grids = [q for q, info in self.questions.items() if info.type == "grid"]
            if not grids:
                raise TableError("items_by_answers(): the table has no grid question")
            question = grids[0]
        return _render.pivot_grid(self, question, self.frame)

    # -- numbers out ---------------------------------------------------------------------
    def to_frame(self, kind="wide", *, level=0.95):
        """The table as numbers.

        Parameters
        ----------
        kind : {"wide", "tidy"}
            "wide": ``frame`` (rows x columns, plain floats). "tidy": one row
            per cell: question, item, category (the row), kind, variable and
            group (the column), estimate, se, ci_low, ci_high (see
            :mod:`ramlab.tables._export`), n and weighted_base (the cell's
            unweighted and weighted bases), marks (significance letters) and
            small (base under ``min_base``).
        level : float
            Confidence level of the intervals of the tidy frame.
        """
        if kind == "wide":
            return self.frame.copy()
        if kind == "tidy":
            return _export.tidy(self, level)
        raise TableError(f"to_frame(kind=...) is 'wide' or 'tidy', not {kind!r}")

    def to_csv(self, path=None, *, kind="tidy", **options):
        """Write ``to_frame(kind)`` as CSV (UTF-8, point decimals); no path: return the text.

        Other keyword options go to :meth:`pandas.DataFrame.to_csv`.
        """
        frame = self.to_frame(kind)
        return frame.to_csv(path, index=(kind == "wide"), **options)

    def __iter__(self):
        # a table is a collection of cells: pd.DataFrame(t) is t.to_frame("tidy")
        return iter(self.to_frame("tidy").to_dict("records"))

    # -- display -------------------------------------------------------------------------
    def display_frame(self):
        """The formatted table as strings (French format, marks, hidden small bases)."""
        return _render.display_frame(self)

    def notes(self, question):
        """French footnotes of one question: base, small bases, significance, source."""
        return _render.notes(self, question)

    def to_html(self, *, codes=True, working_notes=True, mean_labels=None, low_base=None,
                turn_above=None):
        """The table as HTML: every label escaped, no random ids (same on every build).

        The options (keyword-only; the defaults are the researcher's view)
        are those of a report for partners:

        - ``codes=False``: no question id in the captions;
        - ``working_notes=False``: no spec ``note`` (the team's working note);
        - ``mean_labels={question: coding}``: the mean row says how it is coded;
        - ``low_base=75``: groups of ``options.min_base`` to 74 respondents
          marked "base faible" in their header, with a note;
        - ``turn_above=7``: a table of more groups is turned, groups as rows.
        """
        return _render.to_html(self, codes=codes, working_notes=working_notes,
                               mean_labels=mean_labels, low_base=low_base, turn_above=turn_above)

    def _repr_html_(self):
        return self.to_html()

    def __repr__(self):
        qs = ", ".join(self.questions)
        return f"<Table {qs}: {len(self.frame)} rows x {len(self.frame.columns)} columns>"

    def to_excel(self, path):
        """Write the table to an .xlsx file, one sheet per question id.

        Text a spreadsheet would run as a formula (starting with ``=``, ``+``,
        ``-``, ``@``, tab or carriage return) is neutralised with a leading
        apostrophe. The file is byte-identical on every build: fixed workbook
        timestamps and fixed zip entry dates.
        """
        return _excel.to_excel(self, path)


def _column_position(columns, column):
    if isinstance(column, int):
        return column
    for pos, c in enumerate(columns):
        if (c.variable, c.label) == tuple(column) or (column == c.letter and c.letter):
            return pos
    raise TableError(f"column {column!r} is not in this table")
