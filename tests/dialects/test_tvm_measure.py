"""Measuring given schedules with builder and runner processes kept between calls."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from lorien.dialects import Lowering, TuneOptions, get_dialect
from lorien.dialects.tvm.measure import KeptMeasurers, ScheduleMeasurer
from lorien.dialects.tvm.tuning import tune_workload
from lorien.errors import TuningError
from lorien.records import Latency, MeasureFailure, Target, Workload
from tests.tvm_models import sampled_schedules, small_conv, small_mlp, stem_conv

pytestmark = pytest.mark.slow

OPTIONS = TuneOptions(trials=1, build_timeout_s=60, run_timeout_s=60)


@dataclass
class Kernels:
    target: Target
    mlp: Workload
    conv: Workload


@pytest.fixture(scope="module")
def kernels() -> Kernels:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    mlp, conv = (dialect.extract(dialect.load_model(model()), target)[0].workload
                 for model in (small_mlp, small_conv))
    return Kernels(target, mlp, conv)


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _still_alive(pids: set[int], timeout_s: float = 30) -> list[psutil.Process]:
    processes = []
    for pid in pids:
        try:
            processes.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return psutil.wait_procs(processes, timeout=timeout_s)[1]


@pytest.fixture
def measurer() -> Iterator[ScheduleMeasurer]:
    kept = ScheduleMeasurer("llvm", OPTIONS)
    yield kept
    kept.close()


def test_a_kept_measurer_measures_again_with_the_same_processes(
        kernels: Kernels, measurer: ScheduleMeasurer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where its processes, started below, build
    before = _children()
    good = sampled_schedules(kernels.mlp, kernels.target, 3)
    foreign = sampled_schedules(kernels.conv, kernels.target, 1)[0]  # another kernel's schedule
    schedules = [*good, "not a trace", json.dumps([[], []]), foreign]

    first = measurer.measure(kernels.mlp, kernels.target, schedules)
    assert all(isinstance(latency, Latency) and 0 < latency.mean < 1 for latency in first[:3])
    # what does not apply is not measured, and says why
    assert all(isinstance(first[i], MeasureFailure) and "does not apply" in first[i].reason for i in (3, 5))
    started = _children() - before
    assert started  # the builder and runner processes, still alive

    # several kernels in one call (built together, run one at a time), answered kernel by kernel
    again = measurer.measure_many(kernels.target, [
        (kernels.mlp, good), (kernels.conv, [foreign, "not a trace"]), (kernels.mlp, [])])
    assert [len(latencies) for latencies in again] == [3, 2, 0]
    assert all(isinstance(latency, Latency) and 0 < latency.mean < 1 for latency in [*again[0], again[1][0]])
    assert isinstance(again[1][1], MeasureFailure)
    assert _children() - before == started  # no process started for the second call

    # a search builds and runs its candidates on the same processes
    during: list[set[int]] = []
    outcome = tune_workload(kernels.conv, kernels.target, dataclasses.replace(OPTIONS, trials=2), "b1",
                            on_trial=lambda done, total: during.append(_children() - before),
                            builder=measurer.search_builder(), runner=measurer.search_runner())
    assert len(outcome.log.succeeded) == 2
    assert during and all(children == started for children in during)
    # every candidate's exported module was removed once it ran (MetaSchedule's runner keeps them)
    assert not list(tmp_path.rglob("tvm_tmp_mod*"))

    measurer.close()
    assert not _still_alive(started)


#: Measures a schedule of a stem convolution with a kept measurer (its builders and runner up),
#: then one that LLVM compiles for minutes, and is killed while it compiles.
_HOLDER = """
import json, sys, time
from pathlib import Path
from lorien.dialects import get_dialect
from lorien.dialects.tvm.measure import ScheduleMeasurer
from lorien.dialects.base import TuneOptions
from lorien.records import Latency
from tests.tvm_models import stem_conv

