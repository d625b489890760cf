"""Measuring given schedules: builder and runner processes kept between calls, against fresh ones.

The predictor's ``measure_top_k`` measures a few candidates of every kernel it predicts. With
MetaSchedule's ``LocalBuilder`` and a new ``LocalRunner`` per kernel, each call starts process pools
that import TVM before anything compiles; the TVM dialect keeps them instead
(:class:`lorien.dialects.tvm.measure.ScheduleMeasurer`). Same kernels, same candidates, one run:

    python benchmarks/measure_pools.py --kernels 6 --candidates 8

prints the seconds per kernel of each way, their medians and the ratio. The kept measurer's first
call (which starts its processes) is reported apart and left out of its median.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Sequence

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.schedule import Trace

from lorien.config import open_store
from lorien.datasets.seed import seed_store
from lorien.dialects import CandidateOptions, TuneOptions, get_dialect
from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.measure import ScheduleMeasurer
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.tuning import make_runner
from lorien.dialects.tvm.workloads import from_workload
from lorien.records import Target, Workload


def measure_with_fresh_pools(workload: Workload, target: Target, schedules: Sequence[str],
                             options: TuneOptions) -> int:
    """The baseline: MetaSchedule's LocalBuilder and a new LocalRunner for this call only (how the
    predictor measured before); how many schedules ran."""
    mod = from_workload(workload)
    tvm_target = to_tvm_target(target)
    inputs = []
    for schedule in schedules:
        sch = tvm.s_tir.Schedule(mod)
        Trace.apply_json_to_schedule(json.loads(schedule), sch)
        inputs.append(ms.builder.BuilderInput(sch.mod, tvm_target))
    builder = ms.builder.LocalBuilder(timeout_sec=options.build_timeout_s,
                                      initializer=load_intrinsics_for(tvm_target.kind.name))
    args_info = ArgInfo.from_prim_func(mod["main"])
    runner_inputs = [ms.runner.RunnerInput(built.artifact_path, "cpu", args_info)
                     for built in builder.build(inputs) if built.error_msg is None]
    runner = make_runner(options)
    ran = sum(1 for future in runner.run(runner_inputs) if future.result().error_msg is None)
    runner.pool.shutdown()  # type: ignore[attr-defined]
    return ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=6, help="convolutions and matmuls measured")
    parser.add_argument("--candidates", type=int, default=8, help="schedules measured per kernel")
    args = parser.parse_args()
    if args.kernels < 1 or args.candidates < 1:
        parser.error("--kernels and --candidates must be at least 1")

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/shipped.db", create=True)
        seed_store(store)
        workloads = sorted((w for w in store.list_workloads()
                            if w.name.startswith(("conv2d", "fused_conv2d", "matmul", "fused_matmul"))),
                           key=lambda w: w.key)[:args.kernels]
        store.close()
    options = TuneOptions(trials=1, build_timeout_s=60, run_timeout_s=60)
    schedules = {w.key: dialect.candidates(w, target, [], None, CandidateOptions(
        samples=args.candidates, evolve=False, seed=0)).schedules[:args.candidates] for w in workloads}

    fresh, kept = [], []
    measurer = ScheduleMeasurer(to_tvm_target(target).kind.name, options)
    try:
        for workload in workloads:
            started = time.perf_counter()
            measure_with_fresh_pools(workload, target, schedules[workload.key], options)
            fresh.append(time.perf_counter() - started)
            started = time.perf_counter()
            measurer.measure(workload, target, schedules[workload.key])
            kept.append(time.perf_counter() - started)
            print(f"{workload.name[:60]:<62}fresh {fresh[-1]:6.1f} s   kept {kept[-1]:6.1f} s", flush=True)
    finally:
        measurer.close()
    first, rest = kept[0], kept[1:] or kept
    print(f"\n{len(workloads)} kernels x {args.candidates} candidates, seconds per kernel (median):")
    print("  fresh pools every call (MetaSchedule's LocalBuilder, a new LocalRunner): "
          f"{statistics.median(fresh):.1f}")
    print(f"  kept processes (ScheduleMeasurer), after its first call ({first:.1f} s):     "
          f"{statistics.median(rest):.1f}")
    print(f"  ratio fresh / kept: {statistics.median(fresh) / statistics.median(rest):.2f}x")


if __name__ == "__main__":
    main()
