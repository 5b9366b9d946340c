"""The one form in which labels are compared (spec, margin and data files alike)."""

from __future__ import annotations

import unicodedata

__all__ = ["normalize_label"]

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff"))


def normalize_label(text: str) -> str:
    """The form in which labels are compared: NFC, visible spaces only, trimmed.

    Labels that look the same may differ in bytes: "Données" decomposed (NFD,
    as macOS and some SPSS writers store it) or composed (NFC), a no-break or
    narrow no-break space instead of a space, a zero-width space, a trailing
    space. Both the file's value labels (:func:`ramlab.sav.read_sav`) and every
    string of a spec or margin file are put in this form, so that they match.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
        Unicode NFC; zero-width spaces, word joiners and byte-order marks
        removed; no-break, narrow no-break and other Unicode spaces replaced
        by a space; leading and trailing whitespace removed.
    """
    if text.isascii():
        return text.strip()
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    if not text.isascii():
        text = "".join(" " if ch != " " and unicodedata.category(ch) == "Zs" else ch for ch in text)
    return text.strip()
