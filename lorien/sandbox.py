"""A kept child process for calls that may crash the process they run in.

A compiler's C++ code can die on malformed input (TVM's trace reader dereferences whatever a
schedule's JSON says). Input that arrives from outside and can only be checked by the compiler
itself runs here: if it crashes, the child dies, the caller gets the reason as a value and the
next call starts a new child. The child keeps its imports between calls, so only the first call
(and the first after a crash) pays for starting it.

Thread safety: :meth:`Sandbox.call` may be called from several threads; calls run one at a time.
Ownership: the sandbox owns its child; :meth:`Sandbox.close` ends it, and it dies with its parent.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from lorien.children import die_with_parent


@dataclass(frozen=True)
class Outcome:
    """What a sandboxed call gave: its ``value``, or ``error`` (one line) when it raised,
    crashed the child or ran out of time (``crashed`` then says the child is gone)."""

    value: Any = None
    error: str | None = None
    crashed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def _serve(conn: Connection) -> None:
    die_with_parent()
    while True:
        try:
            function, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("value", function(*args))
        except Exception as exc:  # the reason goes back as a value
            reply = ("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        try:
            conn.send(reply)
        except (BrokenPipeError, EOFError, OSError):
            return


class Sandbox:
    """Runs module-level functions in a kept child process (see the module docstring).

    Args:
        timeout_s: how long one call may take before the child is killed.
        name: the child process's name.
    """

    def __init__(self, timeout_s: float = 60.0, name: str = "lorien-sandbox") -> None:
        self.timeout_s = timeout_s
        self.name = name
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None

    def call(self, function: Callable[..., Any], *args: Any) -> Outcome:
        """``function(*args)`` in the child. ``function`` must be importable by name (defined at
        a module's top level); arguments and result must pickle. Never raises for what the call
        does."""
        with self._lock:
            conn = self._child()
            try:
                conn.send((function, args))
                if not conn.poll(self.timeout_s):
                    self._stop()
                    return Outcome(error=f"took longer than {self.timeout_s:g} s", crashed=True)
                kind, value = conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                return Outcome(error=self._died(), crashed=True)
        return Outcome(value=value) if kind == "value" else Outcome(error=value)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _child(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            self._stop()
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child,), daemon=True, name=self.name)
            self._process.start()
            child.close()
            self._conn = parent
        assert self._conn is not None
        return self._conn

    def _died(self) -> str:
        process = self._process
        process.join(timeout=5)
        code = process.exitcode
        self._stop()
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"crashed the compiler ({signal.Signals(-code).name})"
        return f"crashed the compiler (exit code {code})"

    def _stop(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            self._process.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process = None
        self._conn = None
