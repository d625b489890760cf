"""Candidates measured per second: one kernel's round at a time, against many kernels' at once.

A budgeted delivery measures rounds of a few candidates per kernel (``BudgetOptions.batch``, 4):
each round builds its candidates on the builder processes, then runs them one at a time. With
more cores than candidates in a round, cores sit idle while a round builds, and every round pays
the calls' fixed costs. ``Dialect.measure_many`` builds the candidates of many kernels in one call
on every core and still runs them one at a time. Same kernels, same candidates, the kept
processes warmed first, the two ways alternated ``--repeats`` times in one run:

    python benchmarks/measure_throughput.py --kernels 8 --candidates 8 --repeats 3

prints candidates measured per second of each way (median over repeats) and their ratio, and the
CPU it ran on.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from lorien.config import open_store
from lorien.datasets.seed import seed_store
from lorien.dialects import CandidateOptions, TuneOptions, get_dialect
from lorien.records import Latency, Workload


def kernels(count: int) -> list[Workload]:
    """Convolutions and matmuls of the shipped data set, by key."""
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/shipped.db", create=True)
        seed_store(store)
        found = sorted((w for w in store.list_workloads()
                        if w.name.startswith(("conv2d", "fused_conv2d", "matmul", "fused_matmul"))),
                       key=lambda w: w.key)[:count]
        store.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=8, help="convolutions and matmuls measured")
    parser.add_argument("--candidates", type=int, default=8, help="schedules measured per kernel")
    parser.add_argument("--batch", type=int, default=4, help="candidates per round, one kernel at a time (4)")
    parser.add_argument("--repeats", type=int, default=3, help="times each way is measured, alternated")
    args = parser.parse_args()
    if min(args.kernels, args.candidates, args.batch, args.repeats) < 1:
        parser.error("--kernels, --candidates, --batch and --repeats must be at least 1")

    import tvm

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    workloads = kernels(args.kernels)
    options = TuneOptions(trials=1, build_timeout_s=60, run_timeout_s=60)
    schedules = {w.key: dialect.candidates(w, target, [], None, CandidateOptions(
        samples=args.candidates, evolve=False, seed=0)).schedules[:args.candidates] for w in workloads}
    total = sum(len(s) for s in schedules.values())
    dialect.measure_many(target, [(w, schedules[w.key][:1]) for w in workloads[:2]], options)  # warm

    def rounds() -> int:
        timed = 0
        for w in workloads:
            for start in range(0, len(schedules[w.key]), args.batch):
                batch = schedules[w.key][start:start + args.batch]
                timed += sum(isinstance(x, Latency) for x in dialect.measure(w, target, batch, options))
        return timed

    def together() -> int:
        return sum(isinstance(x, Latency) for lat in dialect.measure_many(
            target, [(w, schedules[w.key]) for w in workloads], options) for x in lat)

    rates: dict[str, list[float]] = {"rounds": [], "together": []}
    for repeat in range(args.repeats):
        for name, way in (("rounds", rounds), ("together", together)):
            started = time.perf_counter()
            timed = way()
            seconds = time.perf_counter() - started
            rates[name].append(total / seconds)
            print(f"repeat {repeat + 1} {name:<9} {total} candidates ({timed} timed) in {seconds:6.1f} s: "
                  f"{total / seconds:.2f}/s", flush=True)
    before, after = (statistics.median(rates[name]) for name in ("rounds", "together"))
    print(f"\n{len(workloads)} kernels x {args.candidates} candidates on "
          f"{tvm.target.codegen.llvm_get_system_cpu()} ({os.cpu_count()} cores), candidates/s (median of "
          f"{args.repeats}):")
    print(f"  one kernel's round of {args.batch} at a time (Dialect.measure):       {before:.2f}")
    print(f"  every kernel's candidates in one call (Dialect.measure_many): {after:.2f}")
    print(f"  ratio: {after / before:.2f}x")


if __name__ == "__main__":
    main()
