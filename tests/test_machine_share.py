"""The lock that lets parallel test workers share the machine (tests/machine_share.py)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tests.machine_share import machine_share


class Holder:
    """Holds the machine in a thread until told to let go; records when it got in."""

    def __init__(self, folder: Path, exclusive: bool) -> None:
        self.entered = threading.Event()
        self.leave = threading.Event()
        self.thread = threading.Thread(target=self._hold, args=(folder, exclusive), daemon=True)
        self.thread.start()

    def _hold(self, folder: Path, exclusive: bool) -> None:
        with machine_share(folder, exclusive):
            self.entered.set()
            self.leave.wait(30)

    def release(self) -> None:
        self.leave.set()
        self.thread.join(10)


def test_shared_holders_run_together_and_an_exclusive_one_waits_for_them(tmp_path: Path) -> None:
    first, second = Holder(tmp_path, False), Holder(tmp_path, False)
    assert first.entered.wait(5) and second.entered.wait(5)
    alone = Holder(tmp_path, True)
    assert not alone.entered.wait(0.5)
    first.release()
    assert not alone.entered.wait(0.3)
    second.release()
    assert alone.entered.wait(5)
    alone.release()


def test_a_waiting_exclusive_holder_goes_before_shared_ones_that_come_later(tmp_path: Path) -> None:
    early = Holder(tmp_path, False)
    assert early.entered.wait(5)
    alone = Holder(tmp_path, True)
    time.sleep(0.3)  # the exclusive holder is waiting at the turnstile's far side
    late = Holder(tmp_path, False)
    assert not late.entered.wait(0.5) and not alone.entered.is_set()
    early.release()
    assert alone.entered.wait(5)
    assert not late.entered.wait(0.3)
    alone.release()
    assert late.entered.wait(5)
    late.release()


def test_a_child_forked_while_the_machine_is_held_does_not_keep_it(tmp_path: Path) -> None:
    shared = Holder(tmp_path, False)
    assert shared.entered.wait(5)
    child = os.fork()
    if child == 0:  # outlives the holder below, as a server forked by a fixture would
        time.sleep(3)
        os._exit(0)
    try:
        shared.release()
        alone = Holder(tmp_path, True)
        assert alone.entered.wait(1.5)  # not after the child's 3 s
        alone.release()
    finally:
        os.waitpid(child, 0)


def test_outside_parallel_workers_nothing_is_locked() -> None:
    with machine_share(None, exclusive=True), machine_share(None, exclusive=True):
        pass
