"""How long lowering a zoo network into its kernels takes (what extract, compile, the compiler hook
and every client pay before anything is tuned or built), with constant folding's builds shared
(:func:`lorien.dialects.tvm.constant_folding.shared_builds`, what Lorien does) against TVM's own
``FoldConstant`` building every folded operator again. Medians, as ratios in one run.

    python benchmarks/lowering_time.py [--models resnet18 mobilenet_v2] [--prepack] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any


def median_seconds(run: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    import tvm

    from lorien.datasets.zoo import load_model, zoo_names
    from lorien.dialects import Lowering, get_dialect
    from lorien.dialects.tvm.lowering import kernel_passes, lower_to_kernels
    from lorien.dialects.tvm.target import to_tvm_target

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=zoo_names())
    parser.add_argument("--prepack", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    target = to_tvm_target(dialect.parse_target("host"))
    lowering = Lowering(prepack=args.prepack)

    def unshared(mod: Any) -> Any:
        with target, tvm.transform.PassContext(opt_level=3):
            return tvm.transform.Sequential(kernel_passes(lowering))(mod)

    print(f"lowering ({lowering.name}) a zoo network into its kernels, median of {args.repeat}\n")
    print("model | builds shared (Lorien) | every build (TVM's FoldConstant) | faster")
    for name in args.models:
        mod = dialect.load_model(load_model(name)).mod  # type: ignore[attr-defined]
        shared = median_seconds(lambda mod=mod: lower_to_kernels(mod, target, lowering), args.repeat)
        every = median_seconds(lambda mod=mod: unshared(mod), args.repeat)
        print(f"{name} | {shared:.1f} s | {every:.1f} s | {every / shared:.1f}x", flush=True)


if __name__ == "__main__":
    main()
