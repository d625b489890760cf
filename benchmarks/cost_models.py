"""Cost models side by side on held-out networks: ranking quality, training time, scoring speed.

Every Lorien model type and the compiler's own cost model (TVM: MetaSchedule's XGBoost, trained
offline on the same rows) are evaluated leave-network-out: each model of the campaign manifest
(variants of one architecture together) is held out in turn, its whole family left out of
training, and the model's ranking of that network's schedules is scored. The table shows the
means over held-out networks, weighted by workload, then per network; also the time to fit on
every row and to score 1,000 candidate schedules (features already extracted). A random pick is
the floor, scored exactly on the same rows. When the logs hold several CPUs, each CPU is also held
out in turn (leave-CPU-out). ``--ablation`` adds LightGBM on subsets of the features. Plots go to
``--plots``; features are kept in ``--feature-cache`` between runs.

    python benchmarks/cost_models.py --logs file://$PWD/datasets/tuning_logs --ablation pooled
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lorien.config import data_dir, open_logs
from lorien.datasets.tabular import LogTable, build_table
from lorien.training.evaluation import (
    HeldOutResult,
    cpu_split,
    cpus_of,
    leave_cpu_out,
    leave_network_out,
    network_split,
    random_pick,
    workload_weighted,
)
from lorien.training.pipeline import MODEL_TYPES, default_held_out, feature_cache, load_training_data
from lorien.training.plots import TENSET_REFERENCE, write_plots

METRICS = ("top1", "top5", "ndcg@5", "pairwise_accuracy")


def fit_and_score_times(make: Callable[[], Any], table: LogTable) -> tuple[float, float]:
    """Seconds to fit on every row; median milliseconds to score 1,000 candidates."""
    started = time.perf_counter()
    model = make().fit(table.features, table.score, group=table.groups)
    fit_s = time.perf_counter() - started
    candidates = table.features[np.resize(np.arange(len(table)), 1000)]
    model.predict(candidates[:10])
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        model.predict(candidates)
        timings.append(time.perf_counter() - started)
    return fit_s, float(np.median(timings)) * 1e3


def column_sets(width: int) -> dict[str, np.ndarray]:
    """The ablation's feature subsets of the TVM dialect's rows (see
    :mod:`lorien.dialects.tvm.features`), each with the workload descriptors: the pooled per-store
    features alone (the earlier recipe), then the main store's, the trace's and the CPU's added."""
    from lorien.datasets.tabular import DESCRIPTOR_NAMES
    from lorien.dialects.tvm.features import (
        CPU_FEATURE_NAMES,
        PER_STORE_WIDTH,
        POOLED_WIDTH,
        TRACE_FEATURE_NAMES,
    )

    main_end = POOLED_WIDTH + PER_STORE_WIDTH
    trace_end = main_end + len(TRACE_FEATURE_NAMES)
    cpu_end = trace_end + len(CPU_FEATURE_NAMES)
    descriptors = np.arange(cpu_end, cpu_end + len(DESCRIPTOR_NAMES))
    assert cpu_end + len(DESCRIPTOR_NAMES) == width, "the dialect's feature layout changed"
    return {"pooled": np.r_[np.arange(POOLED_WIDTH), descriptors],
            "+main store": np.r_[np.arange(main_end), descriptors],
            "+trace": np.r_[np.arange(trace_end), descriptors],
            "+cpu (all)": np.arange(width)}


def with_columns(table: LogTable, columns: np.ndarray) -> LogTable:
    return dataclasses.replace(table, features=table.features[:, columns])


