"""The machine shared by parallel test workers (pytest-xdist): most tests run side by side, and a
test marked ``exclusive`` (a budget of seconds that must measure something) runs with no other
test alongside.

A readers-writer lock over two ``flock`` files in the run's shared temporary folder: every test
holds the main lock shared; an exclusive test holds it exclusively. The turnstile gives a waiting
exclusive test priority, so a stream of shared holders cannot starve it. Each worker runs one test
at a time, so a waiter never holds the main lock: no deadlock. Without xdist there is one process
and nothing to share, so no lock is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

MARKER = "exclusive"


def lock_folder(config: pytest.Config) -> Path | None:
    """The folder every worker of this run shares (the parent of each worker's own basetemp), or
    None outside xdist's workers."""
    if not hasattr(config, "workerinput") or not config.option.basetemp:
        return None
    return Path(config.option.basetemp).parent


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases its lock


@contextlib.contextmanager
def machine_share(folder: Path | None, exclusive: bool) -> Iterator[None]:
    """Holds the machine shared (or exclusively) for the duration of the block."""
    if folder is None:
        yield
        return
    with contextlib.ExitStack() as stack:
        with _flock(folder / "lorien-tests.turnstile", fcntl.LOCK_EX):
            stack.enter_context(_flock(folder / "lorien-tests.lock",
                                       fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH))
        yield
