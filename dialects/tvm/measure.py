"""Measuring given schedules of a TVM workload on this machine: the predictor's optional check.

MetaSchedule's ``LocalBuilder`` starts a fresh pool of processes for every ``build`` call (and
another one to check itself when created), and each process imports TVM: seconds before the
first candidate compiles, paid again by every workload the predictor measures. A
:class:`ScheduleMeasurer` keeps its builder processes and its local runner between calls instead;
a builder process is replaced after :data:`BUILDS_PER_PROCESS` builds, which bounds the memory
that long-lived TVM builder processes are known to accumulate. Its processes start with its first
measurement, or in the background when it is asked to measure nothing: a caller that does that
early (a budgeted delivery, before it ranks candidates) does not wait for them in its first
measurement. A MetaSchedule search can build and run its candidates on the same processes
(:meth:`ScheduleMeasurer.search_builder`, :meth:`ScheduleMeasurer.search_runner`), so a tuning
job's search, re-measurements and random samples start them once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

from lorien.children import dying_with_parent
from lorien.dialects.base import TuneOptions
from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.schedule import apply_schedule
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.tuning import make_runner, valid_runs
from lorien.dialects.tvm.workloads import from_workload
from lorien.errors import TuningError
from lorien.records import Latency, Measured, MeasureFailure, Target, Workload

#: The runtime device of a target kind, where the names differ.
_DEVICES = {"llvm": "cpu", "c": "cpu"}

#: Builds a builder process serves before it is replaced.
BUILDS_PER_PROCESS = 64

#: Measurers :class:`KeptMeasurers` keeps at most (one per target kind and settings).
MAX_KEPT = 4


def _build(mod: tvm.IRModule, target: tvm.target.Target) -> str:
    """In a builder process: compile one scheduled module and export it; the artifact's path."""
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build, default_export

    return default_export(default_build(mod, target, None))


def _compile(mod: tvm.IRModule, target: tvm.target.Target) -> None:
    """In a builder process: compile one scheduled module as :func:`_build` does, keeping
    nothing (a build check)."""
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build

    default_build(mod, target, None)


def _scheduled(batches: Sequence[tuple[Workload, Sequence[str]]]
               ) -> Iterator[tuple[tuple[int, int], tvm.IRModule | str]]:
    """Each schedule of ``batches`` applied to its kernel, with its place (batch, row): the
    scheduled module, or why the schedule does not apply to the kernel."""
    for which, (workload, schedules) in enumerate(batches):
        if not schedules:
            continue
        mod = from_workload(workload)
        for row, schedule in enumerate(schedules):
            try:
                yield (which, row), apply_schedule(mod, schedule).mod
            except Exception as exc:
                yield (which, row), f"does not apply to the kernel: {first_line(exc)}"


def _builder_result(result: Any, timeout_s: float) -> ms.builder.BuilderResult:
    """MetaSchedule's builder result of one build on a process pool."""
    if result.status == StatusKind.COMPLETE:
        return ms.builder.BuilderResult(result.value, None)
    if result.status == StatusKind.TIMEOUT:
        return ms.builder.BuilderResult(None, f"build timed out, killed after {timeout_s} s")
    return ms.builder.BuilderResult(None, f"build failed: {result.value}")


@derived_object
class _KeptBuilder(ms.builder.PyBuilder):
    """MetaSchedule's builder interface over a :class:`ScheduleMeasurer`'s builder processes."""

    def __init__(self, measurer: ScheduleMeasurer) -> None:
        super().__init__()
        self.measurer = measurer

    def build(self, build_inputs: list[Any]) -> list[Any]:
        return self.measurer.build(build_inputs)


