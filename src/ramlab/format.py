"""French formatting for report readers: numbers, durations and dates.

Reports follow French survey conventions: a narrow no-break space (U+202F)
between thousands and before "%", a decimal comma, and halves rounded up
(away from zero), as SPSS rounds: 72.5 % shows as "73 %", 1.25 as "1,3".
"""

from decimal import ROUND_HALF_UP, Decimal

import math
import re

__all__ = ["NNBSP", "round_half_up", "fmt_number", "fmt_int", "fmt_pct", "fmt_seconds", "fmt_date",
           "french_spaces"]

NNBSP = "\u202f"


def round_half_up(value, digits=0):
    """Round `value` to `digits` decimals, halves away from zero (SPSS rounding).

    The value goes through its shortest decimal repr, so 0.725 rounds to
    0.73 although its binary double is slightly below 0.725.
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return value
    quantum = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))


def fmt_number(value, digits=0):
    """Format `value` with `digits` decimals in French: "148 429", "1,6".

    Missing values (None, NaN) format as an empty string.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    # round(…, 9) first drops binary noise: 100 * 0.725 is 72.49999999999999
    rounded = Decimal(repr(round(float(value), 9))).quantize(
        Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP
    )
    if rounded == 0:
        rounded = abs(rounded)  # no "-0"
    text = f"{rounded:,.{digits}f}"
    return text.replace(",", NNBSP).replace(".", ",")


def fmt_int(value):
    """Format a count without decimals: 148429 -> "148 429"."""
    return fmt_number(value, 0)


def fmt_pct(proportion, digits=0):
    """Format a proportion (0-1) as a French percentage: 0.7349 -> "73 %"."""
    if proportion is None or (isinstance(proportion, float) and math.isnan(proportion)):
        return ""
    return fmt_number(100 * proportion, digits) + NNBSP + "%"


def fmt_seconds(seconds):
    """Format a duration in seconds, one decimal: 12.34 -> "12,3 s" (no-break space)."""
    return fmt_number(seconds, 1) + "\u00a0s"


_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


def fmt_date(value, *, long=False):
    """Format a date in French: "30/11/2026", or with ``long=True`` "30 novembre 2026".

    `value` is a date or datetime, or an ISO 8601 string (read with
    ``datetime.fromisoformat``). An empty value, or a string that is not an
    ISO date, formats as an empty string.
    """
    if isinstance(value, str):
        import datetime as dt

        try:
            value = dt.datetime.fromisoformat(value) if value else None
        except ValueError:
            value = None
    if value is None:
        return ""
    if long:
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    return f"{value:%d/%m/%Y}"


_BEFORE_COLON = re.compile(r"[ \u00a0\u202f]*:(?=\s|$)")
_BEFORE_MARK = re.compile(r"[ \u00a0\u202f]*([;!?»])")
_AFTER_OPEN = re.compile(r"«[ \u00a0\u202f]*")
_THOUSANDS = re.compile(r"(?<![\d,])(\d{1,3}) (?=\d{3}(?!\d))")


def french_spaces(text: str) -> str:
    """`text` with the no-break spaces of French typography, so that no line starts with a sign.

    A no-break space (U+00A0) before ":" and inside « », a narrow one
    (U+202F) before ";", "!" and "?" and between the thousands of a number
    written with a plain space in a label ("5 000 salariés"), as
    :func:`fmt_int` writes them (Lexique des règles typographiques en usage à
    l'Imprimerie nationale). A colon inside a word or a time ("12:30") is left
    alone.

    >>> french_spaces("Base : Ensemble ; « Oui » ?") == "Base\u00a0: Ensemble\u202f; «\u00a0Oui\u00a0»\u202f?"
    True
    >>> french_spaces("(5 000 salariés et plus), 10 à 249") == "(5\u202f000 salariés et plus), 10 à 249"
    True
    """
    text = _THOUSANDS.sub(lambda m: m.group(1) + NNBSP, text)
    text = _BEFORE_COLON.sub("\u00a0:", text)
    text = _BEFORE_MARK.sub(lambda m: ("\u00a0" if m.group(1) == "»" else NNBSP) + m.group(1), text)
    return _AFTER_OPEN.sub("«\u00a0", text)
