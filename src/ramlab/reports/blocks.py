"""Building blocks of the generic report notebook (``notebooks/report.ipynb``).

The report notebook holds narrative, parameters and calls; what it shows is
made here, from the survey's spec, so that every survey gets the same report
without a survey-specific line of code:

- :func:`load` loads and weights a survey-year, and turns the spec's warnings
  (margins from rounded published shares, rescaled to the population total)
  into French methodology notes instead of stderr;
- :func:`table_options` gives the table options of an audience (a partner
  edition hides small bases, an internal one flags them);
- :func:`synthetic_notice`, :func:`methodology`, :func:`profile_table` and
  :func:`weighting_diagnostics` render the French blocks of the page, every
  label HTML-escaped;
- :func:`write_workbook` writes the tables of a report to an Excel workbook,
  atomically;
- :func:`table_html` renders a table for an audience with the rendering
  options of :func:`render_options` (:meth:`ramlab.tables.Table.to_html`): no
  question code for partners, groups under the spec's ``low_base_below``
  marked "base faible", the coding of every mean row, wide tables turned;
- :func:`question_tables` cuts a banner of every question into one table
  per question (the report computes one banner per breakdown);
- :func:`section_title` is a question's message (filled) or its title.

Margin of error: for a proportion of 50 % on the whole sample, the 95 %
half-width with the Kish design effect of the weights is
``1.96 * sqrt(0.25 * deff / n)`` (Kish 1965, *Survey Sampling*, 8.2; Kish
1992, "Weighting for unequal Pi", J. Off. Stat. 8(2)). It is a summary for
readers; every estimate of the tables has its own linearised standard error.
"""

from __future__ import annotations

import html
import math
import warnings
from pathlib import Path

from ramlab.files import replacing
from ramlab.format import fmt_date
from ramlab.reports.layout import AUDIENCES

__all__ = [
    "AUDIENCES",
    "load",
    "table_options",
    "margin_of_error",
    "heading",
    "markdown_text",
    "synthetic_notice",
    "methodology",
    "profile_table",
    "weighting_diagnostics",
    "write_workbook",
    "table_html",
    "render_options",
    "question_tables",
    "mean_coding",
    "section_title",
    "details",
    "paragraph",
    "table_breakdowns",
    "breakdown_label",
    "trend_table",
    "trend_html",
    "changes_note",
    "editions_html",
    "bullet_list",
]


_SYNTHETIC_NOTICE = (
    '<div class="ramlab-synthetic" role="note"><strong>Données synthétiques</strong> : '
    "{what} construit sur un fichier de répondants synthétique, généré pour reproduire les "
    "résultats publiés de l'enquête. Il ne contient aucune réponse réelle.</div>"
)


def load(survey: str, year: int, *, data_dir):
    """Load and weight a survey-year; the spec's warnings become French notes.

    Parameters
    ----------
    survey, year, data_dir :
        As :func:`ramlab.io.survey.load_survey`.

    Returns
    -------
    (Survey, list of str)
        The loaded survey and the French notes on its margins: one per
        margin whose published shares, rounded, did not add up to the
        population and were rescaled to it (the UserWarnings of
        :mod:`ramlab.io.spec`, captured so that they do not reach stderr).
        Other warnings are re-issued as they were.
    """
    from ramlab.errors import MarginRescaledWarning
    from ramlab.io.survey import load_survey

    with warnings.catch_warnings():
        # stated in the methodology box instead (Survey.margin_notes)
        warnings.simplefilter("ignore", MarginRescaledWarning)
        loaded = load_survey(survey, year, data_dir=data_dir)
    return loaded, loaded.margin_notes


def table_options(audience: str, spec=None) -> dict:
    """Options of :func:`ramlab.tables.crosstab` for an audience.

    A partner edition hides the groups under the spec's ``report.hide_below``
    (30 respondents by default), an internal one flags them. The letters use
    the spec's multiple-comparison correction (``report.adjust``, Holm by
    default): the computed findings of :mod:`ramlab.reports.findings` read the
    same tests, so a letter and a sentence never disagree.

    Raises
    ------
    ValueError
        For an audience other than "partner" or "internal".
    """
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")
    options = {"hide_small": audience == "partner", "adjust": "holm"}
    if spec is not None:
        options.update(adjust=spec.adjust, min_base=int(spec.report["hide_below"]))
    return options


