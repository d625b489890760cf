"""The worker: claim a job, tune it in a child process, heartbeat, commit, repeat.

Measuring jobs (the queue's short tier, taken before any tuning job) are run in the worker's own
process by a :class:`JobMeasurer` it is given, with its measuring processes kept between jobs; a
worker without one claims tuning jobs only.

One worker runs anywhere (a laptop, an AWS Batch container, a host wired to edge boards through an
RPC tracker) and needs only the store and log URIs. Its promises:

* **Nothing lost.** The result of a job is committed log first, then records pointing at it, then
  the job is marked done. A worker killed at any point leaves a job whose lease expires; another
  worker claims it again. Commits are idempotent (records are content-keyed), so a job re-run after
  a crash between commit and ``finish`` duplicates nothing.
* **Done once.** Before committing, the worker checks that no other attempt finished the job (a
  slow worker returning after its lease was taken commits nothing when the job is done); ``finish``
  itself is conditional, so exactly one attempt marks the job done.
* **Bounded time.** A watchdog gives up an attempt (and re-queues the job while attempts are
  left) when measurement cannot proceed for ``health_grace_s`` (the dialect's
  :meth:`~lorien.dialects.Measuring.measurement_problem`: RPC tracker down, every device gone), when
  no measurement arrives for ``stall_timeout_s``, or after ``job_timeout_s`` in all; the tuning
  child is killed with everything it started.
  A job whose devices are gone before it starts goes back uncounted, and the worker backs off
  (up to a minute) before claiming again: missing devices are the worker's problem, not the job's.
* **Patient with the store.** If the store is unreachable when a result is ready, the worker keeps
  the result and retries the commit until ``store_patience_s`` has passed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from lorien.dialects import (
    Dialect,
    Measuring,
    RPCEndpoint,
    TuneOptions,
    TuneOutcome,
    Tuner,
    get_dialect,
    require,
)
from lorien.errors import InvalidInput, LorienError, StoreError
from lorien.jobs import TERMINAL_STATES, Job, JobResult, JobSpec
from lorien.logstore import LogStore
from lorien.queue import ClaimFilter, JobQueue
from lorien.records import Target, Workload
from lorien.store.base import ScheduleStore
from lorien.tuner.local import commit_outcome
from lorien.tuner.process import Died, Failed, Progress, TuningProcess
from lorien.tuner.sampling import NeighbourLender, run_tuning

logger = logging.getLogger("lorien.worker")
T = TypeVar("T")

#: The environment variable AWS Batch sets in every container it runs.
BATCH_JOB_ID_ENV = "AWS_BATCH_JOB_ID"


def default_worker_id() -> str:
    """``host:pid:random``, or ``batch:<job id>:...`` inside an AWS Batch container."""
    batch = os.environ.get(BATCH_JOB_ID_ENV)
    where = f"batch:{batch}" if batch else socket.gethostname()
    return f"{where}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobMeasurer(Protocol):
    """Runs a measuring job: measures up to ``spec.trials`` candidates of ``workload`` on
    ``spec.target`` and commits the fastest as a ``measured`` record as soon as it is found
    (:class:`lorien.predictor.JobMeasurer` is the one the CLI gives workers). ``should_stop`` is
    asked between measurements: True means the job was taken, cancelled or timed out. Raises
    :class:`~lorien.errors.LorienError` when it cannot (the store failed, no usable candidate)."""

    def __call__(self, workload: Workload, spec: JobSpec, should_stop: Callable[[], bool]) -> JobResult: ...


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker behaves; every time is in seconds.

    Attributes:
        worker_id: how jobs name their holder.
        lease_s: how long a claim is trusted without a heartbeat.
        heartbeat_s: how often the lease is renewed (well under ``lease_s``).
        poll_s: how long to wait before asking again when there is nothing to claim.
        idle_exit_s: stop after this long with nothing to claim (None: never).
        max_jobs: stop after this many jobs (None: no limit).
        target: claim only jobs for this canonical target (None: any).
        dialects: claim only jobs of these dialects (None: every installed one; naming them saves
            importing compilers this worker will not use).
        rpc: measure on the devices of this RPC tracker.
        health_interval_s: how often the watchdog asks the dialect whether measurement can go on.
        health_grace_s: how long a measurement problem may last before the attempt is given up.
        stall_timeout_s: give up an attempt when no measurement arrives for this long.
        job_timeout_s: give up an attempt that takes longer than this in all.
        store_patience_s: how long to keep retrying a commit while the store is unreachable.
        session_timeout_s: how long one RPC measurement session may take.
        in_process: tune in this process, without the child process and its watchdog (only for
            dialects that tune in no time, such as the instant dialect in queue benchmarks).
        warm_start, search_model: how this worker's searches start (see
            :class:`~lorien.dialects.TuneOptions`).
    """

    worker_id: str = field(default_factory=default_worker_id)
    lease_s: float = 60.0
    heartbeat_s: float = 10.0
    poll_s: float = 2.0
    idle_exit_s: float | None = None
    max_jobs: int | None = None
    target: str | None = None
    dialects: tuple[str, ...] | None = None
    rpc: RPCEndpoint | None = None
    health_interval_s: float = 5.0
    health_grace_s: float = 30.0
    stall_timeout_s: float = 1800.0
    job_timeout_s: float = 6 * 3600.0
    store_patience_s: float = 3600.0
    session_timeout_s: float = 60.0
    in_process: bool = False
    warm_start: bool = True
    search_model: Path | None = None


