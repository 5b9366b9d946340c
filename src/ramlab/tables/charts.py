"""Report charts for banner tables, in one house style (matplotlib + seaborn).

Every function takes a :class:`ramlab.tables.Table` (or a plain DataFrame of
proportions) and returns a matplotlib :class:`~matplotlib.figure.Figure`
built without pyplot (no global figure registry), with:

* a colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design");
* French number format on the labels (``73 %``);
* the base line and the source line under the chart;
* the mark "Données synthétiques" when the table was built on synthetic data.

Labels are plain text: a ``$`` in a label is escaped so that matplotlib never
reads it as mathematics, and TeX rendering is off.
"""

from __future__ import annotations

import textwrap
from contextlib import contextmanager

import numpy as np
import pandas as pd

from ramlab.errors import TableError
from ramlab.format import fmt_number, fmt_pct

__all__ = ["PALETTE", "SYNTHETIC_MARK", "bars", "stacked", "grouped", "lines", "save", "house_style"]

#: Okabe-Ito colour-blind-safe palette (blue first: the house colour).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
#: Text of the mark on charts built on synthetic data.
SYNTHETIC_MARK = "Données synthétiques"
_MARK_GID = "ramlab-synthetic-mark"

_RC = {
    "text.usetex": False,
    "text.parse_math": True,  # with every "$" escaped, nothing is mathematics
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "svg.hashsalt": "ramlab",
}


@contextmanager
def house_style():
    """Context in which ramlab charts are drawn (palette, fonts, no TeX)."""
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(_RC)
    rc["axes.prop_cycle"] = cycler(color=PALETTE)
    with mpl.rc_context(rc):
        yield


def _plain(text, width=None):
    """Escape "$" so that matplotlib shows it literally; optionally wrap."""
    text = "" if text is None else str(text)
    if width:
        text = "\n".join(textwrap.wrap(text, width)) or text
    return text.replace("\\$", "$").replace("$", "\\$")


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _footer(fig, lines):
    text = "\n".join(_plain(line) for line in lines if line)
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=7.5, color="#333333")


def _mark(fig):
    if any(t.get_gid() == _MARK_GID for t in fig.texts):
        return
    t = fig.text(
        0.99, 0.99, SYNTHETIC_MARK, ha="right", va="top", fontsize=8,
        color="#B00000", fontstyle="italic",
    )
    t.set_gid(_MARK_GID)


def _question(table, question):
    if question is None:
        return next(iter(table.questions))
    if question not in table.questions:
        raise TableError(f"question {question!r} is not in this table")
    return question


def _footer_lines(table, question):
    info = table.questions[question]
    lines = [info.base_line]
    if info.type == "multi":
        line = "Plusieurs réponses possibles."
        kinds = table.kinds.xs(question, level="question")
        answers = [idx for idx, k in kinds.items() if k == "answers"]
        if answers and "Année" not in table.frame.columns.get_level_values(0):
            item, label = answers[0]
            value = table.frame.loc[(question, item, label)].iloc[0]
            line += f" {label} : {fmt_number(value, table.options.mean_digits)}."
        lines.append(line)
    if table.source:
        lines.append(table.source)
    return lines


def _title(table, question, title):
    if title is not None:
        return title
    info = table.questions[question]
    return info.title or info.text or question


def _finish(fig, table, question):
    _footer(fig, _footer_lines(table, question))
    if table.synthetic:
        _mark(fig)
    return fig


