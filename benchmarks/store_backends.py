"""Schedule stores side by side: SQLite (embedded file) vs DynamoDB over HTTP (moto's server on
127.0.0.1), at 1k and 100k stored records, as ratios in one run.

For each backend and size: the store is filled with realistic records (MetaSchedule-sized trace
strings, 5 per group, one commit per group as the tuner commits), then measured:

- ``get``: ``top_k`` (k=5, exact target) of a random stored workload, sequentially, p50/p99 ms,
  and gets per second from 4 threads;
- ``commit``: committing one new record to a random stored workload (read, merge best-N,
  conditional write), p50/p99 ms, and commits per second from 4 threads.

moto runs in this process's threads and answers from memory, so the DynamoDB figures measure
Lorien's client side plus HTTP on loopback plus moto's Python, not AWS's service latency
(single-digit ms in-region). moto copies whole tables in ``TransactWriteItems``, so multi-group
commits are not benchmarked at 100k here; single-group commits are conditional puts.

    python benchmarks/store_backends.py --sizes 1000 100000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from local_aws import local_aws  # benchmarks/ is the script's folder

from lorien.config import open_store
from lorien.records import Latency, ScheduleRecord, Target
from lorien.store import ScheduleStore

TARGET = Target('{"keys":["cpu"],"kind":"llvm","mcpu":"bench","num-cores":2}', "llvm_cpu")
RECORDS_PER_GROUP = 5


def make_record(key: str, i: int, rng: random.Random) -> ScheduleRecord:
    trace = '[["SampleCategorical",[' + ",".join(str(rng.randrange(64)) for _ in range(400)) + "]]]"
    return ScheduleRecord(dialect="tvm", workload_key=key, target=TARGET, build="bench-1",
                          schedule=f"{trace}#{i}", latency=Latency((rng.uniform(1e-4, 1e-2),)))


def fill(store: ScheduleStore, size: int, rng: random.Random) -> tuple[list[str], float]:
    groups = size // RECORDS_PER_GROUP
    keys = [f"{i:016x}" for i in range(groups)]
    started = time.perf_counter()
    for key in keys:  # one workload's records per commit, as the tuner commits
        store.commit([make_record(key, i, rng) for i in range(RECORDS_PER_GROUP)])
    return keys, time.perf_counter() - started


def timed(operation: Callable[[int], object], count: int) -> list[float]:
    timings = []
    for i in range(count):
        started = time.perf_counter()
        operation(i)
        timings.append(time.perf_counter() - started)
    return timings


def throughput(operation: Callable[[int], object], count: int, threads: int = 4) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(operation, range(count)))
    return count / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def measure(uri: str, size: int, samples: int) -> dict[str, float]:
    rng = random.Random(size)
    with open_store(uri, create=True) as store:
        keys, fill_s = fill(store, size, rng)
        assert store.count() == len(keys) * RECORDS_PER_GROUP

        def get(i: int) -> object:
            return store.top_k(keys[(i * 7919) % len(keys)], TARGET, 5)

        def commit(i: int) -> object:
            local = random.Random(i)
            return store.commit([make_record(keys[local.randrange(len(keys))], 1000 + i, local)])

        get(0)
        gets, commits = timed(get, samples), timed(commit, samples)
        return {
            "fill_rec_s": size / fill_s,
            "get_p50": percentile(gets, 50) * 1e3, "get_p99": percentile(gets, 99) * 1e3,
            "commit_p50": percentile(commits, 50) * 1e3, "commit_p99": percentile(commits, 99) * 1e3,
            "get_per_s": throughput(get, samples), "commit_per_s": throughput(commit, samples // 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--samples", type=int, default=400, help="timed operations per figure")
    args = parser.parse_args()
    columns = ("fill_rec_s", "get_p50", "get_p99", "get_per_s", "commit_p50", "commit_p99", "commit_per_s")
    print(f"{'records':>8} {'backend':<9}" + "".join(f"{c:>13}" for c in columns))
    with local_aws() as endpoint, tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            results = {
                "sqlite": measure(f"sqlite:///{folder}/bench-{size}.db", size, args.samples),
                "dynamodb": measure(f"dynamodb://bench-{size}?endpoint_url={endpoint}&region=us-east-1",
                                    size, args.samples),
            }
            for backend, figures in results.items():
                print(f"{size:>8} {backend:<9}" + "".join(f"{figures[c]:>13.2f}" for c in columns))
            ratio = {c: results["dynamodb"][c] / results["sqlite"][c] for c in columns}
            print(f"{size:>8} {'ddb/sql':<9}" + "".join(f"{ratio[c]:>12.2f}x" for c in columns))
    print("ms for p50/p99; per second for fill (records, one group per commit), get and commit (4 threads)")


if __name__ == "__main__":
    main()
