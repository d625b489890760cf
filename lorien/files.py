"""Writing a file so that readers see the old one or the whole new one, never part of it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, write: Callable[[BinaryIO], object], *, durable: bool = False,
                     mode: int = 0o644) -> None:
    """Write ``path`` by ``write(handle)`` into a temporary file beside it, renamed over ``path``
    when ``write`` returns (atomic on POSIX): a concurrent reader sees the old file or the whole
    new one, and of concurrent writers one wins whole. The folder is created when missing.

    Args:
        durable: flush the file to the disk before the rename (what a crash must not lose).
        mode: the file's permissions (a temporary file is made owner-only).

    Raises:
        OSError: the folder or the file cannot be written; nothing is left behind.
        Exception: whatever ``write`` raises; nothing is left behind and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
