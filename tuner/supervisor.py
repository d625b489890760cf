"""Local ``lorien worker`` processes kept running by the command that started them (``lorien tune``,
``lorien serve``).

A worker that exits is replaced. One that exits with an error is replaced only after a pause that
doubles with each error in a row (1 s up to a minute), so a worker that cannot start (a store it
cannot reach, a bad flag) does not respawn in a tight loop; a clean exit (a worker idle long
enough) resets the count. What to do about repeated errors is the caller's decision:
:attr:`WorkerSupervisor.failures_in_a_row` tells it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

from lorien.children import die_with_parent

#: Pause before replacing a worker after its first error exit; doubles with each further one.
FIRST_BACKOFF_S = 1.0
#: The longest pause between restarts.
MAX_BACKOFF_S = 60.0


class WorkerSupervisor:
    """Keeps ``count`` processes of ``command`` running.

    Thread safety: not thread safe; one thread calls :meth:`check` periodically and :meth:`stop`.

    Ownership: owns the processes it starts; each dies with this process (``PR_SET_PDEATHSIG``)
    and :meth:`stop` terminates them.
    """

    def __init__(self, command: Sequence[str], count: int, env: Mapping[str, str] | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.command = list(command)
        self.count = count
        self.env = dict(env) if env is not None else None
        self.failures_in_a_row = 0
        self.last_exit_code: int | None = None
        self.started = 0
        self._clock = clock
        self._processes: list[subprocess.Popen[bytes]] = []
        self._not_before = 0.0

    @property
    def running(self) -> int:
        """Processes started and not yet seen to exit."""
        return len(self._processes)

    def check(self) -> None:
        """Forget exited processes and start replacements, unless an error exit's pause runs."""
        for process in [p for p in self._processes if p.poll() is not None]:
            self._processes.remove(process)
            self.last_exit_code = process.returncode
            if process.returncode == 0:
                self.failures_in_a_row = 0
            else:
                self.failures_in_a_row += 1
                pause = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (self.failures_in_a_row - 1))
                self._not_before = self._clock() + pause
        if self._clock() < self._not_before:
            return
        while len(self._processes) < self.count:
            self._processes.append(subprocess.Popen(self.command, env=self.env, preexec_fn=die_with_parent))
            self.started += 1

    def stop(self, grace_s: float = 30.0) -> None:
        """Terminate every process (SIGTERM: a worker gives its job back) and wait for them;
        kill those still running after ``grace_s``. Idempotent."""
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        deadline = self._clock() + grace_s
        for process in self._processes:
            try:
                process.wait(timeout=max(0.0, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes = []
