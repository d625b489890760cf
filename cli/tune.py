"""``lorien tune``: queue what the store does not have yet, run workers, follow to the end."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lorien.cli.common import (
    format_seconds,
    model_options,
    print_table,
    storage_options,
    target_options,
)
from lorien.cli.worker import worker_options
from lorien.errors import InvalidInput, StoreError, TuningError
from lorien.jobs import Job

if TYPE_CHECKING:
    from lorien.queue import JobQueue

#: Local workers that exit with an error this many times in a row end the run.
WORKER_FAILURES = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune", parents=[model_options(), target_options(), storage_options(), worker_options()],
        help="tune a model's (or given) workloads: queue them, run workers, follow",
        description="Queue a tuning job for every workload of a model (or each --workload) that the "
                    "store has not tuned for this target and compiler build with at least this "
                    "budget, start local workers (--workers) and follow the queue until every job "
                    "ends. Killed and run again, it resumes: finished jobs are not redone, and "
                    "jobs held by workers that died come back when their lease expires. With "
                    "--aws-batch, workers run as AWS Batch jobs; with --rpc, measurements run on RPC "
                    "devices.")
    parser.add_argument("--workload", action="append", default=[], metavar="KEY",
                        help="tune this stored workload (repeatable; see 'lorien extract')")
    parser.add_argument("--trials", type=int, default=32, help="measurements per workload (32)")
    parser.add_argument("--keep", type=int, default=5, help="best schedules kept per workload (5)")
    parser.add_argument("--seed", type=int, default=None, help="random seed of the search")
    parser.add_argument("--force", action="store_true", help="tune even what is already tuned")
    parser.add_argument("--priority", type=int, default=0, help="higher runs first (0)")
    parser.add_argument("--max-attempts", type=int, default=3, metavar="N",
                        help="claims of a job before it fails for good (3)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="local worker processes (default 1; 0 with --aws-batch, or to leave the "
                             "jobs to workers elsewhere)")
    parser.add_argument("--detach", action="store_true", help="queue the jobs and return at once")
    parser.add_argument("--aws-batch", metavar="JOB_QUEUE",
                        help="run workers as AWS Batch jobs in this job queue (--batch is the batch "
                             "size of zoo networks)")
    parser.add_argument("--job-definition", metavar="NAME", help="Batch job definition (with --aws-batch)")
    parser.add_argument("--batch-workers", type=int, default=None, metavar="N",
                        help="Batch workers to submit (default: one per job, at most 16)")
    parser.add_argument("--batch-idle-exit", type=float, default=60.0, metavar="S",
                        help="a Batch worker stops after S seconds with nothing to claim (60)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lorien.config import open_logs, open_queue, open_store, resolve_logs_uri, resolve_store_uri
    from lorien.dialects import TuneOptions, Tuner, get_dialect
    from lorien.tuner.submit import submit

    if bool(args.model) == bool(args.workload):
        raise InvalidInput("give either --model NAME or --workload KEY")
    if bool(args.aws_batch) != bool(args.job_definition):
        raise InvalidInput("--aws-batch and --job-definition go together")
    workers = args.workers if args.workers is not None else (0 if args.aws_batch else 1)
    if workers < 0:
        raise InvalidInput(f"--workers cannot be negative, got {workers}")
    from lorien.cli.worker import worker_config

    worker_config(args)  # the worker flags are checked here, before anything is queued
    options = TuneOptions(trials=args.trials, keep=args.keep, seed=args.seed)
    dialect = get_dialect(args.dialect, Tuner)
    store_uri, logs_uri = resolve_store_uri(args.store), resolve_logs_uri(args.logs)
    with open_store(store_uri) as store, open_queue(store_uri) as queue:
        if args.model:
            from lorien.cli.models import extract_model

            target, uses = extract_model(args)
            workloads = [u.workload for u in uses]
        else:
            target = dialect.parse_target(args.target)
            from lorien.cli.models import stored_workloads

            workloads = stored_workloads(store, dialect, args.workload)
        open_logs(logs_uri).close()  # a bad log URI is one line now, not one per worker later
        submission = submit(queue, store, dialect, workloads, target, options, force=args.force,
                            priority=args.priority, max_attempts=args.max_attempts)
        report = submission.enqueued
        active = report.active
        print(f"queued {len(report.added)} new and {len(report.requeued)} requeued job(s); "
              f"{len(report.queued)} already in the queue; "
              f"{len(report.done) + len(submission.tuned_without_job)} already tuned", flush=True)
        if args.aws_batch and active:
            from lorien.tuner.batch import submit_workers

            count = args.batch_workers or min(len(active), 16)
            batch = submit_workers(args.aws_batch, args.job_definition, count, store_uri, logs_uri,
                                   _worker_flags(args), idle_exit_s=args.batch_idle_exit)
            print(f"submitted {len(batch.job_ids)} Batch worker(s) to {args.aws_batch}: "
                  f"{', '.join(batch.job_ids)}", flush=True)
        if args.detach:
            print(f"follow with: lorien jobs --store {store_uri}")
            return 0
        jobs = run_and_follow(queue, active, workers, store_uri, logs_uri, args) if active else []
    tuned = [job for job in jobs if job.state == "done"]
    failed = [job for job in jobs if job.state != "done"]
    print_jobs(jobs)
    for job in failed:
        print(f"FAILED {job.spec.workload_key} {job.spec.workload_name[:60]}: {job.state}: {job.error}")
    print(f"tuned {len(tuned)}, already tuned {len(report.done) + len(submission.tuned_without_job)}, "
          f"failed {len(failed)}")
    if failed:
        raise TuningError(f"{len(failed)} workload(s) could not be tuned (see 'lorien jobs')")
    return 0


def _worker_flags(args: argparse.Namespace) -> list[str]:
    """The worker flags of ``lorien tune`` as ``lorien worker`` takes them."""
    flags = ["--lease", str(args.lease), "--device-grace", str(args.device_grace),
             "--stall-timeout", str(args.stall_timeout), "--job-timeout", str(args.job_timeout),
             "--session-timeout", str(args.session_timeout)]
    if args.cold_start:
        flags.append("--cold-start")
    if args.search_model is not None:
        flags += ["--search-model", str(args.search_model.resolve())]
    if args.cost_model is not None:
        flags += ["--cost-model", args.cost_model]
    if args.tune_only:
        flags.append("--tune-only")
    return [*flags, "--rpc", args.rpc] if args.rpc else flags


def run_and_follow(queue: JobQueue, job_ids: Sequence[str], workers: int, store_uri: str, logs_uri: str,
                    args: argparse.Namespace, poll_s: float = 0.5) -> list[Job]:
    """Start ``workers`` local worker processes (restarting them while jobs remain) and follow
    the jobs with a progress bar until every one has ended."""
    from tqdm import tqdm

    from lorien.tuner.submit import follow
    from lorien.tuner.supervisor import WorkerSupervisor

    command = [sys.executable, "-m", "lorien.cli.main", "worker", "--store", store_uri, "--logs", logs_uri,
               "--quiet", "--idle-exit", str(args.lease + 5), "--dialect", args.dialect, *_worker_flags(args)]
    supervisor = WorkerSupervisor(command, workers)

    def keep_going(jobs: list[Job]) -> bool:
        supervisor.check()
        if supervisor.failures_in_a_row >= WORKER_FAILURES:
            raise StoreError(f"local workers failed {supervisor.failures_in_a_row} times in a row (exit code "
                             f"{supervisor.last_exit_code}); see their errors above")
        return True

    bar = tqdm(total=len(job_ids), desc="jobs", unit="job", disable=args.quiet, dynamic_ncols=True)

    def on_change(jobs: list[Job]) -> None:
        states = [job.state for job in jobs]
        bar.n = sum(state in ("done", "failed", "cancelled") for state in states)
        bar.set_postfix_str(", ".join(f"{states.count(s)} {s}" for s in ("running", "waiting", "failed")
                                      if states.count(s)))
        bar.refresh()

    try:
        return follow(queue, job_ids, poll_s=poll_s, on_change=on_change, keep_going=keep_going)
    finally:
        bar.close()
        supervisor.stop()


def print_jobs(jobs: Sequence[Job]) -> None:
    rows = []
    for job in jobs:
        result = job.result
        best = result.best_seconds if result else None
        rows.append([job.spec.workload_key, job.state, f"{job.attempts}/{job.max_attempts}",
                     f"{result.measured - result.failed_measurements}/{result.measured}" if result else "-",
                     format_seconds(best) if best else "-", f"{result.seconds:.0f}s" if result else "-",
                     job.spec.workload_name[:70]])
    if rows:
        print_table(["key", "state", "attempts", "ok/measured", "best", "time", "name"], rows)
