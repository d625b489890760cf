"""Cost models side by side on held-out networks: ranking quality, training time, scoring speed.

Every Lorien model type and the compiler's own cost model (TVM: MetaSchedule's XGBoost, trained
offline on the same rows) are evaluated leave-network-out: each model of the campaign manifest
(variants of one architecture together) is held out in turn, its whole family left out of
training, and the model's ranking of that network's schedules is scored. The table shows the
means over held-out networks, weighted by workload, then per network; also the time to fit on
every row and to score 1,000 candidate schedules (features already extracted). Plots go to
``--plots``.

    python benchmarks/cost_models.py --logs file://$PWD/datasets/tuning_logs
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lorien.config import open_logs
from lorien.datasets.tabular import LogTable, build_table
from lorien.training.evaluation import HeldOutResult, leave_network_out
from lorien.training.pipeline import MODEL_TYPES, default_held_out, load_training_data
from lorien.training.plots import TENSET_REFERENCE, write_plots

METRICS = ("top1", "top5", "ndcg@5", "pairwise_accuracy")


def fit_and_score_times(make: Callable[[], Any], table: LogTable) -> tuple[float, float]:
    """Seconds to fit on every row; median milliseconds to score 1,000 candidates."""
    started = time.perf_counter()
    model = make().fit(table.features, table.score, group=table.workload_keys)
    fit_s = time.perf_counter() - started
    candidates = table.features[np.resize(np.arange(len(table)), 1000)]
    model.predict(candidates[:10])
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        model.predict(candidates)
        timings.append(time.perf_counter() - started)
    return fit_s, float(np.median(timings)) * 1e3


def weighted_means(results: list[HeldOutResult]) -> dict[str, float]:
    weights = np.array([r.test_workloads for r in results], dtype=float)
    return {m: float(np.average([r.metrics[m] for r in results], weights=weights)) for m in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", required=True)
    parser.add_argument("--model-types", nargs="+", default=list(MODEL_TYPES))
    parser.add_argument("--time-limit", type=float, default=60.0, help="AutoGluon's per fit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the compiler's own model")
    parser.add_argument("--plots", type=Path, default=Path("benchmarks/results/cost_models"))
    args = parser.parse_args()

    started = time.perf_counter()
    data = load_training_data(open_logs(args.logs), progress=True)
    load_s = time.perf_counter() - started
    dialect, table, networks_of = data.dialect, data.table, data.networks_of
    held_out = default_held_out(table, networks_of)
    print(f"{len(table)} schedules ({int(table.failed.sum())} failed) of {len(table.workloads)} "
          f"workloads; {len(held_out)} networks held out in turn (all batches); logs read and "
          f"features in {load_s:.1f} s; {table.skipped_logs} unreadable logs, "
          f"{table.skipped_lines} bad lines")

    candidates: list[tuple[str, LogTable, Callable[[], Any]]] = [
        (name, table, lambda name=name: MODEL_TYPES[name](args.time_limit)) for name in args.model_types]
    native = None if args.no_baseline else dialect.native_cost_model()
    if native is not None:
        native_table = build_table(dialect, data.tuning_logs, progress=True, featurize=native.featurize)
        candidates.append((native.name, native_table, native.make))

    evaluated: dict[str, list[HeldOutResult]] = {}
    timings: dict[str, tuple[float, float]] = {}
    for name, rows, make in candidates:
        evaluated[name] = leave_network_out(rows, networks_of, make, held_out)
        timings[name] = fit_and_score_times(make, rows)

    print(f"\nmeans over held-out networks, weighted by workload\n{'model':<18}"
          + "".join(f"{m:>19}" for m in METRICS) + f"{'fit s':>9}{'score 1k ms':>13}")
    for name, results in evaluated.items():
        means = weighted_means(results)
        print(f"{name:<18}" + "".join(f"{means[m]:>19.3f}" for m in METRICS)
              + f"{timings[name][0]:>9.1f}{timings[name][1]:>13.1f}")
    reference = " ".join(f"{m} {v}" for m, v in TENSET_REFERENCE.items())
    print(f"targets to beat (TenSet's pre-trained XGBoost on its CPU data): {reference}")
    if native is not None:
        base = weighted_means(evaluated[native.name])
        print(f"\nratios to {native.name} (>1 is better)\n{'model':<18}"
              + "".join(f"{m:>19}" for m in METRICS))
        for name, results in evaluated.items():
            means = weighted_means(results)
            print(f"{name:<18}" + "".join(f"{means[m] / base[m]:>19.2f}" for m in METRICS))

    print(f"\nper held-out network: top1 / top5\n{'network':<44}{'workloads':>10}"
          + "".join(f"{name:>19}" for name in evaluated))
    for i, network in enumerate(held_out):
        cells = [f"{r[i].metrics['top1']:.2f} / {r[i].metrics['top5']:.2f}" for r in evaluated.values()]
        workloads = next(iter(evaluated.values()))[i].test_workloads
        print(f"{network[:43]:<44}{workloads:>10}" + "".join(f"{c:>19}" for c in cells))
    for path in write_plots(evaluated, args.plots):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
