"""Excel export of a table: one sheet per question, byte-identical on every build."""

from __future__ import annotations

import io
import math
import re
import zipfile
from datetime import datetime

import numpy as np
import pandas as pd

from ramlab.tables._options import PERCENT
from ramlab.tables._render import header_labels, is_pivoted, notes, pivot_grid

# Fixed timestamp written into Excel files so that a build is byte-identical.
_EPOCH = datetime(2000, 1, 1, 0, 0, 0)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_excel(table, path):
    """Write the table to an .xlsx file, one sheet per question id (see ``Table.to_excel``).

    Cells are numbers with an Excel number format (percentages as
    proportions shown "59%", counts "148,429", means "1.6"); significance
    letters and the small-base star are literal text of the format, so the
    value stays a number ("59% A"). Hidden small bases are the text "–".
    """
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    used = set()
    for qid, info in table.questions.items():
        ws = wb.create_sheet(_sheet_name(qid, used))
        ws.cell(row=1, column=1, value=_safe_cell(f"{qid}. {info.text}")).font = _bold()
        if is_pivoted(table, qid):
            r = _write_grid(ws, table, qid, 3)
        else:
            r = _write_rows(ws, table, qid, 3)
        r += 1
        for line in notes(table, qid):
            ws.cell(row=r, column=1, value=_safe_cell(line))
            r += 1
        ws.column_dimensions["A"].width = 45
    wb.properties.creator = "ramlab"
    wb.properties.lastModifiedBy = "ramlab"
    wb.properties.created = _EPOCH
    wb.properties.modified = _EPOCH
    buffer = io.BytesIO()
    wb.save(buffer)
    data = _deterministic_zip(buffer.getvalue())
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def _bold():
    from openpyxl.styles import Font

    return Font(bold=True)


def _right():
    from openpyxl.styles import Alignment

    return Alignment(horizontal="right")


def _number_cell(table, pos, j):
    """(value, number format) of cell (row position, column position); value text or None."""
    opts = table.options
    kind = table.kinds.iat[pos]
    value = table.frame.iat[pos, j]
    if kind in ("n", "base"):
        return (None if math.isnan(value) else float(value)), "#,##0"
    small = bool(table.small.iat[pos, j])
    if small and opts.hide_small:
        return "–", None
    if value is None or math.isnan(value):
        return None, None
    change = opts.trend and table.frame.columns[j][0] == "Évolution"
    if change and kind in PERCENT:
        value, fmt = 100 * value, _signed(_decimals(opts.digits))
    elif change:
        fmt = _signed(_decimals(opts.mean_digits))
    elif kind in PERCENT and opts.cells == "count":
        fmt = "#,##0"
    elif kind in PERCENT:
        fmt = _decimals(opts.digits) + "%"
    else:
        fmt = _decimals(opts.mean_digits)
    suffix = (f" {table.marks.iat[pos, j]}" if table.marks.iat[pos, j] else "") + ("*" if small else "")
    if suffix:
        fmt = ";".join(f'{part}"{suffix}"' for part in fmt.split(";"))
    return float(value), fmt


def _decimals(digits):
    return "0" if not digits else "0." + "0" * int(digits)


def _signed(fmt):
    return f"+{fmt};-{fmt};0"


def _put(ws, r, j, table, pos, col):
    value, fmt = _number_cell(table, pos, col)
    cell = ws.cell(row=r, column=j, value=value)
    if fmt:
        cell.number_format = fmt
    cell.alignment = _right()


def _write_grid(ws, table, qid, r):
    """A grid as items x answers from row `r`; returns the next free row."""
    positions = pd.DataFrame(np.arange(len(table.frame), dtype=float)[:, None].repeat(len(table.columns), 1),
                             index=table.frame.index, columns=table.frame.columns)
    grid = pivot_grid(table, qid, positions)
    for j, c in enumerate(grid.columns, start=2):
        ws.cell(row=r, column=j, value=_safe_cell(c)).font = _bold()
    r += 1
    for item, values in zip(grid.index, grid.to_numpy()):
        ws.cell(row=r, column=1, value=_safe_cell(item))
        for j, pos in enumerate(values, start=2):
            if not np.isnan(pos):
                _put(ws, r, j, table, int(pos), 0)
        r += 1
    return r


def _write_rows(ws, table, qid, r):
    """Banner headers and the rows of one question from row `r`; returns the next free row."""
    prev = None
    for j, c in enumerate(table.columns, start=2):
        if c.variable != prev:
            ws.cell(row=r, column=j, value=_safe_cell(c.variable_label)).font = _bold()
        prev = c.variable
    for j, text in enumerate(header_labels(table), start=2):
        ws.cell(row=r + 1, column=j, value=_safe_cell(text)).font = _bold()
    r += 2
    last_item = None
    for pos, (q, item, row) in enumerate(table.frame.index):
        if q != qid:
            continue
        if item and item != last_item:
            ws.cell(row=r, column=1, value=_safe_cell(item)).font = _bold()
            r += 1
        last_item = item
        ws.cell(row=r, column=1, value=_safe_cell(row))
        for j in range(len(table.columns)):
            _put(ws, r, j + 2, table, pos, j)
        r += 1
    return r


def _deterministic_zip(data):
    """Rewrite a zip archive with fixed entry dates (openpyxl stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl writes the save time as "modified": pin it.
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>2000-01-01T00:00:00Z\g<2>",
                    content,
                )
            zinfo = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zinfo.external_attr = 0o600 << 16
            dst.writestr(zinfo, content)
    return out.getvalue()



def _safe_cell(value):
    """Neutralise text a spreadsheet would run as a formula (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _sheet_name(qid, used):
    name = re.sub(r"[\[\]\:\*\?\/\\]", "_", str(qid))[:31] or "Q"
    base, k = name, 2
    while name.lower() in used:
        suffix = f"_{k}"
        name = base[: 31 - len(suffix)] + suffix
        k += 1
    used.add(name.lower())
    return name
