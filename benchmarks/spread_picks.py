"""Which candidates a predictor measures: the cost model's first few, or the first few spread.

A cost model's errors are shared by near copies of a schedule, so the first few it ranks can be
spread over unlike schedules (:mod:`lorien.spread`) before they are measured. Where that is worth
it is measured here, on a network whose family is held out of the ranker's training rows and of
the neighbour store (as in ``zero_shot.py``), in two parts:

1. the instant pool (``measure_top_k``: adapted neighbours and design-space samples, ranked once,
   seeded): the ranker's first ``k`` against the ``k`` spread picks, measured in one call (a
   candidate in both is measured once and counts for both). Per kernel: the first pick's latency
   (the instant answer), the best of the first ``k``, the best of the spread ``k`` and the picks'
   origins (``n`` adapted neighbour, ``s`` design-space sample); then the network's kernel time
   (each kernel's latency times its uses, summed) for each;
2. with ``--local-rounds R``, the budgeted predictor's local search: the first 8 ranked measured
   (its two ranked rounds), then ``R`` rounds of mutants of each kernel's two fastest measured
   schedules (64 tries), the model's first 4 against the 4 spread picks, both measured; each
   round starts from everything measured before. Per round and kernel, the best of each four;
   then how often each found the faster, and how far each round went past its parents.

    python benchmarks/spread_picks.py --network xception --k 5 --local-rounds 2

The ranker and the seeded store are kept in ``--workdir`` (``benchmarks/results/spread_picks_<network>``
by default) and reused by later runs; the measurements are not (each run measures anew).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from lorien.datasets.zoo import load_model
from lorien.dialects import CandidateOptions, get_dialect
from lorien.predictor import BudgetOptions, CostModelScorer, PredictOptions, ZeroShotPredictor
from lorien.predictor.predictor import measure_options
from lorien.records import Latency, Target, WorkloadUse
from lorien.spread import spread_order
from lorien.training.held_out import hold_out_family
from lorien.training.shipped import shipped_metadata

Timings = dict[str, float]


def latencies(schedules: list[str], results: list[Any]) -> Timings:
    """The measured candidates' mean latencies (failures left out)."""
    return {s: m.mean for s, m in zip(schedules, results, strict=True) if isinstance(m, Latency)}


def best(latency: Timings, schedules: list[str]) -> float:
    return min((latency[s] for s in schedules if s in latency), default=float("inf"))


def instant_pool(dialect: Any, predictor: ZeroShotPredictor, uses: list[WorkloadUse], target: Target,
                 k: int) -> dict[str, Any]:
    """Part 1: the instant pool's first ``k`` against its ``k`` spread picks."""
    started = time.perf_counter()
    rankings = [(predictor.rank(use.workload, target), predictor.rank(use.workload, target, spread=k))
                for use in uses]
    print(f"ranked {len(uses)} kernels twice in {time.perf_counter() - started:.0f} s", flush=True)
    batches = []
    for use, (first, spread) in zip(uses, rankings, strict=True):
        assert first.schedules[0] == spread.schedules[0] and set(first.schedules) == set(spread.schedules)
        batches.append((use.workload, list(dict.fromkeys(first.schedules[:k] + spread.schedules[:k]))))
    started = time.perf_counter()
    measured = dialect.measure_many(target, batches, measure_options(60.0, 60.0))
    print(f"measured {sum(len(s) for _, s in batches)} candidates in {time.perf_counter() - started:.0f} s\n")
    top, spread_k = f"first {k}", f"spread {k}"
    rows, totals = [], {"first pick": 0.0, top: 0.0, spread_k: 0.0}
    print(f"{'uses':>4} {'first pick':>11} {top:>10} {spread_k:>10} {'ratio':>6} "
          f"{'origins':>{2 * k + 1}}  kernel")
    for use, (first, spread), (_, schedules), results in zip(uses, rankings, batches, measured, strict=True):
        latency = latencies(schedules, results)
        origins = "/".join("".join(o[0] for o in r.origins[:k]) for r in (first, spread))
        row = {"kernel": use.workload.name, "uses": use.weight,
               "first pick": best(latency, first.schedules[:1]),
               top: best(latency, first.schedules[:k]), spread_k: best(latency, spread.schedules[:k]),
               "same picks": set(first.schedules[:k]) == set(spread.schedules[:k]), "origins": origins}
        rows.append(row)
        for name in totals:
            totals[name] += use.weight * row[name]
        print(f"{use.weight:4d} {row['first pick'] * 1e3:9.3f}ms {row[top] * 1e3:8.3f}ms "
              f"{row[spread_k] * 1e3:8.3f}ms {row[top] / row[spread_k]:6.2f} {origins}  "
              f"{use.workload.name[:60]}")
    ratios = [r[top] / r[spread_k] for r in rows if not r["same picks"]]
    print(f"\ninstant pool, {len(rows)} kernels ({len(ratios)} whose picks differ): kernel time "
          f"(latency x uses, summed)")
    for name, total in totals.items():
        failed = sum(not np.isfinite(r[name]) for r in rows)
        finite = sum(r["uses"] * r[name] for r in rows if np.isfinite(r[name]))
        print(f"  {name:>12}: {finite * 1e3:9.2f} ms  ({total / totals[spread_k]:.2f}x the spread picks')"
              + (f", {failed} kernel(s) whose picks all failed left out" if failed else ""))
    if ratios:
        faster, slower = sum(r > 1.02 for r in ratios), sum(r < 1 / 1.02 for r in ratios)
        print(f"  kernels whose picks differ: {top} / {spread_k} median {statistics.median(ratios):.2f}x, "
              f"spread faster on {faster}, slower on {slower} (more than 2% either way)")
    return {"totals_s": totals, "kernels": rows}


