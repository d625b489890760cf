"""The ranker's choice among adapted neighbours, leave-network-out: what an instant answer is.

An instant answer for a kernel nobody tuned is mostly a choice among the best schedules of its
nearest tuned workloads, re-tiled to its shapes (``PredictOptions.neighbours_first``). The data set
measures those candidates (``origin: neighbour``, ``lorien campaign --neighbour-samples``). Each
network (family) is held out in turn and a LightGBM ranker trained on the other networks' rows
twice: without the neighbour rows (the data the ranker had before they existed) and with them.
Each ranks the held-out network's adapted neighbours, kernel by kernel; beside them a random pick
(its expectation) and the neighbour whose loops fit the kernel best (the dialect adapts them in that
order: no model). Columns: top-1 (the best neighbour's latency over the pick's, averaged over
kernels), the pick's slowdown against the best neighbour (geometric mean over kernels; a random
pick's is the geometric mean over its neighbours), the worst, and the kernels whose pick is more
than 2x slower than the best.

Both rankers see the same CPUs' search picks and random samples; the one with neighbour rows also
sees the CPUs whose logs hold neighbour rows only (a campaign of ``--trials 0 --random-samples
0``), so part of its gain may be that CPU's features.

    python benchmarks/neighbour_pick.py --logs file://$PWD/datasets/tuning_logs
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from lorien.config import data_dir, open_logs
from lorien.datasets.tabular import LogTable
from lorien.training.evaluation import network_split
from lorien.training.metrics import expected_top_k
from lorien.training.pipeline import MODEL_TYPES, default_held_out, load_training_data


def picks(predicted: np.ndarray, latency: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Per kernel with two or more timed neighbours: the slowdown of the top-scored one against
    the fastest (inf where the pick failed)."""
    slowdowns = {}
    for group in np.unique(groups):
        rows = groups == group
        timed = latency[rows][np.isfinite(latency[rows])]
        if len(timed) < 2:
            continue
        pick = latency[rows][int(np.argmax(predicted[rows]))]
        slowdowns[str(group)] = float(pick / timed.min())
    return slowdowns


def random_slowdowns(latency: np.ndarray, groups: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """A random pick's expected top-1 and geometric-mean slowdown per kernel (failures count as the
    slowest timed one)."""
    top1, slowdown = {}, {}
    for group in np.unique(groups):
        rows = latency[groups == group]
        timed = rows[np.isfinite(rows)]
        if len(timed) < 2:
            continue
        top1[str(group)] = expected_top_k(1)(rows)
        slowdown[str(group)] = float(np.exp(np.mean(np.log(np.where(np.isfinite(rows), rows, timed.max())
                                                           / timed.min()))))
    return top1, slowdown


def summary(slowdowns: dict[str, float]) -> dict[str, float]:
    values = np.array(list(slowdowns.values()))
    finite = np.where(np.isfinite(values), values, np.nan)
    return {"top1": float(np.mean(np.where(np.isfinite(values), 1.0 / values, 0.0))),
            "geomean": float(np.exp(np.nanmean(np.log(finite)))), "worst": float(np.nanmax(finite)),
            "over_2x": int((values > 2).sum()), "kernels": len(values)}


def fit(table: LogTable, rows: np.ndarray) -> Any:
    model = MODEL_TYPES["lightgbm"](0.0)
    return model.fit(table.features[rows], table.score[rows], group=table.groups[rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", required=True)
    parser.add_argument("--feature-cache", type=Path, default=data_dir() / "feature-cache")
    parser.add_argument("--networks", nargs="*", default=None,
                        help="held out in turn (default: every family)")
    args = parser.parse_args()

    started = time.perf_counter()
    data = load_training_data(open_logs(args.logs), progress=True, cache=args.feature_cache)
    table, networks_of = data.table, data.networks_of
    neighbour = table.origins == "neighbour"
    print(f"{len(table)} rows of {len(table.workloads)} workloads, {int(neighbour.sum())} of them adapted "
          f"neighbours of {len(np.unique(table.groups[neighbour]))} kernels; read in "
          f"{time.perf_counter() - started:.0f} s")
    columns = ("best fit, no model", "without neighbour rows", "with neighbour rows")
    totals: dict[str, dict[str, float]] = {name: {} for name in ("random", *columns)}
    random_top1: dict[str, float] = {}
    print(f"\n{'held-out network':<40}{'kernels':>8}"
          + "".join(f"{name:>28}" for name in ("random", *columns)))
    print(f"{'':<48}" + "".join(f"{'top1  geo  worst  >2x':>28}" for _ in range(1 + len(columns))))

    def cells(top1: dict[str, float] | None, slowdowns: dict[str, float]) -> str:
        row = summary(slowdowns)
        if top1 is not None:
            row["top1"] = float(np.mean(list(top1.values())))
        return f"{row['top1']:.2f} {row['geomean']:5.2f}x {row['worst']:5.1f}x {row['over_2x']:4d}".rjust(28)

    for network in args.networks or default_held_out(table, networks_of):
        train, test = network_split(table, networks_of, network)
        test &= neighbour
        latency, groups = table.latency[test], table.groups[test]
        expected, random_slow = random_slowdowns(latency, groups) if test.any() else ({}, {})
        if not expected:
            continue
        found = {"without neighbour rows": fit(table, train & ~neighbour),
                 "with neighbour rows": fit(table, train)}
        found_picks = {name: picks(model.predict(table.features[test]), latency, groups)
                       for name, model in found.items()}
        found_picks["best fit, no model"] = picks(-np.arange(int(test.sum()), dtype=float), latency, groups)
        random_top1.update(expected)
        totals["random"].update(random_slow)
        for name in columns:
            totals[name].update(found_picks[name])
        print(f"{network[:39]:<40}{len(expected):>8}" + cells(expected, random_slow)
              + "".join(cells(None, found_picks[name]) for name in columns), flush=True)
    print(f"\n{'all held-out kernels':<40}{len(random_top1):>8}" + cells(random_top1, totals["random"])
          + "".join(cells(None, totals[name]) for name in columns))


if __name__ == "__main__":
    main()
