"""What a reader sees of a table: French cells, footnotes, HTML.

Every function takes a :class:`~ramlab.tables.Table` and returns text; the
numbers stay in ``Table.frame``.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from ramlab.format import NNBSP, fmt_int, fmt_number, fmt_pct, french_spaces
from ramlab.tables._export import confidence_intervals
from ramlab.tables._options import PERCENT, ROW_LABELS, TOTAL, TOTAL_LABEL

_ADJUST_NAMES = {"bonferroni": "Bonferroni", "holm": "Holm", "bh": "Benjamini-Hochberg"}
_GRID_KINDS = ["category", "missing", "net", "n", "base"]


def display_frame(table):
    """The formatted table as strings (French format, marks, hidden small bases)."""
    opts = table.options
    values, marks = table.frame.to_numpy(), table.marks.to_numpy()
    small = table.small.to_numpy(dtype=bool)
    low, high = confidence_intervals(table) if opts.ci else (None, None)
    if low is not None:
        low, high = low.to_numpy(), high.to_numpy()
    change = [opts.trend and col[0] == "Évolution" for col in table.frame.columns]
    # plain arrays, not DataFrame.iat: a report formats some 10,000 cells
    rows = []
    for pos, kind in enumerate(table.kinds.to_numpy()):
        row = []
        for j, is_change in enumerate(change):
            if is_change:
                row.append(_format_change(values[pos, j], kind, marks[pos, j], opts))
                continue
            text = _format_cell(values[pos, j], kind, marks[pos, j], small[pos, j], opts)
            if low is not None and text and not (small[pos, j] and opts.hide_small):
                text += _format_interval(low[pos, j], high[pos, j], kind, opts)
            row.append(text)
        rows.append(row)
    out = pd.DataFrame(rows, index=table.frame.index, columns=table.frame.columns, dtype=object)
    return out if rows else pd.DataFrame("", index=table.frame.index,
                                         columns=table.frame.columns, dtype=object)


def _format_interval(lo, hi, kind, opts):
    if math.isnan(lo) or math.isnan(hi):
        return ""
    if kind in PERCENT and opts.cells == "column%":
        lo_text, hi_text = fmt_number(100 * lo, opts.digits), fmt_number(100 * hi, opts.digits)
    else:
        lo_text, hi_text = fmt_number(lo, opts.mean_digits), fmt_number(hi, opts.mean_digits)
    return f" [{lo_text} ; {hi_text}]"


def _format_change(value, kind, mark, opts):
    """A change between years: signed points for percentages, signed units for means."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind in PERCENT:
        text = fmt_number(100 * value, opts.digits)
    else:
        text = fmt_number(value, opts.mean_digits)
    if text.lstrip("-").replace("0", "").replace(",", "") == "":
        text = "0"
    elif text.startswith("-"):
        text = "−" + text[1:]
    else:
        text = "+" + text
    return f"{text} {mark}" if mark else text


def _format_cell(value, kind, mark, small, opts):
    if kind in ("n", "base"):
        return fmt_int(value)
    if small and opts.hide_small:
        return "–"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind in PERCENT:
        if opts.cells == "count":
            text = fmt_int(value)
        else:
            text = fmt_pct(value, opts.digits)
    else:
        text = fmt_number(value, opts.mean_digits)
    if mark:
        text = f"{text} {mark}"
    if small:
        text += "*"
    return text


def header_labels(table):
    """Column headers: the group label and its letter, "Moins de 10 salariés (A)"."""
    return [c.label if not c.letter else f"{c.label} ({c.letter})" for c in table.columns]


def notes(table, question):
    """French footnotes of one question: base, small bases, significance, source."""
    info = table.questions[question]
    opts = table.options
    lines = [info.base_line]
    if info.type == "multi":
        lines.append("Plusieurs réponses possibles : total supérieur à 100 %.".replace(" %", NNBSP + "%"))
    if info.missing_note:
        lines.append(info.missing_note)
    lines.extend(info.empty_notes)
    for variable, group in opts.empty_columns:
        lines.append(f"{variable} : aucun répondant dans « {group} », colonne non affichée.")
    if info.note:
        lines.append(info.note)
    if info.trend_note:
        lines.append(info.trend_note)
    if opts.letters and opts.cells == "column%" and len(table.columns) > 1:
        lines.extend(_significance_notes(opts))
    if opts.ci:
        lines.append("Entre crochets : intervalle de confiance à 95 %.".replace(" %", NNBSP + "%"))
    if table.small.xs(question, level="question").to_numpy().any():
        n = opts.min_base
        if opts.hide_small:
            lines.append(f"– : base inférieure à {n} répondants, résultat non affiché.")
        else:
            lines.append(f"* : base inférieure à {n} répondants, résultat à interpréter avec prudence.")
    if table.source:
        lines.append(table.source)
    if table.synthetic:
        lines.append("Données synthétiques.")
    return lines