def margin_of_error(deff: float, n: int) -> float:
    """Half-width, in percentage points, of the 95 % interval of a 50 % proportion.

    ``100 * 1.96 * sqrt(0.25 * deff / n)`` (Kish 1965, 8.2: the simple random
    sampling variance ``p(1 - p)/n`` at p = 0.5, times the design effect).
    """
    return 100 * 1.96 * math.sqrt(0.25 * float(deff) / int(n))


def paragraph(text: str, css_class: str = "") -> str:
    """An HTML paragraph of a spec text, escaped."""
    attr = f' class="{html.escape(css_class)}"' if css_class else ""
    return f"<p{attr}>{html.escape(str(text))}</p>"


def bullet_list(texts) -> str:
    """An HTML bulleted list of texts, each escaped."""
    return "<ul>" + "".join(f"<li>{html.escape(str(t))}</li>" for t in texts) + "</ul>"


def table_breakdowns(loaded) -> dict:
    """``{breakdown: data column}`` for the tables of a survey-year.

    A breakdown whose categories are grouped for weighting (e.g. Corse with
    Provence-Alpes-Côte d'Azur) is tabulated on the grouped column, unless the
    spec lists it in ``report.ungroup_in_tables``: a group too small to weight
    is too small to show. The grouped column gets the variable's label.
    """
    keep = set(loaded.spec.report.get("ungroup_in_tables") or ())
    grouped = {m.variable: m.column for m in loaded.spec.weighting.margins if m.groups}
    labels = loaded.data.attrs.setdefault("variable_labels", {})
    out = {}
    for breakdown in loaded.spec.breakdowns:
        column = grouped.get(breakdown, breakdown) if breakdown not in keep else breakdown
        if column != breakdown:
            labels[column] = labels.get(breakdown, breakdown)
        out[breakdown] = column
    return out


def breakdown_label(loaded, breakdown: str) -> str:
    """The label of a breakdown variable, lower-cased for "Résultats par …"."""
    label = loaded.data.attrs.get("variable_labels", {}).get(breakdown, breakdown)
    return label[:1].lower() + label[1:]


def heading(text: str, level: int = 2) -> str:
    """An HTML heading of a spec label, escaped (a label is text, never markup)."""
    level = int(level)
    return f"<h{level}>{html.escape(str(text))}</h{level}>"


def markdown_text(text: str) -> str:
    """A spec label made safe inside Markdown: ``<`` and ``>`` as entities (no raw HTML)."""
    return str(text).replace("<", "&lt;").replace(">", "&gt;")


def synthetic_notice(what: str = "ce rapport est") -> str:
    """The "Données synthétiques" notice (HTML), for a page built on a synthetic file."""
    return _SYNTHETIC_NOTICE.format(what=html.escape(what[:1].upper() + what[1:]))


def _fieldwork_date(value) -> str:
    """A fieldwork date of the spec: "15/03/2021", or the spec's text (escaped) when it is not a date."""
    return fmt_date(value) if hasattr(value, "strftime") else html.escape(str(value))


_STATUS = {"published": "source publiée", "inference": "estimation", "assumption": "hypothèse"}


