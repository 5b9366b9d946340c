"""Fingerprints of a job's inputs, and the manifest of the last good builds.

:func:`inputs_digests` hashes everything a report depends on (notebook,
parameters, data, spec, population margins, ramlab's source and templates,
``requirements.lock``, the flags, the Python version); :func:`inputs_hash`
folds them into one fingerprint. ``build/manifest.json`` records, per job,
the fingerprint and digests of its last good build (:func:`load_manifest`,
:func:`write_manifest`); :func:`is_current` says whether a job can be skipped
and :func:`reasons` says, in French, why it cannot. Standard library only
(PyYAML when the population files are looked up).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path, PurePath

from ramlab.files import file_sha256, write_atomic
from ramlab.reports.jobs import Job

__all__ = [
    "MANIFEST_NAME",
    "LOCK_FILE",
    "package_dir",
    "population_files",
    "inputs_digests",
    "inputs_hash",
    "reasons",
    "load_manifest",
    "write_manifest",
    "manifest_lock",
    "record_build",
    "is_current",
]

MANIFEST_NAME = "manifest.json"
LOCK_FILE = "requirements.lock"

_MANIFEST_FORMAT = 1


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path, cache: dict | None = None) -> str:
    """sha256 of a file's content; ``"absent"`` for a missing file."""
    key = ("file", str(path))
    if cache is not None and key in cache:
        return cache[key]
    try:
        digest = file_sha256(path)
    except FileNotFoundError:
        digest = "absent"
    if cache is not None:
        cache[key] = digest
    return digest


def _tree_digest(directory: Path, cache: dict | None = None) -> str:
    """sha256 over the relative paths and contents of a directory's files (no caches)."""
    key = ("tree", str(directory))
    if cache is not None and key in cache:
        return cache[key]
    lines = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        lines.append(f"{path.relative_to(directory).as_posix()}\0{_file_digest(path)}\n")
    digest = _sha256("".join(lines).encode())
    if cache is not None:
        cache[key] = digest
    return digest


def _strings(value):
    """Every string in a parsed YAML document (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def population_files(specs, population_dir) -> list[Path]:
    """The population-margin files the specs refer to.

    A file of `population_dir` is referred to when a string of a spec is its
    name or its path (``associations_2021_taille.yaml``,
    ``population/associations_2021_taille.yaml``) or its stem. When a spec
    cannot be parsed, or refers to no file of the directory, every file is
    returned.

    Why not always hash every population file: a new margin for one survey
    would then rebuild every report of every survey. Why the fallback: a
    spec that names its margins some other way must never be built on stale
    margins; rebuilding too much is safe, too little is not.
    """
    population_dir = Path(population_dir)
    files = (
        sorted(p for p in population_dir.rglob("*") if p.is_file())
        if population_dir.is_dir() else []
    )
    if not files:
        return []
    import yaml  # light (about 50 ms); only when a job's inputs are fingerprinted

    names = set()
    for spec in specs:
        try:
            document = yaml.safe_load(Path(spec).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return files
        for text in _strings(document):
            name = PurePath(text.strip().replace("\\", "/")).name
            names.update({name, PurePath(name).stem} if name else ())
    referenced = [p for p in files if p.name in names or p.stem in names]
    return referenced or files


def package_dir() -> Path:
    """ramlab's package directory (its source and templates are one input of every job)."""
    return Path(__file__).resolve().parents[1]


