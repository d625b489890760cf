"""Measuring given schedules of a TVM workload on this machine: the predictor's optional check."""

from __future__ import annotations

import json
from collections.abc import Sequence

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.schedule import Trace

from lorien.dialects.base import TuneOptions
from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.tuning import make_runner, valid_runs
from lorien.dialects.tvm.workloads import from_workload
from lorien.records import Latency, Target, Workload

#: The runtime device of a target kind, where the names differ.
_DEVICES = {"llvm": "cpu", "c": "cpu"}


def measure_schedules(workload: Workload, target: Target, schedules: Sequence[str],
                      options: TuneOptions) -> list[Latency | None]:
    """Build and run each schedule with MetaSchedule's builder and runner (``options.rpc``
    measures on RPC devices, as tuning does); None for a schedule that does not apply, build or
    run within the options' timeouts."""
    mod = from_workload(workload)
    tvm_target = to_tvm_target(target)
    initializer = load_intrinsics_for(tvm_target.kind.name)
    args_info = ArgInfo.from_prim_func(mod["main"])
    device = _DEVICES.get(tvm_target.kind.name, tvm_target.kind.name)
    results: list[Latency | None] = [None] * len(schedules)
    inputs, rows = [], []
    for row, schedule in enumerate(schedules):
        try:
            sch = tvm.s_tir.Schedule(mod)
            Trace.apply_json_to_schedule(json.loads(schedule), sch)
        except Exception:  # a schedule that does not fit is not measured
            continue
        inputs.append(ms.builder.BuilderInput(sch.mod, tvm_target))
        rows.append(row)
    if not inputs:
        return results
    builder = ms.builder.LocalBuilder(timeout_sec=options.build_timeout_s, initializer=initializer)
    built = builder.build(inputs)
    runner_inputs, run_rows = [], []
    for row, result in zip(rows, built, strict=True):
        if result.error_msg is None and result.artifact_path is not None:
            runner_inputs.append(ms.runner.RunnerInput(result.artifact_path, device, args_info))
            run_rows.append(row)
    if runner_inputs:
        for row, future in zip(run_rows, make_runner(options).run(runner_inputs), strict=True):
            ran = future.result()
            runs = [float(r) for r in (ran.run_secs or [])]
            if ran.error_msg is None and valid_runs(runs):
                results[row] = Latency(tuple(runs))
    return results
