"""Processes of a pool started with :func:`lorien.children.dying_with_parent` do not outlive the
process that started them, even mid-task (TVM's pool processes otherwise finish their task first)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow  # each test starts TVM pool processes (seconds of imports)

#: A parent that starts two pool processes busy for two minutes (each marks its task's start with a
#: file named by its pid) and waits.
_PARENT = """
import os, sys, time
from pathlib import Path
from tvm.support.popen_pool import PopenPoolExecutor
from lorien.children import dying_with_parent

def busy(folder):
    Path(folder, str(os.getpid())).touch()  # the task has begun: the initializer ran before it
    time.sleep(120)

folder = sys.argv[1]
initializer = dying_with_parent() if sys.argv[2] == "dying" else None
pool = PopenPoolExecutor(max_workers=2, timeout=600, initializer=initializer)
tasks = [pool.submit(busy, folder) for _ in range(2)]
time.sleep(600)
"""


def _pool_processes_left_after_killing_their_parent(tmp_path: Path, initializer: str,
                                                    wait_s: float) -> list[psutil.Process]:
    started = tmp_path / initializer
    started.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(started), initializer])
    try:
        deadline = time.monotonic() + 60
        while len(list(started.iterdir())) < 2:
            assert time.monotonic() < deadline, "the pool's processes did not start their tasks"
            assert parent.poll() is None, "the parent died"
            time.sleep(0.1)
        workers = [psutil.Process(int(path.name)) for path in started.iterdir()]
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
    return psutil.wait_procs(workers, timeout=wait_s)[1]


def test_pool_processes_die_with_their_parent_mid_task(tmp_path: Path) -> None:
    assert not _pool_processes_left_after_killing_their_parent(tmp_path, "dying", wait_s=10)


def test_without_it_pool_processes_go_on_with_their_task(tmp_path: Path) -> None:
    """What the initializer is for (and that the test above can fail)."""
    left = _pool_processes_left_after_killing_their_parent(tmp_path, "none", wait_s=3)
    try:
        assert len(left) == 2
    finally:
        for process in left:
            process.kill()