def bars(table, *, question=None, column=None, sort=False, title=None, nets=True):
    """Horizontal bars of one column's percentages, with % labels.

    Parameters
    ----------
    table : Table
        A table from :func:`ramlab.crosstab` / :func:`ramlab.banner`.
    question : str, optional
        Question id (default: the first of the table).
    column : tuple, optional
        ``(variable, column)`` (default: the total column).
    sort : bool
        Sort the bars by decreasing percentage (multi-response questions).
    title : str, optional
        Chart title (default: the question's title or wording).
    nets : bool
        Show the nets ("Total Oui") as bars too.
    """
    question = _question(table, question)
    column = column or table.frame.columns[0]
    sub = table.frame.xs(question, level="question")[column]
    kinds = table.kinds.xs(question, level="question")
    keep = kinds.isin(["category", "missing"] + (["net"] if nets else [])).to_numpy()
    values = sub[keep]
    labels = [r if not item else f"{item} : {r}" for item, r in values.index]
    data = pd.DataFrame({"label": labels, "value": values.to_numpy(dtype=float)})
    if sort:
        data = data.sort_values("value", ascending=False, kind="stable")
    n = len(data)
    with house_style():
        fig = _figure(7.0, 1.2 + 0.38 * n + 0.5)
        ax = fig.add_axes([0.38, 0.2, 0.55, 0.68])
        pos = np.arange(n)
        ax.barh(pos, data["value"] * 100, color=PALETTE[0], height=0.65)
        ax.set_yticks(pos, [_plain(lab, 45) for lab in data["label"]])
        ax.invert_yaxis()
        ax.set_xlim(0, max(100.0, float(np.nanmax(data["value"] * 100, initial=0)) * 1.1))
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        for y, v in zip(pos, data["value"]):
            if np.isfinite(v):
                ax.text(v * 100 + 1, y, _plain(fmt_pct(v, table.options.digits)),
                        va="center", ha="left", fontsize=8.5)
        ax.set_title(_plain(_title(table, question, title), 70), loc="left")
        _layout(fig, ax, n_footer=len(_footer_lines(table, question)))
    return _finish(fig, table, question)


def _layout(fig, ax, n_footer):
    height = fig.get_figheight()
    bottom = (0.25 + 0.14 * n_footer) / height
    top = 1 - 0.55 / height
    box = ax.get_position()
    ax.set_position([box.x0, bottom, box.width, max(top - bottom, 0.1)])


def stacked(table, *, question=None, title=None):
    """Stacked 100 % bars of a grid question: one bar per item, answers stacked."""
    question = _question(table, question)
    if table.questions[question].type != "grid":
        raise TableError(f"stacked(): question {question!r} is not a grid")
    grid = table.items_by_answers(question)
    kinds = table.kinds.xs(question, level="question")
    answer_rows = list(dict.fromkeys(
        r for (item, r), k in kinds.items() if k in ("category", "missing")
    ))
    grid = grid[answer_rows].astype(float)
    n = len(grid)
    with house_style():
        fig = _figure(7.5, 1.6 + 0.42 * n + 0.6)
        ax = fig.add_axes([0.38, 0.25, 0.58, 0.6])
        pos = np.arange(n)
        left = np.zeros(n)
        for j, answer in enumerate(answer_rows):
            vals = grid[answer].to_numpy() * 100
            color = PALETTE[j % len(PALETTE)]
            ax.barh(pos, vals, left=left, color=color, height=0.65, label=_plain(answer, 30))
            for y, v, l0 in zip(pos, vals, left):
                if np.isfinite(v) and v >= 5:
                    ax.text(l0 + v / 2, y, _plain(fmt_number(v, 0)), ha="center", va="center",
                            fontsize=8, color="white" if j in (0, 3, 7) else "black")
            left = left + np.nan_to_num(vals)
        ax.set_yticks(pos, [_plain(item, 45) for item in grid.index])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(answer_rows), 3),
                  frameon=False, fontsize=7.5)
        fig.suptitle(_plain(_title(table, question, title), 80), x=0.01, ha="left",
                     fontsize=11, fontweight="bold")
        _layout(fig, ax, n_footer=len(_footer_lines(table, question)) + 1)
        ax.set_position([ax.get_position().x0, ax.get_position().y0, ax.get_position().width,
                         ax.get_position().height * 0.85])
    return _finish(fig, table, question)