@dataclass
class WorkerReport:
    """What a worker did before it stopped."""

    done: list[str] = field(default_factory=list)            # jobs this worker finished
    given_up: list[tuple[str, str]] = field(default_factory=list)  # (job, why) attempts abandoned
    lost: list[str] = field(default_factory=list)            # finished or cancelled elsewhere meanwhile

    @property
    def handled(self) -> int:
        """Claims this worker saw to an end, whichever end."""
        return len(self.done) + len(self.given_up) + len(self.lost)


class Worker:
    """Claims and runs jobs from ``queue`` until told to stop (see :class:`WorkerConfig`).

    Ownership: the worker uses but does not close ``queue``, ``store`` and ``logs``; it owns its
    tuning child process, and the thread that runs measuring jobs while the worker's own thread
    heartbeats. One thread runs one worker.

    Args:
        measurer: runs measuring jobs; None: this worker claims tuning jobs only.
        neighbours: lends a job's neighbour samples (``spec.neighbour_samples``) the best
            schedules of the kernel's nearest tuned workloads, given the kernel, the target and
            the count (:meth:`lorien.predictor.NeighbourIndex.lend` over ``store``); None: a job
            with neighbour samples fails on its first claim, for good.
    """

    def __init__(self, queue: JobQueue, store: ScheduleStore, logs: LogStore, config: WorkerConfig,
                 *, dialects: Callable[[str], Dialect] = get_dialect,
                 on_event: Callable[[str], None] | None = None, measurer: JobMeasurer | None = None,
                 neighbours: NeighbourLender | None = None) -> None:
        self.queue, self.store, self.logs, self.config = queue, store, logs, config
        self._dialects = dialects
        self._measurer = measurer
        self._neighbours = neighbours
        self._measuring: ThreadPoolExecutor | None = None
        self._on_event = on_event
        self._process = TuningProcess()
        self._stop = False
        self.current: Job | None = None
        self._device_backoff = 0.0

    def stop(self) -> None:
        """Stop after the current job, if any (safe from a signal handler)."""
        self._stop = True

    def _say(self, line: str) -> None:
        logger.info(line)
        if self._on_event is not None:
            self._on_event(line)

    def claim_filter(self) -> ClaimFilter:
        """The jobs this worker can run: its dialects' current builds; measuring jobs only with a
        measurer."""
        from lorien.dialects import available_dialects

        names = self.config.dialects or available_dialects()
        runnable = [d for d in map(self._dialects, names) if isinstance(d, Measuring)]  # tune or measure
        builds = frozenset((d.name, d.build_id()) for d in runnable)
        return ClaimFilter(builds=builds, target=self.config.target,
                           tiers=None if self._measurer is not None else frozenset({"tune"}))

    def run(self) -> WorkerReport:
        """Claim and run jobs until ``max_jobs``, ``idle_exit_s`` or :meth:`stop`."""
        report = WorkerReport()
        claim = self.claim_filter()
        idle_since = time.monotonic()
        batch_job_id = os.environ.get(BATCH_JOB_ID_ENV)
        try:
            while not self._stop and (self.config.max_jobs is None or report.handled < self.config.max_jobs):
                try:
                    job = self.queue.claim(self.config.worker_id, self.config.lease_s, claim,
                                           batch_job_id=batch_job_id)
                except StoreError as exc:
                    self._say(f"cannot claim ({exc}); retrying")
                    job = None
                if job is None:
                    if (self.config.idle_exit_s is not None
                            and time.monotonic() - idle_since >= self.config.idle_exit_s):
                        break
                    time.sleep(self.config.poll_s)
                    continue
                self.current = job
                try:
                    self.run_job(job, report)
                except KeyboardInterrupt:
                    self._process.kill()
                    self._give_up(job, "the worker was stopped", report)
                    raise
                finally:
                    self.current = None
                idle_since = time.monotonic()
        finally:
            self._process.close()
            if self._measuring is not None:
                self._measuring.shutdown(wait=False, cancel_futures=True)
                self._measuring = None
        return report

    # -- one job ---------------------------------------------------------------------------------
    def run_job(self, job: Job, report: WorkerReport) -> None:
        """Run one claimed job to its end: done, given up (re-queued or failed), or lost."""
        spec = job.spec
        self._say(f"claimed {job.job_id} {spec.workload_name} (attempt {job.attempts}/{job.max_attempts})")
        # a measuring job's dialect is the job measurer's to check (it proposes and measures)
        role: type[Measuring] = Measuring if spec.tier == "measure" else Tuner
        try:
            dialect = require(self._dialects(spec.dialect), role)
            workload = self._patiently(lambda: self.store.get_workload(spec.dialect, spec.workload_key),
                                       f"reading the workload of {job.job_id}")
        except LorienError as exc:
            self._give_up(job, f"cannot start: {exc}", report, retry=isinstance(exc, StoreError))
            return
        if workload is None:
            self._give_up(job, f"workload {spec.workload_key} is not in the store", report, retry=False)
            return
        options = TuneOptions(**spec.budget(), rpc=self.config.rpc,
                              session_timeout_s=self.config.session_timeout_s,
                              warm_start=self.config.warm_start, search_model=self.config.search_model)
        problem = self._wait_for_measurement(dialect, spec.target, options)
        if problem is not None:  # this worker's devices are gone: the job is not to blame
            self._give_up(job, problem, report, count=False)
            self._device_backoff = min(60.0, max(self.config.poll_s, self._device_backoff * 2 or 1.0))
            time.sleep(self._device_backoff)  # do not claim the next job at once
            return
        self._device_backoff = 0.0
        if spec.tier == "measure":
            self._measure(job, workload, report)
            return
        seeds: Sequence[str] = ()
        if spec.neighbour_samples:
            lend = self._neighbours
            if lend is None:
                self._give_up(job, "this worker cannot lend neighbours' schedules", report, retry=False)
                return
            try:
                seeds = self._patiently(lambda: lend(workload, spec.target, spec.neighbour_samples),
                                        f"finding the neighbours of {job.job_id}")
            except LorienError as exc:
                self._give_up(job, f"cannot find neighbours: {exc}", report,
                              retry=isinstance(exc, StoreError))
                return
        outcome = self._tune(job, require(dialect, Tuner), workload, options, report, seeds)
        if outcome is not None:
            self._commit(job, outcome, report)

    def _measure(self, job: Job, workload: Workload, report: WorkerReport) -> None:
        """Run a measuring job in a thread while this one heartbeats; the measurer commits what it
        finds as it goes, so a job taken or cancelled meanwhile keeps those (true) measurements."""
        if self._measurer is None:  # claimed by mistake: another worker can run it
            self._give_up(job, "this worker has no cost model to measure with", report, count=False)
            return
        try:  # read as carefully as a client's: measuring runs in this process, not in the child
            workload = self._dialects(job.spec.dialect).check_workload(workload)
        except InvalidInput as exc:
            self._give_up(job, f"cannot measure: {exc}", report, retry=False)
            return
        measurer, config = self._measurer, self.config
        stop = threading.Event()
        if self._measuring is None:  # one thread for every measuring job: its store connection is kept
            self._measuring = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lorien-measure")
        running = self._measuring.submit(measurer, workload, job.spec, stop.is_set)
        started = time.monotonic()
        next_beat = started + config.heartbeat_s
        why = None
        while not running.done():
            futures.wait([running], timeout=min(config.heartbeat_s, 1.0))
            now = time.monotonic()
            if running.done() or stop.is_set():
                continue
            if now - started >= config.job_timeout_s:
                why = f"measuring took longer than {config.job_timeout_s:g} s"
                stop.set()
                continue
            if now < next_beat:
                continue
            next_beat = now + config.heartbeat_s
            if not self._still_held(job, "measuring"):
                stop.set()
                why = "lost"
        result = running.exception() or running.result()
        if why == "lost":
            self._lost(job, report)
        elif why is not None:
            self._give_up(job, why, report)
        elif isinstance(result, BaseException):
            self._give_up(job, f"measuring failed: {result}", report,
                          retry=not isinstance(result, InvalidInput))
        else:
            self._finish(job, result, report)

    def _wait_for_measurement(self, dialect: Measuring, target: Target, options: TuneOptions) -> str | None:
        """None once measurement can proceed; the problem if it persists for ``health_grace_s``."""
        watch = _ProblemWatch(self.config.health_grace_s)
        while True:
            problem = dialect.measurement_problem(target, options)
            if problem is None:
                return None
            now = time.monotonic()
            if (why := watch.persisting(problem, now)) is not None:
                return why
            time.sleep(min(self.config.health_interval_s, watch.remaining(now)))

    def _tune(self, job: Job, dialect: Tuner, workload: Workload, options: TuneOptions,
              report: WorkerReport, neighbours: Sequence[str] = ()) -> TuneOutcome | None:
        """Tune in the child process under the watchdog; None when the attempt ended otherwise."""
        config = self.config
        if config.in_process:
            try:
                checked = dialect.check_workload(workload)
                return run_tuning(dialect, checked, job.spec.target, options)
            except LorienError as exc:
                self._give_up(job, f"tuning failed: {exc}", report, retry=not isinstance(exc, InvalidInput))
                return None
        started = last_progress = next_beat = next_check = time.monotonic()
        watch = _ProblemWatch(config.health_grace_s)
        self._process.start(job.spec.dialect, workload, job.spec.target, options, neighbours)
        while True:
            event = self._process.next_event(timeout_s=0.2)
            now = time.monotonic()
            if isinstance(event, TuneOutcome):
                return event
            if isinstance(event, Failed):  # a workload that cannot be read fails for good
                self._give_up(job, f"tuning failed: {event.message}", report,
                              retry=event.kind != InvalidInput.__name__)
                return None
            if isinstance(event, Died):
                self._give_up(job, f"the tuning process died (exit code {event.exitcode})", report)
                return None
            if isinstance(event, Progress):
                last_progress = now
            why = None
            if now >= next_beat:
                next_beat = now + config.heartbeat_s
                if not self._still_held(job, "tuning"):
                    self._process.kill()
                    self._lost(job, report)
                    return None
            if now >= next_check:
                next_check = now + config.health_interval_s
                why = watch.persisting(dialect.measurement_problem(job.spec.target, options), now)
            if why is None and now - last_progress >= config.stall_timeout_s:
                why = f"no measurement finished for {config.stall_timeout_s:g} s"
            if why is None and now - started >= config.job_timeout_s:
                why = f"tuning took longer than {config.job_timeout_s:g} s"
            if why is not None:
                self._process.kill()
                self._give_up(job, why, report)
                return None

    def _still_held(self, job: Job, doing: str) -> bool:
        """Renew the attempt's lease; False when this attempt no longer holds the job. A store
        that cannot be reached is not a lost job: the work goes on, its result kept until the
        store is back."""
        try:
            return self.queue.heartbeat(job.job_id, job.attempts, self.config.lease_s)
        except StoreError as exc:
            self._say(f"heartbeat of {job.job_id} failed ({exc}); {doing} goes on")
            return True

    def _commit(self, job: Job, outcome: TuneOutcome, report: WorkerReport) -> None:
        """Commit a finished attempt's result once, waiting out store outages (every step is
        idempotent, so a step retried after an outage stores nothing twice)."""

        def commit_once() -> JobResult | None:
            current = self.queue.get(job.job_id)
            if current is None or current.state in TERMINAL_STATES:
                return None
            records = commit_outcome(self.store, self.logs, outcome)
            logs = [outcome.log, *outcome.side_logs]
            best, measured = outcome.best, sum(len(log.measurements) for log in logs)
            result = JobResult(records=len(records), measured=measured,
                               failed_measurements=measured - sum(len(log.succeeded) for log in logs),
                               best_seconds=best.latency.mean if best else None,
                               log_ref=records[0].log_ref if records else None, seconds=outcome.seconds)
            return result if self.queue.finish(job.job_id, job.attempts, result) else None

        self._conclude(job, commit_once, report)

    def _finish(self, job: Job, result: JobResult, report: WorkerReport) -> None:
        """Mark a job whose records are committed done, waiting out store outages."""
        self._conclude(job, lambda: result if self.queue.finish(job.job_id, job.attempts, result) else None,
                       report)

    def _conclude(self, job: Job, finish: Callable[[], JobResult | None], report: WorkerReport) -> None:
        """``finish()`` patiently, then report the job done or lost (None: finished elsewhere)."""
        try:
            result = self._patiently(finish, f"keeping the result of {job.job_id}, committing it")
        except StoreError as exc:
            self._say(f"store unreachable for {self.config.store_patience_s:g} s; "
                      f"result of {job.job_id} dropped ({exc})")
            report.given_up.append((job.job_id, f"store unreachable: {exc}"))
            return
        if result is None:
            self._lost(job, report)
            return
        report.done.append(job.job_id)
        self._say(f"done {job.job_id} {job.spec.workload_name} ({job.spec.tier}): {result.records} records, "
                  f"best {result.best_seconds}")

    def _patiently(self, read: Callable[[], T], what: str) -> T:
        """``read()``, retried with backoff while the store is unreachable, for up to
        ``store_patience_s``.

        Raises:
            StoreError: the store stayed unreachable that long.
        """
        deadline = time.monotonic() + self.config.store_patience_s
        delay = 1.0
        while True:
            try:
                return read()
            except StoreError as exc:
                if time.monotonic() >= deadline:
                    raise
                self._say(f"store unreachable ({exc}); {what} again in {delay:.0f} s")
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _give_up(self, job: Job, why: str, report: WorkerReport, *, retry: bool = True,
                 count: bool = True) -> None:
        report.given_up.append((job.job_id, why))
        try:
            state = self.queue.fail(job.job_id, job.attempts, why, retry=retry, count=count)
        except StoreError as exc:  # the lease will expire and the job comes back by itself
            self._say(f"cannot give {job.job_id} back ({exc}); its lease will expire")
            return
        self._say(f"gave up {job.job_id} (attempt {job.attempts}): {why} -> {state or 'no longer ours'}")

    def _lost(self, job: Job, report: WorkerReport) -> None:
        report.lost.append(job.job_id)
        self._say(f"{job.job_id} was finished, taken or cancelled elsewhere; committed nothing")


class _ProblemWatch:
    """Tells when a measurement problem has lasted ``grace_s`` without a break."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self._since: float | None = None

    def persisting(self, problem: str | None, now: float) -> str | None:
        """The line to give up with once ``problem`` has been seen continuously for the grace,
        else None (a None problem starts the count again)."""
        if problem is None:
            self._since = None
            return None
        if self._since is None:
            self._since = now
        return f"{problem} (for {self.grace_s:g} s)" if now - self._since >= self.grace_s else None

    def remaining(self, now: float) -> float:
        """Seconds until a problem seen since the last call would have lasted the grace."""
        return max(0.0, self.grace_s - (now - (self._since if self._since is not None else now)))
