"""ResNet-18 end to end: tune every kernel with a small budget, then compare the model's latency
untuned / with Lorien's schedules / PyTorch eager, as ratios in one run.

Resumable: tuning commits to a store under ``--workdir`` after each kernel, so a run that is
stopped goes on where it was when started again (finished kernels are not tuned twice).

    python benchmarks/resnet18_end_to_end.py --trials 16
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from lorien.config import open_logs, open_store
from lorien.datasets.eager import time_torch_eager_alone
from lorien.datasets.zoo import load_model
from lorien.dialects import TuneOptions, get_dialect
from lorien.tuner import tune_workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--trials", type=int, default=16, help="measurements per kernel")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each build")
    parser.add_argument("--workdir", type=Path, default=Path("benchmarks/results/resnet18"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    source = load_model(args.model)
    model = dialect.load_model(source)
    uses = dialect.extract(model, target)
    store = open_store(f"sqlite:///{args.workdir.resolve()}/lorien.db")
    logs = open_logs(f"file://{args.workdir.resolve()}/logs")

    started = time.perf_counter()
    report = tune_workloads(dialect, [u.workload for u in uses], target, store, logs,
                            TuneOptions(trials=args.trials, seed=args.seed))
    tuning_s = time.perf_counter() - started
    tuning_total_s = sum(outcome.seconds for _, outcome in report.tuned)

    with_lorien = dialect.compile(model, target, store)
    untuned = dialect.compile(model, target, None)
    lorien_s = dialect.time(with_lorien, args.repeat).median
    untuned_s = dialect.time(untuned, args.repeat).median
    torch_s = time_torch_eager_alone(args.model, repeat=args.repeat).median

    per_kernel = [o.seconds for _, o in report.tuned]
    print(f"model {args.model}, target {target.canonical}")
    print(f"kernels: {len(uses)}; tuned now {len(report.tuned)}, already tuned "
          f"{len(report.skipped)}, failed {len(report.failed)}; {args.trials} trials each")
    if per_kernel:
        print(f"tuning this run: {tuning_s:.0f} s wall ({tuning_total_s:.0f} s in MetaSchedule), "
              f"median {statistics.median(per_kernel):.1f} s per kernel")
    print(f"kernels with a stored schedule at build: {with_lorien.kernels_scheduled}/{with_lorien.kernels}")
    print()
    print(f"{'build':<22}{'median latency':>16}{'vs Lorien':>12}")
    for name, seconds in (("untuned TVM", untuned_s), ("Lorien schedules", lorien_s),
                          ("PyTorch eager", torch_s)):
        print(f"{name:<22}{seconds * 1e3:>13.2f} ms{seconds / lorien_s:>11.2f}x")
    print()
    print(f"speedup over untuned TVM: {untuned_s / lorien_s:.1f}x; "
          f"Lorien / PyTorch eager: {lorien_s / torch_s:.2f}x")
    (args.workdir / "summary.json").write_text(json.dumps({
        "model": args.model, "trials": args.trials, "target": target.canonical,
        "kernels": with_lorien.kernels, "kernels_scheduled": with_lorien.kernels_scheduled,
        "latency_s": {"untuned": untuned_s, "lorien": lorien_s, "torch_eager": torch_s},
        "tuning_s_this_run": tuning_s,
    }, indent=2))


if __name__ == "__main__":
    main()
