"""``lorien predict``: zero-shot schedules for a model's (or given) workloads, without a service."""

from __future__ import annotations

import argparse
import math
import os
from typing import TYPE_CHECKING

from lorien.cli.common import (
    format_seconds,
    model_options,
    print_json,
    print_table,
    storage_options,
    target_options,
)
from lorien.config import data_dir, open_store, resolve_store_uri
from lorien.errors import InvalidInput

if TYPE_CHECKING:
    from lorien.predictor import BudgetReport, Prediction


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", parents=[model_options(), target_options(), storage_options()],
        help="predict schedules with the cost model for workloads nobody tuned",
        description="For each workload, candidates from the design space, the store's most similar "
                    "tuned workloads and a search guided by the cost model, ranked by the cost "
                    "model; with --measure-top-k the best K are measured here and the fastest wins. "
                    "With --budget SECONDS the model's kernels get instant answers, then the "
                    "budget is spent measuring and searching locally where the model's time goes, "
                    "heaviest kernels first, every improvement stored as it is found. "
                    "Workloads with a tuned record are skipped unless --all.",
    )
    parser.add_argument("--workload", action="append", default=[], metavar="KEY",
                        help="a stored workload's key (repeatable), instead of --model")
    parser.add_argument("--cost-model", default="lorien-cost-model", metavar="TAG",
                        help="registered cost model (default: the shipped one)")
    parser.add_argument("--measure-top-k", type=int, default=0, metavar="K",
                        help="measure K candidates (the best, then the next best spread over unlike "
                             "schedules) and keep the fastest (0: none)")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="deliver the whole model within this time: instant answers, then "
                             "measured ones for the kernels that cost the model most (stored)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the local search")
    parser.add_argument("--commit", action="store_true",
                        help="store the predictions: 'predicted' records, 'measured' ones with "
                             "--measure-top-k (never shadowing tuned ones)")
    parser.add_argument("--all", action="store_true", help="predict tuned workloads too")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.dialects import Proposer, get_dialect
    from lorien.lookup import find_schedule
    from lorien.predictor import (
        BudgetedPredictor,
        BudgetOptions,
        CostModelScorer,
        PredictOptions,
        ZeroShotPredictor,
        store_predictions,
    )
    from lorien.records import WorkloadUse
    from lorien.training.registry import load_model
    from lorien.training.shipped import ensure_shipped_model

    if bool(args.model) == bool(args.workload):
        raise InvalidInput("give either --model NAME or --workload KEY")
    if args.measure_top_k < 0:
        raise InvalidInput(f"--measure-top-k cannot be negative, got {args.measure_top_k}")
    if args.budget is not None and args.measure_top_k:
        raise InvalidInput("give --budget or --measure-top-k, not both (a budget decides what is measured)")
    if args.budget is not None and not (math.isfinite(args.budget) and args.budget >= 0):
        raise InvalidInput(f"--budget must be a finite number of seconds, not negative, got {args.budget}")
    os.environ.setdefault("BENTOML_HOME", str(data_dir() / "bentoml"))
    dialect = get_dialect(args.dialect, Proposer)
    tag = ensure_shipped_model(args.cost_model)
    model, metadata = load_model(tag)
    scorer = CostModelScorer(model, metadata, dialect, tag)
    with open_store(resolve_store_uri(args.store), create=True) as store:
        if args.model:
            from lorien.cli.models import extract_model

            target, uses = extract_model(args)
            workloads = list({u.workload.key: u.workload for u in uses}.values())
        else:
            target = dialect.parse_target(args.target)
            from lorien.cli.models import stored_workloads

            workloads = stored_workloads(store, dialect, args.workload)
            uses = [WorkloadUse(workload, 1) for workload in workloads]
        if args.budget is not None:
            if target != dialect.parse_target("host"):
                raise InvalidInput(f"--budget measures on this machine, so --target must be this CPU "
                                   f"({dialect.parse_target('host').canonical}), not {target.canonical}")
            budgeted = BudgetedPredictor(ZeroShotPredictor(store, scorer), BudgetOptions(seed=args.seed))
            report = budgeted.deliver(uses, target, args.budget)
            return _print_budgeted(report, tag, args.json)
        build = dialect.build_id()
        predictor = ZeroShotPredictor(store, scorer, PredictOptions(measure_top_k=args.measure_top_k))
        wanted = []
        for workload in workloads:
            found = find_schedule(store, workload.key, target, build, dialect.equivalent_keys(workload))
            if args.all or found is None or found.record.source != "tuned":
                wanted.append(workload)
        skipped = len(workloads) - len(wanted)
        # with --measure-top-k, every kernel's top candidates are measured in one call
        predictions = predictor.predict_many(wanted, target)
        if args.commit:
            store_predictions(store, wanted, predictions)
        results = list(zip(wanted, predictions, strict=True))
    if args.json:
        print_json([{"key": w.key, "name": w.name, "record": p.record.to_dict(), "score": p.score,
                     "measured": p.measured, "origin": p.origin, "candidates": p.candidates,
                     "neighbours": p.neighbours, "seconds": p.seconds, "compiles": p.compiles,
                     "passed_over": p.passed_over} for w, p in results])
        return 0
    print_table(["key", "origin", "latency", "measured", "compiles", "time", "name"],
                [[w.key, p.origin, format_seconds(p.record.latency.mean), "yes" if p.measured else "estimate",
                  _compiles(p), f"{p.seconds:.1f}s", w.name[:70]] for w, p in results])
    passed_over = sum(p.passed_over > 0 for _, p in results)
    print(f"{len(results)} predicted with {tag}" + (", stored" if args.commit else "")
          + (f"; {skipped} already tuned (--all predicts them too)" if skipped else "")
          + (f"; {passed_over} kernel(s) given a later candidate: the first did not compile in time"
             if passed_over else ""))
    return 0


