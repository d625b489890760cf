"""RPC drills with a real TVM RPC tracker and real RPC servers on 127.0.0.1: every server gone,
the tracker down, a server killed during a real measurement. The job must be given back (or
finish) in bounded time with a clear reason, and the other jobs must go on.

The first two drills use the instant dialect, which asks the tracker exactly as the TVM dialect
does; the last two measure real TVM kernels through the servers (slow). The faults here are the
devices', not the store's, so every drill runs on SQLite; the store and queue faults of
test_drills.py run on both backends.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lorien.config import open_logs, open_queue, open_store
from lorien.dialects import RPCEndpoint, TuneOptions, get_dialect
from lorien.jobs import Job
from lorien.testing.instant import instant_workload
from lorien.testing.local_rpc import rpc_server, rpc_tracker
from lorien.tuner.submit import submit
from lorien.tuner.worker import Worker, WorkerConfig, WorkerReport
from tests.tuner.conftest import Backend

GRACE_S = 2.0


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    """SQLite only (see the module's docstring); overrides the two-backend fixture."""
    return Backend(f"sqlite:///{tmp_path}/lorien.db", f"file://{tmp_path}/logs")


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             said: list[str] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; the worker said: {said}")
        time.sleep(0.1)


class Running:
    """A worker running in a thread of the test, with what it said."""

    def __init__(self, backend: Backend, rpc: RPCEndpoint, **config: float) -> None:
        self.store = open_store(backend.store_uri)
        self.queue = open_queue(backend.store_uri)
        self.events: list[str] = []
        settings = {"lease_s": 30.0, "heartbeat_s": 0.5, "poll_s": 0.2, "idle_exit_s": 20.0,
                    "health_interval_s": 0.5, "health_grace_s": GRACE_S,
                    "warm_start": False,  # fault handling is tested; the search starts sooner
                    **config}
        self.worker = Worker(self.queue, self.store, open_logs(backend.logs_uri),
                             WorkerConfig(rpc=rpc, **settings),  # type: ignore[arg-type]
                             on_event=self.events.append)
        self.report: WorkerReport | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.report = self.worker.run()

    def job(self, job_id: str) -> Job:
        job = self.queue.get(job_id)
        assert job is not None
        return job

    def stop(self) -> WorkerReport:
        self.worker.stop()
        self.thread.join(timeout=120)
        assert self.report is not None, self.events
        self.store.close()
        self.queue.close()
        return self.report


@pytest.mark.slow  # waits out real timeouts
def test_every_rpc_server_gone_gives_the_job_back_and_it_resumes_when_one_returns(backend: Backend) -> None:
    target = get_dialect("instant").parse_target("board")
    with open_store(backend.store_uri) as store, open_queue(backend.store_uri) as queue, \
            rpc_tracker() as (host, port):
        slow, other = instant_workload("e" * 16, seconds=6.0), instant_workload("f" * 16, seconds=1.0)
        [slow_id] = submit(queue, store, get_dialect("instant"), [slow], target, TuneOptions(trials=4),
                           priority=1).jobs
        [other_id] = submit(queue, store, get_dialect("instant"), [other], target, TuneOptions(trials=4)).jobs
        server = rpc_server(port, "board")
        running = Running(backend, RPCEndpoint(host, port, "board"))
        wait_for(lambda: running.job(slow_id).state == "running", 60, "the claim")
        server.kill()  # the only board overheats
        killed = time.monotonic()
        wait_for(lambda: running.job(slow_id).state == "waiting", 30, "the job to be given back")
        bound = time.monotonic() - killed
        job = running.job(slow_id)
        assert f"no device registered under key 'board' at tracker {host}:{port} (for {GRACE_S:g} s)" \
            in (job.error or "")
        assert bound < GRACE_S + 5
        with rpc_server(port, "board"):  # a board comes back: both jobs are done
            wait_for(lambda: running.job(slow_id).state == running.job(other_id).state == "done", 120,
                     "both jobs to finish", running.events)
        report = running.stop()
    assert report.given_up and slow_id in report.done and other_id in report.done
    with open_store(backend.store_uri) as store:
        assert store.count(workload_key=slow.key) == 4 and store.count(workload_key=other.key) == 4


@pytest.mark.slow  # waits out real timeouts
def test_the_tracker_down_gives_the_job_back_in_bounded_time(backend: Backend) -> None:
    target = get_dialect("instant").parse_target("board")
    with open_store(backend.store_uri) as store, open_queue(backend.store_uri) as queue:
        [job_id] = submit(queue, store, get_dialect("instant"), [instant_workload("d" * 16, seconds=20.0)],
                          target, TuneOptions(trials=4), max_attempts=1).jobs
        with rpc_tracker() as (host, port):
            server = rpc_server(port, "board")
            running = Running(backend, RPCEndpoint(host, port, "board"))
            wait_for(lambda: running.job(job_id).state == "running", 60, "the claim")
        downed = time.monotonic()  # the tracker is gone (and its server with it)
        wait_for(lambda: running.job(job_id).state == "failed", 30, "the job to fail")
        bound = time.monotonic() - downed
        server.kill()
        report = running.stop()
    with open_queue(backend.store_uri) as queue:
        job = queue.get(job_id)
    assert job is not None and f"RPC tracker {host}:{port} is unreachable" in (job.error or "")
    assert job.error.startswith("attempt 1/1: ")  # type: ignore[union-attr]
    assert bound < GRACE_S + 5 and report.given_up


# -- real TVM measurements through the servers -------------------------------------------------
@pytest.fixture(scope="module")
def mlp_workload():  # type: ignore[no-untyped-def]
    from lorien.dialects.tvm.target import parse_target
    from tests.tvm_models import small_mlp

    dialect = get_dialect("tvm")
    target = parse_target("host")
    [use] = dialect.extract(dialect.load_model(small_mlp()), target)
    return use.workload, target


@pytest.fixture
def tvm_job(tmp_path: Path, mlp_workload) -> Iterator[tuple[Backend, str, str, int]]:  # type: ignore[no-untyped-def]
    """A queued real TVM job on SQLite, and a tracker with no server yet: (backend, job, host, port)."""
    backend = Backend(f"sqlite:///{tmp_path}/lorien.db", f"file://{tmp_path}/logs")
    workload, target = mlp_workload
    with open_store(backend.store_uri) as store, open_queue(backend.store_uri) as queue:
        [job_id] = submit(queue, store, get_dialect("tvm"), [workload], target, TuneOptions(trials=4)).jobs
    with rpc_tracker() as (host, port):
        yield backend, job_id, host, port


@pytest.mark.slow
def test_real_tvm_every_server_gone_mid_measurement_kills_the_hung_tuning(
        tvm_job: tuple[Backend, str, str, int]) -> None:
    import psutil

    backend, job_id, host, port = tvm_job
    server = rpc_server(port, "cpu")
    running = Running(backend, RPCEndpoint(host, port, "cpu"), session_timeout_s=600.0)
    # Kill the only server once the first candidates are being measured on it.
    wait_for(lambda: "connected from" in server.output() or running.job(job_id).state == "done", 240,
             "a measurement session")
    tuning_group = running.worker._process._process.pid  # type: ignore[attr-defined]  # its own session
    server.kill()
    killed = time.monotonic()
    wait_for(lambda: running.job(job_id).state in ("waiting", "done"), 60, "the watchdog")
    bound = time.monotonic() - killed
    report = running.stop()
    with open_queue(backend.store_uri) as queue:
        job = queue.get(job_id)
    assert job is not None
    if job.state == "done":
        pytest.fail("tuning finished before the server was killed; the drill measured nothing")
    assert "no device registered under key 'cpu'" in (job.error or "") and bound < GRACE_S + 10, job
    assert report.given_up
    lingering = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == tuning_group:
                lingering.append(process)
    assert not lingering  # the tuning child and the builders and runners it started


@pytest.mark.slow
def test_real_tvm_one_server_killed_during_measurement_the_other_finishes_the_job(
        tvm_job: tuple[Backend, str, str, int]) -> None:
    backend, job_id, host, port = tvm_job
    first, second = rpc_server(port, "cpu"), rpc_server(port, "cpu")
    running = Running(backend, RPCEndpoint(host, port, "cpu"), session_timeout_s=60.0)
    wait_for(lambda: "connected from" in first.output() or running.job(job_id).state == "done", 240,
             "a measurement session on the first server")
    assert running.job(job_id).state != "done", "tuning finished before the drill began"
    first.kill()
    started = time.monotonic()
    wait_for(lambda: running.job(job_id).state == "done", 300, "the job to finish on the second server")
    report = running.stop()
    second.kill()
    assert report.done == [job_id] and time.monotonic() - started < 300
    with open_queue(backend.store_uri) as queue:
        job = queue.get(job_id)
    assert job is not None and job.result is not None and job.result.records >= 1
