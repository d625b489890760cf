"""The job queue interface: a rich queue on a tiny compare-and-set backend.

Every state change of :mod:`lorien.jobs` (enqueue, claim, heartbeat, finish, fail, retry, cancel)
is written here once, as "read the job and its version, compute the new job, write it only if the
version is still the one read". A backend provides just that conditional write and a few reads
(:class:`JobQueue`'s underscored abstract methods): SQLite in one transaction, DynamoDB as a
conditional ``PutItem``. There is no master: any number of workers on any number of machines claim
jobs concurrently and exactly one of them wins each job; a lost race moves on to the next job.
:mod:`lorien.testing.queue_conformance` is the suite every backend passes.
"""

from __future__ import annotations

import abc
import dataclasses
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from lorien.errors import InvalidInput, NotFound, StoreError
from lorien.jobs import JOB_STATES, TERMINAL_STATES, Job, JobResult, JobSpec, JobState, claim_order

#: Conditional writes tried for one job before giving up (each lost race re-reads the job).
CAS_RETRIES = 50
#: Waiting (and expired) jobs looked at per claim.
CLAIM_CANDIDATES = 32

Versioned = tuple[Job, int]


@dataclass(frozen=True)
class ClaimFilter:
    """Which jobs a worker can run: its dialects' builds, optionally one target only, and the
    tiers it can run (a worker without a cost model cannot run measuring jobs)."""

    builds: frozenset[tuple[str, str]] | None = None   # (dialect, build) pairs; None: any
    target: str | None = None                          # a canonical target; None: any
    tiers: frozenset[str] | None = None                # None: every tier

    def matches(self, spec: JobSpec) -> bool:
        return ((self.builds is None or (spec.dialect, spec.build) in self.builds)
                and (self.target is None or spec.target.canonical == self.target)
                and (self.tiers is None or spec.tier in self.tiers))


@dataclass
class EnqueueReport:
    """What :meth:`JobQueue.enqueue` did with each spec (by job id)."""

    added: list[str] = dataclasses.field(default_factory=list)
    requeued: list[str] = dataclasses.field(default_factory=list)   # failed, cancelled, budget grew, forced
    queued: list[str] = dataclasses.field(default_factory=list)     # already waiting or running
    done: list[str] = dataclasses.field(default_factory=list)       # already tuned with that budget

    @property
    def active(self) -> list[str]:
        """The jobs this enqueue leaves to be run (new, requeued, or already in the queue)."""
        return [*self.added, *self.requeued, *self.queued]


