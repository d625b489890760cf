"""Where good candidates come from: adapted neighbours against design-space samples, measured.

For the heaviest kernels of a held-out network (weight x MetaSchedule-64's latency), this measures
on this machine, in one run and beside that kernel's MetaSchedule-64 schedule:

* the best schedules of ``--neighbours`` similar tuned workloads adapted to the kernel, chosen as
  the predictor does: the ``--pool`` nearest by descriptors offered, those whose loops fit best
  kept (``--pool`` equal to ``--neighbours``: by descriptors alone);
* ``--samples`` random design-space samples.

It then prints, per kernel and over all (geometric mean of latency / MetaSchedule-64's), what each
source gives (its best, its median) and what each way of choosing the instant answer without
measuring would have delivered: the cost model's first choice among every candidate, among the
adapted neighbours only, and the neighbour whose loops fit best. It reuses
``benchmarks/zero_shot.py``'s work folder for the network (its held-out cost model, its store of
neighbours without the family, its MetaSchedule-64 store), so run that first:

    python benchmarks/zero_shot.py --network resnet18 --ladder --budgets
    python benchmarks/candidate_sources.py --network resnet18 --kernels 6

The result is kept as ``candidate_sources.json`` in the work folder.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from lorien.config import open_store
from lorien.datasets.zoo import load_model
from lorien.dialects import CandidateOptions, get_dialect
from lorien.predictor import CostModelScorer, NeighbourIndex
from lorien.predictor.predictor import measure_options
from lorien.records import Latency
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.shipped import shipped_metadata

POLICIES = ("model's first of all", "model's first of neighbours", "best-fitting neighbour")


def geomean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v) and v > 0]
    return math.exp(statistics.fmean(math.log(v) for v in finite)) if finite else math.nan


def best_of(row: dict[str, Any], adapted: bool) -> float:
    """The fastest ratio among a kernel's adapted neighbours (``adapted``) or its samples."""
    return min((ratio for ratio, origin in zip(row["ratios"], row["origins"], strict=True)
                if (origin != "space") == adapted), default=math.inf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--kernels", type=int, default=6, help="the heaviest this many kernels")
    parser.add_argument("--neighbours", type=int, default=8, help="neighbours adapted")
    parser.add_argument("--pool", type=int, default=24,
                        help="nearest workloads by descriptors offered; --pool 8 is the choice by "
                             "descriptors alone")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = (args.workdir or Path("benchmarks/results") / f"zero_shot_{args.network}").resolve()
    for needed in ("cost_model.txt", "lorien.db", "campaign-64.db"):
        if not (workdir / needed).exists():
            parser.exit(2, f"{workdir / needed} is missing: run benchmarks/zero_shot.py --network "
                           f"{args.network} first\n")
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    uses = dialect.extract(dialect.load_model(load_model(args.network, batch=1)), target)
    store = open_store(f"sqlite:///{workdir}/lorien.db")
    campaign = open_store(f"sqlite:///{workdir}/campaign-64.db")
    model = LightGBMRankingCostModel.from_text((workdir / "cost_model.txt").read_text())
    scorer = CostModelScorer(model, shipped_metadata(), dialect, "held-out")
    index = NeighbourIndex(store)
    heaviest = []
    for use in uses:
        tuned = campaign.top_k(use.workload.key, target, 1, match="loose", source="tuned")
        if tuned:
            heaviest.append((use.weight * tuned[0].latency.mean, use, tuned[0].schedule))
    heaviest.sort(key=lambda row: -row[0])
    results: list[dict[str, Any]] = []
    print(f"{args.network} on {target.canonical}: latency / MetaSchedule-64's, measured here")
    for _, use, reference_schedule in heaviest[:args.kernels]:
        workload = use.workload
        neighbours = index.nearest(workload, target, max(args.neighbours, args.pool))
        # the predictor's way: the dialect keeps the neighbours whose loops fit best, nearest first
        adapted_found = dialect.candidates(workload, target, [n.record.schedule for n in neighbours], None,
                                           CandidateOptions(samples=0, seeds_kept=args.neighbours, seed=0))
        samples = dialect.candidates(workload, target, [], None, CandidateOptions(samples=args.samples))
        schedules = adapted_found.schedules + samples.schedules
        origins = ["neighbour"] * len(adapted_found) + ["space"] * len(samples)
        scores = scorer.for_workload(workload)(np.vstack([adapted_found.features, samples.features]))
        latencies = dialect.measure(workload, target, [reference_schedule, *schedules],
                                    measure_options(30.0, 30.0))
        reference = latencies[0]
        if not isinstance(reference, Latency):
            print(f"  {workload.name[:70]}: its MetaSchedule-64 schedule failed here "
                  f"({reference.reason}); skipped")
            continue
        ratios = [lat.mean / reference.mean if isinstance(lat, Latency) else math.inf
                  for lat in latencies[1:]]
        adapted = [i for i, origin in enumerate(origins) if origin != "space"]
        space = [i for i, origin in enumerate(origins) if origin == "space"]
        chosen = {
            POLICIES[0]: int(np.argmax(scores)),
            POLICIES[1]: adapted[int(np.argmax(scores[adapted]))] if adapted else int(np.argmax(scores)),
            POLICIES[2]: adapted[0] if adapted else int(np.argmax(scores)),
        }
        row = {"name": workload.name, "weight": use.weight, "reference_s": latencies[0].mean,
               "neighbours": [n.workload.name for n in neighbours], "adapted": len(adapted),
               "origins": origins, "ratios": ratios, "scores": scores.tolist(),
               "policies": {policy: ratios[i] for policy, i in chosen.items()}}
        results.append(row)
        print(f"\n  {workload.name[:90]} x{use.weight}: MetaSchedule-64 {latencies[0].mean * 1e3:.2f} ms; "
              f"{len(adapted)} neighbours adapted of {len(neighbours)} offered")
        for label, members in (("adapted neighbours", adapted), ("design-space samples", space)):
            values = sorted(ratios[i] for i in members)
            if values:
                print(f"    {label:<22} best {values[0]:6.2f}x  median {statistics.median(values):6.2f}x")
        print("    " + "  ".join(f"{policy}: {ratio:.2f}x" for policy, ratio in row["policies"].items()))
    (workdir / "candidate_sources.json").write_text(json.dumps(results, indent=1))
    print(f"\nover {len(results)} kernels, geometric mean of latency / MetaSchedule-64's:")
    for label, adapted_only in (("best adapted neighbour", True), ("best design-space sample", False)):
        print(f"  {label:<32} {geomean([best_of(r, adapted_only) for r in results]):.2f}x")
    for policy in POLICIES:
        print(f"  instant answer, {policy:<16} {geomean([r['policies'][policy] for r in results]):.2f}x")
    fastest = [r["origins"][int(np.argmin(r["ratios"]))] for r in results]
    print(f"  the fastest candidate was an adapted neighbour for {sum(o != 'space' for o in fastest)} "
          f"of {len(results)} kernels")


if __name__ == "__main__":
    main()
