"""``lorien train``: fit, evaluate and register a cost model from tuning logs."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from lorien.cli.common import print_json, print_table
from lorien.config import data_dir, open_logs
from lorien.errors import InvalidInput

METRICS = ("top1", "top5", "ndcg@5", "pairwise_accuracy")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a cost model on tuning logs and register it",
        description="Read every tuning log of a log store, evaluate the model type with whole "
                    "networks held out, fit it on everything and register it in the BentoML "
                    "model store (BENTOML_HOME; default under Lorien's data folder).",
    )
    parser.add_argument("--logs", metavar="URI",
                        help="log store, e.g. file:///dir (required unless --shipped)")
    parser.add_argument("--model-type", default="lightgbm", choices=["lightgbm", "sklearn", "autogluon"],
                        help="cost model (default lightgbm)")
    parser.add_argument("--time-limit", type=float, default=60.0, metavar="S",
                        help="seconds each AutoGluon fit may spend on its models (default 60; its "
                             "preprocessing of the features is not counted)")
    parser.add_argument("--out", metavar="NAME", help="name to register under (required unless --shipped)")
    parser.add_argument("--shipped", action="store_true",
                        help="retrain the cost model that ships with Lorien (LightGBM) on the data set "
                             "in datasets/tuning_logs and replace it in training/shipped/; it is "
                             "registered on first use")
    parser.add_argument("--held-out", nargs="*", default=None, metavar="NETWORK",
                        help="networks (model@batch, or model for all batches) to evaluate on, "
                             "each left out of its own training; default every logged model")
    parser.add_argument("--baseline", action="store_true",
                        help="also evaluate the compiler's own cost model (TVM: MetaSchedule's "
                             "XGBoost) on the same held-out networks and training rows")
    parser.add_argument("--plots", metavar="DIR", type=Path, default=None,
                        help="write predicted_vs_measured.png and top_k_by_network.png into DIR")
    parser.add_argument("--feature-cache", metavar="DIR", type=Path, default=None,
                        help="keep schedule features here between runs (default: under Lorien's data "
                             "folder)")
    parser.add_argument("--no-feature-cache", action="store_true", help="compute every feature anew")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads each fit may use, and processes featurising logs the "
                             "feature cache lacks (default every core): fewer leave cores to a "
                             "campaign measuring on the same machine")
    parser.add_argument("--json", action="store_true",
                        help="print the metadata as JSON (its 'summary': each model's and baseline's "
                             "workload-weighted leave-network-out top1 and top5)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("BENTOML_HOME", str(data_dir() / "bentoml"))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    if args.shipped:
        if args.logs or args.out or args.model_type != "lightgbm":
            raise InvalidInput("--shipped trains LightGBM on the shipped data set and registers "
                               "nothing: leave out --logs, --out and --model-type")
    elif not (args.logs and args.out):
        raise InvalidInput("--logs and --out are required (or --shipped)")
    if not (math.isfinite(args.time_limit) and args.time_limit > 0):
        raise InvalidInput(f"--time-limit must be a positive number of seconds, not {args.time_limit}")
    if args.threads is not None and args.threads < 1:
        raise InvalidInput(f"--threads must be at least 1, not {args.threads}")
    from lorien.training.pipeline import train_cost_model

    cache = None if args.no_feature_cache else (args.feature_cache or data_dir() / "feature-cache")
    if args.shipped:
        from lorien.datasets.seed import tuning_logs_dir

        logs = open_logs(tuning_logs_dir().as_uri())
    else:
        logs = open_logs(args.logs)
    trained = train_cost_model(logs, args.model_type, args.held_out,
                               time_limit=args.time_limit, progress=sys.stderr.isatty(),
                               baseline=args.baseline, cache=cache, threads=args.threads)
    if args.shipped:
        from lorien.training.shipped import write_shipped_model

        trained.metadata["training_data"]["logs"] = "datasets/tuning_logs"
        tag = str(write_shipped_model(trained.model, trained.metadata))
    else:
        from lorien.training.registry import register_model

        tag = register_model(args.out, trained.model, trained.metadata)
    plots = []
    if args.plots is not None:
        from lorien.training.plots import write_plots

        evaluated = {args.model_type: trained.held_out}
        if trained.baseline:
            evaluated[trained.baseline_name] = trained.baseline
        try:
            plots = write_plots(evaluated, args.plots)
        except OSError as exc:
            raise InvalidInput(f"cannot write plots to {args.plots}: {exc.strerror or exc}") from exc
    if args.json:
        print_json({"tag": tag, **trained.metadata, "plots": [str(p) for p in plots]})
        return 0
    data = trained.metadata["training_data"]
    done = "wrote" if args.shipped else "registered"
    print(f"{done} {tag}: {args.model_type} on {data['rows']} schedules of "
          f"{data['workloads']} workloads ({data['failed_rows']} failed measurements kept; "
          f"{data['skipped_logs']} unreadable logs, {data['skipped_lines']} bad lines skipped); "
          f"fit {trained.fit_seconds:.1f} s")
    evaluated = {args.model_type: trained.held_out, "random": trained.random,
                 **({trained.baseline_name: trained.baseline} if trained.baseline else {})}
    for title, by_model in (("held-out network", evaluated), ("held-out CPU", trained.cpu_out)):
        rows = [[r.network, name, r.test_workloads, *(f"{r.metrics[m]:.3f}" for m in METRICS)]
                for name, results in by_model.items() for r in results]
        if rows:
            print_table([title, "model", "workloads", "top1", "top5", "ndcg@5", "pairwise"],
                        sorted(rows, key=lambda row: row[0]))
    for title, key in (("leave-network-out", "summary"), ("leave-CPU-out", "summary_leave_cpu_out")):
        for name, means in trained.metadata[key].items():
            spread = f" top5 of the spread picks {means['top5_spread']:.3f}" if "top5_spread" in means else ""
            print(f"{title} (workload-weighted): {name} top1 {means['top1']:.3f} top5 {means['top5']:.3f}"
                  f"{spread}")
    for path in plots:
        print(f"wrote {path}")
    return 0