def local_rounds(dialect: Any, predictor: ZeroShotPredictor, uses: list[WorkloadUse], target: Target,
                 rounds: int, seed: int) -> dict[str, Any]:
    """Part 2: local rounds from each kernel's first 8 ranked, the first 4 mutants against the 4
    spread (the budgeted predictor's defaults: 2 parents, 64 tries, 4 a round)."""
    options, scorer = BudgetOptions(), predictor.scorer
    ranked_places = options.ranked_rounds * options.batch
    first = [(use.workload, predictor.rank(use.workload, target).schedules[:ranked_places]) for use in uses]
    tried = [latencies(schedules, results) for (_, schedules), results
             in zip(first, dialect.measure_many(target, first, measure_options(60.0, 60.0)), strict=True)]
    rows = []
    print(f"\n{'round':>5} {'parents':>10} {'first 4':>10} {'spread 4':>10}  kernel")
    for number in range(rounds):
        batches, picks = [], []
        for index, use in enumerate(uses):
            parents = sorted(tried[index], key=tried[index].__getitem__)[:options.parents]
            found = dialect.candidates(use.workload, target, parents, None, CandidateOptions(
                samples=0, mutants=options.mutants, seed=seed + 1000 * number + index)) if parents else None
            new = [] if found is None else [
                i for i, (schedule, origin) in enumerate(zip(found.schedules, found.origins, strict=True))
                if origin == "mutant" and schedule not in tried[index]]
            if found is None or len(new) <= options.batch:
                batches.append((use.workload, []))
                picks.append(([], []))
                continue
            order = np.argsort(-scorer.for_workload(use.workload)(found.features[new]), kind="stable")
            spread = order[spread_order(found.features[new][order], options.batch)]
            pair = ([found.schedules[new[i]] for i in order[:options.batch]],
                    [found.schedules[new[i]] for i in spread[:options.batch]])
            picks.append(pair)
            batches.append((use.workload, list(dict.fromkeys(pair[0] + pair[1]))))
        measured = dialect.measure_many(target, batches, measure_options(60.0, 60.0))
        for index, ((workload, schedules), results, (plain, spread)) in enumerate(
                zip(batches, measured, picks, strict=True)):
            if not schedules:
                continue
            latency = latencies(schedules, results)
            row = {"round": number, "kernel": workload.name, "parents": min(tried[index].values()),
                   "first 4": best(latency, plain), "spread 4": best(latency, spread),
                   "same picks": set(plain) == set(spread)}
            rows.append(row)
            print(f"{number:5d} {row['parents'] * 1e3:8.3f}ms {row['first 4'] * 1e3:8.3f}ms "
                  f"{row['spread 4'] * 1e3:8.3f}ms  {workload.name[:60]}", flush=True)
            tried[index].update(latency)
    differ = [r for r in rows
              if not r["same picks"] and np.isfinite(r["first 4"]) and np.isfinite(r["spread 4"])]
    ratios = np.array([r["first 4"] / r["spread 4"] for r in differ])

    def past_parents(name: str) -> float:
        return float(np.exp(np.mean([np.log(r["parents"] / min(r[name], r["parents"])) for r in rows])))

    print(f"\nlocal search, {len(rows)} kernel rounds ({len(differ)} whose picks differ):")
    if len(ratios):
        print(f"  first 4 / spread 4 where the picks differ: geometric mean "
              f"{np.exp(np.log(ratios).mean()):.3f}x; "
              f"spread faster in {int((ratios > 1.02).sum())}, slower in {int((ratios < 1 / 1.02).sum())} "
              f"(more than 2% either way)")
    print(f"  a round past its parents (geometric mean): first 4 {past_parents('first 4'):.3f}x, "
          f"spread 4 {past_parents('spread 4'):.3f}x")
    return {"rounds": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="xception", help="a zoo network (its family is held out)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--k", type=int, default=5, help="candidates measured per kernel of the instant pool")
    parser.add_argument("--local-rounds", type=int, default=0, metavar="R",
                        help="local search rounds to compare")
    parser.add_argument("--seed", type=int, default=0, help="the candidates' random seed")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = (args.workdir or Path("benchmarks/results") / f"spread_picks_{args.network}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    uses = dialect.extract(dialect.load_model(load_model(args.network, batch=args.batch)), target)
    held_out = hold_out_family(args.network, workdir, progress=lambda step: print(f"... {step}", flush=True))
    store = held_out.store
    scorer = CostModelScorer(held_out.ranker, shipped_metadata(), dialect, "held-out")
    options = PredictOptions(candidates=dataclasses.replace(PredictOptions().candidates, seed=args.seed))
    predictor = ZeroShotPredictor(store, scorer, options)
    result: dict[str, Any] = {"network": args.network, "k": args.k, "seed": args.seed,
                              "instant": instant_pool(dialect, predictor, uses, target, args.k)}
    if args.local_rounds:
        result["local"] = local_rounds(dialect, predictor, uses, target, args.local_rounds, args.seed)
    (workdir / "last_run.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
