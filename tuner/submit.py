"""Turning "tune these workloads" into jobs, and following them to the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lorien.dialects import Dialect, TuneOptions
from lorien.jobs import TERMINAL_STATES, Job, JobSpec, JobTier
from lorien.queue import EnqueueReport, JobQueue
from lorien.records import Target, Workload
from lorien.store.base import ScheduleStore
from lorien.tuner.local import is_tuned


@dataclass
class Submission:
    """What :func:`submit` did: the queue's report, plus workloads tuned before the queue knew them."""

    jobs: list[str]                       # every job id of this submission (active or done)
    enqueued: EnqueueReport
    tuned_without_job: list[str] = field(default_factory=list)  # workload keys


def job_spec(dialect: Dialect, workload: Workload, target: Target, options: TuneOptions, *,
             priority: int = 0, tier: JobTier = "tune") -> JobSpec:
    """The job that tunes (``tier="tune"``) or measures (``"measure"``: ``options.trials``
    candidates) ``workload`` for ``target`` with this compiler build: the one way the tuner and
    the service turn a workload into a job."""
    budget = options.budget()
    if tier != "tune":  # a measuring job measures candidates only
        budget.update(random_samples=0, remeasure=0, neighbour_samples=0)
    return JobSpec(dialect=dialect.name, workload_key=workload.key, workload_name=workload.name,
                   target=target, build=dialect.build_id(), priority=priority, tier=tier, **budget)


def submit(queue: JobQueue, store: ScheduleStore, dialect: Dialect, workloads: Sequence[Workload],
           target: Target, options: TuneOptions, *, force: bool = False, priority: int = 0,
           max_attempts: int = 3) -> Submission:
    """Store the workloads and enqueue a job for each one not tuned with at least this budget.

    A workload with tuned records for this exact target and build but no job (imported, or tuned
    before jobs existed) counts as tuned: its budget is unknown, ``force`` re-tunes it.
    """
    store.put_workloads(workloads)
    build = dialect.build_id()
    specs, skipped = [], []
    for workload in {w.key: w for w in workloads}.values():
        spec = job_spec(dialect, workload, target, options, priority=priority)
        if not force and queue.get(spec.job_id) is None and is_tuned(store, workload, target, build):
            skipped.append(workload.key)
            continue
        specs.append(spec)
    report = queue.enqueue(specs, force=force, max_attempts=max_attempts)
    return Submission(jobs=[s.job_id for s in specs], enqueued=report, tuned_without_job=skipped)


def follow(queue: JobQueue, job_ids: Sequence[str], *, poll_s: float = 1.0,
           on_change: Callable[[list[Job]], None] | None = None,
           keep_going: Callable[[list[Job]], bool] | None = None) -> list[Job]:
    """Wait until every job is done, failed or cancelled; returns them as they ended.

    Args:
        on_change: called with the jobs whenever a state or attempt count changed.
        keep_going: called every poll with the jobs; returning False stops waiting early.
    """
    seen: tuple[tuple[str, int], ...] | None = None
    ended: dict[str, Job] = {}
    while True:
        # one query for the jobs still going; each ended job is read once (following hundreds of
        # jobs must not keep the machine that measures them busy)
        going = {job.job_id: job for job in queue.jobs(("waiting", "running"))}
        for job_id in job_ids:
            if job_id in going:
                ended.pop(job_id, None)
            elif job_id not in ended and (job := queue.get(job_id)) is not None:
                if job.state in TERMINAL_STATES:
                    ended[job_id] = job
                else:  # it started or was requeued between the two reads
                    going[job_id] = job
        jobs = [found for i in job_ids if (found := going.get(i) or ended.get(i)) is not None]
        now = tuple((job.state, job.attempts) for job in jobs)
        if now != seen and on_change is not None:
            on_change(jobs)
        seen = now
        if all(job.state in TERMINAL_STATES for job in jobs):
            return jobs
        if keep_going is not None and not keep_going(jobs):
            return jobs
        time.sleep(poll_s)
