"""Real tuning throughput of the distributed tuner on this machine: trials measured per minute
with 1 and 2 local workers, and with 2 workers measuring through 2 RPC servers (a real TVM RPC
tracker and servers on 127.0.0.1, which measure on this same CPU), side by side in one run.

Each configuration tunes the same ResNet-18 kernels (the smallest convolutions and matmuls by FLOPs,
so a run takes minutes) with the same budget into a fresh store, through the real path: ``submit``
queues the jobs, ``lorien worker`` processes claim, tune (in their tuning child), heartbeat and
commit. The clock runs from the first claim to the last job done; worker start-up (importing TVM) is
reported apart. On 2 cores, a second worker competes with the first for the CPU that builds and runs
candidates, so it cannot double throughput here; on machines with more cores or with devices of
their own (RPC boards, Batch containers) workers add up.

    python benchmarks/tuning_throughput.py --kernels 4 --trials 16
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

from lorien.config import open_queue, open_store
from lorien.datasets.zoo import load_model
from lorien.dialects import RPCEndpoint, TuneOptions, get_dialect
from lorien.tuner.submit import follow, submit


def run(folder: str, name: str, workloads: list, target, trials: int, workers: int,  # type: ignore[no-untyped-def]
        rpc: RPCEndpoint | None) -> dict[str, float]:
    store_uri, logs_uri = f"sqlite:///{folder}/{name}.db", f"file://{folder}/{name}-logs"
    dialect = get_dialect("tvm")
    with open_store(store_uri) as store, open_queue(store_uri) as queue:
        jobs = submit(queue, store, dialect, workloads, target, TuneOptions(trials=trials)).jobs
        command = [sys.executable, "-m", "lorien.cli.main", "worker", "--store", store_uri, "--logs",
                   logs_uri, "--quiet", "--idle-exit", "5", "--dialect", "tvm",
                   *(["--rpc", str(rpc)] if rpc else [])]
        launched = time.perf_counter()
        processes = [subprocess.Popen(command) for _ in range(workers)]
        try:
            while not any(job.state != "waiting" for job in queue.jobs()):
                time.sleep(0.2)
            started = time.perf_counter()
            done = follow(queue, jobs, poll_s=0.5)
            seconds = time.perf_counter() - started
        finally:
            for process in processes:
                process.wait(timeout=120)
        assert all(job.state == "done" for job in done), [(j.state, j.error) for j in done]
        measured = sum(job.result.measured for job in done if job.result)
        return {"trials": measured, "seconds": seconds, "startup_s": started - launched,
                "trials_per_min": measured / seconds * 60,
                "job_median_s": statistics.median(job.result.seconds for job in done if job.result)}


@contextlib.contextmanager
def two_rpc_servers() -> Iterator[RPCEndpoint]:
    from lorien.testing.local_rpc import rpc_server, rpc_tracker

    with rpc_tracker() as (host, port), rpc_server(port, "bench"), rpc_server(port, "bench"):
        yield RPCEndpoint(host, port, "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=4, help="ResNet-18 kernels tuned per configuration")
    parser.add_argument("--trials", type=int, default=16, help="trials per kernel")
    args = parser.parse_args()
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    uses = dialect.extract(dialect.load_model(load_model("resnet18")), target)
    tunable = [u.workload for u in uses if "conv2d" in u.workload.name or "matmul" in u.workload.name]
    workloads = sorted(tunable, key=lambda w: w.flops)[:args.kernels]
    print(f"{len(workloads)} kernels x {args.trials} trials: " + ", ".join(w.name[:40] for w in workloads),
          flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["1 local worker"] = run(folder, "one", workloads, target, args.trials, 1, None)
        print("1 local worker done", flush=True)
        results["2 local workers"] = run(folder, "two", workloads, target, args.trials, 2, None)
        print("2 local workers done", flush=True)
        with two_rpc_servers() as endpoint:
            results["2 workers, 2 RPC servers"] = run(folder, "rpc", workloads, target, args.trials, 2,
                                                      endpoint)
    base = results["1 local worker"]["trials_per_min"]
    print(f"{'configuration':<26} {'trials':>6} {'seconds':>8} {'trials/min':>10} {'vs 1 worker':>11} "
          f"{'job median s':>12} {'startup s':>9}")
    for name, r in results.items():
        print(f"{name:<26} {r['trials']:>6.0f} {r['seconds']:>8.1f} {r['trials_per_min']:>10.1f} "
              f"{r['trials_per_min'] / base:>10.2f}x {r['job_median_s']:>12.1f} {r['startup_s']:>9.1f}")


if __name__ == "__main__":
    main()