def print_held_out(kind: str, names: list[str], evaluated: dict[str, list[HeldOutResult]]) -> None:
    """One row per held-out network (or CPU): each model's top1 / top5 on it."""
    print(f"\nper held-out {kind}: top1 / top5\n{kind:<44}{'workloads':>10}"
          + "".join(f"{name[:18]:>19}" for name in evaluated))
    for i, name in enumerate(names):
        cells = [f"{r[i].metrics['top1']:.2f} / {r[i].metrics['top5']:.2f}" for r in evaluated.values()]
        workloads = evaluated["random"][i].test_workloads
        print(f"{name[:43]:<44}{workloads:>10}" + "".join(f"{c:>19}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", required=True)
    parser.add_argument("--model-types", nargs="*", default=list(MODEL_TYPES))
    parser.add_argument("--time-limit", type=float, default=60.0, help="AutoGluon's per fit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the compiler's own model")
    parser.add_argument("--ablation", nargs="*", default=[], metavar="SUBSET",
                        choices=["pooled", "+main store", "+trace"],
                        help="also evaluate LightGBM on these subsets of the features: 'pooled' (the "
                             "earlier recipe), '+main store', '+trace' (everything but the CPU)")
    parser.add_argument("--feature-cache", type=Path, default=data_dir() / "feature-cache")
    parser.add_argument("--plots", type=Path, default=Path("benchmarks/results/cost_models"))
    args = parser.parse_args()

    started = time.perf_counter()
    data = load_training_data(open_logs(args.logs), progress=True, cache=args.feature_cache)
    load_s = time.perf_counter() - started
    dialect, table, networks_of = data.dialect, data.table, data.networks_of
    held_out = default_held_out(table, networks_of)
    cpus = cpus_of(table)
    print(f"{len(table)} schedules ({int(table.failed.sum())} failed) of {len(table.workloads)} "
          f"workloads on {len(cpus)} CPU(s) ({', '.join(cpus)}); {len(held_out)} networks held out in "
          f"turn (all batches); logs read and features in {load_s:.1f} s; {table.skipped_logs} "
          f"unreadable logs, {table.skipped_lines} bad lines")

    candidates: list[tuple[str, LogTable, Callable[[], Any]]] = [
        (name, table, lambda name=name: MODEL_TYPES[name](args.time_limit)) for name in args.model_types]
    subsets = column_sets(table.features.shape[1]) if args.ablation else {}
    candidates += [(f"lightgbm {subset}", with_columns(table, subsets[subset]),
                    lambda: MODEL_TYPES["lightgbm"](args.time_limit)) for subset in args.ablation]
    native = None if args.no_baseline else dialect.native_cost_model()
    if native is not None:
        native_table = build_table(dialect, data.tuning_logs, progress=True, featurize=native.featurize,
                                   cache=feature_cache(args.feature_cache, dialect, native.name))
        candidates.insert(0, (native.name, native_table, native.make))

    evaluated: dict[str, list[HeldOutResult]] = {
        "random": [random_pick(table, n, network_split(table, networks_of, n)[1]) for n in held_out]}
    by_cpu: dict[str, list[HeldOutResult]] = {}
    if len(cpus) > 1:
        by_cpu["random"] = [random_pick(table, cpu, cpu_split(table, cpu)[1]) for cpu in cpus]
    timings: dict[str, tuple[float, float]] = {}
    for name, rows, make in candidates:
        evaluated[name] = leave_network_out(rows, networks_of, make, held_out)
        if len(cpus) > 1:
            by_cpu[name] = leave_cpu_out(rows, make, cpus)
        timings[name] = fit_and_score_times(make, rows)
        means, cpu_means = workload_weighted(evaluated[name]), workload_weighted(by_cpu.get(name, []))
        nan = float("nan")
        print(f"  {name}: network out top1 {means['top1']:.3f} top5 {means['top5']:.3f}; CPU out "
              f"top1 {cpu_means.get('top1', nan):.3f} top5 {cpu_means.get('top5', nan):.3f}; "
              f"fit {timings[name][0]:.1f} s", flush=True)

    print(f"\nmeans over held-out networks (and CPUs), weighted by workload\n{'model':<26}"
          + "".join(f"{c:>12}" for c in ("top1", "top5", "ndcg@5", "pairwise", "CPU top1", "CPU top5"))
          + f"{'fit s':>9}{'score 1k ms':>13}")
    for name, results in evaluated.items():
        means = workload_weighted(results)
        cpu_means = workload_weighted(by_cpu.get(name, []))
        fit_s, score_ms = timings.get(name, (float("nan"), float("nan")))
        print(f"{name:<26}" + "".join(f"{means[m]:>12.3f}" for m in METRICS)
              + "".join(f"{cpu_means.get(m, float('nan')):>12.3f}" for m in ("top1", "top5"))
              + f"{fit_s:>9.1f}{score_ms:>13.1f}")
    print("(network: each model family held out in turn; CPU: each CPU's rows held out in turn)")
    reference = " ".join(f"{m} {v}" for m, v in TENSET_REFERENCE.items())
    print(f"targets to beat (TenSet's pre-trained XGBoost on its CPU data): {reference}")

    print_held_out("network", held_out, evaluated)
    if by_cpu:
        print_held_out("cpu", cpus, by_cpu)
    for path in write_plots({k: v for k, v in evaluated.items() if k != "random"}, args.plots):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
