"""A tuning process: one child process per worker that tunes one job at a time and can be killed.

A worker never tunes in its own process: MetaSchedule's RPC runner can hang forever, and a stuck
search cannot be interrupted from Python. The child keeps the compiler imported between jobs (paid
once), reports progress and the outcome over a pipe, runs in its own process group (so killing it
kills its builder and runner processes too) and dies with its parent (``PR_SET_PDEATHSIG`` on
Linux), as its builder and runner processes die with it (the dialect starts them with
:func:`lorien.children.dying_with_parent`), so a worker killed with SIGKILL leaves no orphan tuning,
build or timing behind.

Not thread safe: one worker thread drives one :class:`TuningProcess`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from lorien.children import die_with_parent
from lorien.dialects.base import TuneOptions, TuneOutcome
from lorien.records import Target, Workload


def _serve(conn: Connection) -> None:
    """The child's loop: receive a job, tune it, send progress and the outcome."""
    os.setsid()
    die_with_parent()
    from lorien.dialects import Tuner, get_dialect
    from lorien.errors import LorienError
    from lorien.tuner.sampling import run_tuning

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        dialect_name, workload, target, options, neighbours = request

        def on_trial(done: int, total: int) -> None:
            conn.send(("progress", done, total))

        try:
            try:
                dialect = get_dialect(dialect_name, Tuner)
                # A workload from the store is checked like one from a client: a payload that
                # cannot be loaded fails the job with the reason (InvalidInput), never the process.
                outcome = run_tuning(dialect, dialect.check_workload(workload), target, options, on_trial,
                                     neighbours)
                conn.send(("outcome", outcome))
            except LorienError as exc:
                conn.send(("error", type(exc).__name__, str(exc)))
            except (BrokenPipeError, EOFError):
                raise
            except Exception as exc:  # a compiler failure must reach the worker as a value
                conn.send(("error", type(exc).__name__, f"{type(exc).__name__}: {exc}"))
        except (BrokenPipeError, EOFError):  # the worker is gone; so is the reason to go on
            return


@dataclass(frozen=True)
class Progress:
    done: int
    total: int


@dataclass(frozen=True)
class Failed:
    """Tuning raised: its error class name and one line."""

    kind: str
    message: str


@dataclass(frozen=True)
class Died:
    """The tuning process ended without an answer (killed, crashed)."""

    exitcode: int | None


Event = Progress | TuneOutcome | Failed | Died


class TuningProcess:
    """The child process a worker tunes in; started on first use, restarted after :meth:`kill`."""

    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None

    def start(self, dialect: str, workload: Workload, target: Target, options: TuneOptions,
              neighbours: Sequence[str] = ()) -> None:
        """Start tuning one workload (the previous job must have ended); ``neighbours`` are the
        schedules its neighbour samples adapt (:func:`~lorien.tuner.sampling.run_tuning`)."""
        if self._process is None or not self._process.is_alive():
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child,), daemon=True,
                                            name="lorien-tuning")
            self._process.start()
            child.close()
            self._conn = parent
        assert self._conn is not None
        self._conn.send((dialect, workload, target, options, tuple(neighbours)))

    def next_event(self, timeout_s: float) -> Event | None:
        """The next thing the child reports within ``timeout_s``, or None."""
        assert self._conn is not None and self._process is not None
        try:
            if not self._conn.poll(timeout_s):
                if not self._process.is_alive():
                    return self._died()
                return None
            message = self._conn.recv()
        except (EOFError, OSError):
            return self._died()
        if message[0] == "progress":
            return Progress(message[1], message[2])
        if message[0] == "outcome":
            return message[1]
        return Failed(message[1], message[2])

    def _died(self) -> Died:
        assert self._process is not None
        self._process.join(timeout=5)
        code = self._process.exitcode
        self._forget()
        return Died(code)

    def kill(self) -> None:
        """Kill the child and everything it started (its process group)."""
        if self._process is not None and self._process.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.join(timeout=10)
        self._forget()

    def _forget(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._process = None
        self._conn = None

    def close(self) -> None:
        self.kill()
