"""A scheduled kernel's outputs against its unscheduled self: the check of one schedule, without
the model it comes from.

A model's build is checked against PyTorch (``lorien compile --check``); this checks one kernel,
so a data set's schedules can be checked one by one. Both builds keep the kernel's weight layout
rewrite inside the function (a prepacked schedule transforms its weights as it runs), so a rewrite
that maps two weights to one place shows as a wrong output here too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import tvm
from tvm.s_tir.meta_schedule.arg_info import ArgInfo

from lorien.dialects.base import OutputCheck
from lorien.dialects.tvm.layout_rewrite import rewrites_layout
from lorien.dialects.tvm.schedule import FoldedLayoutRewrite, apply_schedule
from lorien.dialects.tvm.target import host_target_config, to_tvm_target_config
from lorien.dialects.tvm.workloads import from_workload
from lorien.outputs import DEFAULT_ATOL, DEFAULT_RTOL, KERNEL_SCALED_ATOL, output_mismatch
from lorien.records import ScheduleRecord, Workload


def kernel_output_mismatch(workload: Workload, schedule: str, *, seed: int = 0,
                           rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL) -> str | None:
    """Why ``schedule`` applied to ``workload``'s kernel computes other values than the kernel
    unscheduled (one line, as :func:`lorien.outputs.output_mismatch` says it, or why its weight
    layout rewrite folds weights, told without a build), or None when they agree. Both are built
    for this machine and run once on the same arguments: floating point inputs drawn from a
    standard normal (``seed``), integer ones zero (valid indices). Every argument is compared
    after the run, outputs included, within ``atol`` plus
    :data:`~lorien.outputs.KERNEL_SCALED_ATOL` of its RMS plus ``rtol`` of each value. About a
    second for a convolution.

    Raises:
        Exception: whatever TVM raises when the schedule does not apply or a build fails (a
            schedule from outside must be applied in the sandbox first, as
            :func:`apply_schedule` says).
    """
    return KernelReference(workload, seed=seed).mismatch(schedule, rtol=rtol, atol=atol)


class KernelReference:
    """One kernel unscheduled, built and run once (on first use) on fixed random arguments, to
    check any number of its schedules against. Not thread safe."""

    def __init__(self, workload: Workload, *, seed: int = 0) -> None:
        self.mod = from_workload(workload)
        self.arguments = _arguments(self.mod, np.random.default_rng(seed))
        self._want: list[np.ndarray] | None = None

    def mismatch(self, schedule: str, *, rtol: float = DEFAULT_RTOL,
                 atol: float = DEFAULT_ATOL) -> str | None:
        """:func:`kernel_output_mismatch` of ``schedule``, the reference built once for all."""
        try:
            scheduled = apply_schedule(self.mod, schedule).mod
        except FoldedLayoutRewrite as exc:  # wrong, and known so without a build
            return str(exc)
        return self.compare(scheduled, rtol=rtol, atol=atol)

    def compare(self, scheduled: tvm.IRModule, *, rtol: float = DEFAULT_RTOL,
                atol: float = DEFAULT_ATOL) -> str | None:
        """Why the kernel ``scheduled`` (this kernel with a schedule applied) computes other
        values than the reference, or None when they agree."""
        if self._want is None:
            self._want = _run(self.mod, self.arguments)
        return output_mismatch(_run(scheduled, self.arguments), self._want, rtol=rtol, atol=atol,
                               scaled_atol=KERNEL_SCALED_ATOL)


def _arguments(mod: tvm.IRModule, draw: np.random.Generator) -> list[np.ndarray]:
    arrays = []
    for info in ArgInfo.from_prim_func(mod["main"]):
        _, dtype, shape = info.as_json()
        extents = [int(extent) for extent in shape]
        arrays.append(draw.standard_normal(extents).astype(dtype) if "float" in dtype
                      else np.zeros(extents, dtype=dtype))
    return arrays


def _run(mod: tvm.IRModule, arguments: list[np.ndarray]) -> list[np.ndarray]:
    """Every argument after one run of ``mod`` built for this machine, on copies of
    ``arguments``."""
    built = tvm.compile(mod, target=to_tvm_target_config(host_target_config()))
    device = tvm.cpu()
    tensors = [tvm.runtime.tensor(array.copy(), device) for array in arguments]
    built(*tensors)
    return [tensor.numpy() for tensor in tensors]


def check_outputs(workload: Workload, records: Sequence[ScheduleRecord],
                  every: bool = False) -> list[OutputCheck]:
    """:meth:`lorien.dialects.roles.OutputChecker.check_outputs` for TVM: a schedule whose weight
    layout rewrite folds weights onto one place is wrong without a build
    (:mod:`lorien.dialects.tvm.layout_rewrite`); one is suspect when its sampling instructions
    are none of its kernel's design spaces' for its target (it was replayed from another
    structure, :func:`lorien.dialects.tvm.candidates.design_space_kinds`); LLVM targets only,
    not cross-compiled ones (the check runs here)."""
    from lorien.dialects.tvm.candidates import design_space_kinds, sampling_kinds
    from lorien.dialects.tvm.measure import first_line

    spaces: dict[str, set[tuple[str, ...]]] = {}
    reference: KernelReference | None = None
    mod = from_workload(workload)
    checks = []
    for record in records:
        config = json.loads(record.target.canonical)
        if config.get("kind") != "llvm" or "mtriple" in config:
            checks.append(OutputCheck("skipped", "not a target this machine runs"))
            continue
        try:
            # applied once: first where it rewrites a layout, as apply_schedule refuses a fold
            scheduled = apply_schedule(mod, record.schedule).mod if rewrites_layout(record.schedule) else None
            if not every:
                if record.target.canonical not in spaces:
                    spaces[record.target.canonical] = design_space_kinds(workload, record.target)
                if sampling_kinds(record.schedule) in spaces[record.target.canonical]:
                    checks.append(OutputCheck("skipped", "drawn from the kernel's own design space"))
                    continue
            reference = reference or KernelReference(workload)
            if scheduled is None:
                scheduled = apply_schedule(mod, record.schedule).mod
            problem = reference.compare(scheduled)
        except FoldedLayoutRewrite as exc:
            checks.append(OutputCheck("wrong", str(exc)))
            continue
        except Exception as exc:  # a schedule this machine cannot build or run
            checks.append(OutputCheck("skipped", f"cannot be checked here: {first_line(exc)}"))
            continue
        checks.append(OutputCheck("right") if problem is None else OutputCheck("wrong", problem))
    return checks