def _compiles(prediction: Prediction) -> str:
    """Whether a prediction was seen to compile, and past how many candidates that did not."""
    if not prediction.compiles:
        return "unchecked"
    return f"yes, {prediction.passed_over} passed over" if prediction.passed_over else "yes"


def _print_budgeted(report: BudgetReport, tag: str, as_json: bool) -> int:
    """A budgeted delivery, kernel by kernel, heaviest first."""
    if as_json:
        print_json({"budget_s": report.budget_s, "seconds": report.seconds, "instant_s": report.instant_s,
                    "cost_model": tag, "kernels": [{
                        "key": k.workload.key, "name": k.workload.name, "weight": k.weight,
                        "tier": k.record.source, "settled": k.settled, "origin": k.origin,
                        "latency_s": k.record.latency.mean, "estimate_s": k.estimate_s,
                        "first_measured_s": k.first_measured_s, "share_s": k.share_s,
                        "spent_s": k.spent_s, "measured": k.measured, "local_rounds": k.local_rounds,
                        "record": k.record.to_dict()} for k in report.kernels]})
        return 0
    print_table(["key", "weight", "tier", "latency", "first round", "measured", "share", "spent", "name"],
                [[k.workload.key, str(k.weight), k.settled or k.record.source,
                  format_seconds(k.record.latency.mean),
                  format_seconds(k.first_measured_s) if k.first_measured_s is not None else "-",
                  f"{k.measured} ({k.local_rounds} local)" if k.measured else "-",
                  f"{k.share_s:.1f}s", f"{k.spent_s:.1f}s", k.workload.name[:60]] for k in report.kernels])
    tiers = {tier: sum(k.record.source == tier for k in report.kernels)
             for tier in ("tuned", "measured", "predicted")}
    print(f"{len(report.kernels)} kernels in {report.seconds:.1f}s of a {report.budget_s:g}s budget "
          f"(instant answers {report.instant_s:.1f}s): "
          + ", ".join(f"{count} {tier}" for tier, count in tiers.items() if count)
          + f"; stored, cost model {tag}")
    return 0