class ScheduleMeasurer:
    """Builds and runs schedules of TVM workloads for one target kind and one set of timeouts,
    keeping its builder processes (and, on this machine, its runner) between calls.

    Thread safety: every method may be called from any thread. Measurements and builds run one
    at a time, since measurements sharing the cores would skew each other's timings; build checks
    (:meth:`check_builds`, which compile and run nothing) run side by side with each other, so one
    that compiles for long leaves the other builder processes to the next, and never beside a
    measurement or build, which waits for the checks under way.

    Ownership: owns its builder and runner processes; :meth:`close` stops them.
    """

    def __init__(self, target_kind: str, options: TuneOptions, builders: int | None = None) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._checks = 0  # build checks under way, outside the lock
        self._changed = threading.Condition(self._lock)  # checks ended, or the runner started
        self._workers = builders or os.cpu_count() or 1
        self._builders = PopenPoolExecutor(
            max_workers=self._workers, timeout=options.build_timeout_s,
            initializer=dying_with_parent(load_intrinsics_for(target_kind)),
            maximum_process_uses=BUILDS_PER_PROCESS)
        self._local_runner: ms.runner.Runner | None = None
        self._closed = False
        self._starting: threading.Thread | None = None
        self._runner_starting = False  # by the start thread, outside the lock

    def start(self) -> None:
        """Start the builder processes and, on this machine, the runner in the background, once
        (what a call finds still starting, it waits for)."""
        with self._lock:
            if self._starting is None and not self._closed:
                self._starting = threading.Thread(target=self._start_processes, name="lorien-measurer-start",
                                                  daemon=True)
                self._starting.start()

    def _start_processes(self) -> None:
        """Start every builder process and, on this machine, the runner, holding the lock only
        to hand them out: a build check compiles as soon as a builder is up rather than after the
        runner's start too (seconds each, cold), and a measurement that comes first builds on the
        builders as they come up and waits for the runner."""
        try:
            with self._lock:
                if self._closed:
                    return
                started = [self._builders.submit(os.getpid) for _ in range(self._workers)]
                self._runner_starting = self.options.rpc is None
            spare = make_runner(self.options) if self.options.rpc is None else None
            with self._lock:
                if spare is not None and self._local_runner is None and not self._closed:
                    self._local_runner, spare = spare, None
                self._runner_starting = False
                self._changed.notify_all()
            if spare is not None:  # the measurer closed meanwhile
                _shut_down(spare)
            for future in started:
                future.result()
        except Exception:  # the first measurement meets the same problem and reports it
            pass
        finally:
            with self._lock:
                self._runner_starting = False
                self._changed.notify_all()

    def _runner(self) -> ms.runner.Runner:
        if self.options.rpc is not None:  # the tracker's devices come and go: asked every time
            return make_runner(self.options)
        self._changed.wait_for(lambda: not self._runner_starting)  # the start thread's, when starting
        if self._local_runner is None:
            self._local_runner = make_runner(self.options)
        return self._local_runner

    def search_builder(self) -> ms.builder.Builder:
        """A MetaSchedule builder that builds on this measurer's processes (for a search: see
        :func:`~lorien.dialects.tvm.tuning.tune_workload`). Valid until :meth:`close`."""
        return _KeptBuilder(self)

    def search_runner(self) -> ms.runner.Runner:
        """The runner this measurer runs on, for a search. Its local runner runs one candidate at
        a time, so a search and a measurement sharing it never time candidates side by side."""
        with self._lock:
            return self._runner()

    def build(self, build_inputs: Sequence[Any]) -> list[Any]:
        """Build MetaSchedule's builder inputs on the builder processes (their params are
        ignored: a search's kernels take every tensor as an argument); a ``BuilderResult`` each.

        Raises:
            TuningError: the measurer is closed.
        """
        with self._lock:
            if self._closed:
                raise TuningError("the measurer is closed")
            self._changed.wait_for(lambda: self._checks == 0)
            built = self._build_all([(item.mod, item.target) for item in build_inputs])
            return [_builder_result(result, self.options.build_timeout_s) for result in built]

    def _build_all(self, modules: Sequence[tuple[tvm.IRModule, tvm.target.Target]]) -> list[Any]:
        """Compile each (module, target) on the builder processes, all of them at once; the
        pool's result for each (its status, the artifact's path or the error). The caller holds
        the lock."""
        return list(self._builders.map_with_error_catching(lambda item: _build(*item), list(modules)))

    def measure(self, workload: Workload, target: Target, schedules: Sequence[str]) -> list[Measured]:
        """Build and run each schedule: its latency, or a :class:`MeasureFailure` saying why not
        (it does not apply, build or run within the timeouts, or its timings are not valid). No
        schedules: :meth:`start`, and return.

        Raises:
            TuningError: ``options.rpc`` names a tracker that cannot be asked or has no device.
        """
        if not schedules:
            self.start()
            return []
        return self.measure_many(target, [(workload, schedules)])[0]

    def measure_many(self, target: Target,
                     batches: Sequence[tuple[Workload, Sequence[str]]]) -> list[list[Measured]]:
        """:meth:`measure` for the schedules of several workloads: every candidate is built in one
        call on all the builder processes, then they run one at a time. A list per workload.

        Raises:
            TuningError: ``options.rpc`` names a tracker that cannot be asked or has no device.
        """
        tvm_target = to_tvm_target(target)
        results: list[list[Measured]] = [[MeasureFailure("not measured")] * len(schedules)
                                         for _, schedules in batches]
        modules, places = [], []
        for (which, row), scheduled in _scheduled(batches):
            if isinstance(scheduled, str):  # a schedule that does not fit is not measured
                results[which][row] = MeasureFailure(scheduled)
            else:
                modules.append(scheduled)
                places.append((which, row))
        if not modules:
            return results
        # as MetaSchedule measures: a prepacked kernel's weight layout rewrite is left out of the
        # build (default_build), so the weights are given in the layout the schedule chose
        args_infos = [ArgInfo.from_entry_func(scheduled, remove_preproc=True) for scheduled in modules]
        device = _DEVICES.get(tvm_target.kind.name, tvm_target.kind.name)
        with self._lock:
            runner = self._runner()  # first: no build is wasted when the tracker cannot be asked
            self._changed.wait_for(lambda: self._checks == 0)
            built = self._build_all([(scheduled, tvm_target) for scheduled in modules])
            runner_inputs, run_places = [], []
            for (which, row), args_info, result in zip(places, args_infos, built, strict=True):
                if result.status == StatusKind.COMPLETE:
                    runner_inputs.append(ms.runner.RunnerInput(result.value, device, args_info))
                    run_places.append((which, row))
                elif result.status == StatusKind.TIMEOUT:
                    results[which][row] = MeasureFailure(
                        f"build timed out after {self.options.build_timeout_s:g} s")
                else:
                    results[which][row] = MeasureFailure(f"build failed: {first_line(result.value)}")
            try:
                if runner_inputs:
                    for (which, row), future in zip(run_places, runner.run(runner_inputs), strict=True):
                        ran = future.result()
                        runs = [float(r) for r in (ran.run_secs or [])]
                        if ran.error_msg is not None:
                            results[which][row] = MeasureFailure(f"run failed: {first_line(ran.error_msg)}")
                        elif not valid_runs(runs):
                            results[which][row] = MeasureFailure(f"timings not valid: {runs[:5]}")
                        else:
                            results[which][row] = Latency(tuple(runs))
            finally:
                # each build exported its module to a temporary folder of its own, which
                # MetaSchedule's local runner never removes (a search removes its own with its
                # RemoveBuildArtifact callback): a folder and two files a candidate, tens of KB
                # (a campaign measuring here left about 2,000 an hour)
                for runner_input in runner_inputs:
                    with contextlib.suppress(OSError):  # already gone: nothing to remove
                        ms.utils.remove_build_dir(runner_input.artifact_path)
        return results

    def check_builds(self, target: Target,
                     batches: Sequence[tuple[Workload, Sequence[str]]]) -> list[list[str | None]]:
        """Compile each schedule for ``target`` on the builder processes, all at once, within
        ``options.build_timeout_s`` each, and keep nothing: None where it compiled, else why not
        (see :meth:`lorien.dialects.Measurer.check_builds`). Nothing runs, so it needs no device,
        and calls from several threads share the builder processes (see the class's thread
        safety).

        Raises:
            TuningError: the measurer is closed.
        """
        tvm_target = to_tvm_target(target)
        checked: list[list[str | None]] = [[None] * len(schedules) for _, schedules in batches]
        modules, places = [], []
        for (which, row), scheduled in _scheduled(batches):
            if isinstance(scheduled, str):
                checked[which][row] = scheduled
            else:
                modules.append((scheduled, tvm_target))
                places.append((which, row))
        if not modules:
            return checked
        with self._lock:
            if self._closed:
                raise TuningError("the measurer is closed")
            self._checks += 1
        try:
            built = list(self._builders.map_with_error_catching(lambda item: _compile(*item), modules))
        finally:
            with self._lock:
                self._checks -= 1
                self._changed.notify_all()
        for (which, row), result in zip(places, built, strict=True):
            if result.status == StatusKind.TIMEOUT:
                checked[which][row] = f"build timed out after {self.options.build_timeout_s:g} s"
            elif result.status != StatusKind.COMPLETE:
                checked[which][row] = f"build failed: {first_line(result.value)}"
        return checked

    def close(self) -> None:
        """Stop the builder and runner processes (after a measurement or the build checks in
        progress; no check starts once this is called). Idempotent."""
        with self._lock:
            self._closed = True
            self._changed.wait_for(lambda: self._checks == 0)
            self._builders.shutdown(wait=False)
            if self._local_runner is not None:
                _shut_down(self._local_runner)
                self._local_runner = None


