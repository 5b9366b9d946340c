"""Findings in words: the sentences of "L'essentiel" and the study card.

Two sources of quotable sentences, each with its figure and its base:

- **authored messages** of the spec (``message`` of a question or of the
  report), whose placeholders (:mod:`ramlab.io.message`) are filled here from
  the total column of the computed tables, as displayed;
- **computed findings**: differences between two groups of a breakdown that
  are significant on the design-based t test of the banner table *after* its
  multiple-comparison correction (``Table.tests["p_adjusted"]``, the very
  tests behind the significance letters), written from French templates
  (in the words of the question's ``finding`` phrase for the row when the
  spec gives one, agreed with ``study.unit_gender``; a generic comparison
  otherwise), ranked by the size of the difference and capped.

A computed finding is only ever made from a row of ``Table.tests`` whose
adjusted p-value is under the table's lower threshold (5 %): no sentence
without a significant test. The figures it quotes are the table's cells,
formatted as the table formats them.

A figure of a question that the spec does not mark ``published`` is never
presented as a key figure of a real survey. On a real respondent file it is
simply a figure of that survey. On a synthetic file it is the generator's:
such a sentence carries ``published=False`` and is marked "Chiffre non
publié, donnée synthétique" (:func:`mark`), distinct from the mark of a
published figure that the synthetic file reproduces, and it comes after the
published ones (the index quotes the first sentences). A computed finding is
never a published figure.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict, dataclass

from ramlab.format import french_spaces

__all__ = [
    "Sentence",
    "MIME",
    "fill",
    "authored",
    "computed",
    "select",
    "essentiel",
    "required",
    "essentiel_html",
    "mark",
    "MARKS",
    "study_card",
    "study_card_html",
    "publish",
    "read",
    "ADJUST_NAMES",
    "field",
    "phrase",
]

#: MIME type of the output that carries a report's study card and sentences to the build.
MIME = "application/vnd.ramlab.essentiel+json"

#: French names of the multiple-comparison corrections.
ADJUST_NAMES = {None: "sans correction", "holm": "correction de Holm",
                "bonferroni": "correction de Bonferroni", "bh": "correction de Benjamini-Hochberg"}

_TOTAL = ("Total", "Ensemble")
_MARKS = re.compile(r"\s+[A-Za-z+\-−]+$")


@dataclass(frozen=True)
class Sentence:
    """One quotable sentence.

    Attributes
    ----------
    text : str
        The French sentence, figures included (plain text, not HTML).
    figure : str
        The call-out figure, as displayed ("73 %").
    base : str
        The base of the figure, in words with its weighted count.
    kind : str
        "message" (authored) or "difference" (computed finding).
    question : str
        The question id it comes from (never shown to partners).
    synthetic : bool
        Computed on a synthetic respondent file.
    size : float
        Absolute difference (proportion) for a computed finding, else 0.
    cells : tuple
        ``((question, item, row), (variable, column))`` of every table cell
        quoted, in order of appearance (for checks).
    published : bool
        Every figure it quotes is published by the Observatoire (the spec's
        ``published`` of each question cited); a computed finding never is.
    """

    text: str
    figure: str
    base: str
    kind: str
    question: str
    synthetic: bool = False
    size: float = 0.0
    cells: tuple = ()
    published: bool = True


#: The marks of a sentence on synthetic data: (CSS class, French text), by ``published``.
MARKS = {
    True: ("ramlab-mark-published", "Chiffre publié, reproduit par les données synthétiques"),
    False: ("ramlab-mark-unpublished", "Chiffre non publié, donnée synthétique"),
}


def mark(sentence) -> tuple | None:
    """The mark of a sentence (a :class:`Sentence` or its JSON mapping): (CSS class, text), or None.

    None on real data; on synthetic data, :data:`MARKS` of its ``published``
    (a mapping without the key, from an older build, counts as published).
    """
    synthetic, published = (field(sentence, "synthetic", False), field(sentence, "published", True))
    return MARKS[bool(published)] if synthetic else None


def _shown(value: str) -> str:
    """A displayed cell without its significance marks or small-base star."""
    return _MARKS.sub("", str(value)).rstrip("*").strip()


def field(record, name, default=None):
    """A field of a table's record (``Table.questions[id]``, ``Table.options``): mapping or dataclass."""
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)


