"""``lorien campaign``: grow the tuning-log data set over the model zoo on the queue, resumably."""

from __future__ import annotations

import argparse

from lorien.cli.common import lowering_of, lowering_options, print_json, storage_options, target_options
from lorien.cli.worker import worker_options
from lorien.datasets.campaign import SUMMARY_KEY
from lorien.errors import InvalidInput, TuningError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "campaign", parents=[target_options(), storage_options(), lowering_options(), worker_options()],
        help="measure the zoo's workloads for the tuning-log data set (queued, resumable)",
        description="Plan every distinct workload of the zoo's networks (x batch sizes, networks "
                    "interleaved so any prefix covers each), and queue a tuning job for each whose "
                    "logs (--logs, the campaign's state) lack part of the budget: the search "
                    "(--trials), random design-space samples (--random-samples), the best schedules "
                    "of its nearest tuned workloads adapted to it (--neighbour-samples; the store "
                    "is seeded with the logs' schedules to lend them), the fastest and every "
                    "disturbed measurement taken again (--remeasure). Local workers run the "
                    "jobs (--workers; 0 leaves them to workers elsewhere). Killed and run again, "
                    "or run on a fresh checkout of the logs, it goes on with what is missing.")
    parser.add_argument("--models", nargs="+", default=None, metavar="NAME",
                        help="zoo networks or module:function models (default: every network of "
                             "the zoo, 'lorien extract --list')")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4], metavar="N",
                        help="batch sizes (default: 1 4)")
    parser.add_argument("--trials", type=int, default=32, help="search trials per workload (32)")
    parser.add_argument("--random-samples", type=int, default=16, metavar="N",
                        help="random design-space samples measured per workload (16)")
    parser.add_argument("--neighbour-samples", type=int, default=8, metavar="N",
                        help="adapted schedules of the nearest tuned workloads measured per workload, "
                             "as an instant answer chooses among them (8)")
    parser.add_argument("--remeasure", type=int, default=4, metavar="N",
                        help="the search's N fastest schedules measured again, with every measurement "
                             "whose repeats disagree (4)")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (1)")
    parser.add_argument("--max-workloads", type=int, default=None, metavar="N",
                        help="queue jobs for the first N workloads still missing something (in the "
                             "order they would run)")
    parser.add_argument("--max-attempts", type=int, default=2, metavar="N",
                        help="claims of a job before it fails for good (2)")
    parser.add_argument("--plan-only", action="store_true", help="print the plan and what is missing")
    parser.add_argument("--summary-only", action="store_true",
                        help=f"only print what the logs hold (workloads, measurements per CPU) as JSON: "
                             f"the data set's {SUMMARY_KEY}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.cli.tune import print_jobs, run_and_follow
    from lorien.cli.worker import worker_config
    from lorien.config import data_dir, open_logs, open_queue, open_store, resolve_logs_uri, resolve_store_uri
    from lorien.datasets.campaign import (
        campaign_specs,
        measured_trials,
        neighbour_samples_measured,
        plan_campaign,
        random_samples_measured,
        searched_workloads,
        summarize_logs,
        write_manifest,
    )
    from lorien.datasets.plan_cache import PlanCache
    from lorien.datasets.seed import seed_from_logs
    from lorien.datasets.zoo import zoo_names
    from lorien.dialects import Frontend, Measurer, Proposer, Tuner, get_dialect, require
    from lorien.logstore import read_logs

    if args.workers < 0:
        raise InvalidInput(f"--workers cannot be negative, got {args.workers}")
    if args.max_workloads is not None and args.max_workloads < 1:
        raise InvalidInput(f"--max-workloads must be at least 1, got {args.max_workloads}")
    if not args.batches or min(args.batches) < 1:
        raise InvalidInput(f"batch sizes must be at least 1, got {args.batches}")
    store_uri, logs_uri = resolve_store_uri(args.store), resolve_logs_uri(args.logs)
    if args.summary_only:
        logs = open_logs(logs_uri)
        try:
            print_json(summarize_logs(logs, args.dialect))
        finally:
            logs.close()
        return 0
    models = args.models or zoo_names()
    worker_config(args)  # the worker flags are checked before anything is planned
    dialect = get_dialect(args.dialect, Frontend)
    for role in (Tuner, Measurer, Proposer):  # its jobs search, re-measure and draw samples
        require(dialect, role)
    target = dialect.parse_target(args.target)
    build = dialect.build_id()
    plan = plan_campaign(dialect, target, models, args.batches, lowering_of(args),
                         cache=PlanCache(data_dir() / "plan-cache"))
    logs = open_logs(logs_uri)
    try:
        logged = read_logs(logs, prefix=f"{dialect.name}/")[0]  # the campaign's state, read once
        specs = campaign_specs(plan, dialect.name, target, build,
                               searched=measured_trials(logged, target, build),
                               sampled=random_samples_measured(logged, target, build),
                               trials=args.trials, random_samples=args.random_samples,
                               remeasure=args.remeasure, known=searched_workloads(logged),
                               neighboured=neighbour_samples_measured(logged, target, build),
                               neighbour_samples=args.neighbour_samples)
        print(f"campaign: {len(plan)} distinct workloads for {target.canonical}; "
              f"{len(plan) - len(specs)} complete; {len(specs)} to do "
              f"({sum(s.priority > len(plan) for s in specs)} never searched on any CPU): "
              f"{sum(s.trials > 0 for s in specs)} to search ({args.trials} trials), "
              f"{sum(s.random_samples > 0 for s in specs)} to sample ({args.random_samples} random "
              f"schedules), {sum(s.neighbour_samples > 0 for s in specs)} to adapt neighbours' "
              f"schedules ({args.neighbour_samples})", flush=True)
        if args.plan_only:
            missing = {s.workload_key: s.budget_text for s in specs}
            for item in plan:
                print(item.workload.key, missing.get(item.workload.key, "complete"),
                      ",".join(item.networks), item.workload.name)
            return 0
        write_manifest(logs, plan)
    finally:
        logs.close()
    specs = sorted(specs, key=lambda s: -s.priority)[: args.max_workloads]  # what runs first
    if not specs:
        return 0
    workloads = {item.workload.key: item.workload for item in plan}
    with open_store(store_uri) as store, open_queue(store_uri) as queue:
        if any(s.neighbour_samples for s in specs):  # the logs' schedules lend the neighbours
            seed_from_logs(store, logged)
        store.put_workloads([workloads[s.workload_key] for s in specs])
        report = queue.enqueue(specs, force=True, max_attempts=args.max_attempts)  # the logs lack them
        print(f"queued {len(report.added)} new and {len(report.requeued)} requeued job(s); "
              f"{len(report.queued)} already in the queue", flush=True)
        jobs = run_and_follow(queue, report.active, args.workers, store_uri, logs_uri, args, poll_s=5.0) \
            if args.workers and report.active else []
    print_jobs(jobs)
    failed = [job for job in jobs if job.state != "done"]
    logs = open_logs(logs_uri)
    try:
        total = summarize_logs(logs, dialect.name)["total"]
    finally:
        logs.close()
    print(f"measured {len(jobs) - len(failed)} workload(s), failed {len(failed)}; the logs hold "
          f"{total['workloads']} workloads, {total['measurements']} measurements "
          f"({total['random']} random samples)", flush=True)
    if failed:
        raise TuningError(f"{len(failed)} workload(s) could not be measured (see 'lorien jobs')")
    return 0
