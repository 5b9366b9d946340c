"""Report charts for banner tables, in one house style (matplotlib).

Every chart function takes a :class:`ramlab.tables.Table` and returns a
:class:`Chart`: a matplotlib figure (built without pyplot), its alternative
text, and the values it draws, which are the table's own (tests compare them).
A chart shows in a notebook, and in the HTML report, as an ``<img>`` holding an
SVG data URI with that alternative text. Every chart has:

* a colour-blind-safe palette (Okabe & Ito 2008, "Color Universal Design");
* French number format on the labels (``73 %``);
* text of 10 pt or more at its own width, 6.3 in (160 mm): the width of the
  A4 content box less a margin, so that a printed chart is not scaled down;
* the base of the figures it shows (after "Ne sait pas" is set aside: the
  table's "Base pondérée" row) and the source line under the chart;
* the mark "Données synthétiques" when the table was built on synthetic data;
* byte-identical output from one build to the next (``svg.hashsalt`` and no
  date in the SVG metadata).

Which chart a question gets is chosen by :func:`auto`: one diverging bar per
item for an agree/disagree scale (the nets as labels, never as bars), stacked
bars for other grids, sorted bars for lists of answers, a sorted dot plot of
one summary figure with its 95 % interval for the groups of a breakdown, and
nothing for a question of two answers (its table says it all).

Labels are plain text: a ``$`` in a label is escaped so that matplotlib never
reads it as mathematics, and TeX rendering is off.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ramlab.errors import TableError
from ramlab.format import fmt_int, fmt_number, fmt_pct

__all__ = [
    "PALETTE", "SYNTHETIC_MARK", "Chart", "auto", "bars", "diverging", "stacked", "dots",
    "grouped", "lines", "compared", "logit_interval", "save", "house_style",
]

#: Okabe-Ito colour-blind-safe palette (blue first: the house colour).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
#: Positive answers dark to light blue, negative answers dark to light orange (diverging bars).
_POSITIVE = ["#08519C", "#6BAED6", "#C6DBEF"]
_NEGATIVE = ["#A63603", "#FD8D3C", "#FDD0A2"]
#: Text of the mark on charts built on synthetic data.
SYNTHETIC_MARK = "Données synthétiques"
_MARK_GID = "ramlab-synthetic-mark"
#: Figure width in inches: 160 mm, inside the A4 content box (170 mm at 20 mm margins).
WIDTH = 6.3
#: Smallest text size, in points, at that width.
MIN_POINTS = 10
#: Breakdown groups up to this number still get a chart; beyond, a dot plot is sorted anyway.
_ALPHA = 0.05

_RC = {
    "text.usetex": False,
    "text.parse_math": True,  # with every "$" escaped, nothing is mathematics
    "font.family": "DejaVu Sans",
    "font.size": MIN_POINTS,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "xtick.labelsize": MIN_POINTS,
    "ytick.labelsize": MIN_POINTS,
    "legend.fontsize": MIN_POINTS,
    "svg.hashsalt": "ramlab",
    "svg.fonttype": "path",  # the reader's browser may lack DejaVu Sans: draw the glyphs
}


class _TextPaths:
    """Text layouts and glyph outlines shared by every chart's SVG encoding.

    With ``svg.fonttype="path"`` matplotlib lays each text out and extracts
    its glyph outlines again in every figure (a new ``TextToPath`` per
    renderer): a third of a report's chart time. This one keeps them for the
    life of the process, keyed by the text and the font; the SVG bytes are
    the same (the renderer still writes each figure's own glyph definitions).
    Made lazily by :func:`_shared_text_paths`, used only while
    :meth:`Chart.to_svg` encodes.
    """

    def __init__(self):
        from matplotlib.textpath import TextToPath

        self._base = TextToPath()
        self._metrics = {}
        self._glyphs = {}

    def __getattr__(self, name):  # mathtext parser, font lookup, hinting flag: matplotlib's own
        return getattr(self._base, name)

    def get_text_width_height_descent(self, s, prop, ismath):
        key = (s, ismath, tuple(prop.get_family()), prop.get_style(), prop.get_variant(),
               prop.get_weight(), prop.get_stretch(), prop.get_size_in_points(), prop.get_file(),
               prop.get_math_fontfamily())
        if key not in self._metrics:
            self._metrics[key] = self._base.get_text_width_height_descent(s, prop, ismath)
        return self._metrics[key]

    def get_glyphs_with_font(self, font, s, glyph_map=None, return_new_glyphs_only=False, *,
                             features=None, language=None):
        key = (font.fname, s, None if features is None else tuple(features), language)
        hit = self._glyphs.get(key)
        if hit is None or hit[0] is not font:  # the font object is kept: the key stays its own
            info, paths, _ = self._base.get_glyphs_with_font(font, s, features=features, language=language)
            hit = self._glyphs[key] = (font, info, paths)
        _, info, paths = hit
        glyph_map = {} if glyph_map is None else glyph_map
        new = {} if return_new_glyphs_only else glyph_map
        for glyph, *_ in info:  # outlines this figure has not defined yet, in order of use
            if glyph not in glyph_map and glyph not in new:
                new[glyph] = paths[glyph]
        return list(info), new, []


_TEXT_PATHS = []


@contextmanager
def _shared_text_paths():
    """Renderers made in this context use the process's :class:`_TextPaths`."""
    import matplotlib.text

    if not _TEXT_PATHS:
        _TEXT_PATHS.append(_TextPaths())
    made = matplotlib.text.TextToPath  # what RendererBase.__init__ calls
    matplotlib.text.TextToPath = lambda: _TEXT_PATHS[0]
    try:
        yield
    finally:
        matplotlib.text.TextToPath = made


@contextmanager
def house_style():
    """Context in which ramlab charts are drawn (palette, fonts, no TeX, stable SVG ids)."""
    import matplotlib as mpl
    from cycler import cycler

    rc = dict(_RC)
    rc["axes.prop_cycle"] = cycler(color=PALETTE)
    with mpl.rc_context(rc):
        yield


# ---------------------------------------------------------------------------
# The chart object


@dataclass(eq=False)
class Chart:
    """A drawn chart: the figure, its alternative text and the values it shows.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    alt : str
        French alternative text: what the chart shows, with its main figures.
    values : pandas.Series
        The drawn values in the table's units (proportions 0-1, or means),
        indexed by the bar, dot or point they are drawn as.
    kind : str
        "bars", "diverging", "stacked", "dots", "grouped", "lines" or "compared".
    """

    figure: object
    alt: str
    values: pd.Series
    kind: str
    _svg: str | None = field(default=None, repr=False)

    def to_svg(self) -> str:
        """The chart as SVG text, the same bytes on every build."""
        if self._svg is None:
            buffer = io.StringIO()
            with house_style(), _shared_text_paths():
                self.figure.savefig(buffer, format="svg", metadata={"Date": None},
                                    facecolor="white")
            self._svg = buffer.getvalue()
        return self._svg

    def to_html(self) -> str:
        """``<figure>`` with the chart as an ``<img>`` of an SVG data URI, with its alt text."""
        data = base64.b64encode(self.to_svg().encode("utf-8")).decode("ascii")
        width, height = (round(v * 96) for v in self.figure.get_size_inches())
        return (
            # A scroll box on a phone (ramlab.css): focusable, as axe-core asks of one.
            f'<figure class="ramlab-chart ramlab-scroll" tabindex="0">'
            f'<img src="data:image/svg+xml;base64,{data}" '
            f'alt="{html.escape(self.alt)}" width="{width}" height="{height}"></figure>'
        )

    def _repr_html_(self):
        return self.to_html()

    def __repr__(self):
        return f"<Chart {self.kind}: {self.alt[:60]}>"


def _plain(text, width=None):
    """Escape "$" so that matplotlib shows it literally; optionally wrap."""
    text = "" if text is None else str(text)
    if width:
        text = "\n".join(textwrap.wrap(text, width)) or text
    return text.replace("\\$", "$").replace("$", "\\$")


def _figure(height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), dpi=96)
    FigureCanvasAgg(fig)  # a renderer to measure labels with
    return fig


