"""Time to recover from each fault drill, with real processes, a real RPC tracker and servers, on
SQLite and DynamoDB (moto's server on 127.0.0.1), as medians of a few runs.

Jobs use the instant dialect (tuning takes a set time, no compiler), so each figure is the tuner's
reaction, not a compiler's: for each drill, seconds from the fault to the job being back in the
queue and to it being done again. The settings are the drill's, printed beside each figure; the
recovery time follows them (lease, device grace, poll interval), which is the point: it is
bounded by configuration, not by luck.

    python benchmarks/drill_recovery.py --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from local_aws import aws_backend, local_aws  # benchmarks/ is the script's folder

from lorien.config import open_logs, open_queue, open_store
from lorien.dialects import TuneOptions, get_dialect
from lorien.records import content_hash
from lorien.testing.instant import instant_workload
from lorien.tuner.submit import follow, submit
from lorien.tuner.worker import Worker, WorkerConfig

LEASE_S = 5.0
GRACE_S = 5.0
TARGET = get_dialect("instant").parse_target("drill")


def wait_for(condition: Callable[[], bool], timeout_s: float = 120.0) -> float:
    """Seconds until ``condition`` holds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("the drill did not recover in time")
        time.sleep(0.05)
    return time.monotonic() - started


def worker_process(store_uri: str, logs_uri: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "lorien.cli.main", "worker", "--store", store_uri,
                             "--logs", logs_uri, "--dialect", "instant", "--lease", str(LEASE_S), "--quiet",
                             *extra])


def fresh_key(tag: str) -> str:
    return content_hash(tag, str(time.time_ns()))


def one_job(store_uri: str, tag: str, seconds: float) -> str:
    """Queue one fresh instant job; returns its id."""
    with open_store(store_uri) as store, open_queue(store_uri) as queue:
        [job_id] = submit(queue, store, get_dialect("instant"), [instant_workload(fresh_key(tag), seconds)],
                          TARGET, TuneOptions(trials=4)).jobs
    return job_id


def drill_worker_killed(store_uri: str, logs_uri: str) -> tuple[float, float]:
    """A worker SIGKILLed mid-job while a second one waits for work."""
    job_id = one_job(store_uri, "k", 3.0)
    with open_queue(store_uri) as queue:
        doomed = worker_process(store_uri, logs_uri, "--idle-exit", "30")
        wait_for(lambda: queue.get(job_id).state == "running")  # type: ignore[union-attr]
        spare = worker_process(store_uri, logs_uri, "--idle-exit", "30", "--max-jobs", "1")
        time.sleep(1.0)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        back = wait_for(lambda: queue.get(job_id).attempts == 2)  # type: ignore[union-attr]
        done = back + wait_for(lambda: queue.get(job_id).state == "done")  # type: ignore[union-attr]
        spare.wait(timeout=60)
        return back, done


def drill_tune_killed(store_uri: str, logs_uri: str) -> tuple[float, float]:
    """``lorien tune`` SIGKILLed after its first job; run again: seconds to the job its dead
    worker held being claimed again, and to every job done (none finished is redone)."""
    with open_store(store_uri) as store, open_queue(store_uri) as queue:
        workloads = [instant_workload(fresh_key(f"t{i}"), seconds=1.0) for i in range(3)]
        store.put_workloads(workloads)
        argv = [sys.executable, "-m", "lorien.cli.main", "tune", "--store", store_uri, "--logs", logs_uri,
                "--dialect", "instant", "--target", "drill", "--trials", "4", "--lease", str(LEASE_S),
                "--quiet", *[a for w in workloads for a in ("--workload", w.key)]]
        first = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_for(lambda: queue.counts()["done"] >= 1 and queue.counts()["running"] >= 1)
        done_before = {job.job_id: job.result for job in queue.jobs(["done"])}
        first.send_signal(signal.SIGKILL)
        first.wait()
        orphans = {job.job_id: job.attempts for job in queue.jobs(["running"])}
        restarted = time.monotonic()
        second = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        ids = [job.job_id for job in queue.jobs() if job.spec.workload_key in {w.key for w in workloads}]
        back = wait_for(lambda: all(queue.get(i).attempts > n for i, n in orphans.items()))  # type: ignore[union-attr]
        follow(queue, ids, poll_s=0.05)
        second.wait(timeout=60)
        redone = [i for i, result in done_before.items() if queue.get(i).result != result]  # type: ignore[union-attr]
        assert not redone, "a finished job was redone"
        return back, time.monotonic() - restarted