def _row_of(table, question, item, row, labels):
    """The table index of a placeholder (question id, item column or "", row label or MEAN)."""
    from ramlab.io.message import MEAN

    index = [key for key in table.frame.index if key[0] == question]
    kinds = table.kinds
    info = table.questions[question]
    if row == MEAN:
        wanted = "answers" if field(info, "type") == "multi" else "mean"
        return next(key for key in index if kinds[key] == wanted)
    if field(info, "type") == "multi":
        label = labels.get(item, item)
        return next(key for key in index if key[2] == label and kinds[key] == "category")
    if not item and (question, row, row) in index:  # a net across a grid's items (item_nets)
        return (question, row, row)
    item_label = labels.get(item, item) if item else ""
    return next(key for key in index if key[1] == item_label and key[2] == row)


def _base_of(table, key):
    """Base in words of a row: the weighted base the row is computed on, and the unit."""
    from ramlab.format import fmt_int

    info = table.questions[key[0]]
    base = table.frame.loc[(key[0], key[1], "Base pondérée"), _TOTAL]
    return f"Base : {field(info, 'base_label')} ({fmt_int(base)} {field(info, 'unit')})"


def fill(message: str, tables: dict, spec):
    """Fill a message's placeholders from the tables' total column.

    Parameters
    ----------
    message : str
        An authored message (grammar: :mod:`ramlab.io.message`).
    tables : dict
        ``{question id: Table}`` holding (at least) the total column of every
        question the message cites.
    spec : ramlab.io.spec.Spec
        The spec the message belongs to (to resolve items).

    Returns
    -------
    (str, list of (key, str))
        The sentence, and for each placeholder the table row it read and the
        text it wrote (the table's displayed cell, marks removed).
    """
    from ramlab.io.message import parse, resolve

    out, cited = [], []
    for part in parse(message):
        if isinstance(part, str):
            out.append(part)
            continue
        ph = resolve(part[0], part[1], spec.questions, text=part[2])
        table = tables[ph.question]
        key = _row_of(table, ph.question, ph.item, ph.row, spec.questions[ph.question].item_labels)
        text = _shown(table.display_frame().loc[key, _TOTAL])
        out.append(text)
        cited.append((key, text))
    return french_spaces("".join(out)), cited


def authored(spec, tables: dict, *, synthetic: bool) -> list:
    """The sentences of the spec's messages, each ending with a full stop.

    Published ones first: a message is published when every question it cites
    is marked ``published`` in the spec; the others follow, with
    ``published=False`` (on synthetic data they are marked as non-published,
    synthetic figures: see :func:`mark`). Within each group, the report's
    ``message`` (its headline) comes first, then the messages in questionnaire
    order of the first cell they cite (question, then item; a net across a
    grid's items after its items), spec order among ties.
    """
    from ramlab.io.message import check

    messages = []
    if spec.report.get("message"):
        messages.append(spec.report["message"])
    messages += list(spec.report.get("messages") or [])
    messages += [q.message for q in spec.questions.values() if q.message]
    order = list(spec.questions)
    ranked = []
    for rank, message in enumerate(messages):
        placeholders = check(message, spec.questions)
        if not placeholders:
            continue
        text, cited = fill(message, tables, spec)
        first, owner = cited[0][0], spec.questions[placeholders[0].question]
        items = list(owner.columns)
        position = (order.index(owner.id),
                    items.index(placeholders[0].item) if placeholders[0].item in items else len(items))
        published = all(spec.questions[ph.question].published for ph in placeholders)
        headline = rank == 0 and bool(spec.report.get("message"))
        ranked.append(((not published, not headline, position, rank), Sentence(
            text=text if text.endswith((".", "!", "?", "…")) else text + ".",
            figure=cited[0][1], base=french_spaces(_base_of(tables[first[0]], first)),
            kind="message", question=first[0], synthetic=synthetic,
            cells=tuple((key, _TOTAL) for key, _ in cited), published=published,
        )))
    return [sentence for _, sentence in sorted(ranked, key=lambda pair: pair[0])]


def _headline_rows(table, question, qspec):
    """Rows of a question that a finding may quote: the answer a reader looks for."""
    kinds = table.kinds.xs(question, level="question")
    keys = list(kinds.index)
    if qspec is None:
        return {k for k in keys if kinds[k] in ("category", "net")}
    if qspec.type == "multi":
        return {k for k in keys if kinds[k] == "category"}
    if qspec.type == "grid":
        first = qspec.valid_categories[:1] + list(qspec.nets)[:1]
        return {k for k in keys if k[1] in first}
    if qspec.type in ("scale", "single") and qspec.nets:
        return {k for k in keys if k[1] == next(iter(qspec.nets))}
    if qspec.type == "single" and len(qspec.valid_categories) == 2:  # "Non" would mirror "Oui"
        return {k for k in keys if k[1] == qspec.valid_categories[0]}
    return {k for k in keys if kinds[k] == "category"}


