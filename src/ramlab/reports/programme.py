"""The programme report: the same question asked of several populations, side by side.

The IMPACT programme surveys three "worlds" (associations, companies, mayors)
with questions that measure the same thing. A spec marks such a question with
a shared ``concept`` id (the question id alone is not enough: the same id may
be asked differently). :func:`concepts` finds the concepts shared by two
surveys or more; :func:`compare` stacks the surveys into one design
(:func:`ramlab.stack` across surveys) and tabulates the question by
population, with the differences between populations tested.

The samples are independent: each survey keeps its own design and
calibration as a set of strata of the stacked design, so the variance of a
difference is the sum of the two variances, each the linearised variance of
its own weighted design. The t reference has the stacked design's degrees of
freedom (as :func:`ramlab.tables.trend`). The pairs of one row are a family
for the multiple-comparison correction (Holm by default, as the reports'
letters). A difference is tested only when the wording is comparable: no
question of the concept carries a ``concept_note`` (the note that says how the
wording differs); otherwise the row is shown, flagged "non testé".
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["concepts", "compare", "Comparison", "COLUMN", "chart", "chart_rows", "essentiel",
           "programme_card", "comparison_html", "wordings_html", "studies_html",
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
        Rows: (item, row) labels of the stacked question; columns: the
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
    table : Table
        The question by population on the stacked surveys (charts, findings).
    spec : Spec
        The stacked surveys' spec.
    """

    estimates: pd.DataFrame
    se: pd.DataFrame
    shown: pd.DataFrame
    kinds: pd.Series
    bases: dict
    tests: pd.DataFrame
    testable: bool
    letters: dict = field(default_factory=dict)
    table: object = None
    spec: object = None


#: The column of the stacked populations (:func:`ramlab.stack` across surveys).
COLUMN = "population"


def compare(surveys: dict, question_id: str, *, labels: dict | None = None, testable: bool = True,
            adjust="holm", alpha=(0.05, 0.01)) -> Comparison:
    """The populations side by side on one question, with tests of their differences.

    The surveys are stacked into one design (:func:`ramlab.stack` across
    surveys: each keeps its own design and calibration, as a set of strata),
    and the comparison is the table of the question by population.

    Parameters
    ----------
    surveys : dict
        ``{survey id: Survey}``, one independent sample each, in display
        order, each asking ``question_id``.
    question_id : str
        The question, under the same id in every survey (its concept).
    labels : dict, optional
        ``{survey id: column heading}`` (default: :data:`SURVEY_LABELS`).
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
        item and the answer label), in the stacked question's order.

    Notes
    -----
    The samples are independent and stacked with their own strata, so the
    variance of a difference is the sum of the two variances, each with its
    survey's calibration; the t reference has the stacked design's degrees
    of freedom, the sum of the surveys' (the letters' test of
    :func:`ramlab.banner`, here between population columns).
    """
    from ramlab import crosstab, stack

    labels = {s: (labels or SURVEY_LABELS).get(s, s) for s in surveys}
    stacked = stack({labels[s]: survey for s, survey in surveys.items()}, column=COLUMN,
                    across="surveys")
    stacked.data.attrs["variable_labels"][COLUMN] = "la population"
    table = crosstab(stacked, question_id, COLUMN, letters=testable, adjust=adjust, alpha=alpha,
                     chisq=False, min_base=0)
    cols = [(COLUMN, labels[s]) for s in surveys]
    kinds_all = table.kinds.to_numpy()
    frame = table.frame[cols].to_numpy(dtype=float)
    keep = np.isin(kinds_all, _SHOWN) & ~np.isnan(frame).any(axis=1)
    index = pd.MultiIndex.from_tuples([k[1:] for k in table.frame.index[keep]], names=["item", "row"])
    heads = [labels[s] for s in surveys]
    est = pd.DataFrame(frame[keep], index=index, columns=heads)
    se = pd.DataFrame(table.se[cols].to_numpy(dtype=float)[keep], index=index, columns=heads)
    marks = pd.DataFrame(table.marks[cols].to_numpy(dtype=object)[keep], index=index, columns=heads)
    kinds = pd.Series(kinds_all[keep], index=index)
    letters = {c.label: c.letter for c in table.columns if c.variable == COLUMN}
    tests = table.tests
    tests = tests[tests["variable"] == COLUMN] if len(tests) else tests
    tests = pd.DataFrame({k: tests[k] for k in _TEST_COLUMNS}, columns=_TEST_COLUMNS)
    bases = _bases(table, stacked, question_id, surveys, labels)
    # the findings' base line names each population's own base
    table.questions[question_id].base_label = " ; ".join(
        f"{lab} : {label}" for lab, (_, _, _, label) in bases.items())
    return Comparison(est, se, _shown(est, kinds, marks), kinds, bases,
                      tests.reset_index(drop=True), testable, letters, table, stacked.spec)


_TEST_COLUMNS = ["item", "row", "column", "versus", "estimate", "se", "t", "df", "p_value",
                 "p_adjusted", "mark"]


def _bases(table, stacked, qid, surveys, labels):
    """``{label: (n, weighted base, unit, base label)}``: each population's own base."""
    kinds = table.kinds.to_numpy()
    base = stacked.spec.bases[stacked.spec.questions[qid].base]
    out = {}
    for s, survey in surveys.items():
        col = table.frame[(COLUMN, labels[s])].to_numpy(dtype=float)
        own = getattr(base, "by_year", {}).get(labels[s], base)
        out[labels[s]] = (np.nanmin(col[kinds == "n"]), np.nanmin(col[kinds == "base"]),
                          survey.spec.study.get("unit") or "répondants", own.label)
    return out


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


def chart_rows(comparison: Comparison) -> list:
    """The rows the chart draws: each item's headline answer, as the spec's message cites it.

    A multi-response question draws its answers; another question, on each
    item, the answer its ``message`` cites first ("Total Oui", "Oui"), else
    its first net for a scale, else its first answer.
    """
    from ramlab.io.message import check

    qid = comparison.table.frame.index[0][0]
    q = comparison.spec.questions[qid]
    index = list(comparison.estimates.index)
    kinds = dict(zip(index, comparison.kinds))
    if q.type == "multi":
        return [key for key in index if kinds[key] == "category"]
    cited = [ph.row for ph in check(q.message, comparison.spec.questions)] if q.message else []
    wanted = (cited[:1] or (list(q.nets)[:1] if q.type == "scale" else [])
              or [c for c in q.categories if c not in q.missing][:1])
    return [key for key in index if key[1] in wanted and kinds[key] in ("category", "net")]


def chart(comparison: Comparison, *, title: str):
    """The deck's chart of one question across populations: a bar per population, with its
    figure and letters, each population's base under it (:func:`ramlab.charts.compared`)."""
    from ramlab import charts
    from ramlab.format import fmt_int

    footer = [f"Base : {lab} : {label} ({fmt_int(b)} {unit} ; {fmt_int(n)} répondants)"
              for lab, (n, b, unit, label) in comparison.bases.items()]
    if not comparison.testable:
        footer.append("Écarts non testés : les questions ne sont pas posées dans les mêmes termes.")
    return charts.compared(comparison.table, variable=COLUMN, rows=chart_rows(comparison),
                           title=title, footer=footer)


def programme_card(surveys: dict, labels: dict) -> dict:
    """The study card of the programme: the surveys compared and their respondents."""
    from ramlab.format import fmt_int

    return {
        "Enquêtes": " ; ".join(s.spec.study["title"] for s in surveys.values()),
        "Répondants": " ; ".join(f"{labels[k]} : {fmt_int(s.n)}" for k, s in surveys.items()),
        "Institut": " ; ".join(dict.fromkeys(s.spec.study["institute"] for s in surveys.values())),
    }


def essentiel(surveys: dict, comparisons: dict, *, labels: dict, most: int = 8,
              differences: int = 4) -> list:
    """The sentences of the programme's "L'essentiel" (:mod:`ramlab.reports.findings`).

    First the largest differences between populations that are significant
    after the Holm correction (:func:`ramlab.reports.findings.computed` on
    each comparison's table: the largest of each question, at most
    ``differences``), then
    the spec's messages of the compared questions that each survey publishes
    (:func:`ramlab.reports.findings.authored`, ``published`` only: a figure
    the spec does not mark published is never a key figure here), up to
    ``most`` sentences. Each sentence
    is marked synthetic when its data are.

    Parameters
    ----------
    surveys : dict
        ``{survey id: Survey}``.
    comparisons : dict
        ``{concept: (Comparison, {survey id: Question})}``.
    labels : dict
        ``{survey id: population label}``.
    """
    from dataclasses import replace

    from ramlab import crosstab
    from ramlab.reports import findings

    synthetic = any(s.synthetic for s in surveys.values())
    groups = {labels[k]: f"les {labels[k].lower()}" for k in surveys}
    found = []
    for comparison, _ in comparisons.values():
        if comparison.testable:  # a sentence names the bases of the two populations it compares
            bases = {lab: label for lab, (_, _, _, label) in comparison.bases.items()}
            found += findings.computed(comparison.table, comparison.spec, synthetic=synthetic,
                                       groups=groups, bases=bases)
    # the largest difference of each question: every concept speaks, none repeats itself
    found.sort(key=lambda s: -s.size)
    firsts = sorted({s.question: s for s in reversed(found)}.values(), key=lambda s: -s.size)
    sentences = findings.select(firsts, cap=differences)
    for comparison, questions in comparisons.values():
        for key, question in questions.items():
            survey = surveys[key]
            if not question.message or len(sentences) >= most:
                continue
            spec = replace(survey.spec, questions={question.id: question},
                           report={**survey.spec.report, "message": None, "messages": []})
            own = {question.id: crosstab(survey, question.id)}
            published = [s for s in findings.authored(spec, own, synthetic=survey.synthetic)
                         if s.published]
            sentences += published[: most - len(sentences)]
    return sentences
