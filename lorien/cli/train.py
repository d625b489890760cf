"""``lorien train``: fit, evaluate and register a cost model from tuning logs."""

from __future__ import annotations

import argparse
import os
import sys

from lorien.cli.common import print_json, print_table
from lorien.config import data_dir, open_logs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a cost model on tuning logs and register it",
        description="Read every tuning log of a log store, evaluate the model type with whole "
                    "networks held out, fit it on everything and register it in the BentoML "
                    "model store (BENTOML_HOME; default under Lorien's data folder).",
    )
    parser.add_argument("--logs", required=True, metavar="URI", help="log store, e.g. file:///dir")
    parser.add_argument("--model-type", default="lightgbm", choices=["lightgbm", "sklearn", "autogluon"],
                        help="cost model (default lightgbm)")
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="seconds each AutoGluon fit may take (default 60)")
    parser.add_argument("--out", required=True, metavar="NAME", help="name to register under")
    parser.add_argument("--held-out", nargs="*", default=None, metavar="NETWORK",
                        help="networks (model@batch, or model for all batches) to evaluate on, "
                             "each left out of its own training; default every logged model")
    parser.add_argument("--json", action="store_true", help="print the metadata as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("BENTOML_HOME", str(data_dir() / "bentoml"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    from lorien.training.pipeline import train_cost_model
    from lorien.training.registry import register_model

    trained = train_cost_model(open_logs(args.logs), args.model_type, args.held_out,
                               time_limit=args.time_limit,
                               progress=sys.stderr.isatty())
    tag = register_model(args.out, trained.model, trained.metadata)
    if args.json:
        print_json({"tag": tag, **trained.metadata})
        return 0
    data = trained.metadata["training_data"]
    print(f"registered {tag}: {args.model_type} on {data['rows']} schedules of "
          f"{data['workloads']} workloads ({data['failed_rows']} failed measurements kept; "
          f"{data['skipped_logs']} unreadable logs, {data['skipped_lines']} bad lines skipped); "
          f"fit {trained.fit_seconds:.1f} s")
    if trained.held_out:
        print_table(["held-out network", "workloads", "top1", "top5", "ndcg@5", "pairwise"],
                    [[r.network, r.test_workloads, *(f"{r.metrics[m]:.3f}" for m in
                      ("top1", "top5", "ndcg@5", "pairwise_accuracy"))] for r in trained.held_out])
    return 0
