"""What the instant answers' build check costs and saves: time to a built model, with and without it.

An unmeasured answer is the ranker's first candidate; one that LLVM compiles for minutes makes
every model built with it compile for minutes. ``PredictOptions.build_check`` compiles each
kernel's first candidate before it is given (every kernel's together, on every core) and passes
over one that does not compile within ``build_check_timeout_s``. Here, on a network whose
family is held out of the ranker's training rows and of the neighbour store (as in
``zero_shot.py``), the network's instant answers are delivered twice, with the check and
without, and the network is built from each set of answers: the delivery's time, the model's
compile time, their sum (what a user waits for a built model), each build's latency (median of
``--rounds`` rounds, the builds timed in turn), and each build's outputs checked against PyTorch
eager's, side by side as ratios.

    python benchmarks/build_check.py --network xception

The ranker and the seeded store are kept in ``--workdir`` (``benchmarks/results/build_check_<network>``
by default) and reused by later runs (``spread_picks.py``'s workdir of the same network holds the
same two); the deliveries and builds are not.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from lorien.config import open_store
from lorien.datasets.eager import torch_outputs
from lorien.datasets.zoo import load_model
from lorien.dialects import get_dialect
from lorien.outputs import output_mismatch
from lorien.predictor import CostModelScorer, PredictOptions, ZeroShotPredictor, store_predictions
from lorien.training.held_out import hold_out_family
from lorien.training.shipped import shipped_metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="xception", help="a zoo network (its family is held out)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timing both builds in turn")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of a build in each round")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = (args.workdir or Path("benchmarks/results") / f"build_check_{args.network}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    source = load_model(args.network, batch=args.batch)
    model = dialect.load_model(source)
    workloads = list({u.workload.key: u.workload for u in dialect.extract(model, target)}.values())
    held_out = hold_out_family(args.network, workdir, progress=lambda step: print(f"... {step}", flush=True))
    store = held_out.store
    scorer = CostModelScorer(held_out.ranker, shipped_metadata(), dialect, "held-out")
    settings = {"checked": PredictOptions(), "unchecked": PredictOptions(build_check=0)}
    rows: dict[str, dict[str, Any]] = {}
    compiled = {}
    for name, options in settings.items():
        started = time.perf_counter()
        predictions = ZeroShotPredictor(store, scorer, options).predict_many(workloads, target)
        delivered_s = time.perf_counter() - started
        (workdir / f"answers-{name}.db").unlink(missing_ok=True)
        answers = open_store(f"sqlite:///{workdir}/answers-{name}.db")
        store_predictions(answers, workloads, predictions)
        print(f"... {name}: {len(workloads)} kernels delivered in {delivered_s:.1f} s; compiling", flush=True)
        started = time.perf_counter()
        compiled[name] = dialect.compile(model, target, answers)
        compile_s = time.perf_counter() - started
        passed = [(w.name, p.passed_over) for w, p in zip(workloads, predictions, strict=True)
                  if p.passed_over]
        rows[name] = {"delivery_s": delivered_s, "compile_s": compile_s, "passed_over": passed,
                      "kernels_scheduled": compiled[name].kernels_scheduled,
                      "kernels": compiled[name].kernels}
        print(f"    compiled in {compile_s:.1f} s; passed over: {passed or 'none'}", flush=True)
    reference = torch_outputs(source)
    timings: dict[str, list[float]] = {name: [] for name in compiled}
    for _ in range(args.rounds):
        for name, built in compiled.items():
            timings[name].append(dialect.time(built, args.repeat).median)
    for name, built in compiled.items():
        rows[name]["latency_s"] = statistics.median(timings[name])
        rows[name]["outputs"] = output_mismatch(dialect.outputs(built), reference) or "right"
    base = rows["unchecked"]
    print(f"\n{args.network} (family held out), {len(workloads)} kernels, {target.canonical}")
    print(f"{'instant answers':<22} {'delivery':>9} {'compile':>9} {'to a build':>11} {'vs':>6} "
          f"{'latency':>10} {'vs':>6}  outputs")
    for name, row in rows.items():
        total = row["delivery_s"] + row["compile_s"]
        print(f"{name:<22} {row['delivery_s']:8.1f}s {row['compile_s']:8.1f}s {total:10.1f}s "
              f"{total / (base['delivery_s'] + base['compile_s']):5.2f}x {row['latency_s'] * 1e3:8.2f}ms "
              f"{row['latency_s'] / base['latency_s']:5.2f}x  {row['outputs']}")
    (workdir / "last_run.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
