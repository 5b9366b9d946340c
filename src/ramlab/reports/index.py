"""``reports/index.html``: every report of the project, linked, with its key figures."""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

from ramlab._files import write_atomic
from ramlab.format import fmt_date

__all__ = ["write_index"]

_INDEX_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       margin: 0 auto; max-width: 60rem; padding: 2rem 1.5rem; color: #1d2733; line-height: 1.45; }
h1 { font-size: 1.8rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin: 2rem 0 .8rem; border-bottom: 2px solid #0b5d7a; padding-bottom: .2rem; }
h3 { font-size: 1.1rem; margin: 0 0 .5rem; }
a { color: #0b5d7a; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; }
.report { border: 1px solid #d5dde5; border-radius: .4rem; padding: .9rem 1.1rem; margin: 0 0 1rem;
          break-inside: avoid; }
.title { margin: 0 0 .4rem; }
.figures { display: grid; grid-template-columns: 1fr auto; gap: .15rem 1rem; margin: .4rem 0; }
.figures dt { margin: 0; }
.figures dd { margin: 0; font-weight: 600; text-align: right; font-variant-numeric: tabular-nums; }
.meta, .empty, footer { color: #5a6772; font-size: .9rem; }
.ramlab-synthetic { background: #fff4d6; border-left: 5px solid #c98a00; padding: .7rem 1rem; margin: 1rem 0; }
.ramlab-synthetic strong { text-transform: uppercase; letter-spacing: .03em; }
.synthetic-badge { display: inline-block; margin: .2rem 0; padding: .05rem .5rem; font-size: .85rem;
                   background: #fff4d6; border: 1px solid #c98a00; border-radius: .3rem; }
footer { margin-top: 2.5rem; border-top: 1px solid #d5dde5; padding-top: .6rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  .report { border-color: #999; }
}
"""


def _edition(entry) -> str:
    """French heading of an index entry: ``Édition 2021``, ``Évolution 2015-2021``."""
    years = [int(year) for year in entry.get("years") or ()]
    if entry.get("kind") == "trends" and years:
        return f"Évolution {years[0]}–{years[-1]}"
    if entry.get("kind") == "programme" and years:
        period = f"{years[0]}–{years[-1]}" if years[0] != years[-1] else str(years[0])
        return f"Les trois enquêtes côte à côte, {period}"
    if years:
        return f"Édition {years[0]}"
    return str(entry.get("title") or entry.get("label") or Path(entry["output"]).stem)


def _survey_heading(survey: str) -> str:
    return survey.replace("-", " ").capitalize()


def write_index(reports_dir, entries) -> Path:
    """Write ``<reports_dir>/index.html``: every report, linked, with its key figures.

    Parameters
    ----------
    reports_dir : path
    entries : iterable of mapping
        One per report: ``survey``, ``output`` (path of the HTML report),
        ``kind`` ("report" or "trends"), ``years``, and optionally ``title``
        (French), ``key_figures`` ({label: text}), ``built_at`` (ISO date) and
        ``synthetic`` (True: a "Données synthétiques" badge on the entry, and a
        notice at the top of the page).
        A report is headed "Édition 2021", a trend "Évolution 2015–2021".

    Returns
    -------
    Path of the index. The page is French (``lang="fr"``), self-contained (no
    script, no request to any server: styles inline), links are relative,
    every label is HTML-escaped, and it is written atomically, only when its
    content changed.
    """
    reports_dir = Path(reports_dir)
    escape = html.escape
    by_survey: dict[str, list] = {}
    for entry in entries:
        by_survey.setdefault(str(entry["survey"]), []).append(entry)

    def order(entry):
        years = tuple(entry.get("years") or ())
        return (entry.get("kind", "report") == "trends", years, str(entry.get("title", "")))

    dates = [entry.get("built_at") for group in by_survey.values() for entry in group]
    latest = max((d for d in dates if d), default=None)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="fr">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="ramlab">',
        "<title>Rapports IMPACT – Observatoire des partenariats</title>",
        f"<style>{_INDEX_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Rapports IMPACT</h1>",
        "<p>Observatoire des partenariats : les rapports de chaque enquête et leurs chiffres clés.</p>",
        "</header>",
    ]
    if by_survey:
        parts.append('<nav aria-label="Enquêtes"><ul>')
        for survey in sorted(by_survey):
            parts.append(
                f'<li><a href="#enquete-{escape(quote(survey))}">{escape(_survey_heading(survey))}</a></li>'
            )
        parts.append("</ul></nav>")
    parts.append("<main>")
    if any(entry.get("synthetic") for group in by_survey.values() for entry in group):
        parts.append(
            '<div class="ramlab-synthetic" role="note"><strong>Données synthétiques</strong> : '
            "les rapports marqués ci-dessous sont construits sur des fichiers de répondants "
            "synthétiques, générés pour reproduire les résultats publiés des enquêtes. Ils ne "
            "contiennent aucune réponse réelle.</div>"
        )
    if not by_survey:
        parts.append('<p class="empty">Aucun rapport n’a encore été construit.</p>')
    for survey in sorted(by_survey):
        parts.append(f'<section id="enquete-{escape(quote(survey))}">')
        parts.append(f"<h2>{escape(_survey_heading(survey))}</h2>")
        for entry in sorted(by_survey[survey], key=order):
            href = Path(os.path.relpath(Path(entry["output"]), reports_dir)).as_posix()
            parts.append('<article class="report">')
            parts.append(f'<h3><a href="{escape(quote(href))}">{escape(_edition(entry))}</a></h3>')
            if entry.get("title"):
                parts.append(f'<p class="title">{escape(str(entry["title"]))}</p>')
            figures = entry.get("key_figures") or {}
            if figures:
                parts.append('<dl class="figures">')
                for label, text in figures.items():
                    parts.append(f"<dt>{escape(str(label))}</dt><dd>{escape(str(text))}</dd>")
                parts.append("</dl>")
            if entry.get("synthetic"):
                parts.append('<p class="synthetic-badge">Données synthétiques</p>')
            built = fmt_date(entry.get("built_at"), long=True)
            if built:
                parts.append(f'<p class="meta">Construit le {escape(built)}</p>')
            parts.append("</article>")
        parts.append("</section>")
    parts.append("</main>")
    footer = "Page produite par ramlab"
    if latest:
        footer += f", mise à jour le {fmt_date(latest, long=True)}"
    parts += [f"<footer><p>{escape(footer)}.</p></footer>", "</body>", "</html>", ""]
    text = "\n".join(parts)
    path = reports_dir / "index.html"
    try:
        if path.read_text(encoding="utf-8") == text:
            return path
    except OSError:
        pass
    return write_atomic(path, text)