#: "plus nombreuses ... que celles", by the spec's ``study.unit_gender``.
_AGREEMENT = {"feminine": ("nombreuses", "celles"), "masculine": ("nombreux", "ceux")}


def phrase(qspec, item, row):
    """The spec's finding phrase of a table row (``(question, item, row)`` of its index), or None."""
    if qspec is None or not qspec.finding:
        return None
    column = {label: col for col, label in qspec.item_labels.items()}
    if qspec.type == "multi":  # the item is the row of a multi-response table
        return qspec.finding.get((column.get(row, ""), qspec.selected))
    return qspec.finding.get((column.get(item, ""), row))


def _difference_text(qspec, info, item, row, unit, hi, lo, *, gender=None, groups=None):
    """French sentence of one difference: (group, figure) of the higher and lower group.

    With the spec's phrase for the row (:func:`phrase`) and the unit's
    gender: "Les associations « 50 salariés et plus » sont plus nombreuses à
    pratiquer l'innovation sociale (63 %) que celles « Moins de 10 salariés »
    (41 %)." Without: "Les associations « 50 salariés et plus » citent plus
    souvent « Au niveau national » (56 %) que les associations « Moins de 10
    salariés » (22 %)", whose verb agrees with any unit. ``groups`` names a
    group in words instead, without the phrase ({"Maires": "les maires"}:
    populations compared, whose nouns differ in gender).
    """
    words = phrase(qspec, item, row)
    if words and gender in _AGREEMENT and not groups:
        more, those = _AGREEMENT[gender]
        return (f"Les {unit} « {hi[0]} » sont plus {more} {words} ({hi[1]}) "
                f"que {those} « {lo[0]} » ({lo[1]}).")
    title = (qspec.title if qspec is not None and qspec.title else field(info, "text")).rstrip(" ?…")
    who_hi, who_lo = ((groups or {}).get(g) or f"les {unit} « {g} »" for g in (hi[0], lo[0]))
    who_hi = who_hi[:1].upper() + who_hi[1:]
    figures = f"({hi[1]}) que {who_lo} ({lo[1]})."
    if field(info, "type") == "multi":
        return f"{who_hi} citent plus souvent « {row} » {figures}"
    if item:
        return f"« {item} » : {who_hi[:1].lower()}{who_hi[1:]} répondent plus souvent « {row} » {figures}"
    return f"{title} : {who_hi[:1].lower()}{who_hi[1:]} répondent plus souvent « {row} » {figures}"


def computed(tables, spec=None, *, synthetic: bool = False, groups=None, bases=None) -> list:
    """Every eligible computed finding of banner tables, largest difference first.

    A difference between two groups of one breakdown is eligible exactly when
    its test in ``table.tests`` has an adjusted p-value under the table's
    lower threshold (``alpha[0]``, 5 %), on a headline row (the selected
    answer of a multi-response item, the first answer and first net of a grid
    item, the first net of a scale, the answers of a single choice).

    Parameters
    ----------
    tables : Table or iterable of Table
        Banner tables (``crosstab``/``banner`` with a breakdown).
    spec : Spec, optional
        Their spec (titles, answers, nets).
    groups : dict, optional
        ``{column label: French words}`` naming groups in the sentences
        ("les maires" for the column "Maires" of the programme report).
    bases : dict, optional
        ``{column label: base label}`` when each group has its own base (the
        populations of the programme report): a sentence's base line then names
        the bases of its two groups only, instead of the question's base.

    Returns
    -------
    list of Sentence
        Sorted by absolute difference, largest first (ties: table order).
    """
    if hasattr(tables, "tests"):
        tables = [tables]
    sentences = [s for table in tables for s in _computed(table, spec, synthetic, groups, bases)]
    sentences.sort(key=lambda s: -s.size)  # stable: table order among ties
    return sentences


