"""Fault drills with real processes, on SQLite and on DynamoDB (moto's server): workers killed
with SIGKILL, ``lorien tune`` killed and run again, the store unreachable for a while. Jobs use the
instant dialect (no compiler), so each drill takes seconds; test_drills_tvm.py repeats the
worker drill with real TVM tuning."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from lorien.config import open_logs, open_queue, open_store
from lorien.dialects import TuneOptions, get_dialect
from lorien.queue import JobQueue
from lorien.store import ScheduleStore
from lorien.testing.instant import instant_workload
from lorien.tuner.submit import submit
from tests.tuner.conftest import Backend

REPO = Path(__file__).resolve().parents[2]
TARGET = get_dialect("instant").parse_target("cpu")


def lorien(*argv: str, backend: Backend) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lorien.cli.main", *argv], env=backend.env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_worker_killed_mid_job_is_replaced_and_nothing_is_lost_or_duplicated(
        backend: Backend, opened: tuple[ScheduleStore, JobQueue]) -> None:
    store, queue = opened
    workload = instant_workload("a" * 16, seconds=6.0)
    [job_id] = submit(queue, store, get_dialect("instant"), [workload], TARGET,
                      TuneOptions(trials=6, keep=3)).jobs
    flags = ("worker", "--dialect", "instant", "--lease", "2", "--idle-exit", "8", "--quiet")
    first = lorien(*flags, backend=backend)
    wait_for(lambda: queue.get(job_id).state == "running", 60, "the first worker to claim")  # type: ignore[union-attr]
    time.sleep(1.0)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = time.monotonic()
    second = lorien(*flags, backend=backend)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    job = queue.get(job_id)
    assert job is not None and job.state == "done" and job.attempts == 2, job
    assert "lease expired on worker" in (job.error or "")
    assert time.monotonic() - killed_at < 60
    records = list(store.records(workload_key=workload.key))
    assert len(records) == 3 and len({r.record_id for r in records}) == 3
    assert all(r.log_ref == job.result.log_ref for r in records)  # type: ignore[union-attr]


def test_lorien_tune_killed_and_run_again_does_not_redo_finished_jobs(
        backend: Backend, opened: tuple[ScheduleStore, JobQueue]) -> None:
    store, queue = opened
    workloads = [instant_workload(f"{i:016x}", seconds=2.0) for i in range(4)]
    store.put_workloads(workloads)
    argv = ["tune", "--dialect", "instant", "--target", "cpu", "--trials", "4", "--lease", "2",
            "--workers", "1", "--quiet", *[a for w in workloads for a in ("--workload", w.key)]]
    first = lorien(*argv, backend=backend)
    wait_for(lambda: queue.counts()["done"] >= 1, 120, "a first job to finish")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    finished = {job.job_id: job for job in queue.jobs(["done"])}
    assert 1 <= len(finished) < 4
    second = lorien(*argv, backend=backend)
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert f"tuned {4 - len(finished)}, already tuned {len(finished)}, failed 0" in out
    for job in queue.jobs():
        assert job.state == "done"
        if job.job_id in finished:
            assert job.result == finished[job.job_id].result and job.attempts == 1
    assert store.count(dialect="instant") == 4 * 4  # keep 5 >= 4 trials: every schedule kept once


class Outage:
    """Makes a backend's store unreachable on demand, as seen from the worker's own handles."""

    def __init__(self, backend: Backend, stack: contextlib.ExitStack) -> None:
        self.down = threading.Event()
        if backend.store_uri.startswith("sqlite"):
            # Another process holding the write lock longer than the worker's busy timeout.
            from lorien.queue import SQLiteJobQueue
            from lorien.store import SQLiteScheduleStore

            path = backend.store_uri.removeprefix("sqlite://")
            self.store: ScheduleStore = SQLiteScheduleStore(path, busy_timeout_s=0.3)
            self.queue: JobQueue = SQLiteJobQueue(path, busy_timeout_s=0.3)
            self._path = path
            self._locker: subprocess.Popen[str] | None = None
        else:
            # Every DynamoDB call answered with a 500 at the door, past botocore's retries.
            from lorien.testing.aws_faults import INTERNAL_DYNAMODB, FaultRule, fault_proxy

            endpoint = backend.store_uri.split("endpoint_url=")[1].split("&")[0]
            rule = FaultRule(lambda method, path, target: self.down.is_set() and bool(target),
                             INTERNAL_DYNAMODB, times=None)
            proxy = stack.enter_context(fault_proxy(endpoint, [rule]))
            uri = backend.store_uri.replace(endpoint, proxy) + "&max_attempts=2"
            self.store, self.queue = open_store(uri), open_queue(uri)
        stack.callback(self.queue.close)
        stack.callback(self.store.close)

    def begin(self) -> None:
        self.down.set()
        if hasattr(self, "_path"):
            code = ("import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
                    "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(600)")
            self._locker = subprocess.Popen([sys.executable, "-c", code, self._path], stdout=subprocess.PIPE,
                                            text=True)
            assert self._locker.stdout is not None and self._locker.stdout.readline().strip() == "locked"

    def end(self) -> None:
        self.down.clear()
        if getattr(self, "_locker", None) is not None:
            self._locker.kill()  # type: ignore[union-attr]
            self._locker.wait()  # type: ignore[union-attr]


def test_a_worker_keeps_its_result_while_the_store_is_unreachable(backend: Backend) -> None:
    from lorien.tuner.worker import Worker, WorkerConfig

    with contextlib.ExitStack() as stack:
        outage = Outage(backend, stack)
        store, queue = outage.store, outage.queue
        [job_id] = submit(queue, store, get_dialect("instant"), [instant_workload("b" * 16, seconds=2.0)],
                          TARGET, TuneOptions(trials=4, keep=2)).jobs
        events: list[str] = []
        worker = Worker(queue, store, open_logs(backend.logs_uri),
                        WorkerConfig(lease_s=60, heartbeat_s=0.5, poll_s=0.1, idle_exit_s=0, max_jobs=1),
                        on_event=events.append)

        def storm() -> None:
            wait_for(lambda: any(line.startswith("claimed") for line in events), 60, "the claim")
            # "claimed" comes before the worker reads the job's workload (milliseconds); the outage
            # is for the commit, after 2 s of tuning: begun at once, it once caught that read
            time.sleep(1.0)
            outage.begin()
            time.sleep(6.0)
            outage.end()

        thread = threading.Thread(target=storm, daemon=True)
        thread.start()
        report = worker.run()
        thread.join()
        assert report.done == [job_id], events
        assert any("store unreachable" in line and "keeping the result" in line for line in events), events
        assert store.count(workload_key="b" * 16) == 2
        assert queue.get(job_id).state == "done"  # type: ignore[union-attr]
