"""``lorien tune``: tune what the store does not have yet."""

from __future__ import annotations

import argparse

from lorien.cli.common import (
    format_seconds,
    model_options,
    open_log_store,
    open_schedule_store,
    print_table,
    storage_options,
    target_options,
)
from lorien.errors import InvalidInput, NotFound, TuningError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune", parents=[model_options(), target_options(), storage_options()],
        help="tune a model's (or given) workloads on this machine",
        description="Tune every workload of a model (or the workloads named by --workload) that "
                    "the store has no tuned record of for this target and compiler build, "
                    "committing records and full logs after each workload. Interrupted, it "
                    "resumes when run again.",
    )
    parser.add_argument("--workload", action="append", default=[], metavar="KEY",
                        help="tune this stored workload (repeatable; see 'lorien extract')")
    parser.add_argument("--trials", type=int, default=32, help="measurements per workload (32)")
    parser.add_argument("--keep", type=int, default=5, help="best schedules kept per workload (5)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the search")
    parser.add_argument("--force", action="store_true", help="tune even what is already tuned")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.dialects import TuneOptions, get_dialect
    from lorien.tuner import tune_workloads

    if bool(args.model) == bool(args.workload):
        raise InvalidInput("give either --model NAME or --workload KEY")
    options = TuneOptions(trials=args.trials, keep=args.keep, seed=args.seed)
    dialect = get_dialect(args.dialect)
    with open_schedule_store(args) as store:
        if args.model:
            from lorien.cli.models import extract_model

            target, uses = extract_model(args)
            workloads = [u.workload for u in uses]
        else:
            target = dialect.parse_target(args.target)
            workloads = []
            for key in args.workload:
                workload = store.get_workload(dialect.name, key)
                if workload is None:
                    raise NotFound(f"no workload {key!r} in {store.uri}; run 'lorien extract' first")
                workloads.append(workload)
        report = tune_workloads(dialect, workloads, target, store, open_log_store(args), options,
                                force=args.force, progress=not args.quiet)
    rows = []
    for workload, outcome in report.tuned:
        best = outcome.best
        ok = len(outcome.log.succeeded)
        rows.append([workload.key, f"{ok}/{len(outcome.log.measurements)}",
                     format_seconds(best.latency.mean) if best else "-",
                     f"{workload.flops / best.latency.mean / 1e9:.1f}" if best else "-",
                     f"{outcome.seconds:.0f}s", workload.name[:70]])
    if rows:
        print_table(["key", "ok/measured", "best", "GFLOP/s", "time", "name"], rows)
    for workload, error in report.failed:
        print(f"FAILED {workload.key} {workload.name[:60]}: {error}")
    print(f"tuned {len(report.tuned)}, already tuned {len(report.skipped)}, "
          f"failed {len(report.failed)}")
    if report.failed:
        raise TuningError(f"{len(report.failed)} workload(s) could not be tuned")
    return 0