def methodology(loaded, notes=None, *, audience: str = "internal") -> str:
    """The methodology box (HTML, French, every label escaped).

    Population and its size, sample size, mode, fieldwork dates, institute,
    weighting (method, margins with their source, groupings of small
    categories, rescaled margins), the Kish design effect of the weights and
    the margin of error at 50 % with it.

    A partner edition names each margin's status (published source,
    estimation, hypothesis) and the published source only: the working notes
    of the spec and of the margin files (how a figure was inferred, what was
    not found) go to the internal edition.
    """
    from ramlab.format import fmt_int, fmt_number
    from ramlab.reports.findings import population_size_text
    from ramlab.weighting import weight_summary

    esc = html.escape
    study = loaded.spec.study
    weighting = loaded.spec.weighting
    summary = weight_summary(loaded.design.weights)
    deff = float(summary["kish_deff"])
    moe = margin_of_error(deff, loaded.n)
    method = {
        "rake": "calage sur marges (raking) à partir de poids égaux",
        "rake_from_delivered": "calage sur marges (raking) à partir du poids livré par l'institut",
        "delivered": "poids livré par l'institut, sans nouveau calage",
    }.get(weighting.mode, weighting.mode)
    margins = []
    for margin in weighting.margins:
        if audience == "partner" and margin.status != "published":
            text = f"{esc(margin.label)} ({esc(_STATUS.get(margin.status, margin.status))})"
        else:
            text = f"{esc(margin.label)} (source : {esc(margin.source.rstrip('. '))})"
        for group, members in margin.groups.items():
            text += (
                f" ; regroupement : {esc(', '.join(map(str, members)))} → {esc(str(group))}"
            )
        margins.append(f"<li>{text}</li>")
    rows = [
        ("Population", f"{esc(study['population'])} ({esc(population_size_text(study))})"),
        ("Échantillon", f"{fmt_int(loaded.n)} répondants"),
        ("Mode de recueil", esc(study["mode"])),
        ("Terrain", f"du {_fieldwork_date(study['fieldwork_start'])} au "
                    f"{_fieldwork_date(study['fieldwork_end'])}"),
        ("Institut", esc(study.get("institute", ""))),
        ("Redressement", f"{esc(method)}, sur les marges :<ul>{''.join(margins)}</ul>"
         if weighting.margins else esc(method)),
        ("Effet de plan (Kish)", f"{fmt_number(deff, 2)} (effectif efficace : "
                                 f"{fmt_int(summary['n_eff'])})"),
        ("Marge d'erreur", f"±\u202f{fmt_number(moe, 1)} points pour un pourcentage de "
                           f"50\u202f% sur l'ensemble (intervalle de confiance à 95\u202f%, "
                           "effet de plan inclus)"),
    ]
    parts = ['<aside class="ramlab-methodology" aria-label="Méthodologie">',
             "<p class=\"ramlab-methodology-title\">Méthodologie de l'enquête</p>", "<dl>"]
    for label, value in rows:
        parts.append(f"<dt>{esc(label)}</dt><dd>{value}</dd>")
    parts.append("</dl>")
    if notes is None:  # the survey's own notes: margins rescaled to the population
        notes = getattr(loaded, "margin_notes", ())
    extra = [(study.get("note") or "") if audience != "partner" else "", *notes]
    for line in extra:
        if line:
            parts.append(f'<p class="ramlab-methodology-note">{esc(line)}</p>')
    parts.append("</aside>")
    return "\n".join(parts)


