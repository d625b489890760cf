"""Zero-shot delivery on a held-out network: Lorien's predicted schedules against tuning.

The network's whole architecture family is held out: the cost model is retrained on the shipped
tuning logs without any workload of the family, and the store that lends neighbours' schedules is
seeded without them, so every kernel of the network is new to Lorien. Then, in one run on this
machine, side by side:

* Lorien: time to deliver a predicted schedule for every kernel, and the network's latency with them,
  once with the cost model's first choices and once measuring its best ``--measure-top-k`` per kernel;
* Lorien within time budgets (``--budgets``, fractions of MetaSchedule-64's tuning time for the
  network): instant answers, then measuring and local search spent on the kernels that cost the
  model most (:class:`lorien.predictor.BudgetedPredictor`); beside each, the best MetaSchedule run
  here that finished within the same time (untuned TVM when none did);
* with ``--with-evolution``, Lorien again with a model-guided evolutionary search adding
  candidates (not done by default: see :class:`lorien.dialects.CandidateOptions`);
* untuned TVM and PyTorch eager;
* MetaSchedule tuning every kernel here with 1, 2, 4, 8 trials (the ladder: the budget that first
  matches Lorien's latency tells how much tuning time Lorien saves), the 1-trial rung being
  MetaSchedule at about Lorien's wall-clock;
* MetaSchedule tuning each kernel (called MetaSchedule-64 below, though the campaign's later
  searches took 32 trials a kernel: the row's label says how many the logs it used took): the best
  search picks of the shipped campaign logs (searched on this CPU where it has been, else on
  another x86 CPU of the same build, re-timed here; never their random samples or adapted
  neighbours), with the time that search took;
* with ``--also LABEL=STORE``, the build from another store (an earlier run's ``lorien.db``: the
  instant answers of an earlier cost model, before and after timed in the same rounds).

Resumable: every stage writes its result under ``--workdir`` and is skipped when found; tuning
commits after each kernel. At the end every TVM build but untuned TVM is timed again, in turn,
``--rounds`` times, and the table's latencies are those medians (``side_by_side.json``): the
ratios then compare builds timed minutes, not hours, apart. Each of those builds is run once on
the model's inputs first and its outputs compared with PyTorch eager's (the table's ``outputs``
column; a wrong one is named with where it differs).

    python benchmarks/zero_shot.py --network bert_base_s64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lorien.config import data_dir, open_logs, open_store
from lorien.datasets.campaign import read_networks, search_logs
from lorien.datasets.eager import time_torch_eager_alone, torch_outputs
from lorien.datasets.seed import seed_from_logs, seed_store, tuning_logs_dir
from lorien.datasets.zoo import family_workloads, load_model
from lorien.dialects import TuneOptions, get_dialect
from lorien.logstore import LocalLogStore, read_logs
from lorien.outputs import output_mismatch
from lorien.predictor import (
    BudgetedPredictor,
    CostModelScorer,
    PredictOptions,
    ZeroShotPredictor,
    store_predictions,
)
from lorien.records import content_hash
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.pipeline import fit_ranker_without, load_training_data
from lorien.training.shipped import shipped_metadata
from lorien.tuner import tune_workloads

LADDER = (1, 2, 4, 8)


def stage(workdir: Path, name: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A stage's result, computed once and kept in ``workdir/name.json``."""
    path = workdir / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    print(f"... {name}", flush=True)
    result = compute()
    path.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="bert_base_s64", help="a zoo network (its family is held out)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each build")
    parser.add_argument("--rounds", type=int, default=7,
                        help="rounds of timing every build in turn at the end (the table's latencies "
                             "are their medians; untuned TVM and PyTorch eager keep their stage's)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--measure-top-k", type=int, default=8,
                        help="the second Lorien row measures the cost model's best K per kernel")
    parser.add_argument("--ladder", type=int, nargs="*", default=list(LADDER),
                        help="MetaSchedule trials per kernel to tune with here")
    parser.add_argument("--budgets", type=float, nargs="*", default=[0.02, 0.05, 0.1],
                        metavar="FRACTION",
                        help="deliver within these fractions of MetaSchedule-64's tuning time for the "
                             "network (default: 1/50, 1/20, 1/10)")
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=STORE",
                        help="also time the build from this SQLite store file under LABEL, side by "
                             "side (e.g. an earlier run's lorien.db: before and after in one run)")
    parser.add_argument("--neighbour-pool", type=int, default=PredictOptions().neighbour_pool,
                        help="similar workloads offered per kernel, of which the 8 whose loops fit "
                             "best are adapted (PredictOptions.neighbour_pool)")
    parser.add_argument("--with-evolution", action="store_true",
                        help="also deliver with model-guided evolution adding candidates (off by default): "
                             "what the evolution adds or costs")
    args = parser.parse_args()
    workdir = (args.workdir or Path("benchmarks/results") / f"zero_shot_{args.network}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    source = load_model(args.network, batch=args.batch)
    model = dialect.load_model(source)
    workloads = [u.workload for u in dialect.extract(model, target)]
    excluded = family_workloads(read_networks(LocalLogStore(tuning_logs_dir())), args.network)

    def train() -> dict[str, Any]:
        data = load_training_data(LocalLogStore(tuning_logs_dir()), cache=data_dir() / "feature-cache")
        started = time.perf_counter()
        fitted, rows = fit_ranker_without(data, excluded)
        (workdir / "cost_model.txt").write_text(fitted.to_text())
        return {"rows": rows, "rows_held_out": len(data.table) - rows,
                "fit_seconds": time.perf_counter() - started}

    training = stage(workdir, "training", train)
    lorien_store = open_store(f"sqlite:///{workdir}/lorien.db")
    if not lorien_store.list_workloads():
        seed_store(lorien_store, exclude=excluded)
    assert not any(lorien_store.top_k(w.key, target, 1, match="loose", source="tuned") for w in workloads), \
        "a kernel of the held-out network has a tuned record: not zero-shot"

    def seeded_store(name: str) -> Any:
        store = open_store(f"sqlite:///{workdir}/{name}.db")
        if not store.list_workloads():
            seed_store(store, exclude=excluded)
        return store

    measured_store = seeded_store("lorien-measured")

    def deliver(store: Any = lorien_store, options: PredictOptions | None = None) -> dict[str, Any]:
        scorer = CostModelScorer(LightGBMRankingCostModel.from_text((workdir / "cost_model.txt").read_text()),
                                 shipped_metadata(), dialect, "held-out")
        options = options or PredictOptions(neighbour_pool=args.neighbour_pool)
        predictor = ZeroShotPredictor(store, scorer, options)
        seconds = []
        # the whole model at once: with measure_top_k, every kernel's top candidates are built
        # together on every core and run one at a time
        predictions = predictor.predict_many(workloads, target)
        store_predictions(store, workloads, predictions)  # the build below asks the store
        for workload, prediction in zip(workloads, predictions, strict=True):
            seconds.append(prediction.seconds)
            print(f"    {prediction.seconds:5.1f} s  {prediction.origin:9s} {workload.name[:70]}", flush=True)
        return {"kernels": len(workloads), "total_s": sum(seconds), "median_s": statistics.median(seconds),
                "max_s": max(seconds)}

    delivery = stage(workdir, "delivery", deliver)
    measured_options = PredictOptions(measure_top_k=args.measure_top_k, neighbour_pool=args.neighbour_pool)
    delivery_measured = stage(workdir, f"delivery_measured_{args.measure_top_k}",
                              lambda: deliver(measured_store, measured_options))

    def latency_with(store: Any) -> dict[str, Any]:
        compiled = dialect.compile(model, target, store)
        return {"latency_s": dialect.time(compiled, args.repeat).median,
                "kernels_scheduled": compiled.kernels_scheduled, "kernels": compiled.kernels}

    rows: list[tuple[str, dict[str, Any], float | None]] = []
    builds: dict[str, Path] = {}  # row -> the store its build compiles from, re-timed at the end
    lorien = stage(workdir, "lorien", lambda: latency_with(lorien_store))
    rows.append(("Lorien zero-shot (predicted)", lorien, delivery["total_s"]))
    builds[rows[-1][0]] = workdir / "lorien.db"
    rows.append((f"Lorien zero-shot, best of top {args.measure_top_k} measured",
                 stage(workdir, f"lorien_measured_{args.measure_top_k}",
                       lambda: latency_with(measured_store)),
                 delivery_measured["total_s"]))
    builds[rows[-1][0]] = workdir / "lorien-measured.db"
    if args.with_evolution:
        evolving_store = seeded_store("lorien-with-evolution")
        evolving = PredictOptions(candidates=dataclasses.replace(PredictOptions().candidates, evolve=True),
                                  neighbour_pool=args.neighbour_pool)
        delivered = stage(workdir, "delivery_with_evolution", lambda: deliver(evolving_store, evolving))
        rows.append(("Lorien zero-shot, with evolved candidates",
                     stage(workdir, "lorien_with_evolution", lambda: latency_with(evolving_store)),
                     delivered["total_s"]))
        builds[rows[-1][0]] = workdir / "lorien-with-evolution.db"
    rows.append(("untuned TVM", stage(workdir, "untuned", lambda: latency_with(None)), None))
    rows.append(("PyTorch eager", stage(workdir, "torch_eager", lambda: {
        "latency_s": time_torch_eager_alone(args.network, args.batch, args.repeat).median}), None))

    def campaign_64() -> dict[str, Any]:
        # the searches only: random samples and adapted neighbours are not MetaSchedule's picks
        logs = search_logs(read_logs(LocalLogStore(tuning_logs_dir()))[0])
        wanted = {w.key for w in workloads}
        mine = [log for log in logs if log.workload.key in wanted]
        here = [log for log in mine if log.target == target]
        mine = here or mine  # searched on this CPU when it has been, its tuning time counted once
        store = open_store(f"sqlite:///{workdir}/campaign-64.db")
        seed_from_logs(store, [log for log in logs if log.workload.key in wanted])
        return {**latency_with(store), "tuning_s": sum(log.finished_at - log.started_at for log in mine),
                "kernels_logged": len({log.workload.key for log in mine}),
                "trials": sorted({log.trials for log in mine})}

    campaign = stage(workdir, "metaschedule_64_campaign", campaign_64)
    searched_trials = campaign.get("trials")  # not in a stage kept before they were recorded
    span = (f", {'-'.join(map(str, sorted({min(searched_trials), max(searched_trials)})))} trials/kernel"
            if searched_trials else "")
    rows.append((f"MetaSchedule search{span} (logs, {campaign['kernels_logged']} kernels)", campaign,
                 campaign["tuning_s"]))
    builds[rows[-1][0]] = workdir / "campaign-64.db"

    uses = dialect.extract(model, target)
    budget_rows = []
    for fraction in args.budgets:
        budget_s = fraction * campaign["tuning_s"]

        def within_budget(budget_s: float = budget_s, fraction: float = fraction) -> dict[str, Any]:
            store = seeded_store(f"lorien-budget-{fraction:g}")
            model_text = (workdir / "cost_model.txt").read_text()
            scorer = CostModelScorer(LightGBMRankingCostModel.from_text(model_text), shipped_metadata(),
                                     dialect, "held-out")
            report = BudgetedPredictor(ZeroShotPredictor(store, scorer)).deliver(uses, target, budget_s)
            tiers = [k.record.source for k in report.kernels]
            return {**latency_with(store), "budget_s": budget_s, "delivery_s": report.seconds,
                    "instant_s": report.instant_s, "measured_kernels": tiers.count("measured"),
                    "candidates_measured": sum(k.measured for k in report.kernels),
                    "kernel_rows": [{"name": k.workload.name, "weight": k.weight, "cost_s": k.cost_s,
                                     "share_s": k.share_s, "spent_s": k.spent_s, "measured": k.measured,
                                     "local_rounds": k.local_rounds, "first_measured_s": k.first_measured_s,
                                     "latency_s": k.record.latency.mean, "tier": k.record.source,
                                     "origin": k.origin} for k in report.kernels]}

        result = stage(workdir, f"lorien_budget_{fraction:g}", within_budget)
        name = f"Lorien within 1/{1 / fraction:.0f} of MS-64's time"
        rows.append((name, result, result["delivery_s"]))
        builds[name] = workdir / f"lorien-budget-{fraction:g}.db"
        budget_rows.append((name, result))

    for trials in args.ladder:
        def tune(trials: int = trials) -> dict[str, Any]:
            store = open_store(f"sqlite:///{workdir}/metaschedule-{trials}.db")
            logs = open_logs(f"file://{workdir}/logs-{trials}")
            # MetaSchedule's own population (512) at every rung: the baseline as users run it,
            # not Lorien's population sized to the budget
            options = TuneOptions(trials=trials, seed=0, population=512)
            report = tune_workloads(dialect, workloads, target, store, logs, options, progress=False)
            tuned_logs, _, _ = read_logs(logs)  # also those of kernels tuned before an interruption
            spent = sum(log.finished_at - log.started_at for log in tuned_logs)
            return {**latency_with(store), "tuning_s": spent, "failed": len(report.failed)}

        result = stage(workdir, f"metaschedule_{trials}", tune)
        rows.append((f"MetaSchedule {trials} trial(s)/kernel", result, result["tuning_s"]))
        builds[rows[-1][0]] = workdir / f"metaschedule-{trials}.db"

    for also in args.also:
        label, _, path = also.partition("=")
        if not label or not Path(path).is_file():
            parser.error(f"--also takes LABEL=STORE with an existing SQLite file, got {also!r}")
        store_path = Path(path).resolve()
        rows.append((label, stage(workdir, f"also_{content_hash(label, length=8)}",
                                  lambda p=store_path: latency_with(open_store(f"sqlite:///{p}"))), None))
        builds[label] = store_path

    # every build timed again at the end, in turn, round after round: a model's latency measured
    # minutes apart on a shared machine moved by up to 20% (ResNet-18's instant answers: 96 ms in
    # their stage, 112-120 ms re-timed beside the others), more than the gaps these rows compare
    print(f"... timing {len(builds)} builds side by side, {args.rounds} rounds", flush=True)
    compiled = {name: dialect.compile(model, target, open_store(f"sqlite:///{path}"))
                for name, path in builds.items()}
    # a latency of a build that computes the wrong thing is no figure: each is checked once
    reference = torch_outputs(source)
    wrong = {name: problem for name, built in compiled.items()
             if (problem := output_mismatch(dialect.outputs(built), reference)) is not None}
    timings: dict[str, list[float]] = {name: [] for name in compiled}
    for _ in range(args.rounds):
        for name, built in compiled.items():
            timings[name].append(dialect.time(built, args.repeat).median)
    for name, result, _ in rows:
        if name in timings:
            result["stage_latency_s"] = result["latency_s"]
            result["latency_s"] = statistics.median(timings[name])
    (workdir / "side_by_side.json").write_text(json.dumps(timings, indent=1))

    lorien_s, lorien_time = lorien["latency_s"], delivery["total_s"]
    print(f"\n{args.network}@{args.batch} on {target.canonical}; family held out: "
          f"{training['rows_held_out']} of {training['rows'] + training['rows_held_out']} training rows")
    print(f"{'build':<48}{'latency':>11}{'vs Lorien':>11}{'kernels':>9}{'time to schedules':>19}"
          f"{'vs Lorien':>11}{'outputs':>9}")
    for name, result, spent in rows:
        kernels = f"{result['kernels_scheduled']}/{result['kernels']}" if "kernels" in result else "-"
        time_text = (f"{spent:>17.0f} s{spent / lorien_time:>10.1f}x" if spent is not None
                     else f"{'-':>19}{'':>11}")
        outputs = "WRONG" if name in wrong else "ok" if name in compiled else "-"
        print(f"{name:<48}{result['latency_s'] * 1e3:>8.2f} ms{result['latency_s'] / lorien_s:>10.2f}x"
              f"{kernels:>9}{time_text}{outputs:>9}")
    for name, problem in wrong.items():
        print(f"WRONG OUTPUTS, {name}: {problem}")
    ladder_rows = [row for row in rows if row[0].startswith("MetaSchedule") and "logs" not in row[0]]
    for label, reference in (("the cost model's choice", rows[0]), ("the best measured", rows[1])):
        target_s = reference[1]["latency_s"]
        matched = [(result["tuning_s"], name) for name, result, _ in ladder_rows
                   if result["latency_s"] <= target_s]
        if matched:
            spent, name = min(matched)
            print(f"as fast as Lorien with {label}: {name}, after {spent:.0f} s of tuning here "
                  f"({spent / reference[2]:.1f}x Lorien's {reference[2]:.0f} s)")
        else:
            print(f"no MetaSchedule run here reached Lorien's latency with {label}")
    untuned = next(result for name, result, _ in rows if name == "untuned TVM")
    for name, result in budget_rows:
        fits = [(r["latency_s"], n) for n, r, _ in ladder_rows if r["tuning_s"] <= result["delivery_s"]]
        rival_s, rival = min(fits) if fits else (untuned["latency_s"], "none fit, so untuned TVM")
        latency_s = result["latency_s"]
        print(f"{name}: {latency_s * 1e3:.2f} ms in {result['delivery_s']:.0f} s "
              f"({result['measured_kernels']} kernels measured, {result['candidates_measured']} candidates); "
              f"MetaSchedule in the same time: {rival}, {rival_s * 1e3:.2f} ms ({rival_s / latency_s:.2f}x "
              f"slower); Lorien at {latency_s / campaign['latency_s']:.2f}x MetaSchedule-64's latency")
    print(f"\nLorien delivered {delivery['kernels']} schedules in {lorien_time:.0f} s "
          f"(median {delivery['median_s']:.1f} s, max {delivery['max_s']:.1f} s per kernel)")


if __name__ == "__main__":
    main()