def _mark(fig):
    if any(t.get_gid() == _MARK_GID for t in fig.texts):
        return
    t = fig.text(0.99, 0.995, SYNTHETIC_MARK, ha="right", va="top", fontsize=MIN_POINTS,
                 color="#B00000", fontstyle="italic")
    t.set_gid(_MARK_GID)


def _question(table, question):
    if question is None:
        return next(iter(table.questions))
    if question not in table.questions:
        raise TableError(f"question {question!r} is not in this table")
    return question


def _rows(table, question, kinds, column=None):
    """Rows of one question of the given kinds: (item, row) -> value of `column` (total)."""
    column = column or table.frame.columns[0]
    sub = table.frame.xs(question, level="question")[column]
    kind = table.kinds.xs(question, level="question")
    return sub[kind.isin(kinds).to_numpy()].astype(float)


def _title(table, question, title):
    if title is not None:
        return title
    info = table.questions[question]
    return info.title or info.text or question


# ---------------------------------------------------------------------------
# Footer: the base of the figures shown, notes, source


def _base_line(table, question, column=None):
    """"Base : <label> (<weighted base> <unit> ; <n> répondants)", from the table's base rows.

    The table's "Base pondérée" row is the base of its percentages, after the
    answers set aside ("Ne sait pas") are removed; the spec's base line is not.
    A grid whose items have different bases gives the range.
    """
    info = table.questions[question]
    weighted = _rows(table, question, ["base"], column).dropna().to_numpy()
    counts = _rows(table, question, ["n"], column).dropna().to_numpy()
    label = info.base_label or "Ensemble"
    unit = info.unit or ""
    if not len(weighted):
        return info.base_line
    if np.ptp(weighted) < 0.5:
        shown = f"{fmt_int(weighted[0])} {unit}".strip()
    else:
        shown = f"de {fmt_int(weighted.min())} à {fmt_int(weighted.max())} {unit}".strip()
    n = (fmt_int(counts[0]) if len(counts) and np.ptp(counts) == 0
         else f"{fmt_int(counts.min())} à {fmt_int(counts.max())}" if len(counts) else "")
    return f"Base : {label} ({shown}{' ; ' + n + ' répondants' if n else ''})"


def _footer_lines(table, question, column=None, extra=()):
    info = table.questions[question]
    lines = [_base_line(table, question, column)]
    if info.missing_note:
        lines.append(info.missing_note)
    if info.type == "multi" and "Année" not in table.frame.columns.get_level_values(0):
        line = "Plusieurs réponses possibles."
        answers = _rows(table, question, ["answers"], column)
        if len(answers):
            (_, label), value = next(iter(answers.items()))
            line += f" {label} : {fmt_number(value, table.options.mean_digits)}."
        lines.append(line)
    lines.extend(extra)
    if table.source:
        lines.append(table.source)
    return [line for line in lines if line]


def _footer_text(lines):
    """The footer's wrapped text and its height in inches."""
    text = "\n".join(_plain(line, 80) for line in lines)
    return text, 0.25 + 0.19 * (text.count("\n") + 1)


def _footer(fig, table, text):
    """The footer at the foot of the figure, and the synthetic mark."""
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=MIN_POINTS, color="#333333",
             linespacing=1.25)
    if table.synthetic:
        _mark(fig)


def _finish(fig, ax, table, question, lines, *, top=0.55):
    """Footer under the axes, synthetic mark; the axes fill what is left."""
    text, footer = _footer_text(lines)
    _footer(fig, table, text)
    height = fig.get_figheight()
    bottom = footer / height
    box = ax.get_position()
    ax.set_position([box.x0, bottom, box.width, max(1 - top / height - bottom, 0.08)])
    return fig


def _title_text(fig, text):
    fig.text(0.01, 1 - 0.1 / fig.get_figheight(), _plain(text, 70), ha="left", va="top",
             fontsize=11.5, fontweight="bold")


def _alt(kind, title, parts, base):
    figures = " ; ".join(parts)
    return f"{kind} : {title}. {figures}. {base}".replace("..", ".")


def _labels(index):
    return [r if not item else f"{item} : {r}" for item, r in index]


def _height(n_rows, n_footer, per_row=0.36, extra=0.0):
    return 0.9 + per_row * n_rows + 0.21 * n_footer + extra


# ---------------------------------------------------------------------------
# Single question, total column


