"""Authored messages of a spec: a sentence with placeholders the build fills.

A question (or a whole report) of a spec may carry a ``message``: the finding
in one French sentence, as the Observatoire's slides state it. Its figures are
placeholders, filled from the computed table when the report is built, so that
the sentence never drifts from the table it cites.

Grammar
-------
A placeholder is written between square brackets::

    [TARGET ROW]

- ``TARGET`` is a question id of the spec (``innovation``, ``q7``) or the
  data column of one item of a grid or multi-response question (``q8_1``,
  ``q7_1``); it holds no space.
- ``ROW`` (after the first space, up to ``]``) is what to read for it: an
  answer (``Oui``, ``Cité``), a net (``Total Oui``), or ``moyenne`` (the
  mean of a scale or numeric question, or the mean number of answers of a
  multi-response question). Labels are those of the spec, spelled exactly.
- A grid question itself (``TARGET`` its id) reads one of its nets across
  items (the spec's ``item_nets``): ``[q6 Au moins un partenariat]``.

Examples: ``[q7_1 Cité] des associations travaillent au niveau local``,
``[innovation Total Oui] y voient une source d'innovation``, ``[q7 moyenne]
échelon en moyenne``. ``[[`` and ``]]`` write literal brackets.

Python's ``str.format`` is not used: it would read ``{q7_1:Cité}`` as a
format spec. A placeholder that names an unknown question, item or row is a
:class:`ramlab.errors.SpecError` when the spec is loaded, naming the file, the
key and the placeholder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Placeholder", "MEAN", "parse", "resolve", "check"]

#: The ROW keyword that reads a mean (scale, numeric) or the mean number of answers (multi).
MEAN = "moyenne"

_TOKEN = re.compile(r"\[\[|\]\]|\[([^\[\]]*)\]|[\[\]]")


@dataclass(frozen=True)
class Placeholder:
    """One placeholder of a message, resolved against the spec.

    Attributes
    ----------
    text : str
        As written, brackets included (``"[q7_1 Cité]"``).
    question : str
        The question id.
    item : str
        The item's data column for a grid item, else "".
    row : str
        The answer or net label, or :data:`MEAN`.
    """

    text: str
    question: str
    item: str
    row: str


def parse(message: str) -> list:
    """Split a message into literal strings and ``(target, row, text)`` tuples.

    Raises
    ------
    ValueError
        For an unmatched bracket or a placeholder without a row
        (``[q7_1]``), with the offending text.
    """
    parts, pos = [], 0
    for match in _TOKEN.finditer(message):
        parts.append(message[pos:match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("[[", "]]"):
            parts.append(token[0])
        elif token in ("[", "]"):
            raise ValueError(f"unmatched {token!r} at position {match.start()} (write {token * 2} for a bracket)")
        else:
            target, _, row = match.group(1).strip().partition(" ")
            if not target or not row.strip():
                raise ValueError(f"placeholder {token!r} needs a target and a row: [q7_1 Cité]")
            parts.append((target, row.strip(), token))
    parts.append(message[pos:])
    return [p for p in parts if p != ""]


def resolve(target: str, row: str, questions: dict, *, text: str = "") -> Placeholder:
    """The placeholder ``[target row]`` checked against a spec's questions.

    Raises
    ------
    ValueError
        Naming the unknown question/item or row and what would be valid.
    """
    text = text or f"[{target} {row}]"
    owner = questions.get(target)
    item = ""
    if owner is None:
        owner = next((q for q in questions.values() if q.type in ("grid", "multi")
                      and target in q.columns), None)
        if owner is None:
            raise ValueError(f"placeholder {text!r}: {target!r} is neither a question nor an item of the spec")
        item = target
    if owner.type == "multi":
        if row == MEAN and not item:
            return Placeholder(text, owner.id, "", MEAN)
        allowed = [owner.selected] if item else [MEAN]
        if row in allowed:
            return Placeholder(text, owner.id, item, row)
        raise ValueError(
            f"placeholder {text!r}: row {row!r} is not valid for {target!r} "
            f"(valid: {', '.join(allowed)}; an item of a multi-response question reads its "
            f"selected answer, the question its mean number of answers)"
        )
    if owner.type == "grid" and not item:
        if row in owner.item_nets:  # a net across the grid's items: [q6 Au moins un partenariat]
            return Placeholder(text, owner.id, "", row)
        raise ValueError(
            f"placeholder {text!r}: {target!r} is a grid; name one of its items "
            f"({', '.join(owner.columns)}) or one of its nets across items "
            f"({', '.join(owner.item_nets) or 'none in the spec'})"
        )
    if owner.type == "numeric":
        allowed = [MEAN]
    else:
        allowed = [c for c in owner.categories if c not in owner.missing or owner.show_missing]
        allowed += list(owner.nets)
        if owner.type == "scale":
            allowed.append(MEAN)
    if row not in allowed:
        raise ValueError(
            f"placeholder {text!r}: row {row!r} is not an answer, net or mean of {target!r} "
            f"(valid: {', '.join(allowed)})"
        )
    return Placeholder(text, owner.id, item, row)


def check(message: str, questions: dict) -> list:
    """Parse a message and resolve every placeholder; the list of :class:`Placeholder`.

    Raises
    ------
    ValueError
        On the first grammar error or unknown placeholder.
    """
    return [resolve(p[0], p[1], questions, text=p[2]) for p in parse(message) if isinstance(p, tuple)]
