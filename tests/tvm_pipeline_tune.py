"""Tune ``tests/tvm_models.py:small_conv_bn`` with TVM's own ``static_shape_tuning_pipeline``, as a
TVM user would, into a MetaSchedule JSONDatabase folder:

    python -m tests.tvm_pipeline_tune WORK_DIR [--prepack] [--trials-per-kernel N]

A process of its own: MetaSchedule configures process-wide logging on each tuning run, and a
second run in the same (pytest) process fails inside that configuration.

Two things differ from TVM's defaults. The pipeline tunes through the ``tune_relax`` global
function with MetaSchedule's default ``LocalBuilder``, whose 30 s timeout kills every build where
torch is importable (each builder process first imports every backend's tensor intrinsics): here
that function gets a builder with a longer timeout that loads only the host's intrinsics. And it
samples the design space at random (``replay-trace``) instead of the evolutionary search, whose
start-up (a population of 2,048 schedules) costs a minute per kernel on two cores and tells this
test nothing: the kernels, the postprocessors (weight layout rewrites included), the runner and the
database are TVM's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

TUNE_RELAX = "tvm.s_tir.meta_schedule.tune_relax"


def use_builders_that_fit_this_machine() -> None:
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule import relax_integration

    from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics

    def tune_relax(mod, params, target, work_dir, max_trials_global, max_trials_per_task=None,  # type: ignore[no-untyped-def]
                   op_names=None):
        relax_integration.tune_relax(
            mod, params, target, work_dir, int(max_trials_global),
            max_trials_per_task=None if max_trials_per_task is None else int(max_trials_per_task),
            op_names=op_names, seed=0, strategy="replay-trace",
            builder=ms.builder.LocalBuilder(timeout_sec=600, initializer=load_cpu_intrinsics))
        return mod

    load_cpu_intrinsics()
    tvm.register_global_func(TUNE_RELAX, tune_relax, override=True)


def main(argv: Sequence[str] | None = None) -> int:
    from tvm import relax

    from lorien.dialects import get_dialect
    from lorien.dialects.tvm.target import to_tvm_target
    from tests import tvm_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir")
    parser.add_argument("--prepack", action="store_true")
    parser.add_argument("--trials-per-kernel", type=int, default=2)
    args = parser.parse_args(argv)

    use_builders_that_fit_this_machine()
    dialect = get_dialect("tvm")
    model = dialect.load_model(tvm_models.small_conv_bn())
    target = to_tvm_target(dialect.parse_target("host"))
    kernels = 2
    relax.pipeline.static_shape_tuning_pipeline(
        total_trials=kernels * args.trials_per_kernel, target=target, work_dir=args.work_dir,
        max_trials_per_task=args.trials_per_kernel, cpu_weight_prepack=args.prepack,
    )(model.mod)  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