def bars(table, *, question=None, column=None, sort=None, title=None):
    """Horizontal bars of the answers of one column, with % labels (nets are not drawn).

    Parameters
    ----------
    table : Table
        A table from :func:`ramlab.crosstab` / :func:`ramlab.banner`.
    question : str, optional
        Question id (default: the first of the table).
    column : tuple, optional
        ``(variable, column)`` (default: the total column).
    sort : bool, optional
        Sort the bars by decreasing percentage (default: for multi-response questions).
    title : str, optional
        Chart title (default: the question's title or wording).

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, charts, crosstab
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "NSP", "Oui", "Oui", "Non"]),
    ...                    "g": pd.Categorical(["a", "a", "a", "b", "b", "b"])})
    >>> t = crosstab(Design(df), "q", "g", min_base=0, chisq=False)
    >>> chart = charts.bars(t)
    >>> chart.kind, chart.alt.startswith("Graphique en barres : q. NSP 17")
    ('bars', True)
    """
    question = _question(table, question)
    info = table.questions[question]
    values = _rows(table, question, ["category", "missing"], column)
    if sort is None:
        sort = info.type == "multi"
    labels = _labels(values.index)
    data = pd.Series(values.to_numpy(), index=labels)
    if sort:
        data = data.sort_values(ascending=False, kind="stable")
    lines = _footer_lines(table, question, column)
    n = len(data)
    with house_style():
        fig = _figure(_height(n, len(lines) + 1))
        ax = fig.add_axes([0.4, 0.2, 0.5, 0.7])
        pos = np.arange(n)
        ax.barh(pos, data.to_numpy() * 100, color=PALETTE[0], height=0.65)
        ax.set_yticks(pos, [_plain(lab, 30) for lab in data.index])
        ax.invert_yaxis()
        ax.set_xlim(0, max(100.0, float(np.nanmax(data.to_numpy() * 100, initial=0)) * 1.12))
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        digits = table.options.digits
        for y, v in zip(pos, data.to_numpy()):
            if np.isfinite(v):
                ax.text(v * 100 + 1, y, _plain(fmt_pct(v, digits)), va="center", ha="left")
        _title_text(fig, _title(table, question, title))
        _finish(fig, ax, table, question, lines)
    parts = [f"{lab} {fmt_pct(v, digits)}" for lab, v in data.items() if np.isfinite(v)]
    alt = _alt("Graphique en barres", _title(table, question, title), parts, lines[0])
    return Chart(fig, alt, data, "bars")


def _diverging_split(table, question):
    """(positive net, negative net, number of positive answers) when the question's two
    nets split its answers in two in order (an agree/disagree scale), else None."""
    nets = _rows(table, question, ["net"])
    cats = _rows(table, question, ["category"])
    items = list(dict.fromkeys(cats.index.get_level_values(0)))
    item_nets = nets[nets.index.get_level_values(0) == items[0]]
    item_cats = cats[cats.index.get_level_values(0) == items[0]].to_numpy()
    if len(item_nets) != 2 or len(item_cats) < 2:
        return None
    first, second = item_nets.to_numpy()
    for m in range(1, len(item_cats)):
        if (abs(item_cats[:m].sum() - first) < 1e-9
                and abs(item_cats[m:].sum() - second) < 1e-9):
            labels = [row for _, row in item_nets.index]
            return labels[0], labels[1], m
    return None


