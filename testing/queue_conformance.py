"""The conformance suite every :class:`~lorien.queue.JobQueue` backend must pass.

A backend's test module subclasses :class:`JobQueueConformance` and provides a ``queue_uri``
fixture naming a fresh, empty queue; every test opens it with :func:`lorien.config.open_queue`, the
door workers take (child processes open it the same way).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Iterator

import pytest

from lorien.config import open_queue
from lorien.errors import InvalidInput, NotFound
from lorien.jobs import Job, JobResult, JobSpec, JobTier, job_id
from lorien.queue import ClaimFilter, JobQueue
from lorien.queue.base import CLAIM_CANDIDATES
from lorien.records import Target
from lorien.testing.factories import CPU_A, CPU_B


def spec(key: str = "00000000000000aa", trials: int = 8, priority: int = 0, build: str = "fake-1",
         target: Target = CPU_A, tier: JobTier = "tune") -> JobSpec:
    return JobSpec(dialect="fake", workload_key=key, workload_name=f"op[{key}]", target=target,
                   build=build, trials=trials, priority=priority, tier=tier)


def stored(queue: JobQueue, job_id_: str) -> Job:
    """The queue's job of this id, which the test knows is there."""
    job = queue.get(job_id_)
    assert job is not None, f"no job {job_id_}"
    return job


RESULT = JobResult(records=3, measured=8, failed_measurements=0, best_seconds=1e-3, log_ref="x/y",
                   seconds=1.5)


def _drain(uri: str, worker: str, out: multiprocessing.Queue[list[str]]) -> None:
    claimed = []
    with open_queue(uri) as queue:
        while (job := queue.claim(worker, lease_s=60)) is not None:
            claimed.append(job.job_id)
            assert queue.finish(job.job_id, job.attempts, RESULT)
    out.put(claimed)


