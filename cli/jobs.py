"""``lorien jobs``: the tuning queue, and retrying or cancelling its jobs."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from lorien.cli.common import format_seconds, print_json, print_table, storage_options
from lorien.errors import InvalidInput
from lorien.jobs import JOB_STATES, Job

if TYPE_CHECKING:
    from lorien.queue import JobQueue


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "jobs", parents=[storage_options()], help="show the tuning queue; retry or cancel jobs",
        description="Show the job queue beside the store: counts by state, then every job with its "
                    "state, attempts, holder and last error. 'retry' sends failed and cancelled "
                    "jobs back to the queue, 'cancel' stops waiting and running ones.")
    parser.add_argument("--state", action="append", choices=JOB_STATES, default=None,
                        help="only jobs in this state (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the jobs as JSON")
    parser.set_defaults(handler=run_list)
    commands = parser.add_subparsers(dest="jobs_command", metavar="ACTION")
    retry = commands.add_parser("retry", parents=[storage_options(nested=True)],
                                help="send failed and cancelled jobs back to the queue")
    retry.add_argument("job_ids", nargs="*", metavar="JOB", help="these jobs (default: every failed "
                                                                  "and cancelled job)")
    retry.set_defaults(handler=run_retry)
    cancel = commands.add_parser("cancel", parents=[storage_options(nested=True)],
                                 help="cancel waiting and running jobs")
    cancel.add_argument("job_ids", nargs="*", metavar="JOB", help="these jobs")
    cancel.add_argument("--all", action="store_true", help="every waiting and running job")
    cancel.set_defaults(handler=run_cancel)


def _open_queue(args: argparse.Namespace) -> JobQueue:
    from lorien.config import open_queue, resolve_store_uri

    return open_queue(resolve_store_uri(args.store))


def run_list(args: argparse.Namespace) -> int:
    with _open_queue(args) as queue:
        jobs = queue.jobs(args.state or JOB_STATES)
        counts = queue.counts()
    if args.json:
        print_json([job.to_dict() for job in jobs])
        return 0
    print(", ".join(f"{counts[state]} {state}" for state in JOB_STATES))
    now = time.time()
    if jobs:
        print_table(["job", "tier", "state", "attempts", "budget", "best", "worker", "workload",
                     "last error"], [_row(job, now) for job in jobs])
    return 0


def _row(job: Job, now: float) -> list[str]:
    state: str = job.state
    if state == "running":
        state = "running (lease expired)" if job.lease_expired(now) else "running"
    best = job.result.best_seconds if job.result else None
    holder = job.worker or "-"
    if job.batch_job_id:
        holder = f"{holder} [batch {job.batch_job_id}]"
    return [job.job_id, job.spec.tier, state, f"{job.attempts}/{job.max_attempts}", job.spec.budget_text,
            format_seconds(best) if best else "-", holder[:48], job.spec.workload_name[:50],
            (job.error or "-")[:90]]


def run_retry(args: argparse.Namespace) -> int:
    with _open_queue(args) as queue:
        changed = queue.retry(args.job_ids or None)
    print(f"requeued {len(changed)} job(s)")
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    if bool(args.job_ids) == bool(args.all):
        raise InvalidInput("name the jobs to cancel, or give --all")
    with _open_queue(args) as queue:
        changed = queue.cancel(args.job_ids or None)
    print(f"cancelled {len(changed)} job(s)")
    return 0
