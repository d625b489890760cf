"""The TVM MetaSchedule dialect."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from lorien.dialects.base import (
    CandidateOptions,
    Candidates,
    CompiledModel,
    Lowering,
    LoweringChange,
    NativeCostModel,
    OutputCheck,
    TuneOptions,
    TuneOutcome,
)
from lorien.dialects.roles import Builder, Measurer, NativeDB, OutputChecker, Proposer, Tuner
from lorien.dialects.tvm import DEFAULT_LOWERING
from lorien.errors import InvalidInput, LorienError, TuningError
from lorien.records import Latency, Measured, ScheduleRecord, Target, Workload, WorkloadUse
from lorien.store.base import ScheduleStore

if TYPE_CHECKING:
    import numpy as np

    from lorien.dialects.tvm.measure import KeptMeasurers


#: Twin keys remembered per process (each a pair of 16-character keys).
_MAX_TWIN_KEYS = 100_000


class TVMDialect(Builder, Tuner, Measurer, Proposer, NativeDB, OutputChecker):
    """Apache TVM 0.27 with MetaSchedule: Relax models, fused TIR kernels, trace schedules. It
    plays every role of :mod:`lorien.dialects.roles`.

    Constructing it imports nothing; the first method call imports TVM (a few seconds) and the
    host's tensor intrinsics, once per process.
    """

    name: ClassVar[str] = "tvm"
    feature_version: ClassVar[str] = "tvm-per-store-164x(sum,mean,max,main)+trace-37+cpu-2-v4"
    default_lowering: ClassVar[Lowering] = DEFAULT_LOWERING

    def parse_target(self, text: str) -> Target:
        from lorien.dialects.tvm.target import parse_target

        return parse_target(text)

    @functools.cache  # noqa: B019 - one dialect instance per process
    def build_id(self) -> str:
        import tvm
        from tvm.target import codegen

        return f"tvm-{tvm.__version__}+llvm-{codegen.llvm_version_major()}"

    def load_model(self, model: object) -> object:
        from lorien.dialects.tvm.build import load_relax_model

        return load_relax_model(model)

    def extract(self, model: object, target: Target, lowering: Lowering | None = None) -> list[WorkloadUse]:
        from tvm.s_tir import meta_schedule as ms

        from lorien.dialects.tvm.build import load_relax_model
        from lorien.dialects.tvm.lowering import lower_to_kernels
        from lorien.dialects.tvm.target import to_tvm_target
        from lorien.dialects.tvm.workloads import to_workload

        relax_model = load_relax_model(model)
        tvm_target = to_tvm_target(target)
        lowered = lower_to_kernels(relax_model.mod, tvm_target, lowering or self.default_lowering)
        uses: dict[str, WorkloadUse] = {}
        for task in ms.relax_integration.extract_tasks(lowered, tvm_target):
            workload = to_workload(task.task_name, task.dispatched[0])
            seen = uses.get(workload.key)
            weight = int(task.weight) + (seen.weight if seen else 0)
            uses[workload.key] = WorkloadUse(workload, weight)
        return sorted(uses.values(), key=lambda u: (-u.workload.flops * u.weight, u.workload.key))

    def lowering_change(self, model: object, target: Target,
                        lowering: Lowering | None = None) -> LoweringChange:
        """Prepacked kernels name their plain twin (same code: see
        :func:`~lorien.dialects.tvm.lowering.plain_twin`); retired are the kernels of the lowering
        before TVM's static-shape pipeline (BatchNorm as kernels of its own, convolutions without
        its epilogue) that neither lowering gives now."""
        from tvm.s_tir import meta_schedule as ms

        from lorien.dialects.tvm.build import load_relax_model
        from lorien.dialects.tvm.lowering import lower_previously
        from lorien.dialects.tvm.target import to_tvm_target
        from lorien.dialects.tvm.workloads import workload_key

        lowering = lowering or self.default_lowering
        relax_model = load_relax_model(model)
        tvm_target = to_tvm_target(target)
        uses = self.extract(relax_model, target, lowering)
        kernels = [(use, self.equivalent_keys(use.workload)) for use in uses]
        current = {use.workload.key for use in uses} | {k for _, twins in kernels for k in twins}
        previous = lower_previously(relax_model.mod, tvm_target)
        retired = {workload_key(task.dispatched[0])
                   for task in ms.relax_integration.extract_tasks(previous, tvm_target)} - current
        return LoweringChange(kernels, sorted(retired))

    def equivalent_keys(self, workload: Workload) -> tuple[str, ...]:
        """A prepacked kernel's plain twin (:func:`~lorien.dialects.tvm.lowering.plain_twin`);
        none for a plain kernel. Computed once per key in this process (a prepacked kernel is
        parsed once); plain kernels are told apart from the payload's text without parsing it."""
        from lorien.dialects.tvm.lowering import LAYOUT_FREE_ATTR

        if LAYOUT_FREE_ATTR not in workload.payload:
            return ()
        twins = self._twin_keys()
        twin = twins.get(workload.key)
        if twin is None:
            from lorien.dialects.tvm.lowering import equivalent_keys
            from lorien.dialects.tvm.workloads import from_workload

            twin = next(iter(equivalent_keys(from_workload(workload))), workload.key)
            if len(twins) < _MAX_TWIN_KEYS:
                twins[workload.key] = twin
        return () if twin == workload.key else (twin,)

    @functools.cache  # noqa: B019 - one dialect instance per process
    def _twin_keys(self) -> dict[str, str]:
        """Prepacked key -> plain twin's key (set items are atomic under the GIL, and a race
        only computes a key twice)."""
        return {}

    def workload_key(self, kernel: object) -> str:
        import tvm

        from lorien.dialects.tvm.workloads import workload_key

        if isinstance(kernel, tvm.tirx.PrimFunc):
            kernel = tvm.IRModule({"main": kernel})
        if not isinstance(kernel, tvm.IRModule):
            raise InvalidInput(f"a tvm kernel is an IRModule or PrimFunc, not {type(kernel).__name__}")
        return workload_key(kernel)

    def check_workload(self, workload: Workload) -> Workload:
        import dataclasses

        import tvm

        from lorien.dialects.tvm.workloads import (
            check_kernel_shapes,
            from_workload,
            kernel_flops,
            workload_key,
        )

        mod = from_workload(workload)
        functions = {gv.name_hint: gv for gv in mod.get_global_vars()}
        if list(functions) != ["main"] or not isinstance(mod[functions["main"]], tvm.tirx.PrimFunc):
            raise InvalidInput(f"workload {workload.key}: the payload must hold one TIR function named main")
        key = workload_key(mod)
        if key != workload.key:
            raise InvalidInput(f"workload key {workload.key!r} does not match its payload "
                               f"(which hashes to {key})")
        check_kernel_shapes(mod, workload.key)
        return dataclasses.replace(workload, flops=kernel_flops(mod))

    def schedule_problem(self, workload: Workload, schedule: str) -> str | None:
        """Checked in Python, then applied to the kernel in a sandboxed child process: TVM's trace
        reader crashes on malformed traces (see :mod:`lorien.dialects.tvm.untrusted`)."""
        from lorien.dialects.tvm.untrusted import schedule_problem

        return schedule_problem(workload, schedule)

    def tune(
        self,
        workload: Workload,
        target: Target,
        options: TuneOptions,
        on_trial: Callable[[int, int], None] | None = None,
    ) -> TuneOutcome:
        from lorien.dialects.tvm.tuning import tune_workload

        # the search builds and runs on the processes later measurements keep (a job's
        # re-measurements and random samples), so they start once
        measurer = self._measurers().measurer(target, options)
        if measurer is None:
            return tune_workload(workload, target, options, self.build_id(), on_trial)
        return tune_workload(workload, target, options, self.build_id(), on_trial,
                             builder=measurer.search_builder(), runner=measurer.search_runner())

    def measurement_problem(self, target: Target, options: TuneOptions) -> str | None:
        """With ``options.rpc``: why its tracker cannot take measurements now (unreachable, or no
        device under the key), asked in at most a few seconds; otherwise None (this machine)."""
        if options.rpc is None:
            return None
        try:
            from lorien.dialects.rpc import tracker_problem

            return tracker_problem(options.rpc)
        except Exception as exc:  # a probe answers in a line, never raises
            return f"RPC tracker {options.rpc}: {type(exc).__name__}: {exc}".splitlines()[0]

    def tune_options_problem(self, options: TuneOptions) -> str | None:
        """A ``search_model`` that is missing or is not a search model (read once per process)."""
        if not options.warm_start or options.search_model is None:
            return None
        from lorien.dialects.tvm.search_model import check_search_model

        try:
            check_search_model(options.search_model)
        except InvalidInput as exc:
            return str(exc)
        return None

    def check_outputs(self, workload: Workload, records: Sequence[ScheduleRecord],
                      every: bool = False) -> list[OutputCheck]:
        from lorien.dialects.tvm.kernel_check import check_outputs

        return check_outputs(workload, records, every)

    def apply(self, workload: Workload, record: ScheduleRecord) -> object:
        from lorien.dialects.tvm.schedule import apply_schedule
        from lorien.dialects.tvm.workloads import from_workload

        return apply_schedule(from_workload(workload), record.schedule).mod

    def compiler_hook(self, store: ScheduleStore, target: Target,
                      lowering: Lowering | None = None) -> object:
        from lorien.dialects.tvm.hook import LorienDatabase

        return LorienDatabase(store, target, self.build_id(), lowering or self.default_lowering)

    def compile(self, model: object, target: Target, store: ScheduleStore | None,
                lowering: Lowering | None = None) -> CompiledModel:
        from lorien.dialects.tvm.build import compile_model, load_relax_model

        return compile_model(load_relax_model(model), target, store, self.build_id(),
                             lowering or self.default_lowering)

    def time(self, compiled: CompiledModel, repeat: int = 5) -> Latency:
        from lorien.dialects.tvm.build import time_compiled

        return time_compiled(compiled, repeat)

    def outputs(self, compiled: CompiledModel) -> list[np.ndarray]:
        from lorien.dialects.tvm.build import run_compiled

        return run_compiled(compiled)

    def export(self, compiled: CompiledModel, path: Path) -> list[Path]:
        from lorien.dialects.tvm.build import export_compiled

        return export_compiled(compiled, path)

    def schedule_features(
        self, workload: Workload, target: Target, schedules: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        from lorien.dialects.tvm.features import schedule_features

        return schedule_features(workload, target, schedules)

    def candidates(
        self,
        workload: Workload,
        target: Target,
        seeds: Sequence[str],
        scorer: Callable[[np.ndarray], np.ndarray] | None,
        options: CandidateOptions,
    ) -> Candidates:
        from lorien.dialects.tvm.candidates import generate_candidates

        try:
            return generate_candidates(workload, target, seeds, scorer, options)
        except LorienError:
            raise
        except Exception as exc:  # TVM refuses the kernel (a loop it cannot tile, a literal too wide)
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            raise TuningError(f"no candidates for workload {workload.key}: {reason}") from exc

    def measure(self, workload: Workload, target: Target, schedules: Sequence[str],
                options: TuneOptions) -> list[Measured]:
        return self._measurers().measure(workload, target, schedules, options)

    def measure_many(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     options: TuneOptions) -> list[list[Measured]]:
        return self._measurers().measure_many(target, batches, options)

    def check_builds(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     timeout_s: float) -> list[list[str | None]]:
        """Compiles each schedule on this machine's builder processes, runs nothing (see
        :meth:`lorien.dialects.tvm.measure.ScheduleMeasurer.check_builds`)."""
        return self._measurers().check_builds(target, batches, timeout_s)

    @functools.cache  # noqa: B019 - one dialect instance per process
    def _measurers(self) -> KeptMeasurers:
        """Builder and runner processes kept between measurements (starting them costs seconds)."""
        from lorien.dialects.tvm.measure import KeptMeasurers

        return KeptMeasurers()

    def native_cost_model(self) -> NativeCostModel:
        from lorien.dialects.tvm.native_cost_model import MetaScheduleXGBCostModel, per_store_rows

        def make(threads: int | None = None) -> MetaScheduleXGBCostModel:
            return MetaScheduleXGBCostModel(nthread=threads)

        return NativeCostModel("metaschedule-xgb", per_store_rows, make)

    def import_native_database(
        self, path: Path, build: str
    ) -> tuple[list[Workload], list[ScheduleRecord]]:
        from lorien.dialects.tvm.metaschedule_io import read_json_database

        return read_json_database(path, build)

    def export_native_database(
        self, path: Path, workloads: list[Workload], records: list[ScheduleRecord]
    ) -> int:
        from lorien.dialects.tvm.metaschedule_io import write_json_database

        return write_json_database(path, workloads, records)