class KeptMeasurers:
    """One :class:`ScheduleMeasurer` per target kind and measuring settings, kept for the life
    of the process (the TVM dialect holds one of these): at most :data:`MAX_KEPT`; a call with
    yet other settings starts and stops processes of its own.

    Thread safety: safe to use from any thread.
    """

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._kept: dict[tuple[Any, ...], ScheduleMeasurer] = {}

    def measure(self, workload: Workload, target: Target, schedules: Sequence[str],
                options: TuneOptions) -> list[Measured]:
        """As :meth:`ScheduleMeasurer.measure`, with the measurer kept for ``options``."""
        measurer = self.measurer(target, options)
        if measurer is None:
            return measure_schedules(workload, target, schedules, options)
        return measurer.measure(workload, target, schedules)

    def measure_many(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     options: TuneOptions) -> list[list[Measured]]:
        """As :meth:`ScheduleMeasurer.measure_many`, with the measurer kept for ``options``."""
        measurer = self.measurer(target, options)
        if measurer is None:
            return [measure_schedules(workload, target, schedules, options)
                    for workload, schedules in batches]
        return measurer.measure_many(target, batches)

    def check_builds(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     timeout_s: float) -> list[list[str | None]]:
        """As :meth:`ScheduleMeasurer.check_builds`, on the builder processes of a kept measurer
        of ``target``'s kind that builds within ``timeout_s`` (one kept to measure, whatever its
        run settings, else one kept for the check, whose runner never starts): a check and the
        measurements after it share their processes rather than start twice as many on the same
        cores."""
        kind = to_tvm_target(target).kind.name
        with self._lock:
            measurer = next((kept for (kept_kind, build_timeout_s, *_), kept in self._kept.items()
                             if kept_kind == kind and build_timeout_s == timeout_s), None)
        options = TuneOptions(trials=1, build_timeout_s=timeout_s)
        measurer = measurer or self.measurer(target, options)
        if measurer is not None:
            return measurer.check_builds(target, batches)
        measurer = ScheduleMeasurer(to_tvm_target(target).kind.name, options)
        try:
            return measurer.check_builds(target, batches)
        finally:
            measurer.close()

    def measurer(self, target: Target, options: TuneOptions) -> ScheduleMeasurer | None:
        """The measurer kept for ``target``'s kind and ``options``' measuring settings, made when
        new (its processes start with its first use); None past :data:`MAX_KEPT`."""
        kind = to_tvm_target(target).kind.name
        key = (kind, options.build_timeout_s, options.run_timeout_s, options.repeat, options.rpc,
               options.session_timeout_s)
        with self._lock:
            measurer = self._kept.get(key)
            if measurer is None and len(self._kept) < self.limit:
                measurer = self._kept[key] = ScheduleMeasurer(kind, options)
        return measurer

    def __len__(self) -> int:
        """How many measurers are kept."""
        with self._lock:
            return len(self._kept)

    def close(self) -> None:
        """Stop every kept measurer's processes."""
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for measurer in kept:
            measurer.close()


def _shut_down(runner: ms.runner.Runner) -> None:
    """Stop a local runner's process (without waiting for a run in progress)."""
    pool = getattr(runner, "pool", None)
    if pool is not None:
        pool.shutdown(wait=False)


def first_line(error: object, limit: int = 300) -> str:
    """An error's most telling line: TVM's messages end with it (after a traceback)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:limit]


def measure_schedules(workload: Workload, target: Target, schedules: Sequence[str],
                      options: TuneOptions) -> list[Measured]:
    """Measure once, with processes started for this call only (see :class:`ScheduleMeasurer`
    to keep them)."""
    if not schedules:
        return []
    measurer = ScheduleMeasurer(to_tvm_target(target).kind.name, options)
    try:
        return measurer.measure(workload, target, schedules)
    finally:
        measurer.close()
