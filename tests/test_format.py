"""French report formatting: narrow no-break spaces, decimal comma, halves up (SPSS)."""

import math

import pytest

from ramlab.format import NNBSP, fmt_int, fmt_number, fmt_pct, round_half_up


def test_thousands_use_narrow_no_break_space():
    assert fmt_int(148429) == "148\u202f429"
    assert fmt_int(1234567) == "1\u202f234\u202f567"
    assert fmt_int(999) == "999"


def test_percent_has_narrow_space_before_sign():
    assert fmt_pct(0.7349) == "73" + NNBSP + "%"
    assert fmt_pct(0.1) == "10\u202f%"


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [(72.5, 0, "73"), (73.5, 0, "74"), (1.25, 1, "1,3"), (1.35, 1, "1,4"), (-2.5, 0, "-3"), (0.725 * 100, 0, "73")],
)
def test_halves_round_up_like_spss(value, digits, expected):
    # Python's round() is banker's rounding: round(72.5) == 72; SPSS shows 73.
    assert fmt_number(value, digits) == expected


def test_decimal_comma_and_no_negative_zero():
    assert fmt_number(1.57, 1) == "1,6"
    assert fmt_number(-0.004, 1) == "0,0"


def test_missing_values_format_empty():
    assert fmt_number(float("nan")) == ""
    assert fmt_pct(None) == ""


def test_round_half_up_returns_floats():
    assert round_half_up(0.125, 2) == 0.13
    assert math.isnan(round_half_up(float("nan"), 1))
