"""TVM's runtime thread pool as a lever: one build of a network with Lorien's schedules, saved as
the library ``lorien compile --output`` writes, then loaded and timed in a fresh process per
setting of the pool (threads, binding to cores, spinning while idle), beside PyTorch eager timed
alone, and right after TVM in the same process (what TVM's pool does to other work there). As
ratios in one run.

    python benchmarks/runtime_threads.py --model resnet18 [--search warm] [--repeat 20]

The settings are TVM runtime environment variables, read when its pool starts: ``TVM_NUM_THREADS``
(worker threads; the default is one per core), ``TVM_BIND_THREADS=0`` (do not pin workers to
cores) and ``TVM_THREAD_POOL_SPIN_COUNT=0`` (workers sleep at once when idle instead of spinning,
which is what slows other work in the same process right after a TVM run).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from lorien.config import open_store
from lorien.datasets.campaign import search_logs
from lorien.datasets.eager import time_torch_eager_alone
from lorien.datasets.seed import seed_from_logs, tuning_logs_dir
from lorien.datasets.zoo import load_model
from lorien.dialects import get_dialect
from lorien.logstore import LocalLogStore, read_logs

SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "TVM_NUM_THREADS=1": {"TVM_NUM_THREADS": "1"},
    "TVM_BIND_THREADS=0": {"TVM_BIND_THREADS": "0"},
    "TVM_THREAD_POOL_SPIN_COUNT=0": {"TVM_THREAD_POOL_SPIN_COUNT": "0"},
}

# What a user's process does with the library: load it, run it, time it (as lorien compile does).
_TIMER = """
import json, sys
import numpy as np, tvm
from tvm import relax
library, shapes, repeat = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
device = tvm.cpu()
vm = relax.VirtualMachine(tvm.runtime.load_module(library), device)
args = [tvm.runtime.tensor(np.random.rand(*s).astype(d), device) for s, d in shapes]
vm["main"](*args)
timer = vm.time_evaluator("main", device, number=1, repeat=repeat, min_repeat_ms=0)
tvm_runs = [float(r) for r in timer(*args).results]
from lorien.datasets.eager import time_torch_eager
from lorien.datasets.zoo import load_model
eager_runs = time_torch_eager(load_model(sys.argv[4]), repeat).runs  # right after TVM, same process
print(json.dumps({"tvm": tvm_runs, "eager": list(eager_runs)}))
"""


def time_library(library: Path, shapes: list[tuple[list[int], str]], repeat: int,
                 settings: dict[str, str], model: str) -> tuple[float, float]:
    """Median seconds of one forward pass of ``library`` in a fresh process with ``settings``, and
    of PyTorch eager's of ``model`` timed right after in the same process."""
    env = {**os.environ, **settings}
    done = subprocess.run([sys.executable, "-c", _TIMER, str(library), json.dumps(shapes), str(repeat),
                           model], env=env, capture_output=True, text=True, check=True, timeout=900)
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    return statistics.median(runs["tvm"]), statistics.median(runs["eager"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--search", choices=("any", "cold", "warm"), default="any",
                        help="take schedules from these searches in the logs only (any)")
    parser.add_argument("--logs", type=Path, default=tuning_logs_dir(), help="tuning-log folder")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    source = load_model(args.model)
    model = dialect.load_model(source)
    shapes = [(list(x.shape), str(x.dtype).removeprefix("torch.")) for x in source.example_inputs]
    logs = search_logs(read_logs(LocalLogStore(args.logs))[0], args.search)
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/lorien.db") as store:
        seed_from_logs(store, logs)
        compiled = dialect.compile(model, target, store)
        library = Path(tmp) / f"{args.model}.so"
        dialect.export(compiled, library)
        print(f"{args.model}, lowered {compiled.lowering.name}: {compiled.kernels_scheduled}/"
              f"{compiled.kernels} kernels scheduled ({args.search} searches); {os.cpu_count()} cores",
              flush=True)
        times, eager_after = {}, {}
        for name, settings in SETTINGS.items():
            times[name], eager_after[name] = time_library(library, shapes, args.repeat, settings, args.model)
            print(f"  {name}: {times[name] * 1e3:.1f} ms, eager after it {eager_after[name] * 1e3:.1f} ms",
                  flush=True)
    eager = time_torch_eager_alone(args.model, repeat=args.repeat).median
    print(f"\n{args.model} on {target.canonical}; medians of {args.repeat} runs, each setting in a "
          "fresh process\n")
    print("setting | TVM latency | speed vs default | vs PyTorch eager alone | "
          "eager right after TVM, same process")
    for name, seconds in times.items():
        print(f"{name} | {seconds * 1e3:.1f} ms | {times['default'] / seconds:.2f}x | "
              f"{seconds / eager:.2f}x | {eager_after[name] * 1e3:.1f} ms ({eager_after[name] / eager:.2f}x)")
    print(f"PyTorch eager (alone) | {eager * 1e3:.1f} ms | | 1.00x |")


if __name__ == "__main__":
    main()
