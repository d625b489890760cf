"""What checking input from outside costs, side by side with what it guards.

For every shipped kernel: checking its object graph in Python against TVM's own loader (and the
loader alone); for its schedule: applying the trace in the sandbox child against applying it in
process. Medians over the shipped kernels, and the ratios.

    python benchmarks/input_checks.py [--kernels N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
from importlib import resources


def shipped(limit: int) -> list[tuple[str, str]]:
    logs = resources.files("lorien.datasets") / "tuning_logs" / "tvm"
    found = []
    for folder in sorted(logs.iterdir(), key=lambda p: p.name)[:limit]:
        for log in folder.iterdir():
            with gzip.open(str(log), "rt") as lines:
                payload = json.loads(next(lines))["workload"]["payload"]
                schedule = next(json.loads(line)["schedule"] for line in lines
                                if json.loads(line).get("schedule"))
            found.append((payload, schedule))
    return found


def timed(call, *args) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=88)
    args = parser.parse_args()
    if args.kernels < 1:
        parser.error("--kernels must be at least 1")
    import tvm
    from tvm.s_tir.schedule import Trace

    from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics
    from lorien.dialects.tvm.payload import check_object_graph
    from lorien.dialects.tvm.untrusted import apply_in_child, sandbox

    load_cpu_intrinsics()
    kernels = shipped(args.kernels)
    check_object_graph(kernels[0][0])  # TVM's type tables, once
    started = time.perf_counter()
    assert sandbox().call(apply_in_child, *kernels[0]).ok
    first_call = time.perf_counter() - started
    check, load, in_child, in_process = [], [], [], []
    for payload, schedule in kernels:
        check.append(timed(check_object_graph, payload))
        load.append(timed(tvm.ir.load_json, payload))
        started = time.perf_counter()
        assert sandbox().call(apply_in_child, payload, schedule).ok
        in_child.append(time.perf_counter() - started)

        def apply(payload: str = payload, schedule: str = schedule) -> None:
            Trace.apply_json_to_schedule(json.loads(schedule), tvm.s_tir.Schedule(tvm.ir.load_json(payload)))

        in_process.append(timed(apply))
    sandbox().close()
    ms = [statistics.median(xs) * 1e3 for xs in (check, load, in_child, in_process)]
    print(f"{len(kernels)} shipped kernels, median milliseconds per kernel")
    print(f"{'':38}{'checked':>10}{'unchecked':>11}{'ratio':>8}")
    print(f"{'kernel graph: check + load vs load':38}{ms[0] + ms[1]:>10.2f}{ms[1]:>11.2f}"
          f"{(ms[0] + ms[1]) / ms[1]:>8.2f}")
    print(f"{'trace: applied in sandbox vs in process':38}{ms[2]:>10.2f}{ms[3]:>11.2f}{ms[2] / ms[3]:>8.2f}")
    print(f"the sandbox's first call (starting its child): {first_call:.1f} s")


if __name__ == "__main__":
    main()
