"""The options of a table and the record of each of its questions (typed, not dicts).

:class:`TableOptions` holds what :func:`~ramlab.tables.banner` was asked
(cells, letters, thresholds, display digits) and what it derived from the
design (degrees of freedom, the shown banner columns). It is frozen: a
:class:`~ramlab.tables.Table` carries the options it was made with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ramlab.errors import TableError
from ramlab.tables.significance import ADJUST_METHODS

TOTAL = "Total"
TOTAL_LABEL = "Ensemble"
CELLS = ("column%", "row%", "count")
VERSUS = ("columns", "complement")

ROW_LABELS = {
    "mean": "Moyenne",
    "answers": "Nombre moyen de réponses",
    "median": "Médiane",
    "n": "Base brute (effectif)",
    "base": "Base pondérée",
}
PERCENT = frozenset({"category", "missing", "net"})


@dataclass(frozen=True)
class TableOptions:
    """How a table was computed and is shown (see :func:`ramlab.tables.banner`).

    Attributes
    ----------
    cells, letters, alpha, adjust, versus, min_base, hide_small, digits, mean_digits
        As given to :func:`~ramlab.tables.banner`.
    df : float
        Degrees of freedom of the t tests (``design.degf()``).
    banner_columns : tuple of (str, str)
        Banner question id -> its data column, for the questions of the spec.
    empty_columns : tuple of (str, str)
        (variable label, group label) of labelled groups without respondents.
    chisq_rows, chisq_df : int or float, optional
        R's ``nrow`` and design df of the domain designs of the Rao-Scott tests
        on a calibrated design (None otherwise).
    trend : bool
        A table of :func:`~ramlab.tables.trend` (change columns).
    ci : bool
        Show 95 % confidence intervals in the cells.
    """

    cells: str = "column%"
    letters: bool = True
    alpha: tuple = (0.05, 0.01)
    adjust: str | None = None
    versus: str = "columns"
    min_base: int = 30
    hide_small: bool = False
    digits: int = 0
    mean_digits: int = 1
    df: float = float("nan")
    banner_columns: tuple = ()
    empty_columns: tuple = ()
    chisq_rows: int | None = None
    chisq_df: float | None = None
    trend: bool = False
    ci: bool = False

    def __post_init__(self):
        if self.cells not in CELLS:
            raise TableError(f"cells must be one of {CELLS}, not {self.cells!r}")
        if self.versus not in VERSUS:
            raise TableError(f"versus must be one of {VERSUS}, not {self.versus!r}")
        if self.adjust not in ADJUST_METHODS:
            raise TableError(f"adjust must be one of {ADJUST_METHODS}, not {self.adjust!r}")
        alpha = tuple(float(a) for a in self.alpha)
        if len(alpha) != 2 or not (0 < alpha[1] <= alpha[0] < 1):
            raise TableError(
                "alpha must be (lower-case, upper-case) thresholds with "
                f"0 < upper <= lower < 1, not {self.alpha!r}"
            )
        object.__setattr__(self, "alpha", alpha)

    def banner_data_column(self, name):
        """The data column of a banner variable (a question id or a column)."""
        return dict(self.banner_columns).get(name, name)


@dataclass
class QuestionInfo:
    """What a table records of one of its questions (``Table.questions[id]``).

    Attributes
    ----------
    text, type : str
        The question's wording and type (single, scale, multi, grid, numeric).
    base_label : str
        French label of the base ("Ensemble", a spec base, "Sous-population").
    weighted_base : float
        Weighted count of the base.
    base_line : str
        The base note, e.g. "Base : Ensemble (148 429 associations)".
    unit : str
        Unit of the counts ("associations", "répondants").
    row_keys : list of (str, str)
        Stable keys of the rows (data column of an item, answer label), by
        which :func:`~ramlab.tables.trend` matches rows across years.
    missing_note, title, note, trend_note : str or None
        Notes shown under the table, and the spec's short title.
    empty_notes : list of str
        One note per banner group left empty for this question (no
        respondent in its base).
    """

    text: str
    type: str
    base_label: str
    weighted_base: float
    base_line: str
    unit: str
    row_keys: list = field(default_factory=list)
    missing_note: str = ""
    title: str | None = None
    note: str | None = None
    trend_note: str | None = None
    empty_notes: list = field(default_factory=list)
