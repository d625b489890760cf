"""``lorien predict``: zero-shot schedules for a model's (or given) workloads, without a service."""

from __future__ import annotations

import argparse
import os

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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", parents=[model_options(), target_options(), storage_options()],
        help="predict schedules with the cost model for workloads nobody tuned",
        description="For each workload, candidates from the design space, the store's most similar "
                    "tuned workloads and a search guided by the cost model, ranked by the cost "
                    "model; with --measure-top-k the best K are measured here and the fastest wins. "
                    "Workloads with a tuned record are skipped unless --all.",
    )
    parser.add_argument("--workload", action="append", default=[], metavar="KEY",
                        help="a stored workload's key (repeatable), instead of --model")
    parser.add_argument("--cost-model", default="lorien-cost-model", metavar="TAG",
                        help="registered cost model (default: the shipped one)")
    parser.add_argument("--measure-top-k", type=int, default=0, metavar="K",
                        help="measure the best K candidates and keep the fastest (0: none)")
    parser.add_argument("--commit", action="store_true",
                        help="store the predictions: 'predicted' records, 'measured' ones with "
                             "--measure-top-k (never shadowing tuned ones)")
    parser.add_argument("--all", action="store_true", help="predict tuned workloads too")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.dialects import get_dialect
    from lorien.lookup import find_schedule
    from lorien.predictor import CostModelScorer, PredictOptions, ZeroShotPredictor
    from lorien.serving.seed import ensure_shipped_model
    from lorien.training.registry import load_model

    if bool(args.model) == bool(args.workload):
        raise InvalidInput("give either --model NAME or --workload KEY")
    if args.measure_top_k < 0:
        raise InvalidInput(f"--measure-top-k cannot be negative, got {args.measure_top_k}")
    os.environ.setdefault("BENTOML_HOME", str(data_dir() / "bentoml"))
    dialect = get_dialect(args.dialect)
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
        build = dialect.build_id()
        predictor = ZeroShotPredictor(store, scorer, PredictOptions(measure_top_k=args.measure_top_k))
        results, skipped = [], 0
        for workload in workloads:
            found = find_schedule(store, workload.key, target, build, dialect.equivalent_keys(workload))
            if found is not None and found.record.source == "tuned" and not args.all:
                skipped += 1
                continue
            prediction = predictor.predict(workload, target, commit=args.commit)
            results.append((workload, prediction))
    if args.json:
        print_json([{"key": w.key, "name": w.name, "record": p.record.to_dict(), "score": p.score,
                     "measured": p.measured, "origin": p.origin, "candidates": p.candidates,
                     "neighbours": p.neighbours, "seconds": p.seconds} for w, p in results])
        return 0
    print_table(["key", "origin", "latency", "measured", "time", "name"],
                [[w.key, p.origin, format_seconds(p.record.latency.mean), "yes" if p.measured else "estimate",
                  f"{p.seconds:.1f}s", w.name[:70]] for w, p in results])
    print(f"{len(results)} predicted with {tag}" + (", stored" if args.commit else "")
          + (f"; {skipped} already tuned (--all predicts them too)" if skipped else ""))
    return 0
