"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` (SIGKILL) to this process when its parent exits (a no-op
    elsewhere). SIGTERM suits a child that must stop children of its own."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def _die_with_parent_then(initializer: Callable[[], None] | None) -> None:
    die_with_parent()
    if initializer is not None:
        initializer()


def dying_with_parent(initializer: Callable[[], None] | None = None) -> Callable[[], None]:
    """The initializer for a pool's worker processes (TVM's ``PopenPoolExecutor``, MetaSchedule's
    builders and runners): :func:`die_with_parent`, then ``initializer`` when given. Picklable.

    Without it a pool's process whose parent is killed (a worker or tuning child gone with
    SIGKILL) goes on with its current task, a build or a timing, beside whatever the machine does
    next. The pool must start its processes from threads that live as long as it does (TVM's pools
    do: each of its threads keeps one process), since Linux signals the death of the thread that
    started a process, not of its process."""
    return functools.partial(_die_with_parent_then, initializer)
