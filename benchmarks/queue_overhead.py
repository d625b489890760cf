"""The tuner's own overhead: jobs claimed and finished per second by the real worker loop, with the
instant dialect (tuning takes no time, so every second is the queue's and the store's), at 1, 8
and 32 concurrent workers, SQLite vs DynamoDB over HTTP (moto's server on 127.0.0.1).

Each job is what a real one costs the backends: a claim (a scan and a conditional write), reading
the workload, a 4-schedule log written to the log store, a best-N commit of its records,
the "already finished elsewhere?" check, and the conditional finish. Workers are threads of this
process, each with its own connections, running :class:`lorien.tuner.worker.Worker` in-process
(no tuning child: there is nothing to watch over). moto runs in a process of its own and answers
each call in several milliseconds of Python, on the same 2 cores as the workers, so DynamoDB
figures measure Lorien's client, loopback HTTP and moto, not AWS.

    python benchmarks/queue_overhead.py --workers 1 8 32 --jobs 300
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

from local_aws import aws_backend, local_aws  # benchmarks/ is the script's folder

from lorien.config import open_logs, open_queue, open_store
from lorien.dialects import TuneOptions, get_dialect
from lorien.testing.instant import instant_workload
from lorien.tuner.submit import submit
from lorien.tuner.worker import Worker, WorkerConfig


def run(store_uri: str, logs_uri: str, workers: int, jobs: int) -> tuple[float, int]:
    """Jobs finished per second by ``workers`` threads draining ``jobs`` fresh jobs."""
    dialect = get_dialect("instant")
    target = dialect.parse_target(f"bench-{workers}")
    workloads = [instant_workload(f"{workers:04x}{i:012x}") for i in range(jobs)]
    with open_store(store_uri) as store, open_queue(store_uri) as queue:
        submit(queue, store, dialect, workloads, target, TuneOptions(trials=4, keep=3))
    # Every worker's connections are opened before the clock starts (DynamoDB checks its tables).
    opened = [(open_store(store_uri), open_queue(store_uri), open_logs(logs_uri)) for _ in range(workers)]
    done: list[int] = []
    lock = threading.Lock()

    def drain(index: int) -> None:
        store, queue, logs = opened[index]
        config = WorkerConfig(worker_id=f"bench-{index}", idle_exit_s=0.0, poll_s=0.01,
                              in_process=True, target=target.canonical, dialects=("instant",))
        report = Worker(queue, store, logs, config).run()
        with lock:
            done.append(len(report.done))

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    for store, queue, logs in opened:
        store.close()
        queue.close()
        logs.close()
    return sum(done) / seconds, sum(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--jobs", type=int, default=300, help="jobs per run (SQLite)")
    parser.add_argument("--dynamodb-jobs", type=int, default=150, help="jobs per run (DynamoDB)")
    args = parser.parse_args()
    print(f"{'workers':>7} {'sqlite jobs/s':>14} {'dynamodb jobs/s':>16} {'sqlite/ddb':>11}")
    with local_aws(own_process=True) as endpoint, tempfile.TemporaryDirectory() as folder:
        ddb_store, ddb_logs = aws_backend(endpoint, "queue-bench")
        for workers in args.workers:
            sqlite_rate, sqlite_done = run(f"sqlite:///{folder}/bench.db", f"file://{folder}/logs", workers,
                                           args.jobs)
            ddb_rate, ddb_done = run(ddb_store, ddb_logs, workers, args.dynamodb_jobs)
            assert (sqlite_done, ddb_done) == (args.jobs, args.dynamodb_jobs), "a job was not finished"
            print(f"{workers:>7} {sqlite_rate:>14.1f} {ddb_rate:>16.1f} {sqlite_rate / ddb_rate:>10.1f}x",
                  flush=True)
    print("jobs claimed, committed (log + 3 records) and finished per second; every job finished once")


if __name__ == "__main__":
    main()
