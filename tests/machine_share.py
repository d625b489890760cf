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
import functools
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


#: Descriptors this process holds a lock through. A child forked while a test runs gets copies,
#: and an ``flock`` lasts while any copy is open: a child that outlived its test (a server forked
#: by a session fixture) would hold the machine for ever. Forked children close them.
_HELD: set[int] = set()


def _close_held_in_child() -> None:
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)  # the child's copy only: the parent's lock stays
    _HELD.clear()


@functools.cache
def _close_held_in_forked_children() -> None:
    """Registers the fork handler, once per process, at the first lock taken."""
    os.register_at_fork(after_in_child=_close_held_in_child)


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    _close_held_in_forked_children()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    _HELD.add(fd)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)  # closing the last copy of the descriptor releases its lock


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
