"""The build check's rounds (which candidates are compiled, in how many calls), with a fake
compiler; the real TVM dialect's check is tested in ``test_predictor.py`` and
``tests/dialects/test_tvm_measure.py``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from lorien.errors import TuningError
from lorien.predictor import PredictOptions, Ranked
from lorien.predictor.predictor import CompileCheck, first_that_compiles
from lorien.records import Target, Workload
from lorien.testing.factories import CPU_A, workload


@dataclass
class FakeChecker:
    """Compiles every schedule but those in ``slow`` within the time; records each call."""

    slow: set[str]
    calls: list[list[tuple[str, list[str]]]] = field(default_factory=list)

    def check_builds(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     timeout_s: float) -> list[list[str | None]]:
        self.calls.append([(w.key, list(schedules)) for w, schedules in batches])
        return [[f"build timed out after {timeout_s:g} s" if s in self.slow else None for s in schedules]
                for _, schedules in batches]


def ranked(*schedules: str) -> Ranked:
    count = len(schedules)
    return Ranked(list(schedules), -np.arange(count, dtype=float), ["space"] * count, [], 1e-3)


A, B, C = (workload(f"00000000000000a{i}") for i in range(3))


def test_every_kernel_s_first_is_checked_in_one_call_then_the_next_of_those_that_failed() -> None:
    checker = FakeChecker(slow={"a0", "b0", "b1"})
    lists = [ranked("a0", "a1"), ranked("b0", "b1", "b2"), ranked("c0")]
    places = first_that_compiles(checker, [A, B, C], lists, CPU_A, PredictOptions())  # type: ignore[arg-type]
    assert places == [1, 2, 0]
    assert checker.calls == [[(A.key, ["a0"]), (B.key, ["b0"]), (C.key, ["c0"])],
                             [(A.key, ["a1"]), (B.key, ["b1"])], [(B.key, ["b2"])]]


def test_a_kernel_none_of_whose_first_tries_compiles_is_an_error_naming_it_and_why() -> None:
    checker = FakeChecker(slow={"a0", "a1", "b0"})
    options = PredictOptions(build_check=2, build_check_timeout_s=7)
    with pytest.raises(TuningError, match=rf"none of the first 2 candidates for .* \({A.key}\) compiled "
                                          r"within 7 s: build timed out after 7 s"):
        first_that_compiles(checker, [A], [ranked("a0", "a1", "a2")], CPU_A, options)  # type: ignore[arg-type]
    assert [len(call) for call in checker.calls] == [1, 1]  # a2 is past the tries: never compiled
    with pytest.raises(TuningError, match="none of the first 3 candidates"):  # fewer candidates than tries
        first_that_compiles(checker, [B], [ranked("b0")], CPU_A, PredictOptions())  # type: ignore[arg-type]


@dataclass
class BlockingChecker(FakeChecker):
    """A FakeChecker whose check of a ``slow`` schedule lasts until ``released`` is set."""

    released: threading.Event = field(default_factory=threading.Event)

    def check_builds(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     timeout_s: float) -> list[list[str | None]]:
        if any(s in self.slow for _, schedules in batches for s in schedules):
            assert self.released.wait(10)
        return super().check_builds(target, batches, timeout_s)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="checks side by side need two cores")
def test_a_kernel_whose_first_compiles_for_long_holds_up_no_other_kernel_s_check() -> None:
    checker = BlockingChecker(slow={"a0"})
    with CompileCheck(checker, CPU_A, PredictOptions()) as check:  # type: ignore[arg-type]
        check.add(A, ranked("a0", "a1"))
        check.add(B, ranked("b0"))
        deadline = time.monotonic() + 10
        while len(checker.calls) < 1 and time.monotonic() < deadline:  # B's check, while A's waits
            time.sleep(0.01)
        assert checker.calls == [[(B.key, ["b0"])]]
        checker.released.set()
        assert check.places() == [1, 0]