def _significance_notes(opts):
    lo, hi = (fmt_number(a, 2) for a in opts.alpha)
    if opts.versus == "columns":
        lines = [
            "Lettres : résultat significativement supérieur à celui de la colonne "
            f"indiquée (minuscule : p < {lo} ; majuscule : p < {hi} ; test t sur le plan de sondage)."
        ]
    else:
        lines = [
            "+ / − : résultat significativement supérieur / inférieur au reste de "
            f"l'échantillon (p < {lo} ; ++ / −− : p < {hi} ; test t sur le plan de sondage)."
        ]
    if opts.adjust:
        lines.append(f"Comparaisons multiples : correction de {_ADJUST_NAMES[opts.adjust]}.")
    return lines


def grid_display(table, qid, shown=None):
    """A grid question of a total-only table as items x answers, formatted."""
    if shown is None:
        shown = display_frame(table)
    return pivot_grid(table, qid, shown).fillna("")


def pivot_grid(table, qid, values):
    """The total column of a grid question (`values`: a frame shaped as the table) as items x answers."""
    sub = values.xs(qid, level="question")[(TOTAL, TOTAL_LABEL)]
    kinds = table.kinds.xs(qid, level="question")
    sub = sub[kinds.isin(_GRID_KINDS).to_numpy()]
    items = list(dict.fromkeys(sub.index.get_level_values("item")))
    rows = list(dict.fromkeys(sub.index.get_level_values("row")))
    return sub.unstack("row").loc[items, rows]


def is_pivoted(table, qid):
    """A grid question in a total-only table is shown as items x answers."""
    return table.questions[qid].type == "grid" and len(table.columns) == 1


def to_html(table, *, codes=True, working_notes=True, mean_labels=None, low_base=None,
            turn_above=None):
    """The table as HTML: every label escaped, no random ids (same on every build).

    The defaults are the researcher's view; a report for partners asks for
    less internal matter and more reading help.

    Parameters
    ----------
    codes : bool
        Open each caption with the question id (``<span class="ramlab-qid">``).
    working_notes : bool
        Show each question's spec ``note`` (the team's working note) under it.
    mean_labels : dict of str to str, optional
        Question id -> how its mean is coded ("de 1 = « Oui » à 4 = « Non »"):
        the mean row reads "Moyenne (de 1 = … à 4 = …)".
    low_base : int, optional
        Groups whose smallest unweighted base in a question is under
        `low_base` but not flagged small (at least ``options.min_base``) are
        marked "base faible" in their header, with a note under the table.
    turn_above : int, optional
        A table with more groups than this is turned: groups as rows, the
        question's answers as columns (a grid shows each item's first answer).
    """
    esc = html.escape
    mean_labels = mean_labels or {}
    if turn_above is not None and len(table.columns) > turn_above + 1:
        return _turned_html(table, esc, codes=codes, working_notes=working_notes,
                            mean_labels=mean_labels, low_base=low_base)
    shown = display_frame(table)
    parts = ['<div class="ramlab-tables">']
    for qid, info in table.questions.items():
        low = _low_base_columns(table, qid, low_base)
        parts.append('<table class="ramlab-table">')
        parts.append(f"<caption>{_caption(qid, info, esc, codes=codes)}</caption>")
        if is_pivoted(table, qid):
            parts.extend(_html_grid(table, qid, esc, shown))
        else:
            parts.append("<thead>")
            parts.append(_html_header(table, esc, low))
            parts.append("</thead><tbody>")
            parts.extend(_html_rows(table, qid, shown, esc, mean_labels.get(qid)))
            parts.append("</tbody>")
        parts.append("</table>")
        parts.extend(_html_notes(table, qid, esc, low, low_base, working_notes=working_notes))
    parts.append("</div>")
    return "\n".join(parts)


def _caption(qid, info, esc, *, codes):
    code = f'<span class="ramlab-qid">{esc(qid)}</span> ' if codes else ""
    return f"{code}{esc(info.text)}"


def _low_base_columns(table, qid, low_base):
    """Positions of the groups (not the total) marked "base faible" for a question."""
    if low_base is None:
        return []
    n = table.frame[(table.kinds == "n").to_numpy()].xs(qid, level="question").min().to_numpy()
    return [j for j in range(1, len(table.columns))
            if table.options.min_base <= n[j] < low_base]