def profile_table(loaded) -> str:
    """Sample profile against the population, before and after weighting (HTML, escaped)."""
    from ramlab.format import fmt_int

    esc = html.escape
    profile = loaded.profile()
    head = ("Variable", "Modalité", "Effectif brut", "Échantillon brut",
            "Échantillon redressé", "Population")
    parts = ['<table class="ramlab-table ramlab-profile">',
             "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    last = None
    for (variable, category), row in profile.iterrows():
        label = esc(str(row["label"])) if variable != last else ""
        last = variable
        parts.append(
            f"<tr><th>{label}</th><th>{esc(str(category))}</th><td>{fmt_int(row['n'])}</td>"
            f"<td>{_share(row['sample'])}</td><td>{_share(row['weighted'])}</td>"
            f"<td>{_share(row['population'])}</td></tr>"
        )
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _share(value) -> str:
    """A profile share: one decimal under 1 % (a 0,2 % stratum must not read "0 %")."""
    from ramlab.format import fmt_pct

    return fmt_pct(value, 1 if 0 < value < 0.0095 else 0)


def weighting_diagnostics(loaded) -> str:
    """French Markdown list of the weighting diagnostics (Kish efficiency, n_eff, min/max)."""
    from ramlab.format import fmt_int, fmt_number, fmt_pct
    from ramlab.weighting import weight_summary

    w = weight_summary(loaded.design.weights)
    unit = loaded.spec.study.get("unit", "")
    return (
        "**Diagnostics de la pondération**\n\n"
        f"- Efficacité de Kish : {fmt_pct(w['efficiency'])} (effet de plan dû à la "
        f"pondération : {fmt_number(w['kish_deff'], 2)})\n"
        f"- Effectif efficace : {fmt_int(w['n_eff'])} pour {fmt_int(loaded.n)} répondants\n"
        f"- Poids minimum : {fmt_number(w['min'], 1)} ; poids maximum : {fmt_number(w['max'], 1)} "
        f"(rapport max/min : {fmt_number(w['max_min_ratio'], 1)})\n"
        f"- Somme des poids : {fmt_int(float(loaded.design.weights.sum()))} {unit}\n"
    )


def write_workbook(table, path) -> Path:
    """Write a table's workbook (:meth:`ramlab.tables.Table.to_excel`) atomically.

    The workbook goes to a temporary file beside `path`, then replaces it with
    ``os.replace``: a reader sees the previous workbook or the new one, whole.
    """
    path = Path(path)
    with replacing(path) as temporary:
        table.to_excel(temporary)
    return path


def mean_coding(question, data) -> str:
    """How the mean of a scale is coded, in French: "1 = Oui, tout à fait … 4 = Non, pas du tout".

    The scores are those of the table's mean (SPSS codes of the answers when
    the file labels every valid answer, else 1..K in spec order).
    """
    from ramlab.format import fmt_number

    valid = [c for c in question.categories if c not in question.missing]
    if question.type != "scale" or not valid:
        return ""
    labels = (data.attrs.get("value_labels") or {}).get(question.columns[0]) or {}
    inverse = {str(v): k for k, v in labels.items()}
    try:
        scores = [float(inverse[c]) for c in valid]
    except (KeyError, TypeError, ValueError):
        scores = [float(j + 1) for j in range(len(valid))]
    first, last = (fmt_number(scores[0], 0), valid[0]), (fmt_number(scores[-1], 0), valid[-1])
    return f"de {first[0]} = « {first[1]} » à {last[0]} = « {last[1]} »"


def section_title(question, tables, spec, *, synthetic: bool) -> str:
    """A question's section title: its message with the figures filled, else its title.

    On synthetic data the message of a question whose results are not
    published is not used: its figures would read as the survey's findings.
    """
    if question.message and (question.published or not synthetic):
        from ramlab.reports.findings import fill

        return fill(question.message, tables, spec)[0]
    return question.title or question.text


def question_tables(table) -> dict:
    """``{question id: Table}``: a banner of several questions cut into one table per question.

    Each piece holds the question's rows, tests, Rao-Scott tests,
    covariance and median intervals, with the banner's columns and options: the same figures,
    letters and tests as :func:`ramlab.tables.crosstab` of that question on
    those columns (a banner computes each question on its own), for one
    computation of the columns' domains instead of one per question.
    """
    from dataclasses import replace

    import numpy as np

    pieces = {}
    questions = table.frame.index.get_level_values("question")
    for qid in table.questions:
        at = np.flatnonzero(questions == qid)
        rows = slice(at[0], at[-1] + 1)  # a banner stacks each question's rows together
        index = table.frame.index[rows].remove_unused_levels()

        def cut(frame, rows=rows, index=index):
            return frame.iloc[rows].set_axis(index, axis=0)

        def tested(frame, qid=qid):
            return frame[(frame["question"] == qid).to_numpy()].reset_index(drop=True)

        pieces[qid] = replace(
            table, frame=cut(table.frame), se=cut(table.se), marks=cut(table.marks),
            small=cut(table.small), kinds=cut(table.kinds), tests=tested(table.tests),
            chisq=tested(table.chisq), questions={qid: table.questions[qid]},
            covariance={k: v for k, v in table.covariance.items() if k == qid},
            intervals=_cut_intervals(table.intervals, cut))
    return pieces


def _cut_intervals(intervals, cut):
    """A question's rows of a banner's median intervals; None when it has no median (as crosstab)."""
    if intervals is None:
        return None
    low, high = (cut(bounds) for bounds in intervals)
    return None if low.isna().to_numpy().all() and high.isna().to_numpy().all() else (low, high)


def render_options(table, spec, *, audience: str, data=None) -> dict:
    """The options of :meth:`ramlab.tables.Table.to_html` for an audience.

    A partner gets no question code and no working note of the team; every
    audience gets the coding of each scale's mean (:func:`mean_coding`, from
    the file's labels in `data`) and the "base faible" mark on the groups
    under the spec's ``report.low_base_below``.
    """
    partner = audience == "partner"
    labels = {}
    for qid in table.questions:
        question = spec.questions.get(qid)
        if question is not None and data is not None and question.type == "scale":
            labels[qid] = mean_coding(question, data)
    return {"codes": not partner, "working_notes": not partner, "mean_labels": labels,
            "low_base": int(spec.report["low_base_below"])}


def table_html(table, spec, *, audience: str, max_columns: int = 7, data=None) -> str:
    """A report table as HTML for an audience (every label escaped): :func:`render_options`,
    and a table of more than `max_columns` groups turned (groups as rows)."""
    return table.to_html(**render_options(table, spec, audience=audience, data=data),
                         turn_above=max_columns)


def notes_for(table, qid: str, *, audience: str) -> list:
    """A question's footnotes for an audience: a partner gets no working note.

    The spec's question ``note`` is the team's working note (where a wording
    was reconstructed, which figures are published): internal audience only.
    """
    from ramlab.reports.findings import field

    lines = table.notes(qid)
    if audience != "partner":
        return lines
    note = field(table.questions[qid], "note")
    return [line for line in lines if not note or line != note]


def details(summary: str, body_html: str) -> str:
    """A collapsible section (HTML ``<details>``): the appendix of detailed tables."""
    return (f'<details class="ramlab-appendix"><summary>{html.escape(summary)}</summary>\n'
            f"{body_html}\n</details>")


def trend_table(surveys: dict, question_id: str, *, source=None, stacked=None):
    """A question's trend, honest: ``(Table, comparable)``.

    ``stacked`` is the editions stacked by :func:`ramlab.stack` (stacked here
    when not given); ``surveys`` gives each edition's spec.

    The change between editions is tested (and starred) only when the spec of
    every edition after the first marks the question ``comparable`` (same
    wording and base as the previous edition); otherwise the change columns
    are emptied and :func:`trend_html` says "non comparable". Rows that the
    latest edition no longer has (an answer dropped since, e.g. the 2015
    "Non" of a grid now in three answers) are left out: they have no
    counterpart to compare with.
    """
    from dataclasses import replace

    import numpy as np

    from ramlab.tables import trend

    years = sorted(surveys)
    comparable = all(surveys[y].spec.questions[question_id].comparable for y in years[1:])
    table = trend(surveys if stacked is None else stacked, question_id, source=source)
    latest = ("Année", str(years[-1]))
    keep = table.frame[latest].notna().to_numpy()
    changes = [c for c in table.frame.columns if c[0] != "Année"]
    frame, se, marks = table.frame[keep].copy(), table.se[keep].copy(), table.marks[keep].copy()
    tests = table.tests
    if not comparable:
        frame.loc[:, changes] = np.nan
        se.loc[:, changes] = np.nan
        marks.loc[:, changes] = ""
        tests = tests.iloc[0:0]
    return replace(table, frame=frame, se=se, marks=marks, small=table.small[keep],
                   kinds=table.kinds[keep], tests=tests), comparable


def trend_html(table, *, comparable: bool, coding: str = "", audience: str = "partner") -> str:
    """A trend table as HTML (every label escaped): "non comparable" in its change cells when so.

    A change cell reads "non comparable" when both of its years have the row
    but the question is not comparable; the mean row gives its `coding`
    (:func:`mean_coding`). The notes are the table's own, the significance
    legend only when the changes are tested, each note once; a partner
    (`audience`, the default) gets no working note (:func:`notes_for`).
    """
    from ramlab.reports.findings import field

    esc = html.escape
    shown = table.display_frame()
    tested = {"category", "missing", "net", "mean", "answers"}
    parts = ['<div class="ramlab-tables ramlab-trend">']
    for qid, info in table.questions.items():
        sub = shown.xs(qid, level="question")
        kinds = table.kinds.xs(qid, level="question")
        heads = "".join(f"<th>{esc(str(c[1]))}</th>" for c in sub.columns)
        groups = {}
        for c in sub.columns:
            groups[c[0]] = groups.get(c[0], 0) + 1
        names = {"Année": "Année", "Évolution": "Évolution (points)"}
        top = "".join(f'<th colspan="{n}">{esc(names.get(g, g))}</th>' for g, n in groups.items())
        parts.append('<table class="ramlab-table">')
        parts.append(f"<caption>{esc(field(info, 'text'))}</caption>")
        parts.append(f"<thead><tr><th></th>{top}</tr><tr><th></th>{heads}</tr></thead><tbody>")
        last = None
        frame = table.frame.xs(qid, level="question")
        for (item, row), kind, values in zip(sub.index, kinds, sub.to_numpy()):
            if item and item != last:
                parts.append(f'<tr class="ramlab-item"><th colspan="{len(values) + 1}">{esc(item)}</th></tr>')
            last = item
            cells = []
            for column, value in zip(sub.columns, values):
                if column[0] != "Année" and not comparable and kind in tested:
                    first, _, last_year = str(column[1]).partition("-")
                    both = all(pd_notna(frame.loc[(item, row), ("Année", y)]) for y in (first, last_year))
                    value = "non comparable" if both else ""
                cells.append(f"<td>{esc(str(value))}</td>")
            label = f"{row} ({coding})" if kind == "mean" and coding else row
            parts.append(f'<tr class="ramlab-{esc(kind)}"><th>{esc(label)}</th>{"".join(cells)}</tr>')
        parts.append("</tbody></table>")
        lines = list(dict.fromkeys(notes_for(table, qid, audience=audience)))
        if not comparable:
            lines = [line for line in lines if not line.startswith("Évolution en points")]
            lines.insert(1, "Non comparable : la formulation ou la base de la question a changé "
                            "d'une édition à l'autre ; l'évolution n'est ni calculée ni testée.")
        parts.append('<div class="ramlab-notes">' + "".join(f"<p>{esc(x)}</p>" for x in lines) + "</div>")
    parts.append("</div>")
    return "\n".join(parts)


def pd_notna(value) -> bool:
    """True for a number that is not NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def changes_note(surveys: dict, question_id: str) -> str:
    """The comparability note of a trend, once: the latest edition's ``changes`` (HTML, escaped)."""
    notes = [surveys[y].spec.questions[question_id].changes for y in sorted(surveys, reverse=True)]
    note = next((n for n in notes if n), None)
    if not note:
        return ""
    return ('<div class="ramlab-notes ramlab-changes" role="note"><p><strong>Comparabilité'
            f"</strong> : {html.escape(note)}</p></div>")


def editions_html(surveys: dict) -> str:
    """The editions of a trend, one row each: title, respondents, mode, fieldwork, population (escaped)."""
    from ramlab.format import fmt_int
    from ramlab.reports.findings import population_size_text

    esc = html.escape
    rows = []
    for year, loaded in sorted(surveys.items()):
        study = loaded.spec.study
        rows.append(
            f"<tr><th>{esc(str(year))}</th><td>{esc(study['title'])}</td><td>{fmt_int(loaded.n)}</td>"
            f"<td>{esc(study['mode'])}</td><td>du {_fieldwork_date(study['fieldwork_start'])} au "
            f"{_fieldwork_date(study['fieldwork_end'])}</td><td>{esc(study['population'])} "
            f"({esc(population_size_text(study))})</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("Édition", "Enquête", "Répondants", "Mode de recueil",
                                             "Terrain", "Population"))
    return (f'<table class="ramlab-editions"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")
