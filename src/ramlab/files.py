"""Files: atomic replacement (a reader sees the previous file or the new one, whole) and content hashes."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

__all__ = [
    "INPUTS_LOG", "replacing", "write_atomic", "file_sha256", "pid_alive", "remove_leftovers",
    "record_input", "recorded_inputs",
]

#: Environment variable naming the file where :func:`record_input` notes each
#: input file ramlab opens (``ramlab build`` sets it for a report's kernel).
INPUTS_LOG = "RAMLAB_INPUTS_LOG"

#: A temporary file of :func:`replacing`: ``.<name>.<pid>.<random>.tmp``.
_TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.[^.]+\.tmp$")


@contextlib.contextmanager
def replacing(path, *, mode=0o644):
    """Yield a temporary path beside `path`; on success rename it over `path`.

    The caller writes the new content to the yielded path. When the block
    exits normally the file is made readable (`mode`; ``mkstemp`` creates 0600)
    and renamed over `path` with ``os.replace``, atomic on POSIX. When the
    block raises, the temporary file is removed and `path` is left untouched,
    so a failed write never leaves a partial file in place of a good one.
    The temporary file's name, ``.<name>.<pid>.<random>.tmp``, carries the
    writer's process id: :func:`remove_leftovers` removes those of a process
    that was killed before it could clean up.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
    )
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_atomic(path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through :func:`replacing`, flushed to disk first.

    A reader sees the old file or the new one, never a partial one; on
    failure the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    return path


def file_sha256(path) -> str:
    """Hex sha256 of a file's content, read in 1 MiB blocks.

    Raises OSError (FileNotFoundError, ...) as ``open`` does: callers decide
    what a missing file means.
    """
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this machine (another user's included)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def remove_leftovers(directory) -> list[Path]:
    """Remove, below `directory`, the temporary files of :func:`replacing` whose writer is gone.

    A build killed while it wrote a report, a workbook or the manifest leaves
    ``.<name>.<pid>.<random>.tmp`` beside it; a file of a process still
    running (a concurrent build) is left alone.

    Returns
    -------
    list of Path
        The files removed.
    """
    directory = Path(directory)
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def record_input(path) -> None:
    """Note that `path` was opened as an input, when :data:`INPUTS_LOG` names a log.

    ``read_sav`` and ``read_yaml`` call it, so that ``ramlab build`` hashes,
    and names in a report's provenance, the files that its notebook really
    read (a spec's ``data_file:``, say), not the ones it expected.
    """
    log = os.environ.get(INPUTS_LOG)
    if log:
        with contextlib.suppress(OSError), open(log, "a", encoding="utf-8") as stream:
            stream.write(f"{Path(path).resolve()}\n")


def recorded_inputs(log) -> list[Path]:
    """The files noted in an inputs log, each once, in the order first opened (empty if none)."""
    try:
        lines = Path(log).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [Path(line) for line in dict.fromkeys(line for line in lines if line)]