def diverging(table, *, question=None, title=None):
    """One diverging bar per item of an agree/disagree scale, the nets as labels.

    Positive answers go right of zero, negative answers left; "Total Oui" and
    "Total Non" are written at the ends of the bar, never drawn as bars, so a
    bar spans 100 % of its base. A single-question scale gives one bar.

    Examples
    --------
    >>> from ramlab import charts, crosstab, load_survey
    >>> survey = load_survey("associations", 2021)
    >>> chart = charts.diverging(crosstab(survey, "q2"))
    >>> chart.kind, chart.alt.startswith("Barres divergentes : L'utilité")
    ('diverging', True)
    """
    question = _question(table, question)
    split = _diverging_split(table, question)
    if split is None:
        raise TableError(f"diverging(): question {question!r} has no pair of nets "
                         "splitting its answers (agree / disagree)")
    positive, negative, m = split
    items, answers, grid = _grid(table, question, ["category"])
    nets = _rows(table, question, ["net"])
    net_pos = nets.xs(positive, level=1).loc[items]
    net_neg = nets.xs(negative, level=1).loc[items]
    digits = table.options.digits
    lines = _footer_lines(table, question)
    n = len(items)
    with house_style():
        fig = _figure(_height(n, len(lines) + 2, per_row=0.5, extra=0.3))
        ax = fig.add_axes([0.36 if any(items) else 0.06, 0.2, 0.56 if any(items) else 0.84, 0.6])
        _draw_diverging(ax, grid, answers, m, [(positive, net_pos), (negative, net_neg)],
                        digits, symmetric=n == 1 or not any(items))
        _bar_axes(ax, [_plain(item, 26) for item in items] if any(items) else [""] * n,
                  hide=("bottom", "left"))
        handles, names = ax.get_legend_handles_labels()
        order = [names.index(_plain(a)) for a in answers]
        ax.legend([handles[i] for i in order], [names[i] for i in order], loc="lower left",
                  bbox_to_anchor=(0, 1.0), ncol=2, frameon=False, handlelength=1, columnspacing=1)
        _title_text(fig, _title(table, question, title))
        _finish(fig, ax, table, question, lines, top=0.45 + 0.25 * ((len(answers) + 1) // 2))
    values = pd.concat({"answers": grid.stack(), "nets": pd.concat({positive: net_pos,
                                                                    negative: net_neg})})
    parts = [
        (f"{item} : " if item else "") + f"{positive} {fmt_pct(p, digits)}, "
        f"{negative} {fmt_pct(q_, digits)}" for item, p, q_ in zip(items, net_pos, net_neg)
    ]
    alt = _alt("Barres divergentes", _title(table, question, title), parts, lines[0])
    return Chart(fig, alt, values, "diverging")


def _grid(table, question, kinds):
    """``(items, answers, grid)``: the rows of the given kinds as an items x answers frame."""
    cats = _rows(table, question, kinds)
    items = list(dict.fromkeys(cats.index.get_level_values(0)))
    answers = list(dict.fromkeys(cats.index.get_level_values(1)))
    return items, answers, cats.unstack(1).loc[items, answers]


def _draw_diverging(ax, grid, answers, m, nets, digits, *, symmetric):
    """The bars of a diverging chart: the first `m` answers right of zero, the others left,
    the two nets (``[(name, values)]``, positive first) written at the bars' ends."""
    pos = np.arange(len(grid))
    colours = _POSITIVE[:m][::-1] + _NEGATIVE[: len(answers) - m]
    colours = dict(zip(answers[:m][::-1] + answers[m:], colours))
    # Positive answers from zero outwards, the strongest next to the label at the end.
    left = _segments(ax, pos, grid, answers[:m][::-1], colours, height=0.6)
    right = _segments(ax, pos, grid, answers[m:], colours, height=0.6, sign=-1)
    (positive, net_pos), (negative, net_neg) = nets
    for y, p, q_, lp, rn in zip(pos, net_pos, net_neg, left, right):
        ax.text(lp + 1.5, y, _plain(f"{positive}\n{fmt_pct(p, digits)}"), va="center",
                ha="left", fontweight="bold", color=_POSITIVE[0])
        ax.text(-rn - 1.5, y, _plain(f"{negative}\n{fmt_pct(q_, digits)}"), va="center",
                ha="right", fontweight="bold", color=_NEGATIVE[0])
    ax.axvline(0, color="#333333", linewidth=0.8)
    reach = max(float(np.nanmax(left, initial=0)), float(np.nanmax(right, initial=0)))
    if symmetric:
        ax.set_xlim(-reach - 45, reach + 45)
    else:
        ax.set_xlim(-float(np.nanmax(right)) - 45, float(np.nanmax(left)) + 45)


def _segments(ax, pos, grid, answers, colours, *, height, sign=1):
    """The answers' bars stacked from zero, rightwards (`sign` 1) or leftwards (-1), each
    with its % inside and its legend entry; returns how far each stack reaches from zero."""
    reach = np.zeros(len(pos))
    for answer in answers:
        width = grid[answer].to_numpy() * 100
        ax.barh(pos, sign * width, left=sign * reach, color=colours[answer], height=height,
                label=_plain(answer))
        _segment_labels(ax, pos, reach if sign > 0 else -reach - width, width, colours[answer])
        reach = reach + np.nan_to_num(width)
    return reach


def _bar_axes(ax, labels, *, hide):
    """Horizontal bars' axes: the labels on the left, no ticks, no x axis, `hide` spines."""
    ax.set_yticks(np.arange(len(labels)), labels)
    ax.tick_params(axis="y", length=0)
    ax.invert_yaxis()
    ax.xaxis.set_visible(False)
    for side in hide:
        ax.spines[side].set_visible(False)


def _segment_labels(ax, pos, left, width, colour):
    """The % of each segment inside it, when it is wide enough to hold it."""
    dark = colour in (_POSITIVE[0], _NEGATIVE[0], _POSITIVE[1])
    for y, l0, w in zip(pos, left, width):
        if np.isfinite(w) and w >= 7:
            ax.text(l0 + w / 2, y, fmt_number(w, 0), ha="center", va="center",
                    color="white" if dark else "black")


def stacked(table, *, question=None, title=None):
    """Stacked 100 % bars of a grid question: one bar per item, answers stacked.

    A net of the question is written at the end of each bar, not drawn.

    Examples
    --------
    >>> from ramlab import charts, crosstab, load_survey
    >>> survey = load_survey("associations", 2021)
    >>> chart = charts.stacked(crosstab(survey, "q6"))
    >>> chart.kind, chart.alt.startswith("Barres empilées : Vos partenaires")
    ('stacked', True)
    """
    question = _question(table, question)
    if table.questions[question].type != "grid":
        raise TableError(f"stacked(): question {question!r} is not a grid")
    if len(table.columns) > 1:  # the bars show the total column only: say so, drop nothing
        raise TableError(
            f"stacked(): the table is broken down by {table.columns[1].variable!r}, which "
            "stacked bars of the total cannot show; draw the total (crosstab without a "
            "breakdown) or the groups with charts.grouped(table)"
        )
    items, answers, grid = _grid(table, question, ["category", "missing"])
    nets = _rows(table, question, ["net"])
    net_names = list(dict.fromkeys(nets.index.get_level_values(1)))[:1]
    digits = table.options.digits
    lines = _footer_lines(table, question)
    n = len(items)
    palette = ["#0072B2", "#56B4E9", "#BBBBBB", "#E69F00", "#CC79A7", "#009E73", "#D55E00"]
    colours = {answer: palette[j % len(palette)] for j, answer in enumerate(answers)}
    with house_style():
        fig = _figure(_height(n, len(lines) + 2, per_row=0.45, extra=0.3))
        ax = fig.add_axes([0.34, 0.2, 0.5, 0.6])
        pos = np.arange(n)
        _segments(ax, pos, grid, answers, colours, height=0.62)
        if net_names:
            for y, v in zip(pos, nets.xs(net_names[0], level=1).loc[items]):
                ax.text(101.5, y, _plain(fmt_pct(v, digits)), va="center", ha="left",
                        fontweight="bold")
            ax.text(101.5, -0.55, _plain(net_names[0], 11), va="bottom", ha="left",
                    fontweight="bold")
        _bar_axes(ax, [_plain(item, 30) for item in items], hide=("bottom",))
        ax.set_xlim(0, 100)
        wide = len(answers) > 4 or max(map(len, answers)) > 24
        ax.legend(loc="lower left", bbox_to_anchor=(-0.55, 1.0 + 0.35 / (n + 1)),
                  ncol=1 if wide else 2, frameon=False, handlelength=1)
        _title_text(fig, _title(table, question, title))
        legend_rows = len(answers) if wide else (len(answers) + 1) // 2
        _finish(fig, ax, table, question, lines, top=0.75 + 0.22 * legend_rows)
    values = grid.stack()
    first = answers[0]
    parts = [f"{item} : {first} {fmt_pct(v, digits)}" for item, v in grid[first].items()]
    alt = _alt("Barres empilées", _title(table, question, title), parts, lines[0])
    return Chart(fig, alt, values, "stacked")


# ---------------------------------------------------------------------------
# Breakdowns: one summary figure per group


def logit_interval(p, se, df=np.inf, level=0.95):
    """Confidence interval of a proportion on the logit scale, inside [0, 1].

    ``expit(logit(p) ± t * se / (p (1 - p)))``: R ``svyciprop(method = "logit")``,
    whose svyglm standard error of the logit is the delta-method ``se / (p (1 - p))``.
    A proportion of 0 or 1 gives the degenerate interval at that value.

    Examples
    --------
    >>> from ramlab import charts
    >>> low, high = charts.logit_interval([0.02, 0.5], [0.03, 0.1])
    >>> low.round(4).tolist(), high.round(4).tolist()  # the first stays above 0
    ([0.001, 0.3135], [0.2907, 0.6865])
    """
    from scipy import stats

    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    q = stats.t.ppf(0.5 + level / 2, df) if np.isfinite(df) else stats.norm.ppf(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.log(p / (1 - p))
        half = q * se / (p * (1 - p))
        low = 1 / (1 + np.exp(-(eta - half)))
        high = 1 / (1 + np.exp(-(eta + half)))
    edge = (p <= 0) | (p >= 1)
    return np.where(edge, p, low), np.where(edge, p, high)


def summary_row(table, question):
    """The figure a breakdown chart shows for a question: its first net (an agree
    scale's "Total Oui"), else its mean number of answers, else its first answer."""
    kinds = table.kinds.xs(question, level="question")
    for kind in ("net", "answers", "category"):
        found = [idx for idx, k in kinds.items() if k == kind]
        if found:
            return found[0], kind
    raise TableError(f"question {question!r} has no row to chart")


def _versus_total(table, question, key, columns):
    """Design-based t tests of each group against the whole base (Holm-adjusted p).

    The group is a domain of the total: the contrast's gradient is the group's
    minus the total's, with the question's joint covariance of totals.
    """
    from scipy import stats

    cov = table.covariance.get(question)
    if cov is None or key not in cov.rows:
        return np.full(len(columns), np.nan)
    all_columns = list(table.frame.columns)
    values = table.frame.loc[(question, *key)]
    p = []
    for column in columns:
        se = float(np.sqrt(cov.variance([(1, key, all_columns.index(column)), (-1, key, 0)])))
        diff = float(values[column] - values.iloc[0])
        p.append(2 * stats.t.sf(abs(diff / se), table.options.df) if se > 0 else np.nan)
    p = np.asarray(p)
    ok = np.isfinite(p)
    adjusted = np.full(len(p), np.nan)
    if ok.any():  # Holm (1979): step-down, monotone
        order = np.argsort(p[ok])
        k = ok.sum()
        steps = np.maximum.accumulate(np.minimum(1.0, (k - np.arange(k)) * p[ok][order]))
        adjusted_ok = np.empty(k)
        adjusted_ok[order] = steps
        adjusted[ok] = adjusted_ok
    return adjusted


def dots(table, *, question=None, variable=None, title=None, low_base=75):
    """Sorted dot plot of one summary figure per group of a breakdown, with its 95 % interval.

    The figure is :func:`summary_row` (a net, the mean number of answers, or the
    first answer). Each dot carries its confidence interval (logit scale for a
    proportion, so it stays inside [0, 1]); a vertical line marks the whole
    base. Filled dots differ significantly from the whole base (design-based t
    test, Holm correction across the groups, 5 %); hollow dots do not. Groups
    the table hides (small bases) are not drawn and are named in the footer;
    groups flagged as small are marked with "*", and groups of fewer than `low_base`
    respondents (spec: ``report.low_base_below``) "(base faible)", as in the tables.

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, charts, crosstab
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "NSP", "Oui", "Oui", "Non"]),
    ...                    "g": pd.Categorical(["a", "a", "a", "b", "b", "b"])})
    >>> t = crosstab(Design(df), "q", "g", min_base=0, chisq=False)
    >>> chart = charts.dots(t, variable="g", low_base=0)
    >>> chart.kind, chart.alt.startswith("Points classés : q : NSP, par g.")  # its first answer
    ('dots', True)
    """
    question = _question(table, question)
    variables = list(dict.fromkeys(c.variable for c in table.columns[1:]))
    if not variables:
        raise TableError("dots(): the table has no banner variable")
    variable = variable or variables[0]
    if variable not in variables:
        raise TableError(f"dots(): {variable!r} is not a banner variable of this table")
    key, kind = summary_row(table, question)
    columns = [c for c in table.frame.columns if c[0] == variable]
    total_col = table.frame.columns[0]
    row = table.frame.loc[(question, *key)]
    se = table.se.loc[(question, *key)]
    small = table.small.loc[(question, *key)]
    shown = [c for c in columns if np.isfinite(row[c])]
    hidden = [c[1] for c in columns if not np.isfinite(row[c])]
    p_adj = _versus_total(table, question, key, shown)
    proportion = kind != "answers"
    values = row[shown].astype(float)
    order = np.argsort(-values.to_numpy(), kind="stable")
    shown = [shown[i] for i in order]
    p_adj = p_adj[order]
    values = values[shown]
    low, high = _dots_interval(values.to_numpy(), se[shown].to_numpy(dtype=float),
                               table.options.df, proportion)
    digits = table.options.digits if proportion else table.options.mean_digits
    fmt = (lambda v: fmt_pct(v, digits)) if proportion else (lambda v: fmt_number(v, digits))
    significant = np.nan_to_num(p_adj, nan=1.0) < _ALPHA
    flagged = [bool(small[c]) for c in shown]
    counts = table.frame.xs(question, level="question")[shown][
        (table.kinds.xs(question, level="question") == "n").to_numpy()].min()
    weak = [not f and counts[c] < low_base for c, f in zip(shown, flagged)]
    label_of = {c: c[1] + (" *" if f else " (base faible)" if w else "")
                for c, f, w in zip(shown, flagged, weak)}
    variable_label = next(c.variable_label for c in table.columns if c.variable == variable)
    figure_label = key[1] if not key[0] else f"{key[0]} : {key[1]}"
    chart_title = f"{_title(table, question, title)} : {figure_label}, par {variable_label.lower()}"
    extra = _dots_notes(table, proportion, flagged, weak, hidden, low_base)
    lines = _footer_lines(table, question, total_col, extra)
    n = len(shown)
    total = float(row[total_col])
    with house_style():
        fig = _figure(_height(n, len(lines) + 3, per_row=0.3, extra=0.2))
        ax = fig.add_axes([0.36, 0.2, 0.5, 0.6])
        _draw_dots(ax, values.to_numpy(), low, high, significant, total=total,
                   labels=[label_of[c] for c in shown], fmt=fmt, proportion=proportion)
        _title_text(fig, chart_title)
        _finish(fig, ax, table, question, lines, top=0.75)
    data = pd.Series(values.to_numpy(), index=[c[1] for c in shown])
    parts = [f"{label_of[c]} {fmt(v)}" + (" (significatif)" if s else "")
             for c, v, s in zip(shown, values.to_numpy(), significant)]
    alt = _alt("Points classés", chart_title, [f"Ensemble {fmt(total)}"] + parts, lines[0])
    chart = Chart(fig, alt, data, "dots")
    chart.intervals = pd.DataFrame({"low": low, "high": high}, index=data.index)
    chart.significant = pd.Series(significant, index=data.index)
    return chart


def _dots_interval(values, se, df, proportion):
    """95 % interval of each dot: logit scale for a proportion (inside [0, 1]), t otherwise."""
    df = df if np.isfinite(df) else np.inf
    if proportion:
        return logit_interval(values, se, df)
    from scipy import stats

    q = stats.t.ppf(0.975, df)
    return values - q * se, values + q * se


def _dots_notes(table, proportion, flagged, weak, hidden, low_base):
    """The footer notes of a dot plot: the marks, small and hidden groups."""
    extra = [
        "● différence significative avec l'ensemble (test t sur le plan de sondage, p < 0,05 "
        "après correction de Holm) ; ○ différence non significative. Traits : intervalle de "
        "confiance à 95 %." + (" Intervalle logit (R svyciprop)." if proportion else "")
    ]
    if any(flagged):
        extra.append(f"* base inférieure à {table.options.min_base} répondants.")
    if any(weak):
        extra.append(f"Base faible : groupe de moins de {low_base} répondants, résultat à lire "
                     "avec prudence.")
    if hidden:
        extra.append(f"Non affichés (base inférieure à {table.options.min_base} "
                     f"répondants) : {', '.join(hidden)}.")
    return extra


def _draw_dots(ax, values, low, high, significant, *, total, labels, fmt, proportion):
    """Dots (filled: significant), their intervals, the whole base's line and the labels."""
    n = len(values)
    scale = 100 if proportion else 1
    pos = np.arange(n)
    ax.hlines(pos, low * scale, high * scale, color="#7A8894", linewidth=1.6)
    ax.scatter(values[significant] * scale, pos[significant], s=42,
               color=PALETTE[0], zorder=3)
    ax.scatter(values[~significant] * scale, pos[~significant], s=42,
               facecolor="white", edgecolor=PALETTE[0], linewidth=1.5, zorder=3)
    ax.axvline(total * scale, color="#333333", linestyle="--", linewidth=1)
    ax.text(total * scale, -0.9, _plain(f"Ensemble {fmt(total)}"), ha="center", va="bottom",
            color="#333333")
    for y, v, h in zip(pos, values, high):
        ax.text(h * scale, y, "  " + _plain(fmt(v)), va="center", ha="left")
    ax.set_yticks(pos, [_plain(label, 30) for label in labels])
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(n - 0.5, -1.2)
    lo = float(np.nanmin(low, initial=total)) * scale
    hi = float(np.nanmax(high, initial=total)) * scale
    pad = (hi - lo) * 0.08 + (2 if proportion else 0.05)
    ax.set_xlim(max(lo - pad, 0) if proportion else lo - pad,
                min(hi + pad * 3, 100) if proportion else hi + pad * 3)
    if proportion:
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0f}\u202f%"))
    ax.grid(axis="x", color="#E5E8EB", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.spines["left"].set_visible(False)


def grouped(table, *, question=None, variable=None, title=None):
    """A breakdown chart: :func:`dots` (kept under its former name)."""
    return dots(table, question=question, variable=variable, title=title)


# ---------------------------------------------------------------------------
# Groups side by side (the populations of the programme)


def compared(table, *, variable, rows, question=None, title=None, footer=()):
    """Bars of some rows of one question, side by side for each group of ``variable``.

    The deck's chart of one question asked of several populations: per row
    (an item's headline answer), one bar per group, each labelled with the
    group, its figure and the table's significance letters. No legend: every
    bar names its group.

    Parameters
    ----------
    table : Table
        A table of ``question`` by ``variable`` (e.g. the stacked surveys by
        population), with letters between its groups.
    variable : str
        The banner variable whose groups are compared.
    rows : list of (item, row)
        The rows drawn, in order (proportions).
    footer : sequence of str
        Lines under the chart (the groups' bases), before the letters' note
        and the table's source.

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, charts, crosstab
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "Oui", "Oui", "Oui", "Non"]),
    ...                    "g": pd.Categorical(["a", "a", "a", "b", "b", "b"])})
    >>> t = crosstab(Design(df), "q", "g", min_base=0, chisq=False)
    >>> chart = charts.compared(t, variable="g", rows=[("", "Oui")])
    >>> chart.kind, chart.values.round(2).tolist()
    ('compared', [0.67, 0.67])
    """
    question = _question(table, question)
    columns = [c for c in table.frame.columns if c[0] == variable]
    if not columns:
        raise TableError(f"compared(): the table has no column of {variable!r}")
    sub = table.frame.xs(question, level="question")
    missing = [r for r in rows if r not in sub.index]
    if missing:
        raise TableError(f"compared(): rows {missing} are not rows of {question!r}")
    values = sub.loc[list(rows), columns].to_numpy(dtype=float)
    lines_ = list(footer)
    if table.options.letters:
        lines_.append("Lettre : résultat significativement supérieur à celui de la population "
                      "indiquée (minuscule : p < 0,05 ; majuscule : p < 0,01).")
    if table.source:
        lines_.append(table.source)
    groups = [str(c[1]) for c in columns]
    names = [_plain(_labels([r])[0], 60) for r in rows]
    # vertical layout in bar units (0.3 in each): a row's name, then its bars
    first, cursor = [], 0.0
    for name in names:
        cursor += 0.7 * (name.count("\n") + 1) + 0.3
        first.append(cursor)
        cursor += len(groups)
    text, footer_height = _footer_text(lines_)
    height = 0.6 + 0.3 * cursor + footer_height
    with house_style():
        fig = _figure(height)
        _footer(fig, table, text)
        ax = fig.add_axes([0.36, footer_height / height, 0.4, 0.3 * cursor / height])
        parts = _draw_compared(fig, ax, table, question, variable, rows, columns, values,
                               names, first)
        ax.set_xlim(0, 100)
        ax.set_ylim(cursor - 0.5, -0.5)
        ax.set_yticks([])
        ax.set_xticks([])
        for side in ("left", "right", "top", "bottom"):
            ax.spines[side].set_visible(False)
        _title_text(fig, _title(table, question, title))
    data = pd.Series(values.ravel(), index=[f"{_labels([r])[0]} : {g}" for r in rows for g in groups])
    alt = _alt("Comparaison des populations", _title(table, question, title), parts,
               " ; ".join(footer))
    return Chart(fig, alt, data, "compared")


def _draw_compared(fig, ax, table, question, variable, rows, columns, values, names, first):
    """The bars of :func:`compared`: under each row's name (its top at ``first``), a bar per
    group with its figure, letters and group; returns the alternative text's parts."""
    from matplotlib.transforms import blended_transform_factory

    marks = table.marks.xs(question, level="question")
    letters = {c.label: c.letter for c in table.columns if c.variable == variable}
    groups = [str(c[1]) for c in columns]
    shown_groups = [f"{g} ({letters[g]})" if table.options.letters and letters.get(g) else g
                    for g in groups]
    at_left = blended_transform_factory(fig.transFigure, ax.transData)
    parts = []
    for i, (item, row) in enumerate(rows):
        for j, group in enumerate(groups):
            y = first[i] + j
            v = values[i, j]
            ax.barh(y, 100 * v, height=0.8, color=PALETTE[j % len(PALETTE)], gid="ramlab-bar")
            mark = str(marks.loc[(item, row), columns[j]] or "")
            figure = fmt_pct(v, table.options.digits) + (f" {mark}" if mark else "")
            ax.text(100 * v + 1.5, y, _plain(figure), va="center", ha="left",
                    color="#222222", clip_on=False)
            ax.text(-2, y, _plain(shown_groups[j]), va="center", ha="right", color="#222222",
                    clip_on=False)
            parts.append(f"{_labels([(item, row)])[0]}, {group} : {figure}")
        ax.text(0.01, first[i] - 0.55, names[i], va="bottom", ha="left", color="#222222",
                fontweight="bold", transform=at_left, clip_on=False)
    return parts


# ---------------------------------------------------------------------------
# Choosing the chart


def auto(table, *, question=None, variable=None, title=None, low_base=75):
    """The chart a question gets in a report, or None when a table says it all.

    Total table: an agree/disagree scale (two nets splitting the answers) as
    diverging bars; another grid as stacked bars; a multi-response question as
    sorted bars; a single question of three answers or more as bars; nothing
    for two answers or a numeric question. Breakdown by `variable`: a dot plot
    of the summary figure per group (not for grids: their table is clearer).

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, charts, crosstab
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "NSP", "Oui", "Oui", "Non"]),
    ...                    "g": pd.Categorical(["a", "a", "a", "b", "b", "b"])})
    >>> t = crosstab(Design(df), "q", "g", min_base=0, chisq=False)
    >>> charts.auto(t).kind  # a single question of three answers
    'bars'
    >>> charts.auto(t, variable="g", low_base=0).kind  # by group
    'dots'
    """
    question = _question(table, question)
    qtype = table.questions[question].type
    if variable is not None:
        if qtype in ("grid", "numeric"):
            return None
        return dots(table, question=question, variable=variable, title=title, low_base=low_base)
    if _diverging_split(table, question) is not None:
        return diverging(table, question=question, title=title)
    if qtype == "grid":
        return stacked(table, question=question, title=title)
    if qtype == "multi":
        return bars(table, question=question, title=title)
    if qtype in ("single", "scale") and len(_rows(table, question, ["category", "missing"])) > 2:
        return bars(table, question=question, title=title)
    return None


# ---------------------------------------------------------------------------
# Trends


def _spread(targets, sizes, low, high):
    """Label centres as close to `targets` as possible, never overlapping, inside [low, high].

    `sizes` are the labels' heights in data units: two neighbours are at least
    the mean of their heights apart.
    """
    targets = np.asarray(targets, dtype=float)
    sizes = np.broadcast_to(np.asarray(sizes, dtype=float), targets.shape)
    order = np.argsort(targets, kind="stable")
    placed = targets[order].copy()
    half = sizes[order] / 2
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + half[i - 1] + half[i])
    if len(placed) and placed[-1] + half[-1] > high:
        placed[-1] = high - half[-1]
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - half[i + 1] - half[i])
    out = np.empty_like(placed)
    out[order] = placed
    return out


def _trend_base(table, question, years):
    """"Base : <label> (2015 : 83 086 ; 2021 : 146 478 associations)": each year's base."""
    info = table.questions[question]
    parts = []
    for column in years:
        weighted = _rows(table, question, ["base"], column).dropna().to_numpy()
        if len(weighted):
            parts.append(f"{column[1]} : {fmt_int(weighted.max())}")
    unit = info.unit or ""
    return f"Base : {info.base_label or 'Ensemble'} ({' ; '.join(parts)} {unit})".replace(" )", ")")


def _change_text(change, mark):
    if not np.isfinite(change):
        return ""
    points = fmt_number(abs(change), 0)
    sign = "" if points == "0" else ("+" if change > 0 else "\u2212")
    unit = "pt" if points in ("0", "1") else "pts"
    return f"{sign}{points} {unit} {mark or 'n.s.'}"


#: Most lines on one panel of a trend chart; more are drawn as facets.
MAX_SERIES = 4


def lines(table, *, question=None, rows=None, title=None, max_series=MAX_SERIES):
    """Slope chart across years of a trend table (:func:`ramlab.tables.trend`).

    One line per answer; its values are written at each year, its label and
    change at the right end, spread so that no two labels overlap. A change
    that the table marks significant is drawn solid with its stars; one that
    is not is dashed and says "n.s.". There is no legend: each line is named
    at its end. More lines than ``max_series`` (the items of a grid) are
    drawn as facets: panels one above the other, each of at most
    ``max_series`` lines, on the same 0-100 % scale, under one title and over
    one footer.

    Parameters
    ----------
    rows : list of str, optional
        Answers to draw (default: the answers and nets).
    max_series : int
        Most lines on one panel (default 4).

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, charts
    >>> from ramlab.tables import trend
    >>> y1 = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "Non", "Non"])})
    >>> y2 = pd.DataFrame({"q": pd.Categorical(["Oui", "Oui", "Oui", "Non"])})
    >>> chart = charts.lines(trend({2015: Design(y1), 2021: Design(y2)}, "q"))
    >>> chart.kind, chart.alt.startswith("Évolution 2015–2021 : q.")
    ('lines', True)
    """
    question = _question(table, question)
    years = [c for c in table.frame.columns if c[0] == "Année"]
    if len(years) < 2:
        raise TableError("lines(): the table is not a trend (needs columns per year)")
    if int(max_series) < 1:
        raise TableError(f"lines(): max_series must be 1 or more, not {max_series!r}")
    change_cols = [c for c in table.frame.columns if c[0] == "Évolution"]
    sub, marks = _trend_rows(table, question, years, rows)
    tested = bool(change_cols) and sub[change_cols[-1]].notna().any()
    lines_ = _footer_lines(table, question, years[-1], [
        "Trait plein : évolution significative (* p < 0,05 ; ** p < 0,01, test t sur le plan "
        "de sondage) ; pointillés : non significative (n.s.)." if tested else
        "Évolution non testée : la question n'est pas comparable d'une édition à l'autre."])
    lines_[0] = _trend_base(table, question, years)
    chunks, heads, names = _panels(sub.index, int(max_series))
    text, footer = _footer_text(lines_)
    height, boxes = _facets(chunks, heads, len(sub), len(lines_), footer)
    label_labels = []
    with house_style():
        fig = _figure(height)
        _footer(fig, table, text)
        for chunk, box, head in zip(chunks, boxes, heads):
            ax = fig.add_axes(box)
            if head is not None:  # the facet's grid item, above its panel
                ax.set_title(head, loc="left", fontsize=MIN_POINTS + 0.5, fontweight="bold",
                             pad=6)
            label_labels += _slopes(fig, ax, sub.iloc[chunk], marks.iloc[chunk], years,
                                    change_cols, table.options.digits, [names[k] for k in chunk])
        _title_text(fig, _title(table, question, title))
    data = sub[years].astype(float).copy()
    data.index = _labels(sub.index)
    data = data.stack()
    parts = [label for _, _, label in label_labels]
    alt = _alt(f"Évolution {years[0][1]}–{years[-1][1]}", _title(table, question, title), parts,
               lines_[0])
    return Chart(fig, alt, data, "lines")


def _trend_rows(table, question, years, rows):
    """The rows of a slope chart and their marks: answers and nets that every year has,
    those of `rows` if given."""
    sub = table.frame.xs(question, level="question")
    marks = table.marks.xs(question, level="question")
    kinds = table.kinds.xs(question, level="question")
    keep = kinds.isin(["category", "missing", "net"]).to_numpy().copy()
    keep &= sub[years].notna().all(axis=1).to_numpy()  # drawn only where every year has it
    if rows is not None:
        keep &= np.array([r in rows for _, r in sub.index])
    return sub[keep], marks[keep]


def _facets(chunks, heads, n, n_lines, footer):
    """A slope chart's height and its panels' axes boxes (figure fractions), top to bottom,
    for `n` lines in `chunks`, under `heads`, over `n_lines` of footer `footer` inches high."""
    top, gap = 0.7, 0.3
    head_room = [0.0 if h is None else 0.12 + 0.19 * (h.count("\n") + 1) for h in heads]
    if len(chunks) == 1:
        heights = [max(max(3.4, 1.4 + 0.42 * n) + 0.21 * n_lines - top - footer, 1.2)]
    else:
        heights = [max(2.4, 1.0 + 0.55 * len(c)) for c in chunks]
    # facets: the years under the last panel need their own room above the footer
    height = top + sum(heights) + sum(head_room) + gap * (len(chunks) - 1) + footer
    height += 0.25 if len(chunks) > 1 else 0.0
    boxes = []
    upper = height - top
    for panel, room in zip(heights, head_room):
        upper -= room
        boxes.append([0.12, (upper - panel) / height, 0.36, panel / height])
        upper -= panel + gap
    return height, boxes


def _panels(index, most):
    """Facets of a slope chart: ``(chunks of row positions, panel headings, line names)``.

    Up to ``most`` lines: one panel. More, on a grid drawn with several
    answers per item: a panel per item (split further beyond ``most``),
    headed by the item, its lines named by their answer; else balanced
    panels of at most ``most`` lines (7 lines: 4 and 3). A line is named by
    its item, or its item and answer when an item has several lines.
    """
    index = list(index)
    n = len(index)
    items = list(dict.fromkeys(item for item, _ in index))
    repeated = len(items) < n  # an item with several answers drawn
    if n > most and repeated and len(items) > 1 and all(items):
        chunks, heads = [], []
        for it in items:
            rows = [k for k, (item, _) in enumerate(index) if item == it]
            size = -(-len(rows) // -(-len(rows) // most))
            for i in range(0, len(rows), size):
                chunks.append(rows[i:i + size])
                heads.append(_plain(it, 60))
        return chunks, heads, [r for _, r in index]
    names = [r if not item else (f"{item} : {r}" if repeated or n == 1 else item)
             for item, r in index]
    if n <= most:
        return [list(range(n))], [None], names
    size = -(-n // -(-n // most))  # balanced
    chunks = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
    return chunks, [None] * len(chunks), names


# One piece: the end labels are spread by their measured sizes on this panel's axes,
# so the drawing and the labelling share one layout.
def _slopes(fig, ax, sub, marks, years, change_cols, digits, names):
    """One panel of a slope chart: a line per row of ``sub``; returns (values, colour, label)."""
    x = np.arange(len(years), dtype=float)
    height = fig.get_figheight()
    ax.set_ylim(0, 100)  # the whole scale: a slope is not exaggerated by a zoom
    y0, y1 = ax.get_ylim()
    line = (y1 - y0) * (MIN_POINTS * 1.45 / 72) / (ax.get_position().height * height)
    values = sub[years].to_numpy(dtype=float) * 100
    label_labels = []
    for k, ((item, r), v) in enumerate(zip(sub.index, values)):
        colour = PALETTE[k % len(PALETTE)]
        mark = str(marks.iloc[k][change_cols[-1]]) if change_cols else ""
        ax.plot(x, v, marker="o", color=colour, linewidth=2.2 if mark else 1.4,
                linestyle="-" if mark else "--", gid="ramlab-series")
        change = sub.iloc[k][change_cols[-1]] * 100 if change_cols else np.nan
        text = names[k]
        stamp = _change_text(change, mark)
        label = _plain(f"{fmt_pct(v[-1] / 100, digits)} {text}" + (f" ({stamp})" if stamp else ""), 36)
        label_labels.append((v, colour, label))
    for j in range(len(years) - 1):  # value labels at each year but the last, spread apart
        ys = _spread([v[j] for v, _, _ in label_labels], line * 1.1, y0, y1)
        for (v, colour, _), y in zip(label_labels, ys):
            ax.annotate(_plain(fmt_pct(v[j] / 100, digits)), (x[j], v[j]), xytext=(x[j] - 0.06, y),
                        ha="right", va="center", color=colour,
                        arrowprops=None if abs(y - v[j]) < line / 2 else
                        {"arrowstyle": "-", "color": colour, "linewidth": 0.6})
    ends = [ax.text(x[-1] + 0.08, v[-1], text, ha="left", va="center", color=colour,
                    clip_on=False) for v, colour, text in label_labels]
    # Spread the end labels by their drawn heights (in data units), plus a third of a line.
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    sizes = []
    for t in ends:
        box = t.get_window_extent(renderer)
        (_, b0), (_, b1) = to_data.transform([(box.x0, box.y0), (box.x0, box.y1)])
        sizes.append(abs(b1 - b0) + line * 0.35)
    ys = _spread([v[-1] for v, _, _ in label_labels], sizes, y0, y1 + line * 2)
    for t, (v, colour, _), y in zip(ends, label_labels, ys):
        t.set_y(y)
        if abs(y - v[-1]) >= line / 2:
            ax.plot([x[-1] + 0.01, x[-1] + 0.07], [v[-1], y], color=colour, linewidth=0.6,
                    clip_on=False)
    ax.set_xticks(x, [_plain(str(c[1])) for c in years])
    ax.set_xlim(-0.45, len(years) - 1 + 0.1)
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}\u202f%"))
    return label_labels


def save(chart, path, *, synthetic=None, dpi=200):
    """Save a chart for slides: SVG when `path` ends in ``.svg``, else PNG at `dpi`.

    Parameters
    ----------
    chart : Chart or matplotlib.figure.Figure
    path : str or os.PathLike
    synthetic : bool, optional
        Add the "Données synthétiques" mark (charts built from a synthetic
        table already carry it; True adds it to any figure).
    dpi : int

    Examples
    --------
    >>> import pandas as pd
    >>> from ramlab import Design, charts, crosstab
    >>> df = pd.DataFrame({"q": pd.Categorical(["Oui", "Non", "NSP", "Oui", "Oui", "Non"]),
    ...                    "g": pd.Categorical(["a", "a", "a", "b", "b", "b"])})
    >>> t = crosstab(Design(df), "q", "g", min_base=0, chisq=False)
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = charts.save(charts.bars(t), os.path.join(folder, "q.svg"))
    ...     os.path.basename(path), os.path.getsize(path) > 0
    ('q.svg', True)
    """
    fig = getattr(chart, "figure", chart)
    if synthetic:
        _mark(fig)
        if isinstance(chart, Chart):
            chart._svg = None
    fmt = "svg" if str(path).lower().endswith(".svg") else "png"
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with house_style():
        fig.savefig(path, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
    return path
