"""The programme report: the same question asked of several populations, side by side.

The IMPACT programme surveys three "worlds" (associations, companies, mayors)
with questions that measure the same thing. A spec marks such a question with
a shared ``concept`` id (the question id alone is not enough: the same id may
be asked differently). :func:`concepts` finds the concepts shared by two
surveys or more; :func:`compare` puts their total columns side by side and
tests the differences between populations.

The samples are independent, so the variance of a difference is the sum of
the two variances, each the linearised variance of its own weighted design.
The t reference has the Welch-Satterthwaite degrees of freedom of the two
design df (as :func:`ramlab.tables.trend`). The pairs of one row are a family
for the multiple-comparison correction (Holm by default, as the reports'
letters). A difference is tested only when the wording is comparable: no
question of the concept carries a ``concept_note`` (the note that says how the
wording differs); otherwise the row is shown, flagged "non testé".
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ramlab.reports.findings import field as _field

__all__ = ["concepts", "compare", "Comparison", "comparison_html", "wordings_html", "studies_html",
           "notes_html", "SURVEY_LABELS"]

#: French names of the populations, as column headings.
SURVEY_LABELS = {"associations": "Associations", "entreprises": "Entreprises", "maires": "Maires"}

_TOTAL = ("Total", "Ensemble")
_SHOWN = ("category", "net", "mean", "answers")


def concepts(specs: dict) -> dict:
    """``{concept: {survey: Question}}`` for the concepts shared by two surveys or more.

    Parameters
    ----------
    specs : dict
        ``{survey: Spec}``, one edition per survey.
    """
    found: dict = {}
    for survey, spec in specs.items():
        for question in spec.questions.values():
            if question.concept:
                found.setdefault(question.concept, {})[survey] = question
    return {c: qs for c, qs in found.items() if len(qs) >= 2}


@dataclass
class Comparison:
    """One concept across populations.

    Attributes
    ----------
    estimates, se, shown : pandas.DataFrame
        Rows: (item, row) labels of the first population; columns: the
        populations. ``shown`` holds the displayed text with significance letters.
    kinds : pandas.Series
        Kind of each row (category, net, mean, answers).
    bases : dict
        ``{population: (unweighted n, weighted base, unit, base label)}``.
    tests : pandas.DataFrame
        One row per pair and row: item, row, column, versus, estimate, se, t,
        df, p_value, p_adjusted, mark.
    testable : bool
        False when the wording differs (a ``concept_note``): nothing tested.
    letters : dict
        ``{population: letter}``.
    """

    estimates: pd.DataFrame
    se: pd.DataFrame
    shown: pd.DataFrame
    kinds: pd.Series
    bases: dict
    tests: pd.DataFrame
    testable: bool
    letters: dict = field(default_factory=dict)


def _located(table, qid):
    """``{stable row key: frame index}`` of a question's rows (data columns, not labels)."""
    keys = _field(table.questions[qid], "row_keys")
    return dict(zip(keys, [k for k in table.frame.index if k[0] == qid]))