class JobQueueConformance:
    """Subclass and define the ``queue_uri`` fixture (an empty queue)."""

    @pytest.fixture
    def queue_uri(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError("a backend test module provides queue_uri")

    @pytest.fixture
    def queue(self, queue_uri: str) -> Iterator[JobQueue]:
        with open_queue(queue_uri) as opened:
            yield opened

    def test_enqueue_is_idempotent_and_raises_priority(self, queue: JobQueue) -> None:
        report = queue.enqueue([spec("a" * 16), spec("b" * 16)])
        assert len(report.added) == 2 and not report.queued
        again = queue.enqueue([spec("a" * 16, priority=5)])
        assert again.queued == [spec("a" * 16).job_id] and not again.added
        assert stored(queue, spec("a" * 16).job_id).spec.priority == 5
        assert queue.counts() == {"waiting": 2, "running": 0, "done": 0, "failed": 0, "cancelled": 0}
        with pytest.raises(InvalidInput):
            queue.enqueue([spec()], max_attempts=0)

    def test_concurrent_bumps_all_count(self, queue: JobQueue) -> None:
        """Bumping is part of the enqueue's conditional write: of 24 requests racing from 6 threads
        for one job, one adds it (priority 1) and each other one adds one to its priority."""
        from concurrent.futures import ThreadPoolExecutor

        wanted = spec("a" * 16, priority=1)
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: queue.enqueue([wanted], bump=True), range(24)))
        assert stored(queue, wanted.job_id).spec.priority == 24
        queue.enqueue([spec("a" * 16, priority=50)], bump=True)  # a higher one asked wins
        assert stored(queue, wanted.job_id).spec.priority == 50
        queue.enqueue([wanted])  # without bump, a lower one asked changes nothing
        assert stored(queue, wanted.job_id).spec.priority == 50

    def test_claim_takes_the_most_urgent_job_once(self, queue: JobQueue) -> None:
        queue.enqueue([spec("a" * 16, priority=1)])
        queue.enqueue([spec("b" * 16, priority=9)])
        first = queue.claim("w1", lease_s=60)
        assert first is not None and first.spec.workload_key == "b" * 16
        assert (first.state, first.attempts, first.worker) == ("running", 1, "w1")
        second = queue.claim("w2", lease_s=60)
        assert second is not None and second.spec.workload_key == "a" * 16
        assert queue.claim("w3", lease_s=60) is None

    def test_measuring_jobs_are_claimed_before_tuning_jobs_of_any_priority(self, queue: JobQueue) -> None:
        tune_a, tune_b = spec("a" * 16, priority=9), spec("b" * 16, priority=10**6)
        measure_a = spec("a" * 16, tier="measure", trials=4)
        queue.enqueue([tune_a, tune_b])
        queue.enqueue([measure_a])  # the same workload and target: a job of its own
        assert measure_a.job_id != tune_a.job_id == job_id("fake", "a" * 16, CPU_A, "fake-1")
        assert [j.job_id for j in queue.jobs()] == [measure_a.job_id, tune_b.job_id, tune_a.job_id]
        claimed = [queue.claim(f"w{i}", lease_s=60) for i in range(3)]
        assert [j.job_id for j in claimed if j] == [measure_a.job_id, tune_b.job_id, tune_a.job_id]
        assert claimed[0] is not None and claimed[0].spec == measure_a  # the tier round-trips

    def test_a_worker_that_cannot_measure_finds_the_tuning_job_behind_many_measuring_ones(
            self, queue: JobQueue) -> None:
        queue.enqueue([spec(f"{i:016x}", tier="measure") for i in range(CLAIM_CANDIDATES + 4)])
        queue.enqueue([spec("f" * 16, priority=-1)])
        tuning_only = ClaimFilter(tiers=frozenset({"tune"}))
        job = queue.claim("w", 60, tuning_only)
        assert job is not None and (job.spec.tier, job.spec.workload_key) == ("tune", "f" * 16)
        assert queue.claim("w", 60, tuning_only) is None
        job = queue.claim("w", 60)
        assert job is not None and job.spec.tier == "measure"

    def test_claim_respects_the_workers_build_and_target(self, queue: JobQueue) -> None:
        queue.enqueue([spec("a" * 16, build="fake-2"), spec("b" * 16, target=CPU_B)])
        mine = ClaimFilter(builds=frozenset({("fake", "fake-1")}), target=CPU_A.canonical)
        assert queue.claim("w", 60, mine) is None
        other = queue.claim("w", 60, ClaimFilter(builds=frozenset({("fake", "fake-1")})))
        assert other is not None and other.spec.target == CPU_B
        mine_only = queue.claim("w", 60, ClaimFilter(target=CPU_A.canonical))
        assert mine_only is not None and mine_only.spec.build == "fake-2"
        with pytest.raises(InvalidInput):
            queue.claim("w", 0)

    def test_heartbeat_extends_only_the_holders_lease(self, queue: JobQueue) -> None:
        queue.enqueue([spec()])
        job = queue.claim("w1", lease_s=0.5)
        assert job is not None
        assert queue.heartbeat(job.job_id, job.attempts, lease_s=60)
        time.sleep(0.7)
        assert queue.claim("w2", lease_s=60) is None  # the heartbeat kept it
        assert not queue.heartbeat(job.job_id, job.attempts + 1, lease_s=60)
        held = queue.get(job.job_id)
        assert held is not None
        assert (held.state, held.attempts, held.worker) == ("running", job.attempts, "w1")

    def test_an_expired_lease_is_claimed_again_and_the_old_holder_is_told(self, queue: JobQueue) -> None:
        queue.enqueue([spec()])
        old = queue.claim("w1", lease_s=0.3)
        assert old is not None
        time.sleep(0.5)
        new = queue.claim("w2", lease_s=60)
        assert new is not None and (new.attempts, new.worker) == (2, "w2")
        assert "lease expired on worker w1" in (new.error or "")
        assert not queue.heartbeat(old.job_id, old.attempts, 60)
        assert stored(queue, old.job_id).attempts != old.attempts
        assert queue.fail(old.job_id, old.attempts, "late") is None
        assert stored(queue, old.job_id).state == "running"

    def test_expired_leases_with_no_attempts_left_fail_with_the_reason(self, queue: JobQueue) -> None:
        queue.enqueue([spec()], max_attempts=2)
        for worker in ("w1", "w2"):
            assert queue.claim(worker, lease_s=0.2) is not None
            time.sleep(0.3)
        assert queue.claim("w3", lease_s=60) is None
        job = queue.get(spec().job_id)
        assert job is not None and job.state == "failed" and job.attempts == 2
        assert "lease expired on worker w2" in (job.error or "")

    def test_first_finisher_wins_and_a_later_one_commits_nothing(self, queue: JobQueue) -> None:
        queue.enqueue([spec()])
        slow = queue.claim("slow", lease_s=0.2)
        assert slow is not None
        time.sleep(0.3)
        fast = queue.claim("fast", lease_s=60)
        assert fast is not None
        assert queue.finish(slow.job_id, slow.attempts, RESULT)      # the slow one returned first
        assert not queue.finish(fast.job_id, fast.attempts, RESULT)  # ... so this one lost
        assert not queue.heartbeat(fast.job_id, fast.attempts, 60)   # and is told to stop
        done = queue.get(slow.job_id)
        assert done is not None and done.state == "done" and done.result == RESULT

    def test_fail_retries_until_attempts_run_out(self, queue: JobQueue) -> None:
        queue.enqueue([spec()], max_attempts=2)
        job = queue.claim("w", 60)
        assert job is not None and queue.fail(job.job_id, job.attempts, "boom") == "waiting"
        job = queue.claim("w", 60)
        assert job is not None and queue.fail(job.job_id, job.attempts, "boom again") == "failed"
        failed = queue.get(job.job_id)
        assert failed is not None and failed.error == "attempt 2/2: boom again"
        queue.enqueue([spec("b" * 16)])
        other = queue.claim("w", 60)
        assert other is not None and queue.fail(other.job_id, other.attempts, "bad", retry=False) == "failed"

    def test_an_attempt_that_never_started_is_not_counted(self, queue: JobQueue) -> None:
        queue.enqueue([spec()], max_attempts=1)
        job = queue.claim("w", 60)
        assert job is not None
        assert queue.fail(job.job_id, job.attempts, "no devices", count=False) == "waiting"
        back = queue.get(job.job_id)
        assert back is not None and back.attempts == 0 and back.error == "not started by w: no devices"
        again = queue.claim("w", 60)
        assert again is not None and again.attempts == 1

    def test_enqueue_skips_done_jobs_unless_the_budget_grows_or_forced(self, queue: JobQueue) -> None:
        queue.enqueue([spec(trials=8)])
        job = queue.claim("w", 60)
        assert job is not None and queue.finish(job.job_id, job.attempts, RESULT)
        assert queue.enqueue([spec(trials=8)]).done == [job.job_id]
        assert queue.enqueue([spec(trials=4)]).done == [job.job_id]
        assert queue.enqueue([spec(trials=16)]).requeued == [job.job_id]
        again = queue.claim("w", 60)
        assert again is not None and (again.attempts, again.spec.trials) == (1, 16)
        queue.finish(again.job_id, again.attempts, RESULT)
        assert queue.enqueue([spec(trials=16)], force=True).requeued == [job.job_id]

    def test_a_done_job_asked_for_random_samples_runs_again_for_them(self, queue: JobQueue) -> None:
        searched = spec(trials=8)
        queue.enqueue([searched])
        job = queue.claim("w", 60)
        assert job is not None and queue.finish(job.job_id, job.attempts, RESULT)
        samples = dataclasses.replace(searched, trials=0, random_samples=16, remeasure=2)
        assert queue.enqueue([samples]).requeued == [job.job_id]
        again = queue.claim("w", 60)
        assert again is not None and again.spec == samples
        assert any("requeued from done (16 random samples)" in line for line in again.history)
        assert queue.finish(again.job_id, again.attempts, RESULT)
        assert queue.enqueue([samples]).done == [job.job_id]

    def test_failed_jobs_are_requeued_by_enqueue_and_retry(self, queue: JobQueue) -> None:
        queue.enqueue([spec("a" * 16), spec("b" * 16)], max_attempts=1)
        for _ in range(2):
            job = queue.claim("w", 60)
            assert job is not None
            queue.fail(job.job_id, job.attempts, "boom")
        assert queue.counts()["failed"] == 2
        assert queue.enqueue([spec("a" * 16)]).requeued == [spec("a" * 16).job_id]
        assert queue.retry() == [spec("b" * 16).job_id]
        assert queue.counts()["waiting"] == 2
        assert all(j.attempts == 0 for j in queue.jobs(["waiting"]))

    def test_cancel_stops_the_holder_and_retry_brings_it_back(self, queue: JobQueue) -> None:
        queue.enqueue([spec("a" * 16), spec("b" * 16)])
        running = queue.claim("w", 60)
        assert running is not None
        assert sorted(queue.cancel()) == sorted([spec("a" * 16).job_id, spec("b" * 16).job_id])
        assert not queue.heartbeat(running.job_id, running.attempts, 60)
        assert not queue.finish(running.job_id, running.attempts, RESULT)
        assert queue.claim("w", 60) is None
        assert queue.retry([running.job_id]) == [running.job_id]
        assert queue.claim("w", 60) is not None
        with pytest.raises(NotFound):
            queue.cancel(["no-such-job"])

    def test_jobs_round_trip_with_history(self, queue: JobQueue) -> None:
        queue.enqueue([spec()])
        job = queue.claim("w", 60, batch_job_id="batch-123")
        assert job is not None
        queue.finish(job.job_id, job.attempts, RESULT)
        [stored] = queue.jobs()
        assert stored.spec == spec() and stored.batch_job_id == "batch-123"
        assert stored.result == RESULT
        assert [line.split(" ", 2)[2] for line in stored.history] == [
            "enqueued (8 trials)", "claimed by w (attempt 1)", "done by attempt 1"]

    def test_concurrent_workers_in_processes_claim_each_job_once(self, queue_uri: str) -> None:
        with open_queue(queue_uri) as queue:
            queue.enqueue([spec(f"{i:016x}") for i in range(24)])
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        workers = [ctx.Process(target=_drain, args=(queue_uri, f"w{i}", out)) for i in range(4)]
        for process in workers:
            process.start()
        claimed = [job for _ in workers for job in out.get(timeout=120)]
        for process in workers:
            process.join(timeout=60)
            assert process.exitcode == 0
        assert sorted(claimed) == sorted({*claimed}) and len(claimed) == 24
        with open_queue(queue_uri) as queue:
            assert queue.counts()["done"] == 24
