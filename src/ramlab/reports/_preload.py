"""Warm-up of the factory's fork server. Import it nowhere else.

``ramlab build`` runs each job in a fresh process forked from a fork server
(:func:`ramlab.reports.pool.run`). The server imports this module once, before
its first fork, so that every job starts with what all jobs need already
loaded, instead of paying it again in each job:

- papermill, nbconvert, nbformat (about 2 s of imports);
- what papermill imports on its first kernel start (IPython's paths, to find
  the kernelspecs);
- nbconvert's first HTML export (template lookup and compilation, filters)
  and BeautifulSoup: an empty notebook rendered once with ramlab's template
  (:func:`ramlab.reports.render.render_html`). The exporter made for it is kept
  (by :mod:`ramlab.reports.render`), so each job reuses its compiled
  templates instead of compiling them again (about half a second per report).

One optional import is refused: ``rfc3987_syntax``, which jsonschema (under
nbformat) loads only to check the "iri" string formats, and which compiles a
grammar at import (about 1.5 s of CPU, more than papermill and nbconvert
together). Notebook schemas use no such format; without the module,
jsonschema simply skips those format checks.

Nothing here starts a thread, a kernel or a ZeroMQ context, which a fork
could not carry safely.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # None: "import rfc3987_syntax" raises ImportError

import ipykernel.kernelspec  # noqa: F401
import IPython.paths  # noqa: F401
import nbconvert
import nbformat
import papermill  # noqa: F401

try:
    # ramlab's own template (on top of lab), and BeautifulSoup for the table of contents
    from ramlab.reports.render import render_html

    render_html(nbformat.v4.new_notebook())
except Exception:  # noqa: BLE001 - a warm-up only: the fork server must start regardless
    pass
