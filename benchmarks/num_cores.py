"""Does the target's ``num-cores`` pay? A model's heaviest kernels searched with the target
declaring several core counts (the search space's parallel extents follow it), at the same trials
and seed, each search's best timed on this machine, as ratios against the machine's own count.
One run.

    python benchmarks/num_cores.py --model resnet18 --kernels 2 --trials 64 --num-cores 1 2 4

Only the search sees ``num-cores``: the runtime runs every build on all of the machine's cores.
Searches go to a temporary store and log folder, never into the data set.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from lorien.config import open_logs, open_store
from lorien.datasets.zoo import load_model
from lorien.dialects import Lowering, TuneOptions, get_dialect
from lorien.logstore import LocalLogStore, read_logs
from lorien.tuner import tune_workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--lowering", choices=("plain", "prepack"), default="prepack")
    parser.add_argument("--kernels", type=int, default=2, help="the heaviest kernels by FLOPs x calls")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--num-cores", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=0, help="the searches' random seed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    host = dialect.parse_target("host")
    own_cores = json.loads(host.canonical)["num-cores"]
    model = dialect.load_model(load_model(args.model))
    uses = [u for u in dialect.extract(model, host, Lowering(prepack=args.lowering == "prepack"))
            if u.workload.flops > 0][:args.kernels]
    best_ms: dict[int, list[float | None]] = {}
    minutes: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/lorien.db") as store:
        for cores in args.num_cores:
            target = dialect.parse_target(json.dumps({**json.loads(host.canonical), "num-cores": cores}))
            folder = Path(tmp) / f"logs-{cores}"
            folder.mkdir()
            tune_workloads(dialect, [u.workload for u in uses], target, store, open_logs(f"file://{folder}"),
                           TuneOptions(trials=args.trials, warm_start=True, seed=args.seed), force=True)
            best_ms[cores] = [record.latency.median * 1e3 if (record := store.best(u.workload.key, target))
                              else None for u in uses]
            minutes[cores] = sum(log.finished_at - log.started_at
                                 for log in read_logs(LocalLogStore(folder))[0]) / 60

    print(f"\n{args.model}, {args.lowering}; {args.trials} warm trials per kernel, seed {args.seed}; this "
          f"machine has {own_cores} cores; best of each search, ms (ratio to num-cores={own_cores})\n")
    print("kernel | calls | " + " | ".join(f"num-cores={c}" for c in args.num_cores))
    for i, use in enumerate(uses):
        own = best_ms.get(own_cores, [None] * len(uses))[i]
        cells = []
        for cores in args.num_cores:
            value = best_ms[cores][i]
            ratio = f" ({value / own:.2f}x)" if value and own else ""
            cells.append(f"{value:.2f}{ratio}" if value else "failed")
        print(f"{use.workload.name[:60]} | {use.weight} | " + " | ".join(cells))
    print("tuning time | | " + " | ".join(f"{minutes[c]:.1f} min" for c in args.num_cores))
    if args.json:
        args.json.write_text(json.dumps({
            "model": args.model, "trials": args.trials, "seed": args.seed, "own_cores": own_cores,
            "kernels": [u.workload.name for u in uses],
            "best_ms": {str(c): v for c, v in best_ms.items()}, "tuning_min": minutes}, indent=2))


if __name__ == "__main__":
    main()
