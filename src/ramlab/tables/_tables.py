"""Banner tables for survey reports: weighted percentages, bases and significance letters.

A *table* puts one or more questions down the side and the total plus the
groups of one or more breakdown variables (the *banner*) across. Every cell is
a design-based estimate on the full weighted design:

* a column percentage is a domain ratio estimate ``sum(w*y*m) / sum(w*z*m)``
  where ``m`` marks the column's group within the base and ``z`` the
  respondents in the base of the question (R: ``svyby(~y, ~g, design, svymean)``);
* every sub-base and every column is a *domain* (rows outside get zero
  influence), never a filtered copy re-weighted on its own;
* the standard errors of all the estimates of one question come from a single
  call ``design.total_vcov(atoms, domains=plan)`` on the joint influence matrix
  of the weighted totals behind them (one block per column, given in factored
  form: the question's atoms and the banner's domains, see
  ``Design.domain_plan``), so that every contrast uses the
  joint linearised covariance, as R's ``svyby(..., covmat = TRUE)`` followed by
  ``svycontrast``; the delta method carries it to ratios, nets, means and
  differences.

The public functions are :func:`crosstab`, :func:`banner` and :func:`trend`;
they return a :class:`Table`. Numbers in ``Table.frame`` are plain floats
(proportions in 0-1, means, weighted counts); what a reader sees (HTML, Excel)
is formatted in French by :mod:`ramlab.format`.

References: R survey 4.1-1 ``svyby``, ``svymean``, ``svyratio``,
``svycontrast``, ``svyquantile`` (qrule "math"), ``svychisq``; Lumley (2010),
*Complex Surveys*, ch. 2-3 (domains, linearisation); Rao & Scott (1984).
"""

from __future__ import annotations

import html
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from ramlab.tables.significance import adjust_pvalues, column_letters, t_pvalue
from ramlab.design import chisq_from_totals
from ramlab.errors import TableError
from ramlab.format import NNBSP, fmt_int, fmt_number, fmt_pct

__all__ = ["Table", "crosstab", "banner", "trend", "weighted_quantile", "Contrast"]

TOTAL = "Total"
TOTAL_LABEL = "Ensemble"
CELLS = ("column%", "row%", "count")
VERSUS = ("columns", "complement")
ADJUST = (None, "bonferroni", "holm", "bh")

ROW_LABELS = {
    "mean": "Moyenne",
    "answers": "Nombre moyen de réponses",
    "median": "Médiane",
    "n": "Base brute (effectif)",
    "base": "Base pondérée",
}
# Kinds of rows that can carry significance marks.
_TESTED = {"category", "missing", "net", "mean", "answers"}
_PERCENT = {"category", "missing", "net"}

