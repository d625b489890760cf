"""The worker loop with the instant dialect (no compiler): claims, commits once, gives up in
bounded time, waits out store outages. Each test runs a real tuning child process."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest

from lorien.config import open_logs, open_queue, open_store
from lorien.dialects import TuneOptions, get_dialect
from lorien.errors import StoreError, TuningError
from lorien.jobs import JobResult
from lorien.testing.instant import instant_workload
from lorien.tuner.submit import follow, submit
from lorien.tuner.worker import Worker, WorkerConfig

TARGET = get_dialect("instant").parse_target("cpu")


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.uri = f"sqlite:///{tmp_path}/lorien.db"
        self.store = open_store(self.uri)
        self.queue = open_queue(self.uri)
        self.logs = open_logs(f"file://{tmp_path}/logs")

    def submit(self, *workloads, trials: int = 4, **kwargs):  # type: ignore[no-untyped-def]
        return submit(self.queue, self.store, get_dialect("instant"), list(workloads), TARGET,
                      TuneOptions(trials=trials, keep=3), **kwargs)

    def worker(self, measurer=None, **config) -> Worker:  # type: ignore[no-untyped-def]
        defaults = {"poll_s": 0.05, "idle_exit_s": 0.0, "health_interval_s": 0.1, "heartbeat_s": 0.2,
                    "lease_s": 5.0}
        return Worker(self.queue, self.store, self.logs, WorkerConfig(**{**defaults, **config}),
                      measurer=measurer)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_a_worker_drains_the_queue_and_commits_each_job_once(env: Env) -> None:
    submission = env.submit(instant_workload("a" * 16), instant_workload("b" * 16))
    report = env.worker().run()
    assert sorted(report.done) == sorted(submission.jobs)
    assert env.store.count() == 6  # keep=3 per workload
    for job in env.queue.jobs():
        assert job.state == "done" and job.result is not None and job.result.records == 3
        assert env.logs.get(job.result.log_ref)  # type: ignore[arg-type]
    again = env.submit(instant_workload("a" * 16), instant_workload("b" * 16))
    assert sorted(again.enqueued.done) == sorted(submission.jobs) and not again.enqueued.active


def test_workloads_tuned_before_jobs_existed_are_skipped_unless_forced(env: Env) -> None:
    env.submit(instant_workload("a" * 16))
    env.worker().run()
    env.queue._execute("DELETE FROM jobs")  # type: ignore[attr-defined]  # as a store from before jobs
    assert env.submit(instant_workload("a" * 16)).tuned_without_job == ["a" * 16]
    assert env.submit(instant_workload("a" * 16), force=True).enqueued.added


def test_a_failing_job_is_retried_then_failed_with_its_reason(env: Env) -> None:
    env.submit(instant_workload("f" * 16, fail=True), max_attempts=2)
    report = env.worker().run()
    assert len(report.given_up) == 2
    [job] = env.queue.jobs()
    assert job.state == "failed" and job.attempts == 2
    assert "every measurement of instant[ffffffffffffffff] failed" in (job.error or "")
    assert env.store.count() == 0


def test_the_watchdog_gives_up_a_stalled_attempt_in_bounded_time(env: Env) -> None:
    env.submit(instant_workload("s" * 16, seconds=60.0), trials=1)
    started = time.monotonic()
    report = env.worker(stall_timeout_s=1.5, max_jobs=1).run()
    assert time.monotonic() - started < 15
    assert report.given_up and "no measurement finished for 1.5 s" in report.given_up[0][1]
    [job] = env.queue.jobs()
    assert job.state == "waiting" and "no measurement finished" in (job.error or "")


def test_devices_gone_before_the_start_send_the_job_back_uncounted(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(type(get_dialect("instant")), "measurement_problem",
                        lambda self, target, options: "no device registered under key 'k'")
    env.submit(instant_workload("a" * 16))
    started = time.monotonic()
    report = env.worker(health_grace_s=0.5, max_jobs=1).run()
    assert time.monotonic() - started < 10
    assert report.given_up[0][1] == "no device registered under key 'k' (for 0.5 s)"
    [job] = env.queue.jobs()
    assert job.state == "waiting" and job.attempts == 0
    assert job.error is not None and job.error.startswith("not started by ")


def test_devices_gone_during_the_job_give_the_attempt_up_in_bounded_time(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asked: list[float] = []

    def problem(self, target, options):  # type: ignore[no-untyped-def]
        asked.append(time.monotonic())
        return None if len(asked) == 1 else "RPC tracker 127.0.0.1:9 is unreachable (Connection refused)"

    monkeypatch.setattr(type(get_dialect("instant")), "measurement_problem", problem)
    env.submit(instant_workload("a" * 16, seconds=60.0))
    started = time.monotonic()
    report = env.worker(health_grace_s=1.0, max_jobs=1).run()
    assert time.monotonic() - started < 15
    assert report.given_up[0][1] == "RPC tracker 127.0.0.1:9 is unreachable (Connection refused) (for 1 s)"
    [job] = env.queue.jobs()
    assert job.state == "waiting" and job.attempts == 1 and job.error.startswith("attempt 1/3: RPC tracker")  # type: ignore[union-attr]


def test_a_job_finished_elsewhere_meanwhile_is_not_committed_again(env: Env) -> None:
    env.submit(instant_workload("a" * 16, seconds=2.0))
    worker = env.worker(heartbeat_s=0.2)
    done = threading.Event()

    def finish_elsewhere() -> None:
        while (job := env.queue.get(env.queue.jobs()[0].job_id)) and job.state != "running":
            time.sleep(0.05)
        from lorien.testing.queue_conformance import RESULT

        env.queue.finish(job.job_id, job.attempts, RESULT)
        done.set()

    threading.Thread(target=finish_elsewhere, daemon=True).start()
    report = worker.run()
    assert done.is_set() and report.lost and not report.done
    assert env.store.count() == 0


def test_a_worker_keeps_its_result_while_the_store_is_down(env: Env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env.submit(instant_workload("a" * 16))
    real_commit = type(env.store).commit
    outage_until = time.monotonic() + 2.5
    calls = []

    def flaky_commit(self, records):  # type: ignore[no-untyped-def]
        calls.append(time.monotonic())
        if time.monotonic() < outage_until:
            raise StoreError("database is locked")
        return real_commit(self, records)

    monkeypatch.setattr(type(env.store), "commit", flaky_commit)
    report = env.worker().run()
    assert len(calls) >= 2 and report.done
    assert env.store.count() == 3


def test_follow_reports_changes_until_every_job_ends(env: Env) -> None:
    submission = env.submit(instant_workload("a" * 16))
    seen = []
    threading.Thread(target=lambda: (time.sleep(0.3), env.worker().run()), daemon=True).start()
    jobs = follow(env.queue, submission.jobs, poll_s=0.05, on_change=lambda js: seen.append(js[0].state))
    assert [j.state for j in jobs] == ["done"] and seen[0] == "waiting" and seen[-1] == "done"


def test_a_job_whose_workload_cannot_be_loaded_fails_at_once_and_the_worker_goes_on(env: Env) -> None:
    """Workloads from the store are read as carefully as from a client: each crash class of kernel
    payloads fails its job on the first attempt with the reason (in the real tuning child), and
    the worker then tunes the next job."""
    from tests.payload_corpus import hostile_payloads, shipped_workload_and_schedule

    tvm = get_dialect("tvm")
    shipped, _ = shipped_workload_and_schedule()
    hostile = hostile_payloads(shipped)
    poisoned = [dataclasses.replace(shipped, key=f"{i:016x}", payload=payload)
                for i, payload in enumerate(hostile.values())]
    bad = submit(env.queue, env.store, tvm, poisoned, tvm.parse_target("host"), TuneOptions(trials=2))
    assert len(bad.jobs) == len(hostile)
    measuring = [dataclasses.replace(env.queue.get(j).spec, tier="measure") for j in bad.jobs]  # type: ignore[union-attr]
    env.queue.enqueue(measuring)  # measured in the worker's own process: read before anything else
    good = env.submit(instant_workload("c" * 16))
    measurer = FakeMeasurer()
    report = env.worker(measurer=measurer).run()
    for job_id, tier in [*((j, "tuning") for j in bad.jobs), *((m.job_id, "measure") for m in measuring)]:
        job = env.queue.get(job_id)
        assert job is not None and job.state == "failed" and job.attempts == 1, job
        why = job.error or ""
        start = "tuning failed: " if tier == "tuning" else "cannot measure: "
        assert why.startswith(f"attempt 1/3: {start}") and "\n" not in why, why
    causes = " ".join(env.queue.get(j).error or "" for j in bad.jobs)  # type: ignore[union-attr]
    assert "refers to node" in causes and "nested 513 deep" in causes
    assert report.done == good.jobs and measurer.jobs == []


class FakeMeasurer:
    """Stands in for the cost model's measuring (the real one: tests/predictor): counts calls,
    runs until told to stop when ``endless``, fails with ``error``."""

    def __init__(self, *, endless: bool = False, error: Exception | None = None) -> None:
        self.endless, self.error = endless, error
        self.jobs: list[str] = []
        self.stopped = threading.Event()

    def __call__(self, workload, spec, should_stop):  # type: ignore[no-untyped-def]
        self.jobs.append(spec.job_id)
        if self.error is not None:
            raise self.error
        while self.endless and not should_stop():
            time.sleep(0.02)
        if should_stop():
            self.stopped.set()
        return JobResult(records=1, measured=spec.trials, failed_measurements=0, best_seconds=1e-4,
                         log_ref=None, seconds=0.1)


def _measuring(env: Env, key: str = "a" * 16) -> tuple[str, str]:
    """A tuning job and a measuring job of one workload, the tuning one queued first and more
    urgent; their ids."""
    [tune_id] = env.submit(instant_workload(key), priority=50).jobs
    tune = env.queue.get(tune_id).spec  # type: ignore[union-attr]
    measure = dataclasses.replace(tune, tier="measure", trials=4, priority=0)
    env.queue.enqueue([measure])
    return tune_id, measure.job_id


def test_a_measuring_job_runs_before_the_tuning_job_of_its_workload(env: Env) -> None:
    tune_id, measure_id = _measuring(env)
    measurer = FakeMeasurer()
    report = env.worker(measurer=measurer).run()
    assert report.done == [measure_id, tune_id] and measurer.jobs == [measure_id]
    done = env.queue.get(measure_id)
    assert done is not None and done.state == "done" and done.result.measured == 4  # type: ignore[union-attr]


def test_a_worker_without_a_measurer_leaves_measuring_jobs_to_others(env: Env) -> None:
    tune_id, measure_id = _measuring(env)
    report = env.worker().run()
    assert report.done == [tune_id]
    assert env.queue.get(measure_id).state == "waiting"  # type: ignore[union-attr]


def test_a_measuring_job_cancelled_meanwhile_stops_and_is_not_finished(env: Env) -> None:
    _, measure_id = _measuring(env)
    measurer = FakeMeasurer(endless=True)

    def cancel_when_running() -> None:
        while env.queue.get(measure_id).state != "running":  # type: ignore[union-attr]
            time.sleep(0.02)
        env.queue.cancel([measure_id])

    threading.Thread(target=cancel_when_running, daemon=True).start()
    report = env.worker(measurer=measurer, max_jobs=1).run()
    assert report.lost == [measure_id] and measurer.stopped.is_set()
    assert env.queue.get(measure_id).state == "cancelled"  # type: ignore[union-attr]


def test_measuring_that_fails_gives_the_attempt_up_with_the_reason(env: Env) -> None:
    _, measure_id = _measuring(env)
    measurer = FakeMeasurer(error=TuningError("no usable candidate"))
    report = env.worker(measurer=measurer, max_jobs=1).run()
    assert report.given_up == [(measure_id, "measuring failed: no usable candidate")]
    job = env.queue.get(measure_id)
    assert job is not None and job.state == "waiting" and "no usable candidate" in (job.error or "")


def test_a_job_asking_a_dialect_for_a_role_it_lacks_fails_at_once_for_good(env: Env) -> None:
    """Random samples need a dialect that proposes and measures schedules; the instant dialect
    only tunes: the job fails on its first attempt, with the reason, before anything is tuned."""
    [job_id] = submit(env.queue, env.store, get_dialect("instant"), [instant_workload("r" * 16)], TARGET,
                      TuneOptions(trials=4, random_samples=2), max_attempts=3).jobs
    report = env.worker().run()
    assert [j for j, _ in report.given_up] == [job_id]
    job = env.queue.get(job_id)
    assert job is not None and job.state == "failed" and job.attempts == 1
    assert "the instant dialect cannot measure given schedules" in (job.error or "")
    assert env.store.count() == 0


def test_neighbour_samples_need_a_lender_and_a_store_outage_while_lending_is_retried(env: Env) -> None:
    """A job with neighbour samples on a worker that cannot lend neighbours' schedules fails on its
    first claim, for good; a store outage while lending sends the attempt back to the queue."""
    options = TuneOptions(trials=4, neighbour_samples=2)
    [job_id] = submit(env.queue, env.store, get_dialect("instant"), [instant_workload("n" * 16)], TARGET,
                      options, max_attempts=3).jobs
    env.worker().run()
    job = env.queue.get(job_id)
    assert job is not None and job.state == "failed" and job.attempts == 1
    assert "cannot lend neighbours' schedules" in (job.error or "")

    def unreachable(workload: object, target: object, count: int) -> list[str]:
        raise StoreError("store unreachable")

    [job_id] = submit(env.queue, env.store, get_dialect("instant"), [instant_workload("m" * 16)], TARGET,
                      options, max_attempts=3).jobs
    worker = Worker(env.queue, env.store, env.logs,
                    WorkerConfig(poll_s=0.05, idle_exit_s=0.0, store_patience_s=0.2, max_jobs=1),
                    neighbours=unreachable)
    report = worker.run()
    assert [j for j, _ in report.given_up] == [job_id]
    job = env.queue.get(job_id)
    assert job is not None and job.state == "waiting" and "cannot find neighbours" in (job.error or "")