def compare(tables: dict, *, testable: bool = True, adjust="holm", alpha=(0.05, 0.01)) -> Comparison:
    """The total columns of several populations side by side, with tests of their differences.

    Parameters
    ----------
    tables : dict
        ``{population label: (Table, question id)}``, one independent sample each,
        in display order.
    testable : bool
        Test the differences (the wording is comparable).
    adjust : {"holm", "bonferroni", "bh", None}
        Correction over the pairs of one row (R ``p.adjust``).
    alpha : (float, float)
        Thresholds of lower- and upper-case letters.

    Returns
    -------
    Comparison
        Rows present in every population (matched on the data column of an
        item and the answer label), in the first population's order.
    """
    from ramlab.tables.significance import column_letters

    labels = list(tables)
    located = {lab: _located(t, q) for lab, (t, q) in tables.items()}
    first_table, first_q = tables[labels[0]]
    keys = [k for k in located[labels[0]]
            if all(k in located[lab] for lab in labels)
            and first_table.kinds[located[labels[0]][k]] in _SHOWN]
    index = pd.MultiIndex.from_tuples([located[labels[0]][k][1:] for k in keys], names=["item", "row"])
    est = pd.DataFrame(np.nan, index=index, columns=labels)
    se = est.copy()
    for lab, (table, _) in tables.items():
        est[lab] = [float(table.frame.loc[located[lab][k], _TOTAL]) for k in keys]
        se[lab] = [float(table.se.loc[located[lab][k], _TOTAL]) for k in keys]
    kinds = pd.Series([first_table.kinds[located[labels[0]][k]] for k in keys], index=index)
    dfs = {lab: float(_field(t.options, "df")) for lab, (t, _) in tables.items()}
    letters = dict(zip(labels, column_letters(len(labels))))
    records = []
    marks = pd.DataFrame("", index=index, columns=labels, dtype=object)
    for pos, key in enumerate(index):
        if not testable or kinds.iloc[pos] not in ("category", "net", "mean", "answers"):
            continue
        records += _pair_tests(pos, key, est, se, dfs, adjust, alpha, letters, marks)
    shown = _shown(est, kinds, marks)
    bases = {}
    for lab, (table, qid) in tables.items():
        info = table.questions[qid]
        n = table.frame[table.kinds == "n"].xs(qid, level="question")[_TOTAL].min()
        base = table.frame[table.kinds == "base"].xs(qid, level="question")[_TOTAL].min()
        bases[lab] = (n, base, _field(info, "unit"), _field(info, "base_label"))
    tests = pd.DataFrame(records, columns=["item", "row", "column", "versus", "estimate", "se", "t",
                                           "df", "p_value", "p_adjusted", "mark"])
    return Comparison(est, se, shown, kinds, bases, tests, testable, letters)


def _pair_tests(pos, key, est, se, dfs, adjust, alpha, letters, marks):
    """The tests of every pair of populations on row ``pos``, adjusted over the row.

    Independent samples: the variance of a difference is the sum of the two
    variances, with Welch-Satterthwaite degrees of freedom. Marks go into
    ``marks`` in place; returns the records of the tests.
    """
    from ramlab.tables.significance import adjust_pvalues, t_pvalue

    labels = list(est.columns)
    records = []
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]]
    rows = []
    for a, b in pairs:
        d = est.iat[pos, labels.index(a)] - est.iat[pos, labels.index(b)]
        va, vb = se.iat[pos, labels.index(a)] ** 2, se.iat[pos, labels.index(b)] ** 2
        v = va + vb  # independent samples: the variances add up
        sd = math.sqrt(v) if v > 0 else 0.0
        t = d / sd if sd > 0 else np.nan
        df = v**2 / (va**2 / dfs[a] + vb**2 / dfs[b]) if v > 0 else np.nan
        rows.append((a, b, d, sd, t, df, float(t_pvalue(t, df)) if sd > 0 else np.nan))
    p_adj = adjust_pvalues([r[-1] for r in rows], adjust)
    for (a, b, d, sd, t, df, p), q in zip(rows, p_adj):
        mark = ""
        if q < alpha[0]:
            winner, loser = (a, b) if d > 0 else (b, a)
            mark = letters[loser] if q < alpha[1] else letters[loser].lower()
            marks.iat[pos, labels.index(winner)] += mark
        records.append({"item": key[0], "row": key[1], "column": a, "versus": b, "estimate": d,
                        "se": sd, "t": t, "df": df, "p_value": p, "p_adjusted": q, "mark": mark})
    return records


def _shown(est, kinds, marks):
    """The displayed cells: the figure in French format, then its letters."""
    from ramlab.format import fmt_number, fmt_pct

    shown = pd.DataFrame("", index=est.index, columns=est.columns, dtype=object)
    for pos in range(len(est.index)):
        for j, lab in enumerate(est.columns):
            value = est.iat[pos, j]
            if kinds.iloc[pos] in ("category", "net"):
                text = fmt_pct(value)
            else:
                text = fmt_number(value, 1)
            mark = "".join(sorted(marks.iat[pos, j], key=str.upper))
            shown.iat[pos, j] = f"{text} {mark}" if mark else text
    return shown