def inputs_digests(job: Job, *, cache: dict | None = None, read=()) -> dict[str, str]:
    """Content digests of everything a job's report depends on.

    Parameters
    ----------
    job : Job
    cache : dict, optional
        Digests already computed in this build (ramlab's source, the lock
        file, shared data files); pass the same dict for every job.
    read : iterable of path, optional
        The files the job's notebook opened when it was last built (a spec's
        ``data_file:``, say): each is an input too, ``data:<path>`` for a
        respondent file, ``read:<path>`` for another not hashed already.

    Returns
    -------
    dict
        ``{input: sha256}``: ``notebook``, ``parameters``, ``data:<path>``
        (every year, for trends), ``spec:<path>``, ``population:<path>``,
        ``ramlab`` (the package's source and templates), ``requirements.lock``,
        ``flags`` (audience, excel) and ``python`` (the interpreter version).
        Paths are relative to the project, so a moved checkout keeps its
        fingerprints.
    """
    root = job.root

    def relative(path: Path) -> str:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    digests = {
        "notebook": _file_digest(job.notebook, cache),
        "parameters": _sha256(json.dumps(job.parameters, sort_keys=True).encode()),
    }
    for path in job.data:
        digests[f"data:{relative(path)}"] = _file_digest(path, cache)
    for path in sorted(set(job.specs)):
        digests[f"spec:{relative(path)}"] = _file_digest(path, cache)
    population_dir = root / "data" / "population"
    key = ("population", tuple(str(p) for p in sorted(set(job.specs))))
    if cache is not None and key in cache:
        margins = cache[key]
    else:
        margins = population_files(sorted(set(job.specs)), population_dir)
        if cache is not None:
            cache[key] = margins
    for path in margins:
        digests[f"population:{relative(path)}"] = _file_digest(path, cache)
    for path in read:
        name = relative(path)
        if not any(f"{kind}:{name}" in digests for kind in ("data", "spec", "population")):
            kind = "data" if Path(path).suffix.lower() in (".sav", ".zsav", ".por") else "read"
            digests[f"{kind}:{name}"] = _file_digest(Path(path), cache)
    digests["ramlab"] = _tree_digest(package_dir(), cache)
    digests["requirements.lock"] = _file_digest(root / LOCK_FILE, cache)
    flags = {"audience": job.audience, "excel": job.excel}
    digests["flags"] = _sha256(json.dumps(flags, sort_keys=True).encode())
    digests["python"] = _sha256(sys.version.encode())
    return digests


def inputs_hash(job: Job, *, cache: dict | None = None, digests: dict | None = None) -> str:
    """The fingerprint of a job: sha256 over :func:`inputs_digests` (or the given `digests`)."""
    digests = inputs_digests(job, cache=cache) if digests is None else digests
    return _sha256(json.dumps(digests, sort_keys=True).encode())


#: French names of the inputs, to say why a job is rebuilt.
_INPUT_NAMES = {
    "notebook": "notebook",
    "parameters": "paramètres",
    "data": "données",
    "spec": "spécification",
    "population": "marges de population",
    "ramlab": "code de ramlab",
    "requirements.lock": "dépendances",
    "flags": "options",
    "python": "version de Python",
    "read": "fichiers lus",
}


def reasons(record: dict | None, digests: dict, output_exists: bool) -> list[str]:
    """Why a job must be built, in French (empty when it need not be)."""
    if record is None:
        return ["premier build"]
    old = record.get("inputs", {})
    changed = {key.split(":", 1)[0] for key in set(old) | set(digests) if old.get(key) != digests.get(key)}
    reasons = [_INPUT_NAMES.get(key, key) for key in _INPUT_NAMES if key in changed]
    if not output_exists:
        reasons.append("rapport absent")
    return reasons


# ---------------------------------------------------------------------------
# Manifest


def load_manifest(path) -> dict:
    """The manifest at `path`: ``{"format": 1, "records": {job key: record}}``.

    A missing or unreadable manifest is an empty one (everything is rebuilt).
    """
    try:
        with open(path, encoding="utf-8") as stream:
            manifest = json.load(stream)
    except (OSError, ValueError):
        return {"format": _MANIFEST_FORMAT, "records": {}}
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        return {"format": _MANIFEST_FORMAT, "records": {}}
    manifest.setdefault("records", {})
    return manifest


@contextlib.contextmanager
def manifest_lock(path, *, say=None):
    """Hold the manifest's lock (``<manifest>.lock``, an exclusive ``flock``) for a block.

    Builds run at the same time in one project (two surveys, say) each
    merge their records under it (:func:`record_build`), so that none is
    lost. When another build holds it, `say` (if given) is told that this
    one waits, in French, before it waits.
    """
    lock = Path(path).with_name(Path(path).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(lock, "a", encoding="utf-8") as stream:
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if say is not None:
                say(f"ramlab build : un autre build écrit le manifeste ({lock.name}) ; en attente…")
            fcntl.flock(stream, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)


def record_build(path, key: str, record: dict, *, say=None) -> dict:
    """Merge one job's record into the manifest on disk, under :func:`manifest_lock`.

    The manifest is read again under the lock, so that the records another
    build wrote meanwhile stay. Returns the merged manifest.
    """
    with manifest_lock(path, say=say):
        manifest = load_manifest(path)
        manifest["records"][key] = record
        write_manifest(path, manifest)
    return manifest


def write_manifest(path, manifest: dict) -> Path:
    """Write the manifest atomically (a reader sees the old one or the new one)."""
    return write_atomic(path, json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n")


def is_current(job: Job, record: dict | None, fingerprint: str) -> bool:
    """Whether `job` can be skipped: same fingerprint as its last good build, and its report exists."""
    return record is not None and record.get("hash") == fingerprint and job.output.is_file()
