"""French number formatting for report readers.

Reports follow French survey conventions: a narrow no-break space (U+202F)
between thousands and before "%", a decimal comma, and halves rounded up
(away from zero), as SPSS rounds: 72.5 % shows as "73 %", 1.25 as "1,3".
"""

from decimal import ROUND_HALF_UP, Decimal

import math

__all__ = ["NNBSP", "round_half_up", "fmt_number", "fmt_int", "fmt_pct"]

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
