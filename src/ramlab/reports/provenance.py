"""Where a report comes from: the provenance footer of every report.

ramlab's version, the project's git commit, each data file with its
content hash, the parameters and the build date, in French. A partner
report shows ramlab's version and the build date only (:func:`for_audience`):
a commit, file hashes and parameters are working material. The full
provenance goes to the internal report and to the executed notebook's
metadata (``metadata.ramlab.provenance``).
"""

from __future__ import annotations

import re
from pathlib import Path

from ramlab.files import file_sha256
from ramlab.reports.jobs import Job

__all__ = ["provenance", "provenance_footer", "for_audience"]

#: French labels of the provenance footer, in order.
_PROVENANCE_LABELS = {
    "ramlab": "Version de ramlab",
    "commit": "Commit git",
    "data": "Fichier de données (sha256)",
    "parameters": "Paramètres",
    "built": "Construit le",
}


def _git_commit(root) -> str:
    """``git rev-parse HEAD`` in `root`, or "inconnu" (no git, not a repository)."""
    import subprocess

    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=str(root), capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "inconnu"
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,64}", commit) else "inconnu"


def _short_sha256(path) -> str:
    """The first 12 hex digits of a file's sha256; "absent" when it cannot be read."""
    try:
        return file_sha256(path)[:12]
    except OSError:
        return "absent"


#: Suffixes of respondent files, as the provenance names them among the files read.
DATA_SUFFIXES = (".sav", ".zsav", ".por")


def provenance(job: Job, *, read=()) -> dict[str, str]:
    """Where a report comes from, as its footer shows it (French values).

    Returns
    -------
    dict
        ``ramlab`` (version), ``commit`` (``git rev-parse HEAD`` of the
        project at build time, "inconnu" when unavailable), ``data`` (each
        data file the notebook read, from `read`, the files it opened, else
        the job's planned data files, with the first 12 hex digits of its
        sha256), ``parameters``
        (as injected, but paths: ``*_dir``, ``*_path``), ``built`` (UTC date and time of the build).
    """
    import datetime as dt

    from ramlab import __version__

    now = dt.datetime.now(dt.timezone.utc)
    data = [Path(path) for path in read if Path(path).suffix.lower() in DATA_SUFFIXES] or job.data
    return {
        "ramlab": __version__,
        "commit": _git_commit(job.root),
        "data": " ; ".join(f"{Path(path).name} ({_short_sha256(path)})" for path in data),
        "parameters": ", ".join(
            f"{name} = {value!r}" for name, value in job.parameters.items()
            if not name.endswith(("_dir", "_path"))  # local paths: the data file is named by its hash
        ),
        "built": f"{now:%d/%m/%Y à %H:%M} UTC",
    }


#: What a partner report's footer says of its provenance.
_PARTNER_KEYS = ("ramlab", "built")


def for_audience(values: dict, audience: str) -> dict:
    """The provenance a report of `audience` shows: all of it internally, version and date to partners."""
    if audience == "internal":
        return dict(values)
    return {key: values[key] for key in _PARTNER_KEYS if key in values}


def provenance_footer(values: dict) -> str:
    """The provenance footer (HTML, every value escaped)."""
    import html

    items = "".join(
        f"<dt>{html.escape(label)}</dt><dd>{html.escape(str(values[key]))}</dd>"
        for key, label in _PROVENANCE_LABELS.items()
        if values.get(key)
    )
    return (
        '<footer class="ramlab-provenance" aria-label="Provenance du rapport">'
        f'<p class="ramlab-provenance-title">Provenance du rapport</p><dl>{items}</dl></footer>'
    )