def _html_notes(table, qid, esc, low, low_base, *, working_notes):
    lines = notes(table, qid)
    note = table.questions[qid].note
    if not working_notes and note:
        lines = [line for line in lines if line != note]
    if low:
        labels = ", ".join(table.columns[j].label for j in low)
        lines.insert(0, f"Base faible : groupe de {table.options.min_base} à {low_base - 1} "
                        f"répondants ({labels}), résultat à lire avec prudence.")
    # French typography (no-break spaces before ":" and ";", in numbers) as in L'essentiel
    return ['<div class="ramlab-notes">', *(f"<p>{esc(french_spaces(line))}</p>" for line in lines), "</div>"]


def _turned_html(table, esc, *, codes, working_notes, mean_labels, low_base):
    """A wide table turned: one row per group, the question's answers as columns."""
    shown = display_frame(table)
    parts = ['<div class="ramlab-tables ramlab-turned">']
    for qid, info in table.questions.items():
        sub = shown.xs(qid, level="question")
        kinds = table.kinds.xs(qid, level="question")
        caption = _caption(qid, info, esc, codes=codes)
        if info.type == "grid":
            first = next(k[1] for k in sub.index if kinds[k] == "category")
            keys = [k for k in sub.index if k[1] == first]
            heads = [k[0] for k in keys]
            caption += esc(f" (réponse « {first} »)")
        else:
            keys = [k for k in sub.index if kinds[k] in ("category", "net", "mean", "answers")]
            heads = [f"{k[1]} ({mean_labels[qid]})" if kinds[k] == "mean" and qid in mean_labels
                     else k[1] for k in keys]
        n_key = next(k for k in sub.index if kinds[k] == "n")
        low = _low_base_columns(table, qid, low_base)
        parts.append('<table class="ramlab-table">')
        parts.append(f"<caption>{caption}</caption>")
        parts.append("<thead><tr><th></th>" + "".join(f"<th>{esc(h)}</th>" for h in heads)
                     + f"<th>{esc(ROW_LABELS['n'])}</th></tr></thead><tbody>")
        for j, label in enumerate(header_labels(table)):
            mark = ' <span class="ramlab-low">base faible</span>' if j in low else ""
            cells = "".join(f"<td>{esc(str(sub.loc[k].iloc[j]))}</td>" for k in keys)
            parts.append(f"<tr><th>{esc(label)}{mark}</th>{cells}"
                         f"<td>{esc(str(sub.loc[n_key].iloc[j]))}</td></tr>")
        parts.append("</tbody></table>")
        parts.extend(_html_notes(table, qid, esc, low, low_base, working_notes=working_notes))
    parts.append("</div>")
    return "\n".join(parts)


def _html_rows(table, qid, shown, esc, mean_label=None):
    sub = shown.xs(qid, level="question")
    kinds = table.kinds.xs(qid, level="question")
    rows = []
    last_item = None
    for (item, row), kind, values in zip(sub.index, kinds, sub.to_numpy()):
        if item and item != last_item:
            rows.append(
                f'<tr class="ramlab-item"><th colspan="{len(values) + 1}">'
                f"{esc(item)}</th></tr>"
            )
        last_item = item
        cells = "".join(f"<td>{esc(str(v))}</td>" for v in values)
        label = f"{row} ({mean_label})" if kind == "mean" and mean_label else row
        rows.append(f'<tr class="ramlab-{esc(kind)}"><th>{esc(label)}</th>{cells}</tr>')
    return rows


def _html_header(table, esc, low=()):
    variables = []
    for c in table.columns:
        if variables and variables[-1][0] == c.variable:
            variables[-1][2] += 1
        else:
            variables.append([c.variable, c.variable_label, 1])
    top = "".join(f'<th colspan="{span}">{esc(label)}</th>' for _, label, span in variables)
    mark = ' <span class="ramlab-low">base faible</span>'
    groups = "".join(f"<th>{esc(text)}{mark if j in low else ''}</th>"
                     for j, text in enumerate(header_labels(table)))
    return f"<tr><th></th>{top}</tr>\n<tr><th></th>{groups}</tr>"


def _html_grid(table, qid, esc, shown):
    grid = grid_display(table, qid, shown)
    head = "".join(f"<th>{esc(c)}</th>" for c in grid.columns)
    rows = [f"<thead><tr><th></th>{head}</tr></thead><tbody>"]
    for item, values in zip(grid.index, grid.to_numpy()):
        cells = "".join(f"<td>{esc(str(v))}</td>" for v in values)
        rows.append(f"<tr><th>{esc(item)}</th>{cells}</tr>")
    rows.append("</tbody>")
    return rows