dialect = get_dialect("tvm")
target = dialect.parse_target("host")
stem = dialect.extract(dialect.load_model(stem_conv()), target)[0].workload
schedules = json.loads(Path("tests/data/stem_conv_schedules.json").read_text())
quick, slow = (json.dumps(schedules[name]) for name in ("quick_to_build", "slow_to_build"))
measurer = ScheduleMeasurer("llvm", TuneOptions(trials=1, build_timeout_s=600, run_timeout_s=60))
[latency] = measurer.measure(stem, target, [quick])
assert isinstance(latency, Latency), latency
print("building", flush=True)
measurer.measure(stem, target, [slow])
"""


def test_a_process_killed_mid_build_leaves_no_builder_of_its_measurer_behind() -> None:
    """A worker or tuning child killed with SIGKILL cannot stop its measurer: the builder and
    runner processes die with it instead of going on (here, compiling for minutes) beside what
    the machine measures next."""
    root = Path(__file__).parents[2]
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], cwd=root, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "building"
        started = psutil.Process(holder.pid).children(recursive=True)
        assert len(started) >= 2  # builders and the runner
        time.sleep(3)  # the slow candidate is compiling
        assert any(p.status() == psutil.STATUS_RUNNING for p in started)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    left = _still_alive({process.pid for process in started}, timeout_s=10)
    for process in left:
        process.kill()
    assert not left


def test_measuring_nothing_starts_the_processes_in_the_background(kernels: Kernels,
                                                                  measurer: ScheduleMeasurer) -> None:
    before = _children()
    started_at = time.monotonic()
    assert measurer.measure(kernels.mlp, kernels.target, []) == []
    assert time.monotonic() - started_at < 1.0  # returned at once
    deadline = time.monotonic() + 60
    while len(_children() - before) < (os.cpu_count() or 1) + 1:  # a builder per core, the runner
        assert time.monotonic() < deadline, _children() - before
        time.sleep(0.2)
    started = _children() - before
    schedules = sampled_schedules(kernels.mlp, kernels.target, 1)
    [latency] = measurer.measure(kernels.mlp, kernels.target, schedules)
    assert isinstance(latency, Latency) and _children() - before == started  # they were the ones used
    measurer.close()
    assert not _still_alive(started)


@pytest.mark.parametrize("prepack", [False, True], ids=["plain", "prepack"])
def test_kernels_of_either_lowering_measure(kernels: Kernels, measurer: ScheduleMeasurer,
                                            prepack: bool) -> None:
    """A prepacked kernel's schedules rewrite the weights' layout; they are measured as MetaSchedule
    measures them (the rewrite left out of the build, the weights given in the chosen layout)."""
    dialect = get_dialect("tvm")
    workload = dialect.extract(dialect.load_model(small_mlp()), kernels.target,
                               Lowering(prepack=prepack))[0].workload
    schedules = sampled_schedules(workload, kernels.target, 2)
    rewrites = ["TransformLayout" in {inst[0] for inst in json.loads(s)[0]} for s in schedules]
    assert rewrites == [prepack, prepack]
    latencies = measurer.measure(workload, kernels.target, schedules)
    assert all(isinstance(latency, Latency) and 0 < latency.mean < 1 for latency in latencies)


def test_a_build_check_compiles_each_schedule_in_time_runs_none_and_keeps_nothing(
        kernels: Kernels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where its processes, started below, write
    dialect = get_dialect("tvm")
    stem = dialect.extract(dialect.load_model(stem_conv()), kernels.target)[0].workload
    schedules = json.loads((Path(__file__).parents[1] / "data" / "stem_conv_schedules.json").read_text())
    quick, slow = (json.dumps(schedules[name]) for name in ("quick_to_build", "slow_to_build"))
    [mlp_schedule] = sampled_schedules(kernels.mlp, kernels.target, 1)
    assert dialect.check_builds(kernels.target, [(kernels.mlp, [mlp_schedule])], 5.0) == [[None]]  # warm
    started_at = time.monotonic()
    found: list[list[list[str | None]]] = []
    returned: list[float] = []

    def check_them() -> None:
        found.append(dialect.check_builds(kernels.target, [(stem, [slow, quick, "[]", mlp_schedule]),
                                                           (kernels.mlp, []), (kernels.mlp, [mlp_schedule])],
                                          5.0))
        returned.append(time.monotonic())

    checking = threading.Thread(target=check_them)
    checking.start()
    time.sleep(0.5)
    # another check beside it compiles on the builder the slow one leaves free
    assert dialect.check_builds(kernels.target, [(kernels.mlp, [mlp_schedule])], 5.0) == [[None]]
    assert checking.is_alive()
    # a measurement on those builders waits for the checks under way
    options = TuneOptions(trials=1, build_timeout_s=5.0)
    assert isinstance(dialect.measure(kernels.mlp, kernels.target, [mlp_schedule], options)[0], Latency)
    measured_at = time.monotonic()
    checking.join()
    assert returned[0] < measured_at
    checked = found[0]
    assert time.monotonic() - started_at < 60  # the slow one alone compiles for minutes
    assert checked[0][0] == "build timed out after 5 s"
    assert checked[0][1] is None and checked[2] == [None] and checked[1] == []
    assert checked[0][2] is not None and checked[0][2].startswith("does not apply to the kernel")
    # another kernel's schedule
    assert checked[0][3] is not None and checked[0][3].startswith("does not apply to the kernel")
    assert not list(tmp_path.iterdir())  # no built artifact left behind


def test_closing_a_measurer_waits_for_its_build_checks_in_progress(kernels: Kernels) -> None:
    dialect = get_dialect("tvm")
    stem = dialect.extract(dialect.load_model(stem_conv()), kernels.target)[0].workload
    schedules = json.loads((Path(__file__).parents[1] / "data" / "stem_conv_schedules.json").read_text())
    measurer = ScheduleMeasurer("llvm", TuneOptions(trials=1, build_timeout_s=3, run_timeout_s=60))
    found: list[list[list[str | None]]] = []
    checking = threading.Thread(target=lambda: found.append(measurer.check_builds(
        kernels.target, [(stem, [json.dumps(schedules["slow_to_build"])])])))
    checking.start()
    time.sleep(1.0)
    measurer.close()
    assert not checking.is_alive()  # closed after the check, which said why, not before it
    assert found == [[["build timed out after 3 s"]]]
    with pytest.raises(TuningError, match="closed"):
        measurer.check_builds(kernels.target, [(stem, [json.dumps(schedules["quick_to_build"])])])


def test_kept_measurers_keep_one_per_setting_up_to_their_limit(kernels: Kernels) -> None:
    kept = KeptMeasurers(limit=1)
    try:
        [schedule] = sampled_schedules(kernels.mlp, kernels.target, 1)
        assert isinstance(kept.measure(kernels.mlp, kernels.target, [schedule], OPTIONS)[0], Latency)
        assert isinstance(kept.measure(kernels.mlp, kernels.target, [schedule], OPTIONS)[0], Latency)
        assert len(kept) == 1
        before = _children()
        # a build check within the same build limit compiles on that measurer's builders
        checked = kept.check_builds(kernels.target, [(kernels.mlp, [schedule])], OPTIONS.build_timeout_s)
        assert checked == [[None]]
        assert len(kept) == 1 and _children() <= before
        other = TuneOptions(trials=1, build_timeout_s=61, run_timeout_s=60)
        assert isinstance(kept.measure(kernels.mlp, kernels.target, [schedule], other)[0], Latency)
        assert len(kept) == 1  # beyond the limit: measured with processes of its own, not kept,
        assert not _still_alive(_children() - before)  # and stopped after the call
    finally:
        kept.close()
    assert len(kept) == 0


def test_a_candidate_that_compiles_past_the_build_timeout_is_given_up_and_the_rest_is_timed(
        kernels: Kernels) -> None:
    """A round waits for its slowest build: a candidate LLVM compiles for minutes costs only the
    build timeout, and the measurer goes on measuring (its builder process replaced)."""
    dialect = get_dialect("tvm")
    stem = dialect.extract(dialect.load_model(stem_conv()), kernels.target)[0].workload
    schedules = json.loads((Path(__file__).parents[1] / "data" / "stem_conv_schedules.json").read_text())
    quick, slow = (json.dumps(schedules[name]) for name in ("quick_to_build", "slow_to_build"))
    measurer = ScheduleMeasurer("llvm", TuneOptions(trials=1, build_timeout_s=5, run_timeout_s=60))
    try:
        started_at = time.monotonic()
        first = measurer.measure(stem, kernels.target, [slow, quick])
        assert time.monotonic() - started_at < 60  # the slow one alone compiles for minutes
        assert isinstance(first[0], MeasureFailure) and "timed out" in first[0].reason
        assert isinstance(first[1], Latency) and 0 < first[1].mean < 1
        [again] = measurer.measure(stem, kernels.target, [quick])
        assert isinstance(again, Latency)
    finally:
        measurer.close()
