"""The sandbox process: values and errors come back, a crash or a hang is a value, and the next
call gets a new child."""

from __future__ import annotations

import ctypes
import os
import time

from lorien.sandbox import Sandbox


def add(a: int, b: int) -> int:
    return a + b


def fail() -> None:
    raise ValueError("no good\nsecond line")


def crash() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def hang() -> None:
    time.sleep(60)


def pid() -> int:
    return os.getpid()


def test_values_errors_crashes_and_hangs_come_back_as_values() -> None:
    sandbox = Sandbox(timeout_s=2.0)
    try:
        assert sandbox.call(add, 2, 3).value == 5
        first = sandbox.call(pid).value
        assert sandbox.call(pid).value == first != os.getpid()  # kept between calls
        failed = sandbox.call(fail)
        assert not failed.ok and failed.error == "ValueError: no good" and not failed.crashed
        crashed = sandbox.call(crash)
        assert crashed.crashed and "SIGSEGV" in (crashed.error or "")
        assert sandbox.call(add, 1, 1).value == 2 and sandbox.call(pid).value != first  # a new child
        hung = sandbox.call(hang)
        assert hung.crashed and "longer than 2 s" in (hung.error or "")
        assert sandbox.call(add, 2, 2).value == 4
    finally:
        sandbox.close()
