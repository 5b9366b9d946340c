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
  atomically.

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

from ramlab._files import replacing
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
    from ramlab.format import fmt_int, fmt_number
    from ramlab.io.survey import load_survey

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_survey(survey, year, data_dir=data_dir)
    rescaled = [m for m in loaded.spec.weighting.margins if m.rescaled]
    for warning in caught:
        is_rescaling = issubclass(warning.category, UserWarning) and "rescaled" in str(warning.message)
        if not is_rescaling:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    population = loaded.spec.study["population_size"]
    notes = []
    for margin in rescaled:
        gap = abs(margin.file_total - population) / population
        notes.append(
            f"La marge « {margin.label} » est publiée en parts arrondies, dont le total "
            f"({fmt_int(margin.file_total)} {loaded.spec.study.get('unit', '')}".rstrip()
            + f") diffère de la population ({fmt_int(population)}) de "
            f"{fmt_number(100 * gap, 2)}\u202f% : elle a été ramenée au total de la "
            "population avant le redressement."
        )
    return loaded, notes


def table_options(audience: str) -> dict:
    """Options of :func:`ramlab.tables.crosstab` for an audience.

    Raises
    ------
    ValueError
        For an audience other than "partner" or "internal".
    """
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")
    return {"hide_small": audience == "partner"}


def margin_of_error(deff: float, n: int) -> float:
    """Half-width, in percentage points, of the 95 % interval of a 50 % proportion.

    ``100 * 1.96 * sqrt(0.25 * deff / n)`` (Kish 1965, 8.2: the simple random
    sampling variance ``p(1 - p)/n`` at p = 0.5, times the design effect).
    """
    return 100 * 1.96 * math.sqrt(0.25 * float(deff) / int(n))


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


def methodology(loaded, notes=()) -> str:
    """The methodology box (HTML, French, every label escaped).

    Population and its size, sample size, mode, fieldwork dates, institute,
    weighting (method, margins with their source, groupings of small
    categories, rescaled margins), the Kish design effect of the weights and
    the margin of error at 50 % with it.
    """
    from ramlab.format import fmt_int, fmt_number
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
        text = f"{esc(margin.label)} (source : {esc(margin.source.rstrip('. '))})"
        for group, members in margin.groups.items():
            text += (
                f" ; regroupement : {esc(', '.join(map(str, members)))} → {esc(str(group))}"
            )
        margins.append(f"<li>{text}</li>")
    rows = [
        ("Population", f"{esc(study['population'])} ({fmt_int(study['population_size'])} "
                       f"{esc(study.get('unit', ''))})"),
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
    extra = [study.get("note") or "", *notes]
    for line in extra:
        if line:
            parts.append(f'<p class="ramlab-methodology-note">{esc(line)}</p>')
    parts.append("</aside>")
    return "\n".join(parts)


def profile_table(loaded) -> str:
    """Sample profile against the population, before and after weighting (HTML, escaped)."""
    from ramlab.format import fmt_int, fmt_pct

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
            f"<td>{fmt_pct(row['sample'])}</td><td>{fmt_pct(row['weighted'])}</td>"
            f"<td>{fmt_pct(row['population'])}</td></tr>"
        )
    parts.append("</tbody></table>")
    return "\n".join(parts)


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