# Fixed timestamp written into Excel files so that a build is byte-identical.
_EPOCH = datetime(2000, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------------------
# Resolved inputs
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Estimate:
    """One displayed row: the ratio ``a't / b't`` of linear forms in the atom totals ``t``.

    ``kind`` is one of category, missing (a shown "Ne sait pas"), net, mean,
    answers (mean number of answers of a multi-response question) or median
    (``a`` is None: computed from the numeric values, not from totals).
    ``group`` indexes the base (item of a grid) the row belongs to.
    """

    item: str
    label: str
    kind: str
    a: np.ndarray | None
    b: np.ndarray | None
    group: int


@dataclass
class _Block:
    """A question resolved against the data: atoms and the estimates built on them."""

    id: str
    text: str
    type: str
    atoms: np.ndarray  # (n, K) float64, zero outside the question's base
    estimates: list
    groups: list  # [(item key, item label, b vector)] one per base (item of a grid)
    base_mask: np.ndarray  # (n,) bool, the base of the question (spec base)
    base_label: str
    numeric: np.ndarray | None = None  # numeric values (median)
    numeric_ok: np.ndarray | None = None
    columns_used: list = field(default_factory=list)  # data columns of the question


@dataclass(frozen=True)
class _Column:
    """One table column: the total or one group of a banner variable (a domain)."""

    variable: str  # data column or question id; TOTAL for the total column
    variable_label: str
    label: str
    letter: str  # "" for the total column
    mask: np.ndarray


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
        Linearised standard errors, same shape (NaN for bases and medians).
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
    questions : dict
        Per question: text, type, base label and line, weighted base, notes.
    columns : list
        The table columns (variable, labels, letter).
    source : str
        Source line. ``synthetic``: built on synthetic data.

    Methods
    -------
    contrast(row_a, row_b, column=...)
        Two rows of one question in one column (multi-response answers).
    items_by_answers(question)
        A grid as items x answers.
    display_frame(), notes(question), to_html(), to_excel(path)
        What a reader sees, in French.
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
    options: dict
    source: str = ""
    synthetic: bool = False
    _vcov: dict = field(default_factory=dict, repr=False)

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
        if question not in self._vcov:
            raise TableError(f"contrast(): question {question!r} is not in this table")
        info = self._vcov[question]
        col_pos = _column_position(self.columns, column)
        grads = []
        for label in (row_a, row_b):
            key = (item, label)
            if key not in info["rows"]:
                raise TableError(
                    f"contrast(): row {label!r} (item {item!r}) not in question {question!r}"
                )
            grads.append(info["grad"](info["rows"][key], col_pos))
        g = grads[0] - grads[1]
        est = float(self.frame.loc[(question, item, row_a), column]) - float(
            self.frame.loc[(question, item, row_b), column]
        )
        se = float(np.sqrt(max(g @ info["V"] @ g, 0.0)))
        t = est / se if se > 0 else np.nan
        df = self.options["df"]
        return Contrast(est, se, t, df, float(t_pvalue(t, df)))

    def items_by_answers(self, question=None):
        """A grid question as items x answers (total column): proportions 0-1."""
        if question is None:
            grids = [q for q, info in self.questions.items() if info["type"] == "grid"]
            if not grids:
                raise TableError("items_by_answers(): the table has no grid question")
            question = grids[0]
        sub = self.frame.xs(question, level="question")[(TOTAL, TOTAL_LABEL)]
        kinds = self.kinds.xs(question, level="question")
        keep = kinds.isin(["category", "missing", "net", "n", "base"])
        sub = sub[keep.to_numpy()]
        out = sub.unstack("row")
        order_items = list(dict.fromkeys(sub.index.get_level_values("item")))
        order_rows = list(dict.fromkeys(sub.index.get_level_values("row")))
        return out.loc[order_items, order_rows]

    # -- display -------------------------------------------------------------------------
    def display_frame(self):
        """The formatted table as strings (French format, marks, hidden small bases)."""
        opts = self.options
        out = pd.DataFrame("", index=self.frame.index, columns=self.frame.columns, dtype=object)
        for pos, idx in enumerate(self.frame.index):
            kind = self.kinds.iloc[pos]
            for j, col in enumerate(self.frame.columns):
                value = self.frame.iat[pos, j]
                if opts.get("trend") and col[0] == "Évolution":
                    out.iat[pos, j] = _format_change(value, kind, self.marks.iat[pos, j], opts)
                    continue
                out.iat[pos, j] = _format_cell(
                    value,
                    kind,
                    self.marks.iat[pos, j],
                    bool(self.small.iat[pos, j]),
                    opts,
                )
        return out

    def _header_labels(self):
        labels = []
        for c in self.columns:
            text = c.label if not c.letter else f"{c.label} ({c.letter})"
            labels.append(text)
        return labels

    def notes(self, question):
        """French footnotes of one question: base, small bases, significance, source."""
        info = self.questions[question]
        lines = [info["base_line"]]
        if info["type"] == "multi":
            lines.append("Plusieurs réponses possibles : total supérieur à 100 %.".replace(" %", NNBSP + "%"))
        if info.get("missing_note"):
            lines.append(info["missing_note"])
        lines.extend(info.get("empty_notes") or ())
        for variable, group in self.options.get("empty_columns", ()):
            lines.append(f"{variable} : aucun répondant dans « {group} », colonne non affichée.")
        if info.get("note"):
            lines.append(info["note"])
        if info.get("trend_note"):
            lines.append(info["trend_note"])
        opts = self.options
        if opts.get("letters") and opts["cells"] == "column%" and len(self.columns) > 1:
            lo, hi = (fmt_number(a, 2) for a in opts["alpha"])
            if opts["versus"] == "columns":
                lines.append(
                    "Lettres : résultat significativement supérieur à celui de la colonne "
                    f"indiquée (minuscule : p < {lo} ; majuscule : p < {hi} ; test t sur le plan de sondage)."
                )
            else:
                lines.append(
                    "+ / − : résultat significativement supérieur / inférieur au reste de "
                    f"l'échantillon (p < {lo} ; ++ / −− : p < {hi} ; test t sur le plan de sondage)."
                )
            if opts.get("adjust"):
                names = {"bonferroni": "Bonferroni", "holm": "Holm", "bh": "Benjamini-Hochberg"}
                lines.append(f"Comparaisons multiples : correction de {names[opts['adjust']]}.")
        if self.small.xs(question, level="question").to_numpy().any():
            n = opts["min_base"]
            if opts.get("hide_small"):
                lines.append(f"– : base inférieure à {n} répondants, résultat non affiché.")
            else:
                lines.append(f"* : base inférieure à {n} répondants, résultat à interpréter avec prudence.")
        if self.source:
            lines.append(self.source)
        if self.synthetic:
            lines.append("Données synthétiques.")
        return lines

    def to_html(self):
        """The table as HTML: every label escaped, no random ids (same on every build)."""
        esc = html.escape
        shown = self.display_frame()
        parts = ['<div class="ramlab-tables">']
        for qid, info in self.questions.items():
            sub = shown.xs(qid, level="question")
            kinds = self.kinds.xs(qid, level="question")
            parts.append('<table class="ramlab-table">')
            parts.append(
                f'<caption><span class="ramlab-qid">{esc(qid)}</span> {esc(info["text"])}</caption>'
            )
            pivot = info["type"] == "grid" and len(self.columns) == 1
            if pivot:
                parts.extend(self._html_grid(qid, esc))
            else:
                parts.append("<thead>")
                parts.append(self._html_header(esc))
                parts.append("</thead><tbody>")
                last_item = None
                for (item, row), kind, values in zip(sub.index, kinds, sub.to_numpy()):
                    if item and item != last_item:
                        parts.append(
                            f'<tr class="ramlab-item"><th colspan="{len(values) + 1}">'
                            f"{esc(item)}</th></tr>"
                        )
                    last_item = item
                    cells = "".join(f"<td>{esc(str(v))}</td>" for v in values)
                    parts.append(f'<tr class="ramlab-{esc(kind)}"><th>{esc(row)}</th>{cells}</tr>')
                parts.append("</tbody>")
            parts.append("</table>")
            parts.append('<div class="ramlab-notes">')
            parts.extend(f"<p>{esc(line)}</p>" for line in self.notes(qid))
            parts.append("</div>")
        parts.append("</div>")
        return "\n".join(parts)

    def _html_header(self, esc):
        variables = []
        for c in self.columns:
            if variables and variables[-1][0] == c.variable:
                variables[-1][2] += 1
            else:
                variables.append([c.variable, c.variable_label, 1])
        top = "".join(
            f'<th colspan="{span}">{esc(label)}</th>' for _, label, span in variables
        )
        low = "".join(f"<th>{esc(text)}</th>" for text in self._header_labels())
        return f"<tr><th></th>{top}</tr>\n<tr><th></th>{low}</tr>"

    def _html_grid(self, qid, esc):
        grid = self._grid_display(qid)
        head = "".join(f"<th>{esc(c)}</th>" for c in grid.columns)
        rows = [f"<thead><tr><th></th>{head}</tr></thead><tbody>"]
        for item, values in zip(grid.index, grid.to_numpy()):
            cells = "".join(f"<td>{esc(str(v))}</td>" for v in values)
            rows.append(f"<tr><th>{esc(item)}</th>{cells}</tr>")
        rows.append("</tbody>")
        return rows

    def _grid_display(self, qid):
        shown = self.display_frame().xs(qid, level="question")[(TOTAL, TOTAL_LABEL)]
        kinds = self.kinds.xs(qid, level="question")
        keep = kinds.isin(["category", "missing", "net", "n", "base"]).to_numpy()
        sub = shown[keep]
        items = list(dict.fromkeys(sub.index.get_level_values("item")))
        rows = list(dict.fromkeys(sub.index.get_level_values("row")))
        out = sub.unstack("row")
        return out.loc[items, rows].fillna("")

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
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font

        wb = Workbook()
        wb.remove(wb.active)
        shown = self.display_frame()
        used = set()
        for qid, info in self.questions.items():
            ws = wb.create_sheet(_sheet_name(qid, used))
            bold = Font(bold=True)
            ws.cell(row=1, column=1, value=_safe_cell(f"{qid}. {info['text']}")).font = bold
            r = 3
            if info["type"] == "grid" and len(self.columns) == 1:
                grid = self._grid_display(qid)
                for j, c in enumerate(grid.columns, start=2):
                    ws.cell(row=r, column=j, value=_safe_cell(c)).font = bold
                r += 1
                for item, values in zip(grid.index, grid.to_numpy()):
                    ws.cell(row=r, column=1, value=_safe_cell(item))
                    for j, v in enumerate(values, start=2):
                        ws.cell(row=r, column=j, value=_safe_cell(v)).alignment = Alignment(horizontal="right")
                    r += 1
            else:
                prev = None
                for j, c in enumerate(self.columns, start=2):
                    if c.variable != prev:
                        ws.cell(row=r, column=j, value=_safe_cell(c.variable_label)).font = bold
                    prev = c.variable
                for j, text in enumerate(self._header_labels(), start=2):
                    ws.cell(row=r + 1, column=j, value=_safe_cell(text)).font = bold
                r += 2
                sub = shown.xs(qid, level="question")
                last_item = None
                for (item, row), values in zip(sub.index, sub.to_numpy()):
                    if item and item != last_item:
                        ws.cell(row=r, column=1, value=_safe_cell(item)).font = bold
                        r += 1
                    last_item = item
                    ws.cell(row=r, column=1, value=_safe_cell(row))
                    for j, v in enumerate(values, start=2):
                        ws.cell(row=r, column=j, value=_safe_cell(v)).alignment = Alignment(horizontal="right")
                    r += 1
            r += 1
            for line in self.notes(qid):
                ws.cell(row=r, column=1, value=_safe_cell(line))
                r += 1
            ws.column_dimensions["A"].width = 45
        wb.properties.creator = "ramlab"
        wb.properties.lastModifiedBy = "ramlab"
        wb.properties.created = _EPOCH
        wb.properties.modified = _EPOCH
        buffer = io.BytesIO()
        wb.save(buffer)
        data = _deterministic_zip(buffer.getvalue())
        with open(path, "wb") as fh:
            fh.write(data)
        return path


def _deterministic_zip(data):
    """Rewrite a zip archive with fixed entry dates (openpyxl stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl writes the save time as "modified": pin it.
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2000-01-01T00:00:00Z\g<2>",
                    content,
                )
            zinfo = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zinfo.external_attr = 0o600 << 16
            dst.writestr(zinfo, content)
    return out.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value):
    """Neutralise text a spreadsheet would run as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _sheet_name(qid, used):
    name = re.sub(r"[\[\]\:\*\?\/\\]", "_", str(qid))[:31] or "Q"
    base, k = name, 2
    while name.lower() in used:
        suffix = f"_{k}"
        name = base[: 31 - len(suffix)] + suffix
        k += 1
    used.add(name.lower())
    return name


def _format_change(value, kind, mark, opts):
    """A change between years: signed points for percentages, signed units for means."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind in _PERCENT:
        text = fmt_number(100 * value, opts["digits"])
    else:
        text = fmt_number(value, opts["mean_digits"])
    if text.lstrip("-").replace("0", "").replace(",", "") == "":
        text = "0"
    elif text.startswith("-"):
        text = "−" + text[1:]
    else:
        text = "+" + text
    return f"{text} {mark}" if mark else text


def _format_cell(value, kind, mark, small, opts):
    if kind in ("n",):
        return fmt_int(value)
    if kind == "base":
        return fmt_int(value)
    if small and opts.get("hide_small"):
        return "–"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind in _PERCENT:
        if opts["cells"] == "count":
            text = fmt_int(value)
        else:
            text = fmt_pct(value, opts["digits"])
    else:
        text = fmt_number(value, opts["mean_digits"])
    if mark:
        text = f"{text} {mark}"
    if small:
        text += "*"
    return text


def _column_position(columns, column):
    if isinstance(column, int):
        return column
    for pos, c in enumerate(columns):
        if (c.variable, c.label) == tuple(column) or (column == c.letter and c.letter):
            return pos
    raise TableError(f"column {column!r} is not in this table")


# --------------------------------------------------------------------------------------
# Resolving questions, bases and banner columns
# --------------------------------------------------------------------------------------
def _unwrap(design, spec):
    """Accept a Survey (with .design and .spec) as well as a Design."""
    if hasattr(design, "design") and hasattr(design, "spec") and not hasattr(design, "total_vcov"):
        if spec is None:
            spec = design.spec
        design = design.design
    return design, spec


def _categorical(series, name):
    """Codes (int, -1 = missing) and category labels of a data column."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), [str(c) for c in series.cat.categories]
    values = series.to_numpy()
    notna = ~pd.isna(values)
    try:
        uniq = sorted(pd.unique(values[notna]))
    except TypeError as exc:
        raise TableError(f"column {name!r} mixes values that cannot be ordered") from exc
    lookup = {v: i for i, v in enumerate(uniq)}
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[notna] = [lookup[v] for v in values[notna]]
    return codes, [_label_of(v) for v in uniq]


def _label_of(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _user_missing(data, column):
    return list((data.attrs.get("user_missing") or {}).get(column, []))


def _variable_label(data, spec, name):
    if spec is not None and name in getattr(spec, "questions", {}):
        return spec.questions[name].text
    return (data.attrs.get("variable_labels") or {}).get(name, name)


def _require_column(data, column, what):
    if column not in data.columns:
        raise TableError(f"{what}: column {column!r} is absent from the data")


def _base_mask(data, spec, base, question, n):
    """Boolean base of a question and its French label."""
    if base is None:
        base_id = getattr(question, "base", None) if question is not None else None
        if base_id is None:
            if spec is not None and "ensemble" in getattr(spec, "bases", {}):
                base_id = "ensemble"
            else:
                return np.ones(n, dtype=bool), TOTAL_LABEL
        base = base_id
    if isinstance(base, str):
        bases = getattr(spec, "bases", None) if spec is not None else None
        if (not bases or base not in bases) and base == "ensemble":
            return np.ones(n, dtype=bool), TOTAL_LABEL
        if not bases or base not in bases:
            raise TableError(f"base {base!r} is not a base of the spec")
        b = bases[base]
        mask = b.mask(data).reindex(data.index).fillna(False).to_numpy(dtype=bool)
        return mask, b.label
    if isinstance(base, pd.Series):
        base = base.reindex(data.index).fillna(False).to_numpy()
    mask = np.asarray(base)
    if mask.dtype != bool or mask.shape != (n,):
        raise TableError("base must be a base id of the spec or a boolean mask of one value per row")
    return mask, "Sous-population"


def _resolve_question(data, spec, row, *, show_missing, base, base_label, n):
    """Build the atoms and estimates of one question (or plain column)."""
    question = None
    if spec is not None and row in getattr(spec, "questions", {}):
        question = spec.questions[row]
    if question is None and row not in data.columns:
        raise TableError(
            f"row {row!r} is neither a question of the spec nor a column of the data"
        )
    mask, label = _base_mask(data, spec, base, question, n)
    if base_label is not None:
        label = base_label
    if question is not None:
        qtype = question.type
        columns = list(question.columns)
        text = question.text
        for c in columns:
            _require_column(data, c, f"question {row!r}")
        missing = list(getattr(question, "missing", None) or [])
        show = getattr(question, "show_missing", False) if show_missing is None else show_missing
        categories = list(getattr(question, "categories", None) or [])
        nets = dict(getattr(question, "nets", None) or {})
        item_labels = dict(getattr(question, "item_labels", None) or {})
        selected = getattr(question, "selected", None)
        count_label = getattr(question, "count_label", None)
    else:
        series = data[row]
        columns = [row]
        text = _variable_label(data, spec, row)
        is_cat = isinstance(series.dtype, pd.CategoricalDtype)
        if is_cat or series.dtype == object or pd.api.types.is_string_dtype(series):
            qtype = "scale" if is_cat and series.cat.ordered else "single"
        elif pd.api.types.is_bool_dtype(series):
            qtype = "single"
        else:
            qtype = "numeric"
        missing = _user_missing(data, row)
        show = bool(show_missing)
        categories, nets, item_labels = [], {}, {}
        selected = count_label = None
    builder = {
        "single": _single,
        "scale": _single,
        "multi": _multi,
        "grid": _grid,
        "numeric": _numeric,
    }.get(qtype)
    if builder is None:
        raise TableError(f"question {row!r} has an unknown type {qtype!r}")
    block = builder(
        data,
        row=row,
        text=text,
        qtype=qtype,
        columns=columns,
        categories=categories,
        missing=missing,
        show=show,
        nets=nets,
        item_labels=item_labels,
        mask=mask,
        selected=selected,
        count_label=count_label,
    )
    block.base_mask = mask
    block.base_label = label
    return block


def _category_atoms(data, column, row, categories, missing, show, mask):
    """One-hot atoms of the shown answers of a categorical column, within `mask`."""
    series = data[column]
    if not (isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object
            or pd.api.types.is_string_dtype(series) or pd.api.types.is_bool_dtype(series)
            or pd.api.types.is_integer_dtype(series) or pd.api.types.is_float_dtype(series)):
        raise TableError(f"question {row!r}: column {column!r} is not categorical")
    codes, data_cats = _categorical(series, column)
    if not categories:
        categories = data_cats
    missing = [m for m in missing if m in data_cats or m in categories]
    shown = [c for c in categories if c not in missing] + (missing if show else [])
    unknown = [c for c in shown if c not in data_cats]
    if unknown and isinstance(series.dtype, pd.CategoricalDtype):
        raise TableError(
            f"question {row!r}: answer(s) {unknown} of the spec are not categories of "
            f"column {column!r} (its categories: {data_cats})"
        )
    pos = np.full(len(data_cats) + 1, -1, dtype=np.int64)  # last slot: NaN code -1
    for j, c in enumerate(shown):
        if c in data_cats:
            pos[data_cats.index(c)] = j
    excluded = {data_cats.index(m) for m in missing if m in data_cats and not show}
    valid = codes >= 0
    pc = pos[codes]  # the atom of each row's answer, -1 for none
    stray = valid & (pc < 0)
    if excluded:
        stray &= ~np.isin(codes, list(excluded))
    if (stray & mask).any():
        bad = sorted({data_cats[k] for k in np.unique(codes[stray & mask])})
        raise TableError(
            f"question {row!r}: column {column!r} has answers {bad} that are neither "
            "answers nor missing codes of the spec"
        )
    K = len(shown)
    # a row of the identity per answer, a row of zeros (index K) for the others
    atoms = np.eye(K + 1, K)[np.where(mask & (pc >= 0), pc, K)]
    return atoms, shown, missing


def _scores(data, column, shown, missing):
    """Scores of the answers for a mean: SPSS codes when known, else 1..K."""
    labels = (data.attrs.get("value_labels") or {}).get(column) or {}
    inverse = {str(v): k for k, v in labels.items()}
    scores = []
    for j, c in enumerate(shown):
        if c in missing:
            scores.append(np.nan)
        elif c in inverse:
            try:
                scores.append(float(inverse[c]))
            except (TypeError, ValueError):
                scores.append(float(j + 1))
        else:
            scores.append(float(j + 1))
    if any(c not in inverse for c in shown if c not in missing):
        scores = [np.nan if c in missing else float(j + 1) for j, c in enumerate(shown)]
    return np.array(scores)


def _net_vector(row, nets, shown, item=None):
    out = []
    for net_label, members in nets.items():
        members = list(members)
        unknown = [m for m in members if m not in shown]
        if unknown:
            raise TableError(f"question {row!r}: net {net_label!r} names unknown answers {unknown}")
        a = np.array([1.0 if c in members else 0.0 for c in shown])
        out.append((net_label, a))
    return out


def _single(data, *, row, text, qtype, columns, categories, missing, show, nets, mask, **_):
    if len(columns) != 1:
        raise TableError(f"question {row!r} of type {qtype!r} must have one column, not {columns}")
    column = columns[0]
    atoms, shown, missing = _category_atoms(data, column, row, categories, missing, show, mask)
    K = len(shown)
    b = np.ones(K)
    estimates = []
    for j, c in enumerate(shown):
        a = np.zeros(K)
        a[j] = 1.0
        estimates.append(_Estimate("", c, "missing" if c in missing else "category", a, b, 0))
    for net_label, a in _net_vector(row, nets, shown):
        estimates.append(_Estimate("", net_label, "net", a, b, 0))
    if qtype == "scale":
        scores = _scores(data, column, shown, missing)
        ok = ~np.isnan(scores)
        estimates.append(
            _Estimate("", ROW_LABELS["mean"], "mean", np.where(ok, scores, 0.0), ok.astype(float), 0)
        )
    return _Block(row, text, qtype, atoms, estimates, [("", "", b)], mask, "")


def _selected(series, column, row, selected=None, missing=()):
    """0/1 indicator (NaN where unanswered) of a multi-response item column."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in series.cat.categories]
        chosen = None
        if selected is not None:
            if selected not in cats:
                raise TableError(
                    f"question {row!r}: selected answer {selected!r} is not a category "
                    f"of item column {column!r} ({cats})"
                )
            chosen = selected
        else:
            for yes in ("Oui", "Cité", "Citée", "Coché", "Cochée", "Yes", "1"):
                if yes in cats:
                    chosen = yes
                    break
        if chosen is None:
            raise TableError(
                f"question {row!r}: item column {column!r} is categorical {cats} and "
                "no category says which answer is selected (expected 0/1 or Oui/Non)"
            )
        codes = series.cat.codes.to_numpy()
        out = (codes == cats.index(chosen)).astype(float)
        out[codes < 0] = np.nan
        for m in missing:
            if m in cats:
                out[codes == cats.index(m)] = np.nan
        return out
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float).to_numpy()
    if not pd.api.types.is_numeric_dtype(series):
        raise TableError(f"question {row!r}: item column {column!r} is not 0/1")
    values = series.to_numpy(dtype=float)
    ok = ~np.isnan(values)
    if not np.isin(values[ok], (0.0, 1.0)).all():
        raise TableError(f"question {row!r}: item column {column!r} holds values other than 0/1")
    return values


def _multi(data, *, row, text, qtype, columns, missing, nets, item_labels, mask,
           selected=None, count_label=None, **_):
    n = len(data)
    if len(columns) == 1 and (data[columns[0]].dtype == object or pd.api.types.is_string_dtype(data[columns[0]])):
        # a delimited set: "1;3;4" -> the items are the keys of item_labels
        if not item_labels:
            raise TableError(f"question {row!r}: a delimited multi-response column needs item labels")
        raw = data[columns[0]]
        answered = raw.notna().to_numpy()
        tokens = raw.fillna("").astype(str).str.split(r"\s*[;,|]\s*", regex=True)
        keys = list(item_labels)
        Y = np.column_stack([tokens.map(lambda t, k=str(k): k in t).to_numpy(dtype=float) for k in keys])
        labels = [item_labels[k] for k in keys]
    else:
        Y = np.column_stack([_selected(data[c], c, row, selected, missing) for c in columns])
        answered = ~np.isnan(Y).all(axis=1)
        Y = np.nan_to_num(Y, nan=0.0)
        labels = [item_labels.get(c, _variable_label(data, None, c)) for c in columns]
        keys = list(columns)
    z = (answered & mask).astype(float)
    extra = []
    for net_label, members in nets.items():
        idx = [keys.index(m) if m in keys else (labels.index(m) if m in labels else None) for m in members]
        if None in idx:
            raise TableError(f"question {row!r}: net {net_label!r} names unknown items {members}")
        extra.append((net_label, Y[:, idx].max(axis=1)))
    I = Y.shape[1]
    atoms = np.column_stack([Y * z[:, None]] + [e[1] * z for e in extra] + [z])
    K = atoms.shape[1]
    b = np.zeros(K)
    b[-1] = 1.0
    estimates = []
    for i, lab in enumerate(labels):
        a = np.zeros(K)
        a[i] = 1.0
        estimates.append(_Estimate("", lab, "category", a, b, 0))
    for e, (net_label, _) in enumerate(extra):
        a = np.zeros(K)
        a[I + e] = 1.0
        estimates.append(_Estimate("", net_label, "net", a, b, 0))
    a = np.zeros(K)
    a[:I] = 1.0
    estimates.append(_Estimate("", count_label or ROW_LABELS["answers"], "answers", a, b, 0))
    return _Block(row, text, "multi", atoms, estimates, [("", "", b)], mask, "")


def _grid(data, *, row, text, qtype, columns, categories, missing, show, nets, item_labels, mask, **_):
    blocks, estimates, groups = [], [], []
    offset = 0
    widths = []
    for c in columns:
        atoms, shown, miss = _category_atoms(data, c, row, categories, missing, show, mask)
        blocks.append((c, atoms, shown, miss))
        widths.append(atoms.shape[1])
    K = sum(widths)
    for g, (c, atoms, shown, miss) in enumerate(blocks):
        label = item_labels.get(c, _variable_label(data, None, c))
        b = np.zeros(K)
        b[offset: offset + len(shown)] = 1.0
        for j, cat in enumerate(shown):
            a = np.zeros(K)
            a[offset + j] = 1.0
            estimates.append(_Estimate(label, cat, "missing" if cat in miss else "category", a, b, g))
        for net_label, av in _net_vector(row, nets, shown):
            a = np.zeros(K)
            a[offset: offset + len(shown)] = av
            estimates.append(_Estimate(label, net_label, "net", a, b, g))
        groups.append((c, label, b))
        offset += len(shown)
    atoms = np.column_stack([blk[1] for blk in blocks])
    return _Block(row, text, "grid", atoms, estimates, groups, mask, "")


def _numeric(data, *, row, text, qtype, columns, mask, **_):
    if len(columns) != 1:
        raise TableError(f"numeric question {row!r} must have one column, not {columns}")
    series = data[columns[0]]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise TableError(
            f"question {row!r} is numeric but column {columns[0]!r} holds "
            f"{series.dtype} values"
        )
    x = series.to_numpy(dtype=float)
    ok = ~np.isnan(x) & mask
    z = ok.astype(float)
    atoms = np.column_stack([np.where(ok, x, 0.0), z])
    b = np.array([0.0, 1.0])
    estimates = [
        _Estimate("", ROW_LABELS["mean"], "mean", np.array([1.0, 0.0]), b, 0),
        _Estimate("", ROW_LABELS["median"], "median", None, b, 0),
    ]
    return _Block(row, text, "numeric", atoms, estimates, [("", "", b)], mask, "",
                  numeric=np.where(ok, x, np.nan), numeric_ok=ok)


def _banner_columns(data, spec, cols, n, w):
    """The total column and one column per group of each banner variable.

    Returns (columns, empty): a labelled group without any respondent (of
    positive weight) has no column; ``empty`` lists it as (variable label,
    group label), for a note under the table.
    """
    columns = [_Column(TOTAL, "", TOTAL_LABEL, "", np.ones(n, dtype=bool))]
    empty = []
    present = w > 0
    specs = []
    for col in cols:
        question = None
        if spec is not None and col in getattr(spec, "questions", {}):
            question = spec.questions[col]
            if question.type not in ("single", "scale"):
                raise TableError(
                    f"banner column {col!r} is a {question.type} question; a banner "
                    "variable must be single choice"
                )
            name = question.columns[0]
            missing = list(getattr(question, "missing", None) or [])
        else:
            name = col
            missing = None
        if name not in data.columns:
            raise TableError(f"banner column {col!r} is absent from the data and the spec")
        codes, cats = _categorical(data[name], name)
        if missing is None:
            missing = _user_missing(data, name)
        label = _variable_label(data, spec, col)
        counts = np.bincount(codes[present & (codes >= 0)], minlength=len(cats))
        levels = []
        for k, c in enumerate(cats):
            if c in missing:
                continue
            if counts[k] == 0:
                empty.append((label, c))
            else:
                levels.append((k, c))
        specs.append((col, label, codes, levels))
    letters = iter(column_letters(sum(len(s[3]) for s in specs)))
    for col, label, codes, levels in specs:
        for k, cat in levels:
            columns.append(_Column(col, label, cat, next(letters), codes == k))
    return columns, empty


# --------------------------------------------------------------------------------------
# Estimation
# --------------------------------------------------------------------------------------
def weighted_quantile(x, w, p=0.5):
    """Weighted quantile as R ``survey`` 4.1 ``svyquantile(qrule = "math")``.

    The default rule of ``svyquantile`` since survey 4.1: rows with zero weight
    are dropped, the values sorted, and with ``cumw`` the cumulated weights the
    quantile is ``x[pos]`` where ``pos`` is the last index with
    ``cumw <= p * sum(w)`` when that cumulated weight equals ``p * sum(w)``
    exactly, else ``x[pos + 1]`` (R: ``survey:::qrule_math`` and ``survey:::qs``).
    Cumulated sums are taken in extended precision, as R's ``cumsum``.

    Parameters
    ----------
    x, w : array_like
        Values and weights (NaN values must be given zero weight).
    p : float
        Probability in [0, 1].
    """
    x = np.asarray(x, dtype=float)
    w = np.asarray(w, dtype=float)
    keep = w != 0
    x, w = x[keep], w[keep]
    if x.size == 0:
        return np.nan
    order = np.argsort(x, kind="stable")
    return _quantile_sorted(x[order], w[order], p)


def _quantile_sorted(xs, ws, p):
    cumw = np.cumsum(ws.astype(np.longdouble)).astype(float)
    total = cumw[-1]
    below = np.nonzero(cumw <= p * total)[0]
    pos = below[-1] if below.size else 0  # survey:::last() gives 1 when none
    if p - cumw[pos] / total == 0:
        return float(xs[pos])
    return float(xs[min(pos + 1, xs.size - 1)])


def _compute_block(design, block, columns, w, opts, column_masks, plan=None):
    """Estimates, standard errors, bases and gradients of one question.

    The influence matrix has one block of K columns per table column: the
    atoms of the question (answer indicators, respondent indicator, numeric
    values) times the column's domain indicator. ``design.total_vcov`` gives
    the joint covariance V of the C*K weighted totals in one call; every
    estimate is a function of these totals and gets its covariance by the
    delta method, ``G V G'``.
    """
    n = len(w)
    X = block.atoms
    K = X.shape[1]
    C = len(columns)
    positive = w > 0
    in_base = block.base_mask & positive
    if plan is None:
        plan = design.domain_plan(column_masks)
    # U = X (x) M row by row, the (n, C*K) matrix never formed: the design
    # groups rows by their banner pattern (Design.domain_plan), and gives
    # the (C, K) weighted totals of the atoms from the same sums. The atoms
    # are 0 outside the base (_Block); rows of zero weight are set to 0 too.
    Xb = X if positive.all() else X * in_base[:, None]
    if plan.engine is not design.variance_engine:
        raise ValueError("the domain plan was made for another design")
    V, T = plan.total_vcov(Xb, totals=True)
    V = np.asarray(V, dtype=float)
    del Xb
    codes, table = plan.codes, plan.table  # (n,), (P, C)
    P = table.shape[0]

    def by_column(v):  # (C,) sums of v over the rows of each column
        return table.T @ np.bincount(codes, weights=v, minlength=P)

    # bases per group (item of a grid) and column
    B = np.column_stack([b for (_, _, b) in block.groups])  # (K, groups)
    answered = (X @ B) > 0
    n_unw = np.vstack([by_column((answered[:, g] & in_base).astype(float))
                       for g in range(B.shape[1])])  # (groups, C)
    w_base = (T @ B).T
    empty = [c for c in range(C) if n_unw[:, c].max() == 0]
    if empty:
        if columns[empty[0]].variable == TOTAL:
            raise TableError(f"question {block.id!r} has no respondents in its base")
        raise _EmptyGroups(empty)

    cells = opts["cells"]
    E = len(block.estimates)
    est = np.full((E, C), np.nan)
    se = np.full((E, C), np.nan)
    grads = {}  # estimate -> (G, S, complement values): G rows = C columns + C-1 complements
    diag_r = np.repeat(np.arange(C), K)
    diag_c = np.arange(C * K)
    comp_r = np.repeat(np.arange(C, 2 * C - 1), K)
    comp_first = np.tile(np.arange(K), C - 1)
    comp_own = np.arange(K, C * K)
    for e, spec_e in enumerate(block.estimates):
        if spec_e.kind == "median":
            est[e] = _median_by_column(block, column_masks & in_base[:, None], w)
            continue
        a, b = spec_e.a, spec_e.b
        G = np.zeros((2 * C - 1, C * K))
        comp = np.full(C, np.nan)
        num = T @ a
        if cells == "count" and spec_e.kind in _PERCENT:
            values = num
            G[diag_r, diag_c] = np.tile(a, C)
        elif cells == "row%" and spec_e.kind in _PERCENT:
            values = num / num[0] if num[0] != 0 else np.full(C, np.nan)
            G[diag_r, diag_c] = np.tile(a / num[0], C)
            G[:C, :K] -= values[:, None] * (a / num[0])[None, :]
        else:
            den = T @ b
            with np.errstate(invalid="ignore", divide="ignore"):
                values = num / den
                gb = (a[None, :] - values[:, None] * b[None, :]) / den[:, None]
                # complements: the rest of the base outside column c (totals t_0 - t_c)
                dn = den[0] - den
                comp = np.where(dn > 0, (num[0] - num) / dn, np.nan)
                gn = (a[None, :] - comp[:, None] * b[None, :]) / dn[:, None]
            gb[~(den > 0)] = 0.0
            gn[~(dn > 0)] = 0.0
            comp[0] = np.nan
            G[diag_r, diag_c] = gb.ravel()
            G[comp_r, comp_first] = gn[1:].ravel()
            G[comp_r, comp_own] = -gn[1:].ravel()
        est[e] = values
        S = G @ V @ G.T
        se[e] = np.sqrt(np.clip(np.diag(S)[:C], 0.0, None))
        grads[e] = (G, S, comp)
    return est, se, n_unw, w_base, grads, V, T


def _median_by_column(block, M, w):
    x = block.numeric
    ok = block.numeric_ok
    order = np.argsort(np.where(ok, x, np.inf), kind="stable")
    order = order[ok[order]]
    xs = x[order]
    ws = w[order]
    Ms = M[order] & (ws != 0)[:, None]
    out = np.full(M.shape[1], np.nan)
    for c in range(M.shape[1]):
        keep = Ms[:, c]
        if keep.any():
            out[c] = _quantile_sorted(xs[keep], ws[keep], 0.5)
    return out


def _significance(block, columns, est, grads, n_unw, opts):
    """Significance marks and the long table of tests of one question.

    For every tested row and banner variable: the difference of two column
    estimates (``versus="columns"``) or of a column and the rest of the base
    (``versus="complement"``), its SE from the joint linearised covariance,
    ``t = d / se`` and a two-sided p-value on t with the design's df, adjusted
    over the comparisons of that row and variable. Columns whose unweighted
    base is under ``min_base`` (or under 2) are not tested.
    """
    C = len(columns)
    E = len(block.estimates)
    marks = np.full((E, C), "", dtype=object)
    records = None
    if not opts["letters"] or opts["cells"] != "column%" or C == 1:
        return marks, records
    lo, hi = opts["alpha"]
    df = opts["df"]
    variables = {}
    for c in range(1, C):
        variables.setdefault(columns[c].variable, []).append(c)
    # all comparisons of the question: (estimate, column, versus or -1, family id)
    e_idx, c1_idx, c2_idx, family, diffs, var_d = [], [], [], [], [], []
    fam = 0
    complement = opts["versus"] == "complement"
    for e, spec_e in enumerate(block.estimates):
        if spec_e.kind not in _TESTED or e not in grads:
            continue
        _, S, comp = grads[e]
        ok_col = n_unw[spec_e.group] >= max(opts["min_base"], 2)
        for cols in variables.values():
            cols = [c for c in cols if ok_col[c]]
            if complement:
                for c in cols:
                    if np.isnan(comp[c]):
                        continue
                    r = C + c - 1
                    e_idx.append(e), c1_idx.append(c), c2_idx.append(-1), family.append(fam)
                    diffs.append(est[e, c] - comp[c])
                    var_d.append(S[c, c] + S[r, r] - 2 * S[c, r])
            else:
                for i, a in enumerate(cols):
                    for b in cols[i + 1:]:
                        e_idx.append(e), c1_idx.append(a), c2_idx.append(b), family.append(fam)
                        diffs.append(est[e, a] - est[e, b])
                        var_d.append(S[a, a] + S[b, b] - 2 * S[a, b])
            fam += 1
    if not diffs:
        return marks, records
    diffs = np.asarray(diffs, dtype=float)
    sds = np.sqrt(np.clip(np.asarray(var_d, dtype=float), 0.0, None))
    # a zero SE (both 0 % or both 100 %) is not a test
    safe = sds > 1e-12 * np.maximum(1.0, np.abs(diffs))
    t = np.full(diffs.shape, np.nan)
    t[safe] = diffs[safe] / sds[safe]
    p = t_pvalue(t, df)
    family = np.asarray(family)
    if opts["adjust"] is None:
        p_adj = p.copy()
    else:
        p_adj = np.empty_like(p)
        for f in np.unique(family):
            sel = family == f
            p_adj[sel] = adjust_pvalues(p[sel], opts["adjust"])
    strong = p_adj < hi
    sig = p_adj < lo  # NaN compares False
    mark_text = np.full(len(diffs), "", dtype=object)
    cell_marks = {}
    for k in np.flatnonzero(sig):
        e, a, b = e_idx[k], c1_idx[k], c2_idx[k]
        if b < 0:
            mark = ("++" if strong[k] else "+") if diffs[k] > 0 else ("−−" if strong[k] else "−")
            cell_marks.setdefault((e, a), []).append((0, mark))
        else:
            winner, loser = (a, b) if diffs[k] > 0 else (b, a)
            letter = columns[loser].letter
            mark = letter if strong[k] else letter.lower()
            cell_marks.setdefault((e, winner), []).append((loser, mark))
        mark_text[k] = mark
    for (e, c), items in cell_marks.items():
        marks[e, c] = "".join(m for _, m in sorted(items))
    e_idx = np.asarray(e_idx)
    c1 = np.asarray(c1_idx)
    c2 = np.asarray(c2_idx)
    items = np.array([x.item for x in block.estimates], dtype=object)
    rows = np.array([x.label for x in block.estimates], dtype=object)
    col_var = np.array([c.variable for c in columns], dtype=object)
    col_lab = np.array([c.label for c in columns] + ["complement"], dtype=object)
    records = {
        "question": np.full(len(diffs), block.id, dtype=object),
        "item": items[e_idx],
        "row": rows[e_idx],
        "variable": col_var[c1],
        "column": col_lab[c1],
        "versus": col_lab[np.where(c2 >= 0, c2, len(columns))],
        "estimate": diffs,
        "se": sds,
        "t": t,
        "df": np.full(len(diffs), float(df)),
        "p_value": p,
        "p_adjusted": p_adj,
        "mark": mark_text,
    }
    return marks, records


def _chisq_records(design, block, columns, w, opts, T=None, V=None):
    """Rao-Scott tests (``Design.chisq``) of each question/item against each banner variable.

    Each test is R's ``svychisq(~row + col, subset(design, mask))``, the mask
    being the question's base without the respondents whose answer is an
    excluded missing category ("Ne sait pas") or whose banner group is not
    shown. Rows with a true missing value (NaN) stay in the domain and the
    test leaves them out (its denominator df counts the PSUs of the whole
    sub-base).

    On a calibrated design the domain design keeps every row (R sets
    ``prob = Inf`` outside), so the covariance of the test's cell totals is
    a block of the question's joint covariance ``V`` of the atom totals
    ``T`` (one row of atoms per cell, checked on the data): the test is
    :func:`ramlab.design.chisq_from_totals` of these, the formulas of
    ``Design.chisq``. Otherwise (or when the cells are not atoms)
    ``design.subset(mask).chisq(column, banner_col)``.
    """
    records = []
    variables = {}
    for c in range(1, len(columns)):
        variables.setdefault(columns[c].variable, []).append(c)
    if not variables or block.type == "numeric":
        return records
    data = design.data
    X = block.atoms
    used = list(getattr(block, "columns_used", None) or [])
    targets = []  # (item label, data column, rows to drop (a function), atoms of the levels or None)
    factored = T is not None and V is not None and design.is_calibrated
    in_base = block.base_mask & (w > 0)

    def unanswered(col, b):  # excluded missing answers: dropped from the test
        return lambda: ~((X @ b) > 0) & data[col].notna().to_numpy()

    if block.type in ("single", "scale"):
        b = block.groups[0][2]
        col = used[0]
        levels = _category_levels(data[col], block, 0) if factored else None
        targets.append(("", col, unanswered(col, b), levels))
    elif block.type == "grid":
        for g, (col, label, b) in enumerate(block.groups):
            levels = _category_levels(data[col], block, g) if factored else None
            targets.append((label, col, unanswered(col, b), levels))
    elif block.type == "multi":
        items = [e for e in block.estimates if e.kind == "category"]
        if len(items) == len(used):  # one 0/1 column per item (not a delimited set)
            for e, col in zip(items, used):
                levels = _item_levels(data[col], X, e.a, in_base) if factored else None
                targets.append((e.label, col, lambda: np.zeros(len(w), dtype=bool), levels))
    K = X.shape[1]
    for var, cols in variables.items():
        banner_col = _banner_data_column(var, opts)
        fast = factored and isinstance(data[banner_col].dtype, pd.CategoricalDtype)
        hidden_group = None
        for item, column, drop, levels in targets:
            if fast and levels is not None:
                # cell (level r, group g) = atoms a_r of the rows of column g
                A = np.zeros((len(levels) * len(cols), V.shape[0]))
                for gi, c in enumerate(cols):
                    for r, a in enumerate(levels):
                        A[r + len(levels) * gi, c * K:(c + 1) * K] = a
                t = (A @ T.ravel()).reshape(len(cols), len(levels)).T
                res = chisq_from_totals(t, A @ V @ A.T, n_rows=opts["chisq_rows"],
                                        nu=opts["chisq_df"], statistic="F",
                                        names=(column, banner_col))
            else:
                if hidden_group is None:
                    in_groups = np.zeros(len(w), dtype=bool)
                    for c in cols:
                        in_groups |= columns[c].mask
                    hidden_group = ~in_groups & data[banner_col].notna().to_numpy()
                mask = in_base & ~drop() & ~hidden_group
                res = design.subset(pd.Series(mask, index=data.index)).chisq(column, banner_col)
            df = np.atleast_1d(np.asarray(getattr(res, "df", np.nan), dtype=float))
            records.append(
                {
                    "question": block.id,
                    "item": item,
                    "variable": var,
                    "statistic": float(res.statistic),
                    "ndf": float(df[0]),
                    "ddf": float(df[1]) if df.size > 1 else np.nan,
                    "p_value": float(res.p_value),
                }
            )
    return records


def _category_levels(series, block, group):
    """Atom vectors of the answers of a single/grid column, in its category order.

    Each shown answer is one atom (``_category_atoms``); the excluded missing
    answers have none (the test drops them). None when the column is not
    categorical (the test then runs on the data).
    """
    if not isinstance(series.dtype, pd.CategoricalDtype):
        return None
    cats = [str(c) for c in series.cat.categories]
    if len(set(cats)) != len(cats):
        return None
    found = {}
    for e in block.estimates:
        if e.group != group or e.kind not in ("category", "missing"):
            continue
        if e.label not in cats or np.count_nonzero(e.a) != 1 or e.a.max() != 1.0:
            return None
        found[cats.index(e.label)] = e.a
    return [found[k] for k in sorted(found)]


def _item_levels(series, X, a, in_base):
    """Atom vectors of the two answers of a multi-response item, in category order.

    The item's atom ``X @ a`` must be one category and the respondent atom
    (last column) the item's non-missing rows, on every row of the base:
    then the cells of the test are atoms. None otherwise.
    """
    if not isinstance(series.dtype, pd.CategoricalDtype) or len(series.cat.categories) != 2:
        return None
    i = int(np.argmax(a))
    if np.count_nonzero(a) != 1 or a[i] != 1.0:
        return None
    codes = series.cat.codes.to_numpy()
    z = X[:, -1] > 0
    y = X[:, i]
    if (((codes >= 0) != z) & in_base).any() or ((y != 0) & (y != 1)).any():
        return None
    y = y > 0
    z_atom = np.zeros_like(a)
    z_atom[-1] = 1.0
    for chosen in (0, 1):
        if not (((codes == chosen) != y) & in_base).any():
            sel, other = a, z_atom - a
            return [sel, other] if chosen == 0 else [other, sel]
    return None


def _banner_data_column(name, opts):
    return opts["banner_columns"].get(name, name)


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------
def crosstab(
    design,
    row,
    col=None,
    *,
    spec=None,
    base=None,
    base_label=None,
    cells="column%",
    letters=True,
    alpha=(0.05, 0.01),
    adjust=None,
    versus="columns",
    min_base=30,
    hide_small=False,
    show_missing=None,
    chisq=True,
    digits=0,
    mean_digits=1,
    source=None,
):
    """One question down the side, the total and the groups of one variable across.

    Same as ``banner(design, [row], [col] if col else [], ...)``; see :func:`banner`.
    """
    cols = [] if col is None else [col]
    return banner(
        design,
        [row],
        cols,
        spec=spec,
        base=base,
        base_label=base_label,
        cells=cells,
        letters=letters,
        alpha=alpha,
        adjust=adjust,
        versus=versus,
        min_base=min_base,
        hide_small=hide_small,
        show_missing=show_missing,
        chisq=chisq,
        digits=digits,
        mean_digits=mean_digits,
        source=source,
    )


def banner(
    design,
    rows,
    cols,
    *,
    spec=None,
    base=None,
    base_label=None,
    cells="column%",
    letters=True,
    alpha=(0.05, 0.01),
    adjust=None,
    versus="columns",
    min_base=30,
    hide_small=False,
    show_missing=None,
    chisq=True,
    digits=0,
    mean_digits=1,
    source=None,
):
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
    """
    design, spec = _unwrap(design, spec)
    if isinstance(rows, str):
        rows = [rows]
    if cols is None:
        cols = []
    elif isinstance(cols, str):
        cols = [cols]
    if cells not in CELLS:
        raise TableError(f"cells must be one of {CELLS}, not {cells!r}")
    if versus not in VERSUS:
        raise TableError(f"versus must be one of {VERSUS}, not {versus!r}")
    if adjust not in ADJUST:
        raise TableError(f"adjust must be one of {ADJUST}, not {adjust!r}")
    alpha = tuple(float(a) for a in alpha)
    if len(alpha) != 2 or not (0 < alpha[1] <= alpha[0] < 1):
        raise TableError(f"alpha must be (lower-case, upper-case) thresholds with 0 < upper <= lower < 1, not {alpha!r}")
    data = design.data
    n = len(data)
    w = np.asarray(design.weights, dtype=float)
    columns, empty_columns = _banner_columns(data, spec, cols, n, w)
    column_masks = np.column_stack([c.mask for c in columns])  # (n, C) domains of the columns
    vcov_plan = design.domain_plan(column_masks)  # shared by every question's total_vcov
    banner_columns = {}
    for col in cols:
        if spec is not None and col in getattr(spec, "questions", {}):
            banner_columns[col] = spec.questions[col].columns[0]
    df = float(design.degf())
    opts = dict(
        cells=cells,
        letters=bool(letters),
        alpha=alpha,
        adjust=adjust,
        versus=versus,
        min_base=min_base,
        hide_small=bool(hide_small),
        digits=digits,
        mean_digits=mean_digits,
        df=df,
        banner_columns=banner_columns,
        empty_columns=empty_columns,
    )
    if chisq and design.is_calibrated:
        # the domain designs of the tests keep every row: R's nrow(mm) and nu
        opts["chisq_rows"] = design.n_held_rows
        opts["chisq_df"] = design.held_degf
    study = dict(getattr(spec, "study", None) or {}) if spec is not None else {}
    unit = study.get("unit") or "répondants"
    if source is None:
        source = study.get("source", "") or ""
    if source and not source.startswith("Source"):
        source = "Source : " + source

    frames, ses, marks_all, smalls, kinds, index = [], [], [], [], [], []
    tests, chis, questions, vcovs = [], [], {}, {}
    for row in rows:
        block = _resolve_question(
            data, spec, row, show_missing=show_missing, base=base, base_label=base_label, n=n
        )
        block.columns_used = _columns_used(data, spec, row)
        try:
            est, se, n_unw, w_base, grads, V, T = _compute_block(design, block, columns, w, opts,
                                                              column_masks, vcov_plan)
            keep = None
        except _EmptyGroups as groups:
            # A banner group with respondents in the file but none in this
            # question's base: the question is computed without it, and its
            # column stays empty for this question, with a note.
            keep = [c for c in range(len(columns)) if c not in set(groups.columns)]
            sub = [columns[c] for c in keep]
            sub_masks = column_masks[:, keep]
            est, se, n_unw, w_base, grads, V, T = _compute_block(
                design, block, sub, w, opts, sub_masks, design.domain_plan(sub_masks))
            marks, records = _significance(block, sub, est, grads, n_unw, opts)
            if chisq and len(sub) > 1:
                chis.extend(_chisq_records(design, block, sub, w, opts, T=T, V=V))
            est, se, marks, n_unw, w_base = _widen(keep, len(columns), est, se, marks, n_unw, w_base)
            empty_notes = [
                f"{columns[c].variable_label or columns[c].variable} : aucun répondant "
                f"dans « {columns[c].label} » pour cette question, colonne vide."
                for c in groups.columns
            ]
        else:
            marks, records = _significance(block, columns, est, grads, n_unw, opts)
            if chisq and len(columns) > 1:
                chis.extend(_chisq_records(design, block, columns, w, opts, T=T, V=V))
            empty_notes = []
        if records is not None:
            tests.append(pd.DataFrame(records))
        small_col = n_unw < min_base  # (groups, C)
        row_pos = {}
        row_keys = []  # stable keys (data columns rather than labels), for trends
        item_columns = dict(zip([e.label for e in block.estimates if e.kind == "category"],
                                block.columns_used)) if block.type == "multi" else {}
        for g, (item_key, item_label, _) in enumerate(block.groups):
            for e, spec_e in enumerate(block.estimates):
                if spec_e.group != g:
                    continue
                row_pos[(spec_e.item, spec_e.label)] = e
                index.append((block.id, spec_e.item, spec_e.label))
                if block.type == "multi" and spec_e.kind == "category":
                    row_keys.append(("", item_columns.get(spec_e.label, spec_e.label)))
                else:
                    row_keys.append((item_key, spec_e.label))
                kinds.append(spec_e.kind)
                values, errs, mk = est[e].copy(), se[e].copy(), marks[e].copy()
                small = small_col[g].copy()
                if hide_small:
                    values[small], errs[small] = np.nan, np.nan
                    mk[small] = ""
                frames.append(values)
                ses.append(errs)
                marks_all.append(mk)
                smalls.append(small)
            item = block.estimates[[e.group for e in block.estimates].index(g)].item if block.estimates else ""
            for kind, values in (("n", n_unw[g]), ("base", w_base[g])):
                index.append((block.id, item, ROW_LABELS[kind]))
                row_keys.append((item_key, ROW_LABELS[kind]))
                kinds.append(kind)
                frames.append(np.asarray(values, dtype=float))
                ses.append(np.full(len(columns), np.nan))
                marks_all.append(np.full(len(columns), "", dtype=object))
                smalls.append(np.zeros(len(columns), dtype=bool))
        weighted_base = float(w[block.base_mask].sum())
        missing_note = ""
        q = spec.questions.get(row) if spec is not None and hasattr(spec, "questions") else None
        miss = list(getattr(q, "missing", None) or []) if q is not None else _user_missing(data, row)
        show = (getattr(q, "show_missing", False) if q is not None else False) if show_missing is None else show_missing
        if miss and not show and block.type in ("single", "scale", "grid"):
            quoted = ", ".join(f"« {m} »" for m in miss)
            missing_note = f"Réponses {quoted} exclues de la base."
        questions[block.id] = {
            "text": block.text,
            "type": block.type,
            "base_label": block.base_label,
            "weighted_base": weighted_base,
            "base_line": f"Base : {block.base_label} ({fmt_int(weighted_base)} {unit})",
            "unit": unit,
            "row_keys": row_keys,
            "missing_note": missing_note,
            "title": getattr(q, "title", None) if q is not None else None,
            "note": getattr(q, "note", None) if q is not None else None,
            "empty_notes": empty_notes,
        }
        vcovs[block.id] = {"V": V, "rows": row_pos, "grad": _grad_getter(grads, keep)}

    col_index = pd.MultiIndex.from_tuples(
        [(c.variable, c.label) for c in columns], names=["variable", "column"]
    )
    row_index = pd.MultiIndex.from_tuples(index, names=["question", "item", "row"])
    frame = pd.DataFrame(np.vstack(frames), index=row_index, columns=col_index)
    se_frame = pd.DataFrame(np.vstack(ses), index=row_index, columns=col_index)
    mark_frame = pd.DataFrame(np.vstack(marks_all), index=row_index, columns=col_index)
    small_frame = pd.DataFrame(np.vstack(smalls), index=row_index, columns=col_index)
    test_cols = ["question", "item", "row", "variable", "column", "versus", "estimate", "se",
                 "t", "df", "p_value", "p_adjusted", "mark"]
    chi_cols = ["question", "item", "variable", "statistic", "ndf", "ddf", "p_value"]
    return Table(
        frame=frame,
        se=se_frame,
        marks=mark_frame,
        small=small_frame,
        kinds=pd.Series(kinds, index=row_index, name="kind"),
        tests=(pd.concat(tests, ignore_index=True) if tests
               else pd.DataFrame(columns=test_cols))[test_cols],
        chisq=pd.DataFrame(chis, columns=chi_cols),
        questions=questions,
        columns=columns,
        options=opts,
        source=source,
        synthetic=bool(data.attrs.get("synthetic", False)),
        _vcov=vcovs,
    )


def _grad_getter(grads, keep=None):
    """Gradient of estimate ``e`` in table column ``col_pos`` (``keep``: the
    table columns the question was computed on, when some were empty)."""
    position = None if keep is None else {c: i for i, c in enumerate(keep)}

    def grad(e, col_pos):
        if position is not None:
            if col_pos not in position:
                raise TableError("contrast(): this column has no respondents for the question")
            col_pos = position[col_pos]
        return grads[e][0][col_pos]
    return grad


class _EmptyGroups(Exception):
    """Banner columns (positions) without respondents in a question's base."""

    def __init__(self, columns):
        super().__init__(columns)
        self.columns = list(columns)


def _widen(keep, C, est, se, marks, n_unw, w_base):
    """Results computed on the columns ``keep``, placed in all ``C`` table columns:
    estimates NaN, bases 0 and no marks in the others."""
    def widen(a, fill, dtype=float):
        out = np.full((a.shape[0], C), fill, dtype=dtype)
        out[:, keep] = a
        return out

    return (widen(est, np.nan), widen(se, np.nan), widen(marks, "", object),
            widen(n_unw, 0.0), widen(w_base, 0.0))


def _columns_used(data, spec, row):
    if spec is not None and row in getattr(spec, "questions", {}):
        return list(spec.questions[row].columns)
    return [row]


# --------------------------------------------------------------------------------------
# Trends
# --------------------------------------------------------------------------------------
def trend(
    designs,
    row,
    *,
    specs=None,
    base=None,
    alpha=(0.05, 0.01),
    show_missing=None,
    digits=0,
    mean_digits=1,
    source=None,
):
    """The same question across two or more survey years, with the change in points.

    Parameters
    ----------
    designs : mapping {year: Design or Survey}
        One independent sample per year (a Survey brings its spec).
    row : str
        Question id (the same across years) or data column.
    specs : mapping {year: Spec}, optional
        Specs per year when `designs` holds Designs.
    base, show_missing, digits, mean_digits, source
        As in :func:`banner`.

    Returns
    -------
    Table
        Columns ``("Année", year)`` with each year's estimate, then
        ``("Évolution", "y0-y1")`` for each pair of consecutive years (and
        first-last when there are more than two years): the change (proportion
        units; shown in points), its significance marked ``*`` (p < alpha[0])
        or ``**`` (p < alpha[1]). ``tests`` lists each change.

    Notes
    -----
    The samples are independent, so the variance of a change is the sum of the
    two years' linearised variances. The t reference has Welch-Satterthwaite
    degrees of freedom ``(v0 + v1)^2 / (v0^2/df0 + v1^2/df1)`` where ``df0``,
    ``df1`` are the designs' ``degf()``: each variance estimate has its own
    design df, and the combination follows Satterthwaite (1946); with equal
    variances and df it gives ``df0 + df1``, with one dominant variance it
    falls back to that year's df.
    """
    if len(designs) < 2:
        raise TableError("trend() needs at least two years")
    years = sorted(designs)
    tables, dfs = {}, {}
    for y in years:
        d, sp = _unwrap(designs[y], (specs or {}).get(y))
        tables[y] = crosstab(
            d, row, spec=sp, base=base, letters=False, chisq=False,
            show_missing=show_missing, digits=digits, mean_digits=mean_digits,
            source=source, min_base=0,
        )
        dfs[y] = float(d.degf())
    # rows are matched across years on stable keys (the data column of a grid
    # or multi-response item, then the answer label), so that an item renamed
    # between two editions stays one row; labels are the latest year's.
    qid = tables[years[-1]].frame.index[0][0]
    located = {}  # year -> {stable key: frame index}
    labels, kinds, order = {}, {}, []
    for y in reversed(years):
        t = tables[y]
        q = t.frame.index[0][0]
        keys = t.questions[q]["row_keys"]
        located[y] = dict(zip(keys, t.frame.index))
        for key, idx in zip(keys, t.frame.index):
            if key not in labels:
                labels[key] = idx[1:]
                kinds[key] = t.kinds[idx]
                order.append(key)
    pairs = list(zip(years[:-1], years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    year_cols = [("Année", str(y)) for y in years]
    change_cols = [("Évolution", f"{a}-{b}") for a, b in pairs]
    index = pd.MultiIndex.from_tuples([(qid, *labels[k]) for k in order],
                                      names=["question", "item", "row"])
    columns = pd.MultiIndex.from_tuples(year_cols + change_cols, names=["variable", "column"])
    est = pd.DataFrame(np.nan, index=index, columns=columns)
    se = est.copy()
    marks = pd.DataFrame("", index=index, columns=columns, dtype=object)
    for y in years:
        t = tables[y]
        col = t.frame[(TOTAL, TOTAL_LABEL)]
        err = t.se[(TOTAL, TOTAL_LABEL)]
        for pos, key in enumerate(order):
            idx = located[y].get(key)
            if idx is not None:
                est.iat[pos, years.index(y)] = col[idx]
                se.iat[pos, years.index(y)] = err[idx]
    kinds = {(qid, *labels[k]): kinds[k] for k in order}
    records = []
    lo, hi = alpha
    for a, b in pairs:
        ccol = ("Évolution", f"{a}-{b}")
        dfa, dfb = dfs[a], dfs[b]
        for key in index:
            if kinds.get(key) not in _TESTED:
                continue
            ea, eb = est.loc[key, ("Année", str(a))], est.loc[key, ("Année", str(b))]
            va, vb = se.loc[key, ("Année", str(a))] ** 2, se.loc[key, ("Année", str(b))] ** 2
            diff = eb - ea
            if np.isnan(diff):
                continue
            v = va + vb
            dfw = v**2 / (va**2 / dfa + vb**2 / dfb) if v > 0 else np.nan
            sd = math.sqrt(v)
            tt = diff / sd if sd > 0 else np.nan
            p = float(t_pvalue(tt, dfw)) if sd > 0 else np.nan
            mark = "**" if p < hi else ("*" if p < lo else "")
            est.loc[key, ccol] = diff
            se.loc[key, ccol] = sd
            marks.loc[key, ccol] = mark
            records.append(
                {"question": qid, "item": key[1], "row": key[2], "variable": "Évolution",
                 "column": str(b), "versus": str(a), "estimate": diff, "se": sd, "t": tt,
                 "df": dfw, "p_value": p, "p_adjusted": p, "mark": mark}
            )
    last = tables[years[-1]]
    info = dict(last.questions[qid])
    # each edition keeps its own base line: the bases may differ between years
    info["base_line"] = " ; ".join(
        f"{y} : " + tables[y].questions[tables[y].frame.index[0][0]]["base_line"] for y in years
    )
    info["trend_note"] = (
        "Évolution en points ; * : évolution significative (p < "
        f"{fmt_number(lo, 2)}), ** : p < {fmt_number(hi, 2)} (échantillons indépendants, test t)."
    )
    opts = dict(last.options)
    opts.update(letters=False, trend=True, alpha=tuple(alpha), min_base=0)
    return Table(
        frame=est,
        se=se,
        marks=marks,
        small=pd.DataFrame(False, index=index, columns=columns),
        kinds=pd.Series([kinds[k] for k in index], index=index, name="kind"),
        tests=pd.DataFrame(records, columns=["question", "item", "row", "variable", "column",
                                             "versus", "estimate", "se", "t", "df", "p_value",
                                             "p_adjusted", "mark"]),
        chisq=pd.DataFrame(columns=["question", "item", "variable", "statistic", "ndf", "ddf", "p_value"]),
        questions={qid: info},
        columns=[_Column("Année", "Année", str(y), "", None) for y in years]
        + [_Column("Évolution", "Évolution (points)", f"{a}-{b}", "", None) for a, b in pairs],
        options=opts,
        source=last.source,
        synthetic=any(t.synthetic for t in tables.values()),
    )
