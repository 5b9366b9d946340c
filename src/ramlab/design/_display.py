"""What a design shows in JupyterLab: its sampling design, n, weighting and design effect."""

from __future__ import annotations

import html

import numpy as np

__all__ = ["design_facts", "facts_html"]

_STEP_NAMES = {
    "rake": "calage sur marges (raking)",
    "calibrate": "calage",
    "poststratify": "post-stratification",
    "trim": "écrêtage des poids",
    "subset": "domaine",
    None: "poids donnés par apply_weighting",
}


def _sampling(design):
    structure = getattr(design, "structure", None)
    if structure is None:  # replicate weights
        return f"poids répliqués ({getattr(design, 'n_replicates', '?')} répliques)"
    if structure.data is not design.data:
        # assembled from independent samples (stack_designs): its strata and units are the
        # samples', prefixed, in columns of its own
        return "échantillons indépendants empilés, chacun avec ses strates, grappes et fpc"
    parts = []
    if structure.strata_col:
        parts.append(f"strates : {structure.strata_col}")
    if structure.ids:
        parts.append(f"grappes : {', '.join(map(str, structure.ids))}")
    if structure.fpc:
        parts.append(f"correction de population finie : {', '.join(map(str, structure.fpc))}")
    return " ; ".join(parts) or "sondage aléatoire simple (chaque répondant est son unité)"


def design_facts(design, weight_name=None):
    """[(French label, text)] of a design: sampling, n, weights, weighting, Kish design effect."""
    from ramlab.format import fmt_int, fmt_number
    from ramlab.weighting import weight_summary

    summary = weight_summary(design.weight_values)
    # every step a design records: a weighting method's name, "subset", or None (apply_weighting)
    steps = [_STEP_NAMES[step if step is None else step[0]] for step in design.steps]
    if design.is_calibrated and not any(s != "domaine" for s in steps):
        # assembled from calibrated designs (ramlab.stack): their calibrations, kept
        steps.insert(0, f"{len(design.calibrations)} calage(s) conservé(s) de leurs échantillons")
    base = np.asarray(design.base_weights)
    weighting = ", puis ".join(dict.fromkeys(steps)) or (
        f"poids « {weight_name} » tel que livré" if weight_name
        # weights from the fpc (N / n) or of stacked samples differ without a column name
        else "aucun (poids égaux)" if np.all(base == base[:1])
        else "aucun (poids de sondage du plan, inégaux)")
    return [
        ("Plan de sondage", _sampling(design)),
        ("Répondants", f"{fmt_int(design.n)} (dont {fmt_int(summary['n'])} de poids non nul)"),
        ("Total des poids", fmt_number(summary["sum"], 0)),
        ("Redressement", weighting),
        ("Effet de plan (Kish)", f"{fmt_number(summary['kish_deff'], 2)} (effectif efficace : "
                                 f"{fmt_int(summary['n_eff'])})"),
    ]


def facts_html(title, facts, notes=()):
    """A small French HTML card: a title, a list of (label, text), notes."""
    esc = html.escape
    rows = "".join(f"<tr><th style='text-align:left'>{esc(k)}</th>"
                   f"<td style='text-align:left'>{esc(str(v))}</td></tr>" for k, v in facts)
    extra = "".join(f"<p><small>{esc(n)}</small></p>" for n in notes)
    return f"<div class='ramlab-card'><strong>{esc(title)}</strong><table>{rows}</table>{extra}</div>"
