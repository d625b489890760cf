"""A real TVM RPC tracker and real RPC servers on 127.0.0.1, each in its own process group: for
tests, drills and benchmarks of RPC measurement on one machine (the servers measure on this CPU).

``python -m tvm.exec.rpc_server`` is a launcher: the socket and the tracker connection are held by
a ``popen_worker`` child, and every session forks again. Killing the launcher's PID alone leaves
the device registered, so every process here runs in its own session and is ended by killing its
whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from lorien.dialects.base import RPCEndpoint

#: How long a tracker or server may take to come up (importing TVM takes a few seconds here).
START_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RPCProcess:
    """A process started in its own session (process group), with its output in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(  # our own interpreter and TVM's entry points
            [sys.executable, "-m", *args],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """Kill the whole process group (launcher, popen worker, session forks) and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log_file.close()

    def __enter__(self) -> RPCProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


def _log_path(name: str) -> Path:
    import tempfile

    fd, path = tempfile.mkstemp(prefix=f"lorien-{name}-", suffix=".log")
    os.close(fd)
    return Path(path)


@contextlib.contextmanager
def rpc_tracker(host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
    """A TVM RPC tracker on a free port, accepting connections; yields ``(host, port)``."""
    port = free_port()
    tracker = RPCProcess(
        ["tvm.exec.rpc_tracker", "--host", host, "--port", str(port), "--port-end", str(port + 1)],
        _log_path("rpc-tracker"),
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if not tracker.alive():
                raise RuntimeError(f"the RPC tracker exited:\n{tracker.output()}")
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the RPC tracker did not listen on {host}:{port} within "
                        f"{START_TIMEOUT_S:g} s:\n{tracker.output()}"
                    ) from None
                time.sleep(0.2)
        yield host, port
    finally:
        tracker.kill()
        tracker.log.unlink(missing_ok=True)


class RPCServer(RPCProcess):
    """``python -m tvm.exec.rpc_server`` registered with a tracker under a key."""

    def __init__(self, tracker_port: int, key: str, tracker_host: str = "127.0.0.1") -> None:
        self.endpoint = RPCEndpoint(tracker_host, tracker_port, key)
        super().__init__(
            ["tvm.exec.rpc_server", "--host", "127.0.0.1", "--tracker",
             f"{tracker_host}:{tracker_port}", "--key", key],
            _log_path(f"rpc-server-{key}"),
        )

    def wait_listed(self, count: int = 1, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until the tracker lists at least ``count`` servers under this server's key."""
        deadline = time.monotonic() + timeout_s
        while (seen := registered(self.endpoint)) < count:
            if not self.alive():
                raise RuntimeError(f"the RPC server exited:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.endpoint}: {seen} servers registered after "
                                   f"{timeout_s:g} s, expected {count}:\n{self.output()}")
            time.sleep(0.2)

    def kill(self) -> None:
        super().kill()
        self.log.unlink(missing_ok=True)


def registered(endpoint: RPCEndpoint) -> int:
    """How many servers the tracker lists under the endpoint's key (0 when it cannot be asked)."""
    from lorien.dialects.rpc import TrackerError, tracker_status

    try:
        return tracker_status(endpoint, timeout_s=2.0).registered
    except TrackerError:
        return 0


def wait_registered(endpoint: RPCEndpoint, count: int, timeout_s: float = START_TIMEOUT_S) -> None:
    """Wait until the tracker lists exactly ``count`` servers under the endpoint's key."""
    deadline = time.monotonic() + timeout_s
    while (seen := registered(endpoint)) != count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{endpoint}: {seen} servers registered, expected {count} "
                               f"after {timeout_s:g} s")
        time.sleep(0.2)


def rpc_server(tracker_port: int, key: str, wait: bool = True) -> RPCServer:
    """Start an RPC server registered under ``key`` at the tracker on 127.0.0.1:``tracker_port``.

    With ``wait``, returns once the tracker lists one more server under the key than before.
    The caller kills it with ``.kill()`` (or uses it as a context manager).
    """
    before = registered(RPCEndpoint("127.0.0.1", tracker_port, key)) if wait else 0
    server = RPCServer(tracker_port, key)
    if wait:
        try:
            server.wait_listed(before + 1)
        except BaseException:
            server.kill()
            raise
    return server