def grouped(table, *, question=None, variable=None, title=None, total=True):
    """Grouped horizontal bars of a banner: answers down, one bar per group.

    Parameters
    ----------
    variable : str, optional
        Banner variable to show (default: the first one).
    total : bool
        Include the total column ("Ensemble").
    """
    import seaborn as sns

    question = _question(table, question)
    variables = [c.variable for c in table.columns[1:]]
    if not variables:
        raise TableError("grouped(): the table has no banner variable")
    variable = variable or variables[0]
    if variable not in variables:
        raise TableError(f"grouped(): {variable!r} is not a banner variable of this table")
    cols = [c for c in table.frame.columns if c[0] == variable]
    if total:
        cols = [table.frame.columns[0]] + cols
    sub = table.frame.xs(question, level="question")[cols]
    kinds = table.kinds.xs(question, level="question")
    sub = sub[kinds.isin(["category", "missing", "net"]).to_numpy()]
    rows = [r if not item else f"{item} : {r}" for item, r in sub.index]
    long = pd.DataFrame(
        {
            "answer": np.repeat([_plain(r, 40) for r in rows], len(cols)),
            "group": [_plain(c[1], 30) for _ in rows for c in cols],
            "value": sub.to_numpy(dtype=float).ravel() * 100,
        }
    )
    n = len(rows)
    palette = _palette(len(cols))
    with house_style():
        fig = _figure(9.0, 1.4 + 0.2 * n * len(cols) + 0.6)
        ax = fig.add_axes([0.3, 0.2, 0.45, 0.65])
        sns.barplot(data=long, y="answer", x="value", hue="group", ax=ax, orient="h",
                    palette=palette, errorbar=None, legend=True, saturation=1)
        for container in ax.containers:
            labels = [_plain(fmt_pct(v / 100, 0)) if np.isfinite(v) else "" for v in container.datavalues]
            ax.bar_label(container, labels=labels, fontsize=7, padding=2)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        ax.set_xlim(0, 110)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=1,
                  frameon=False, fontsize=7.5, title=None)
        fig.suptitle(_plain(_title(table, question, title), 80), x=0.01, ha="left",
                     fontsize=11, fontweight="bold")
        _layout(fig, ax, n_footer=len(_footer_lines(table, question)))
    return _finish(fig, table, question)


def _palette(k):
    """The house palette for k series; beyond its 8 colours, the cividis map
    (designed for colour-vision deficiencies, Nuñez et al. 2018)."""
    if k <= len(PALETTE):
        return PALETTE[:k]
    from matplotlib import colormaps

    cmap = colormaps["cividis"]
    return [cmap(x) for x in np.linspace(0.0, 0.95, k)]


def lines(table, *, question=None, rows=None, title=None):
    """Lines across years of a trend table (:func:`ramlab.tables.trend`).

    Parameters
    ----------
    rows : list of str, optional
        Answers to draw (default: the answers and nets).
    """
    question = _question(table, question)
    years = [c for c in table.frame.columns if c[0] == "Année"]
    if len(years) < 2:
        raise TableError("lines(): the table is not a trend (needs columns per year)")
    sub = table.frame.xs(question, level="question")[years]
    kinds = table.kinds.xs(question, level="question")
    sub = sub[kinds.isin(["category", "missing", "net"]).to_numpy()]
    if rows is not None:
        sub = sub[[r in rows for _, r in sub.index]]
    x = [int(c[1]) if str(c[1]).isdigit() else c[1] for c in years]
    with house_style():
        fig = _figure(7.0, 4.2)
        ax = fig.add_axes([0.1, 0.25, 0.62, 0.6])
        for k, ((item, r), values) in enumerate(sub.iterrows()):
            label = r if not item else f"{item} : {r}"
            v = values.to_numpy(dtype=float) * 100
            color = PALETTE[k % len(PALETTE)]
            ax.plot(x, v, marker="o", color=color, label=_plain(label, 30))
            for xi, vi in zip(x, v):
                if np.isfinite(vi):
                    ax.annotate(_plain(fmt_pct(vi / 100, 0)), (xi, vi), textcoords="offset points",
                                xytext=(0, 6), ha="center", fontsize=7.5, color=color)
        ax.set_xticks(x, [_plain(str(c)) for c in x])
        ax.set_ylim(0, 105)
        ax.set_ylabel("%")
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=7.5)
        ax.set_title(_plain(_title(table, question, title), 70), loc="left")
        _layout(fig, ax, n_footer=len(_footer_lines(table, question)))
    return _finish(fig, table, question)


def save(fig, path, *, synthetic=None, dpi=200):
    """Save a chart as PNG for slides.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
    synthetic : bool, optional
        Add the "Données synthétiques" mark (charts built from a synthetic
        table already carry it; True adds it to any figure).
    dpi : int
    """
    if synthetic:
        _mark(fig)
    with house_style():
        fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None},
                    facecolor="white")
    return path
