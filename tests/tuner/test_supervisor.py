"""Local worker processes kept running, with a growing pause after error exits."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil

from lorien.tuner.supervisor import MAX_BACKOFF_S, WorkerSupervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _exit_with_code_in(path: Path) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.exit(int(open({str(path)!r}).read()))"]


def _wait_exited(supervisor: WorkerSupervisor) -> None:
    for process in supervisor._processes:
        process.wait(timeout=30)


def test_exited_workers_are_replaced_and_stop_ends_them_all() -> None:
    supervisor = WorkerSupervisor([sys.executable, "-c", "import time; time.sleep(60)"], 2)
    try:
        supervisor.check()
        assert (supervisor.running, supervisor.started) == (2, 2)
        first = supervisor._processes[0]
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        supervisor.check()  # killed: an error exit, replaced after the first pause
        assert supervisor.failures_in_a_row == 1 and supervisor.running == 1
        time.sleep(1.05)
        supervisor.check()
        assert (supervisor.running, supervisor.started) == (2, 3)
        alive = [psutil.Process(p.pid) for p in supervisor._processes]
    finally:
        supervisor.stop(grace_s=10)
    _, still = psutil.wait_procs(alive, timeout=10)
    assert not still and supervisor.running == 0


def test_error_exits_pause_restarts_longer_each_time_and_a_clean_exit_resets(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.write_text("3")
    clock = Clock()
    supervisor = WorkerSupervisor(_exit_with_code_in(code), 1, clock=clock)
    supervisor.check()
    _wait_exited(supervisor)
    supervisor.check()
    assert (supervisor.failures_in_a_row, supervisor.last_exit_code, supervisor.started) == (1, 3, 1)
    clock.now = 0.99
    supervisor.check()
    assert supervisor.started == 1  # still pausing
    clock.now = 1.0
    supervisor.check()
    assert supervisor.started == 2
    _wait_exited(supervisor)
    supervisor.check()
    assert supervisor.failures_in_a_row == 2
    clock.now = 2.99  # the second pause is 2 s
    supervisor.check()
    assert supervisor.started == 2
    clock.now = 3.0
    supervisor.check()
    assert supervisor.started == 3

    code.write_text("0")  # a clean exit (an idle worker) resets the count, and is replaced at once
    _wait_exited(supervisor)
    supervisor.check()
    assert (supervisor.failures_in_a_row, supervisor.last_exit_code, supervisor.started) == (0, 0, 4)
    supervisor.stop()


def test_the_pause_never_exceeds_a_minute(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.write_text("1")
    clock = Clock()
    supervisor = WorkerSupervisor(_exit_with_code_in(code), 1, clock=clock)
    while supervisor.failures_in_a_row < 10:  # uncapped, the tenth pause would be 512 s
        supervisor.check()
        _wait_exited(supervisor)
        clock.now += MAX_BACKOFF_S
    supervisor.check()
    assert supervisor.running == 1
    supervisor.stop()