def _computed(table, spec, synthetic, groups=None, bases=None):
    from ramlab.format import fmt_int
    from ramlab.io.spec import REPORT_DEFAULTS

    tests = table.tests
    if tests.empty:
        return []
    lo_alpha = field(table.options, "alpha")[0]
    adjust = ADJUST_NAMES[field(table.options, "adjust")]
    gender = spec.study.get("unit_gender") if spec is not None else None
    low = int((spec.report if spec is not None else REPORT_DEFAULTS)["low_base_below"])

    def group(column, n):  # "Occitanie : 111 répondants", "Corse : 53 répondants, base faible"
        own = f"{bases[column]}, " if bases else ""  # "Entreprises : Ont des partenariats, 615 répondants"
        return f"{column} : {own}{fmt_int(n)} répondants" + (", base faible" if n < low else "")

    sentences = []
    shown = table.display_frame()
    for question, info in table.questions.items():
        qspec = spec.questions.get(question) if spec is not None else None
        headline = _headline_rows(table, question, qspec)
        sig = tests[(tests["question"] == question) & (tests["p_adjusted"] < lo_alpha)
                    & (tests["versus"] != "complement")]
        for pos, test in sig.iterrows():
            if (test["item"], test["row"]) not in headline:
                continue
            key = (question, test["item"], test["row"])
            a, b = (test["variable"], test["column"]), (test["variable"], test["versus"])
            hi, lo = (a, b) if test["estimate"] > 0 else (b, a)
            n = table.frame.loc[(question, test["item"], "Base brute (effectif)")]
            figure_hi, figure_lo = _shown(shown.loc[key, hi]), _shown(shown.loc[key, lo])
            text = _difference_text(qspec, info, test["item"], test["row"], field(info, "unit"),
                                    (hi[1], figure_hi), (lo[1], figure_lo), gender=gender,
                                    groups=groups)
            points = _gap(figure_hi, figure_lo, test["estimate"])
            base = "Base : " if bases else f"Base : {field(info, 'base_label')}. "
            base += f"{group(hi[1], n[hi])} ; {group(lo[1], n[lo])}. Écart de {points} points, significatif au seuil de 5 % ({adjust})."
            sentences.append(Sentence(
                text=french_spaces(text), figure=figure_hi,
                base=french_spaces(base.replace(" %", "\u202f%")),
                kind="difference", question=question, synthetic=synthetic,
                size=abs(float(test["estimate"])), cells=((key, hi), (key, lo)), published=False,
            ))
    return sentences


def _gap(hi: str, lo: str, estimate: float) -> str:
    """The gap in points between two displayed percentages, as a reader subtracts them.

    96 % against 50 % is "46" points even when the unrounded gap is 46.8: the
    sentence must agree with the figures it quotes. The unrounded estimate is
    used only when a figure does not read as a number.
    """
    from ramlab.format import fmt_number

    figures = [re.match(r"-?\d+(?:,(\d+))?", text.replace("\u202f", "")) for text in (hi, lo)]
    if not all(figures):
        return fmt_number(100 * abs(float(estimate)), 0)
    digits = max(len(m.group(1) or "") for m in figures)
    values = [float(m.group(0).replace(",", ".")) for m in figures]
    return fmt_number(abs(values[0] - values[1]), digits)


def select(findings, *, cap: int) -> list:
    """The `cap` largest findings, at most one per item (or answer) and breakdown.

    `findings` come sorted largest first (:func:`computed`); a finding is
    skipped when a larger one already speaks of the same grid item, or the
    same answer of another question, in the same breakdown (another pair of
    groups, or the item's net, says the same thing less strongly).
    """
    kept, seen = [], set()
    for finding in findings:
        key, hi = finding.cells[0]
        topic = (key[0], key[1] or key[2], hi[0])  # a grid item, or a single row; one breakdown
        if topic in seen:
            continue
        seen.add(topic)
        kept.append(finding)
        if len(kept) >= cap:
            break
    return kept


def required(spec) -> int:
    """Fewest sentences "L'essentiel" must hold: 5 with four questions or more, else 3 (issue 10)."""
    return 5 if len(spec.questions) >= 4 else 3


def essentiel(spec, totals: dict, crosstabs, *, synthetic: bool, most: int = 8) -> list:
    """The sentences of "L'essentiel": the spec's messages, then the largest computed findings.

    Computed findings fill the list up to `most` sentences, and at most the
    spec's ``report.max_findings`` of them.
    """
    sentences = authored(spec, totals, synthetic=synthetic)
    found = computed(crosstabs, spec, synthetic=synthetic)
    return sentences + select(found, cap=max(0, min(spec.report["max_findings"], most - len(sentences))))


