"""What the weight layout guard costs: design-space sampling with Lorien's guarded layout rewrite
against MetaSchedule's own postprocessors, and the tuning job's output check of the records a
search keeps, on a few of a network's kernels (this machine, one process).

For each kernel: seconds to draw ``--samples`` design-space schedules (postprocessors included)
both ways, alternated ``--rounds`` times (medians, and their ratio), and seconds to check ``keep``
(5) sampled schedules against the kernel unscheduled (the reference built once), beside a
32-trial search's typical minute.

    python benchmarks/layout_guard.py --network resnet18 --kernels 4
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from lorien.datasets.zoo import load_model
from lorien.dialects import get_dialect
from lorien.dialects.tvm.kernel_check import KernelReference
from lorien.records import Workload
from tests.tvm_models import sampled_schedules


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--kernels", type=int, default=4, help="the network's heaviest N kernels")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    uses = dialect.extract(dialect.load_model(load_model(args.network, 1)), target)
    kernels: list[Workload] = [u.workload for u in sorted(uses, key=lambda u: -u.workload.flops * u.weight)]
    print(f"{'kernel':60} {'TVM postprocs':>14} {'guarded':>9} {'ratio':>6} {'check 5':>8}")
    for workload in kernels[:args.kernels]:
        tvm_s, ours_s = [], []
        for _ in range(args.rounds):
            tvm_s.append(timed(lambda w=workload: sampled_schedules(w, target, args.samples,
                                                                    as_tvm_ships=True)))
            ours_s.append(timed(lambda w=workload: sampled_schedules(w, target, args.samples)))
        schedules = sampled_schedules(workload, target, 5)
        reference = KernelReference(workload)
        check_s = timed(lambda r=reference, s=schedules: [r.mismatch(x) for x in s])
        theirs, ours = statistics.median(tvm_s), statistics.median(ours_s)
        print(f"{workload.name[:60]:60} {theirs:13.2f}s {ours:8.2f}s {ours / theirs:5.2f}x {check_s:7.2f}s")


if __name__ == "__main__":
    main()