class JobQueue(abc.ABC):
    """Tuning jobs shared by every worker.

    Thread and process safety: every method may be called from many threads, processes and
    machines at once; each state change is one conditional write, so concurrent changes to one job
    serialise and none is lost.

    Ownership: a queue owns its connections; :meth:`close` it (or use it as a context manager).

    Errors: backend failures raise :class:`lorien.errors.StoreError`; bad arguments raise
    :class:`lorien.errors.InvalidInput`. A state change either happens whole or not at all.
    """

    uri: str

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    # -- the backend -----------------------------------------------------------------------------
    @abc.abstractmethod
    def _read(self, job_id: str) -> Versioned | None:
        """The job and its version, read consistently; None when there is no such job."""

    @abc.abstractmethod
    def _write(self, job: Job, expected_version: int | None) -> bool:
        """Write ``job`` if its stored version is ``expected_version`` (None: only if absent).
        The stored version becomes ``expected_version + 1`` (1 for a new job).

        Returns:
            False when another writer got there first (nothing written).
        """

    @abc.abstractmethod
    def _scan(self, states: Iterable[JobState], claim: ClaimFilter | None = None,
              limit: int | None = None) -> Iterator[Versioned]:
        """Jobs in these states in the order workers take them (:func:`lorien.jobs.claim_order`:
        measuring jobs first, then highest priority, then oldest). ``claim`` and ``limit`` let a
        backend narrow the read; callers re-check ``claim`` themselves."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the queue must not be used afterwards."""

    # -- the queue -------------------------------------------------------------------------------
    def enqueue(self, specs: Sequence[JobSpec], *, force: bool = False,
                max_attempts: int = 3, bump: bool = False) -> EnqueueReport:
        """Make sure every spec is tuned: add new jobs, requeue failed or cancelled ones, and ones
        done with a smaller budget than asked (any done one with ``force``); leave waiting and
        running jobs as they are, raising their priority to the one asked when higher.

        With ``bump``, a waiting or running job's priority goes up by one instead (to the one
        asked, if that is higher), in the same conditional write as everything else: concurrent
        bumps of one job all count (the service bumps a job each time a request wants it).

        Raises:
            InvalidInput: ``max_attempts`` below 1.
        """
        if max_attempts < 1:
            raise InvalidInput(f"max_attempts must be at least 1, got {max_attempts}")
        report = EnqueueReport()
        for spec in {s.job_id: s for s in specs}.values():
            verdict: list[str] = []

            def change(current: Job | None, spec: JobSpec = spec, verdict: list[str] = verdict) -> Job | None:
                now = self._clock()
                fresh = Job(spec=spec, state="waiting", max_attempts=max_attempts, created_at=now,
                            updated_at=now)
                if current is None:
                    verdict[:] = ["added"]
                    return fresh.with_event(f"{_stamp(now)} enqueued ({spec.budget_text})")
                if current.state in ("waiting", "running"):
                    verdict[:] = ["queued"]
                    priority = max(spec.priority, current.spec.priority + 1 if bump else 0)
                    if priority > current.spec.priority:
                        return dataclasses.replace(
                            current, spec=dataclasses.replace(current.spec, priority=priority),
                            updated_at=now)
                    return None
                if current.state == "done" and not force and current.spec.covers(spec):
                    verdict[:] = ["done"]
                    return None
                verdict[:] = ["requeued"]
                return dataclasses.replace(
                    fresh, created_at=current.created_at, error=current.error, history=current.history,
                ).with_event(f"{_stamp(now)} requeued from {current.state} ({spec.budget_text})")

            self._change(spec.job_id, change)
            getattr(report, verdict[0]).append(spec.job_id)
        return report

    def claim(self, worker: str, lease_s: float, claim: ClaimFilter | None = None, *,
              batch_job_id: str | None = None) -> Job | None:
        """Take the most urgent job this worker can run (a measuring job before any tuning job,
        then the highest priority): a waiting one, or a running one whose lease expired (its
        holder is presumed dead; that attempt is recorded as its error). A job whose lease
        expired with no attempts left fails instead.

        Returns:
            The claimed job (state ``running``, held by ``worker`` as attempt ``attempts``), or
            None when there is nothing to claim.
        """
        _check_lease(lease_s)
        for _ in range(CAS_RETRIES):
            now = self._clock()
            candidates = [(job, version) for job, version in
                          self._scan(("waiting", "running"), claim, CLAIM_CANDIDATES)
                          if (claim is None or claim.matches(job.spec))
                          and (job.state == "waiting" or job.lease_expired(now))]
            if not candidates:
                return None
            # Workers that scanned at the same moment would all race for the same first job;
            # each takes the most urgent jobs in its own random order instead (tier and priority
            # first).
            waiting = sorted((c for c in candidates if c[0].state == "waiting"),
                             key=lambda c: (*claim_order(c[0])[:2], random.random()))
            expired = [c for c in candidates if c[0].state == "running"]
            lost = 0
            for job, version in [*expired, *waiting]:
                if job.state == "running":
                    reason = (f"attempt {job.attempts}/{job.max_attempts}: lease expired on worker "
                              f"{job.worker} (it stopped heartbeating)")
                    if job.attempts >= job.max_attempts:
                        failed = dataclasses.replace(job, state="failed", error=reason, lease_expires=None,
                                                     updated_at=now)
                        self._write(failed.with_event(f"{_stamp(now)} failed: {reason}"), version)
                        continue
                    job = dataclasses.replace(job, error=reason).with_event(f"{_stamp(now)} {reason}")
                taken = dataclasses.replace(
                    job, state="running", attempts=job.attempts + 1, worker=worker,
                    lease_expires=now + lease_s, updated_at=now, batch_job_id=batch_job_id,
                ).with_event(f"{_stamp(now)} claimed by {worker} (attempt {job.attempts + 1})")
                if self._write(taken, version):
                    return taken
                lost += 1
            if lost == 0:
                return None
            _backoff(0)
        return None

    def heartbeat(self, job_id: str, attempt: int, lease_s: float) -> bool:
        """Extend the lease of the attempt holding a running job.

        Returns:
            False when this attempt no longer holds the job (expired and claimed by another
            worker, finished by another attempt, cancelled): the holder should stop working on it.
        """
        _check_lease(lease_s)
        held = [False]

        def change(current: Job | None) -> Job | None:
            held[0] = current is not None and current.state == "running" and current.attempts == attempt
            if not held[0]:
                return None
            assert current is not None
            now = self._clock()
            return dataclasses.replace(current, lease_expires=now + lease_s, updated_at=now)

        self._change(job_id, change)
        return held[0]

    def finish(self, job_id: str, attempt: int, result: JobResult) -> bool:
        """Mark the job done with ``result``, if no other attempt finished it first and nobody
        cancelled it; any attempt that is still tuning it is then told by its next heartbeat.

        Returns:
            True when this call finished the job; False when it was already terminal.
        """
        won = [False]

        def change(current: Job | None) -> Job | None:
            won[0] = current is not None and current.state not in TERMINAL_STATES
            if not won[0]:
                return None
            assert current is not None
            now = self._clock()
            return dataclasses.replace(current, state="done", result=result, lease_expires=None,
                                       updated_at=now).with_event(f"{_stamp(now)} done by attempt {attempt}")

        self._change(job_id, change)
        return won[0]

    def fail(self, job_id: str, attempt: int, error: str, *, retry: bool = True,
             count: bool = True) -> JobState | None:
        """Give up the attempt holding a running job: back to ``waiting`` when ``retry`` and
        attempts are left, else ``failed``; ``error`` is kept on the job either way.

        Args:
            count: False when the attempt never started on the job (the worker's devices were
                gone): the job goes back to ``waiting`` and the attempt is not counted.

        Returns:
            The job's new state, or None when this attempt did not hold it (nothing changed).
        """
        new_state: list[JobState | None] = [None]

        def change(current: Job | None) -> Job | None:
            if current is None or current.state != "running" or current.attempts != attempt:
                new_state[0] = None
                return None
            now = self._clock()
            if not count:
                new_state[0] = "waiting"
                line = f"not started by {current.worker}: {error}"
                return dataclasses.replace(current, state="waiting", attempts=current.attempts - 1,
                                           error=line, lease_expires=None, updated_at=now,
                                           ).with_event(f"{_stamp(now)} waiting: {line}")
            state: JobState = "waiting" if retry and current.attempts < current.max_attempts else "failed"
            new_state[0] = state
            line = f"attempt {attempt}/{current.max_attempts}: {error}"
            return dataclasses.replace(current, state=state, error=line, lease_expires=None,
                                       updated_at=now).with_event(f"{_stamp(now)} {state}: {line}")

        self._change(job_id, change)
        return new_state[0]

    def retry(self, job_ids: Sequence[str] | None = None) -> list[str]:
        """Send failed and cancelled jobs (these, or all) back to ``waiting`` with fresh attempts.

        Returns:
            The ids of the jobs requeued.

        Raises:
            NotFound: a named job does not exist.
        """
        return self._transition(job_ids, ("failed", "cancelled"), "waiting", "retried")

    def cancel(self, job_ids: Sequence[str] | None = None) -> list[str]:
        """Cancel waiting and running jobs (these, or all); a running job's holder stops at its
        next heartbeat and commits nothing.

        Returns:
            The ids of the jobs cancelled.

        Raises:
            NotFound: a named job does not exist.
        """
        return self._transition(job_ids, ("waiting", "running"), "cancelled", "cancelled")

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        found = self._read(job_id)
        return found[0] if found else None

    def jobs(self, states: Iterable[JobState] = JOB_STATES) -> list[Job]:
        """Every job in these states, most urgent first."""
        return [job for job, _ in self._scan(tuple(states))]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state (every state named, zeros included)."""
        counts: dict[str, int] = dict.fromkeys(JOB_STATES, 0)
        for job, _ in self._scan(JOB_STATES):
            counts[job.state] += 1
        return counts

    # -- plumbing --------------------------------------------------------------------------------
    def _change(self, job_id: str, change: Callable[[Job | None], Job | None]) -> Job | None:
        """Apply ``change`` to the current job as one conditional write, re-reading after a lost
        race. ``change`` returns the new job, or None for "no change". Returns what was written."""
        for attempt in range(CAS_RETRIES):
            found = self._read(job_id)
            current, version = found if found else (None, None)
            new = change(current)
            if new is None:
                return None
            if self._write(new, version):
                return new
            _backoff(attempt)
        raise StoreError(f"{self.uri}: job {job_id} changed under {CAS_RETRIES} writes in a row; try again")

    def _transition(self, job_ids: Sequence[str] | None, sources: tuple[JobState, ...],
                    target: JobState, verb: str) -> list[str]:
        if job_ids is None:
            ids = [job.job_id for job in self.jobs(sources)]
        else:
            ids = list(dict.fromkeys(job_ids))
            missing = [i for i in ids if self._read(i) is None]
            if missing:
                raise NotFound(f"no job {missing[0]!r} in {self.uri}")
        changed = []
        for one in ids:
            def change(current: Job | None) -> Job | None:
                if current is None or current.state not in sources:
                    return None
                now = self._clock()
                attempts = 0 if target == "waiting" else current.attempts
                return dataclasses.replace(current, state=target, attempts=attempts, lease_expires=None,
                                           updated_at=now).with_event(f"{_stamp(now)} {verb}")

            if self._change(one, change) is not None:
                changed.append(one)
        return changed

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _check_lease(lease_s: float) -> None:
    if not lease_s > 0:
        raise InvalidInput(f"a lease must be positive, got {lease_s}")


def _stamp(now: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))


def _backoff(attempt: int) -> None:
    time.sleep(min(0.5, 0.005 * 2 ** min(attempt, 7)) * random.uniform(0.5, 1.5))