#: How a population size that is not a published count is stated to readers.
_SIZE_STATUS = {"inference": "environ {size}, estimation", "assumption": "{size}, hypothèse"}


def population_size_text(study: dict) -> str:
    """The population size in words, saying when it is an estimate or an assumption.

    Examples
    --------
    >>> population_size_text({"population_size": 343000, "unit": "établissements",
    ...                       "population_status": "inference"})
    'environ 343\u202f000 établissements, estimation'
    >>> population_size_text({"population_size": 148429, "unit": "associations"})
    '148\u202f429 associations'
    """
    from ramlab.format import fmt_int

    size = f"{fmt_int(study['population_size'])} {study['unit']}"
    status = study.get("population_status", "published")
    return _SIZE_STATUS[status].format(size=size) if status in _SIZE_STATUS else size


def _population(words: str, size: str) -> str:
    """"Associations employeuses (148 429 associations)"; one pair of brackets when `words` ends with one."""
    if words.endswith(")"):
        return f"{words[:-1]} ; {size})"
    return f"{words} ({size})"


def study_card(loaded) -> dict:
    """Who was asked, how many, when, how and by whom: French texts of a survey-year."""
    from ramlab.format import fmt_int

    study = loaded.spec.study

    def day(value):
        return f"{value:%d/%m/%Y}" if hasattr(value, "strftime") else str(value)

    return {
        "Enquête": study["title"],
        "Population": _population(study['population'], population_size_text(study)),
        "Répondants": f"{fmt_int(loaded.n)} répondants",
        "Terrain": f"du {day(study['fieldwork_start'])} au {day(study['fieldwork_end'])}",
        "Mode de recueil": study["mode"],
        "Institut": study["institute"],
    }


def study_card_html(card: dict) -> str:
    """The study card as an HTML definition list (every text escaped)."""
    esc = html.escape
    rows = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in card.items()
                   if k != "Enquête")
    return f'<dl class="ramlab-card">{rows}</dl>'


def essentiel_html(card: dict, sentences, *, adjust=None) -> str:
    """"L'essentiel": the study card, then the sentences with figure, base and marks (HTML)."""
    esc = html.escape
    parts = ['<section class="ramlab-essentiel" aria-labelledby="essentiel">',
             '<h2 id="essentiel">L\'essentiel</h2>', study_card_html(card), '<ul class="ramlab-findings">']
    for s in sentences:
        marked = mark(s)
        badge = (f' <span class="ramlab-synthetic-mark {marked[0]}">{esc(marked[1])}</span>'
                 if marked else "")
        parts.append(
            f'<li class="ramlab-finding ramlab-finding-{esc(s.kind)}">'
            f'<span class="ramlab-callout">{esc(s.figure)}</span>'
            f'<p class="ramlab-sentence">{esc(s.text)}</p>'
            f'<p class="ramlab-base">{esc(s.base)}{badge}</p></li>'
        )
    parts.append("</ul>")
    if any(mark(s) == MARKS[False] for s in sentences):
        parts.append(
            '<p class="ramlab-findings-note">' + esc(french_spaces(
                f"{MARKS[False][1]} : chiffre calculé sur le fichier synthétique, que l'Observatoire "
                "n'a pas publié. Il montre la forme du rapport ; il ne décrit pas l'enquête réelle et "
                "ne doit pas être cité comme l'un de ses résultats.")) + "</p>")
    if any(s.kind == "difference" for s in sentences):
        parts.append(
            '<p class="ramlab-findings-note">Les écarts entre groupes cités sont significatifs au '
            f"seuil de 5\u202f% après {esc(ADJUST_NAMES[adjust])} des comparaisons multiples "
            "(test t sur le plan de sondage, comme les lettres des tableaux).</p>")
    parts.append("</section>")
    return "\n".join(parts)


def publish(card: dict, sentences) -> None:
    """Hand the study card and the sentences to ``ramlab build`` (a JSON output, not shown)."""
    from IPython.display import display

    payload = {"card": [[k, v] for k, v in card.items()], "sentences": [  # pairs: JSON keeps the order
        {k: v for k, v in asdict(s).items() if k != "cells"} for s in sentences]}
    display({MIME: payload}, raw=True)


def read(notebook: dict) -> dict:
    """The study card and sentences published in an executed notebook (empty when none)."""
    import json

    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            payload = (output.get("data") or {}).get(MIME)
            if payload is not None:
                return json.loads(payload) if isinstance(payload, str) else payload
    return {}
