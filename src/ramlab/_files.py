"""Atomic file replacement: a reader sees the previous file or the new one, whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["replacing"]


@contextlib.contextmanager
def replacing(path, *, mode=0o644):
    """Yield a temporary path beside `path`; on success rename it over `path`.

    The caller writes the new content to the yielded path. When the block
    exits normally the file is made readable (`mode`; ``mkstemp`` creates 0600)
    and renamed over `path` with ``os.replace``, atomic on POSIX. When the
    block raises, the temporary file is removed and `path` is left untouched,
    so a failed write never leaves a partial file in place of a good one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield temporary
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