def drill_store_outage(store_uri: str, logs_uri: str) -> tuple[float, float]:
    """The store unreachable for 4 s when the result is ready: seconds from its return to the
    commit (the worker retries with backoff from 1 s)."""
    stack = contextlib.ExitStack()
    with stack:
        if store_uri.startswith("sqlite"):
            from lorien.queue import SQLiteJobQueue
            from lorien.store import SQLiteScheduleStore

            path = store_uri.removeprefix("sqlite://")
            store = SQLiteScheduleStore(path, busy_timeout_s=0.3)
            queue = SQLiteJobQueue(path, busy_timeout_s=0.3)

            @contextlib.contextmanager
            def down() -> Iterator[None]:
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute("BEGIN EXCLUSIVE")
                try:
                    yield
                finally:
                    conn.execute("ROLLBACK")
                    conn.close()
        else:
            from lorien.testing.aws_faults import (  # an HTTP proxy that fails calls
                INTERNAL_DYNAMODB,
                FaultRule,
                fault_proxy,
            )

            flag = threading.Event()
            endpoint = store_uri.split("endpoint_url=")[1].split("&")[0]
            proxy = stack.enter_context(fault_proxy(endpoint, [FaultRule(
                lambda method, path, target: flag.is_set() and bool(target), INTERNAL_DYNAMODB, times=None)]))
            uri = store_uri.replace(endpoint, proxy) + "&max_attempts=2"
            store, queue = open_store(uri), open_queue(uri)

            @contextlib.contextmanager
            def down() -> Iterator[None]:
                flag.set()
                try:
                    yield
                finally:
                    flag.clear()
        stack.callback(store.close)
        stack.callback(queue.close)
        job_id = one_job(store_uri, "o", 1.0)
        said: list[str] = []
        worker = Worker(queue, store, open_logs(logs_uri),
                        WorkerConfig(lease_s=60, heartbeat_s=0.5, poll_s=0.1, idle_exit_s=0, max_jobs=1,
                                     dialects=("instant",)), on_event=said.append)
        thread = threading.Thread(target=worker.run)
        thread.start()
        while worker.current is None:
            time.sleep(0.01)
        with down():
            time.sleep(4.0)
        back = time.monotonic()
        thread.join()
        committed = time.monotonic() - back
        with open_queue(store_uri) as plain:
            job = plain.get(job_id)
            assert job is not None and job.state == "done", (job, said)
        return committed, committed


def drill_rpc(store_uri: str, logs_uri: str, fault: str) -> tuple[float, float]:
    """Every RPC server gone, or the tracker down, mid-job: seconds to the job given back; then
    (servers back) to the job done."""
    from lorien.testing.local_rpc import rpc_server, rpc_tracker

    job_id = one_job(store_uri, fault, 30.0)
    with open_queue(store_uri) as queue, contextlib.ExitStack() as tracker:
        host, port = tracker.enter_context(rpc_tracker())
        server = rpc_server(port, "board")
        worker = worker_process(store_uri, logs_uri, "--rpc", f"{host}:{port}:board", "--device-grace",
                                str(GRACE_S), "--idle-exit", "60", "--max-jobs", "1")
        try:
            wait_for(lambda: queue.get(job_id).state == "running")  # type: ignore[union-attr]
            if fault == "tracker down":
                tracker.close()  # kills the tracker's process group
            else:
                server.kill()
            back = wait_for(lambda: queue.get(job_id).state == "waiting")  # type: ignore[union-attr]
            return back, back
        finally:
            worker.kill()
            worker.wait()
            server.kill()
            queue.cancel([job_id])  # the next run's worker must claim its own job, not this one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    drills: list[tuple[str, str, Callable[[str, str], tuple[float, float]]]] = [
        ("worker SIGKILL mid-job", f"lease {LEASE_S:g} s", drill_worker_killed),
        ("lorien tune SIGKILL, rerun", f"lease {LEASE_S:g} s", drill_tune_killed),
        ("store unreachable 4 s", "commit backoff from 1 s", drill_store_outage),
        ("every RPC server gone", f"device grace {GRACE_S:g} s",
         lambda s, lg: drill_rpc(s, lg, "servers gone")),
        ("RPC tracker down", f"device grace {GRACE_S:g} s", lambda s, lg: drill_rpc(s, lg, "tracker down")),
    ]
    print(f"{'drill':<28} {'backend':<9} {'settings':<24} {'to back in queue s':>18} {'to done s':>10}")
    with local_aws(own_process=True) as endpoint, tempfile.TemporaryDirectory() as folder:
        ddb, ddb_logs = aws_backend(endpoint, "drills")
        backends = {"sqlite": (f"sqlite:///{folder}/drills.db", f"file://{folder}/logs"),
                    "dynamodb": (ddb, ddb_logs)}
        for name, settings, drill in drills:
            for backend, (store_uri, logs_uri) in backends.items():
                times = [drill(store_uri, logs_uri) for _ in range(args.runs)]
                back = statistics.median(t[0] for t in times)
                done = statistics.median(t[1] for t in times)
                shown = "-" if name.startswith(("every", "RPC")) else f"{done:.1f}"
                print(f"{name:<28} {backend:<9} {settings:<24} {back:>18.1f} {shown:>10}", flush=True)
    print(f"medians of {args.runs} runs; instant jobs take 1-3 s to tune; 'back in queue' for the store "
          "outage is the time from the store's return to the commit")


if __name__ == "__main__":
    main()