def comparison_html(comparison: Comparison, *, caption: str, coding: str = "") -> str:
    """The comparison as an HTML table, populations as columns, bases in the head (escaped)."""
    from ramlab.format import fmt_int

    esc = html.escape
    labels = list(comparison.estimates.columns)
    head = "".join(f"<th>{esc(lab)} ({esc(comparison.letters[lab])})</th>" for lab in labels)
    base_cells = "".join(
        f"<td>{esc(fmt_int(n))} répondants<br>{esc(fmt_int(b))} {esc(unit)}</td>"
        for n, b, unit, _ in comparison.bases.values())
    parts = ['<table class="ramlab-table ramlab-programme">', f"<caption>{esc(caption)}</caption>",
             f"<thead><tr><th></th>{head}</tr></thead><tbody>"]
    last_item = None
    for (item, row), kind, values in zip(comparison.shown.index, comparison.kinds,
                                         comparison.shown.to_numpy()):
        if item and item != last_item:
            parts.append(f'<tr class="ramlab-item"><th colspan="{len(labels) + 1}">{esc(item)}</th></tr>')
        last_item = item
        label = f"{row} ({coding})" if kind == "mean" and coding else row
        cells = "".join(f"<td>{esc(v)}</td>" for v in values)
        parts.append(f'<tr class="ramlab-{esc(kind)}"><th>{esc(label)}</th>{cells}</tr>')
    parts.append(f'<tr class="ramlab-base"><th>Base</th>{base_cells}</tr></tbody></table>')
    return "\n".join(parts)


def wordings_html(questions: dict, populations: dict) -> str:
    """Each population's wording of a concept, and the note when the wordings differ (escaped)."""
    esc = html.escape
    items = "".join(f"<li><strong>{esc(populations[s])}</strong> : {esc(q.text)}</li>"
                    for s, q in questions.items())
    out = f'<ul class="ramlab-wordings">{items}</ul>'
    for note in [q.concept_note for q in questions.values() if q.concept_note][:1]:
        out += (f'<div class="ramlab-notes ramlab-changes" role="note"><p><strong>Formulations '
                f"différentes</strong> : {esc(note)} Les écarts ne sont pas testés.</p></div>")
    return out


def studies_html(cards: dict) -> str:
    """The study cards of the compared surveys, one column each (escaped)."""
    esc = html.escape
    labels = list(cards)
    rows = list(next(iter(cards.values())))
    head = "".join(f"<th>{esc(lab)}</th>" for lab in labels)
    body = "".join(f"<tr><th>{esc(row)}</th>" + "".join(f"<td>{esc(cards[lab][row])}</td>" for lab in labels)
                   + "</tr>" for row in rows)
    return (f'<table class="ramlab-table ramlab-studies"><thead><tr><th></th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def notes_html(comparison: Comparison, surveys: dict, questions: dict, populations: dict) -> str:
    """Bases in words and sources of a comparison, under its table (escaped)."""
    from ramlab.format import fmt_int

    esc = html.escape
    lines = [f"{populations[s]} : base : {label} ({fmt_int(b)} {unit} ; {fmt_int(n)} répondants)"
             for s, (n, b, unit, label) in zip(questions, comparison.bases.values())]
    if not comparison.testable:
        lines.append("Écarts non testés : les questions ne sont pas posées dans les mêmes termes.")
    lines.append("Source : Programme études IMPACT (Comisis-OpinionWay), " + " ; ".join(
        surveys[s].spec.study["title"] for s in questions) + ", pour l'Observatoire des partenariats")
    if any(surveys[s].synthetic for s in questions):
        lines.append("Données synthétiques.")
    return '<div class="ramlab-notes">' + "".join(f"<p>{esc(x)}</p>" for x in lines) + "</div>"
