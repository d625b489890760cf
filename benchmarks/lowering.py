"""The lowering before TVM's static-shape pipeline against the pipeline itself (plain and with weight
prepacking), per network, from the same tuning logs: kernels, kernels with a schedule, latency,
PyTorch eager (timed alone, in a fresh process) and untuned TVM beside them, as ratios in one run.

Every build takes its schedules from one store seeded with the searches in the logs (the shipped
data set by default, which the campaign extends), so each lowering gets the budget per kernel
the logs hold (the campaign's: 64 trials). Random design-space samples are left out, and
``--search cold`` / ``warm`` keeps only searches that started that way, so that rows compare like
with like (a warm search finds faster schedules than a cold one at the same budget). Tuning time
is the selected logs' own time for the kernels a build used. A kernel without a schedule is built
unscheduled, and the table says how many there were: compare rows whose coverage is complete.

    python benchmarks/lowering.py --models resnet18 bert_base_s64 --search cold [--tune-missing 64]
    python benchmarks/lowering.py --models resnet18 --lowerings plain prepack --search warm
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lorien.config import open_store
from lorien.datasets.campaign import search_logs
from lorien.datasets.eager import time_torch_eager_alone, torch_outputs
from lorien.datasets.seed import seed_from_logs, tuning_logs_dir
from lorien.datasets.zoo import load_model
from lorien.dialects import CompiledModel, Lowering, get_dialect
from lorien.logstore import LocalLogStore, read_logs
from lorien.outputs import max_abs_error
from lorien.tuning_log import TuningLog


@dataclass
class Row:
    model: str
    lowering: str
    search: str
    kernels: int
    scheduled: int
    latency_ms: float
    eager_ms: float
    untuned_ms: float
    tuning_s: float
    max_abs_error: float


def build_previous(model: Any, target: Any, store: Any, build_id: str) -> CompiledModel:
    """The model lowered and built as Lorien did before following TVM's static-shape pipeline
    (``compile_relax``'s passes: LegalizeOps .. FuseTIR on the model as imported)."""
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.hook import LorienDatabase
    from lorien.dialects.tvm.target import to_tvm_target

    hook = LorienDatabase(store, target, build_id, Lowering(prepack=False))  # no prepacking then
    executable = ms.relax_integration.compile_relax(hook, model.mod, to_tvm_target(target), params=None)
    return CompiledModel(executable, len(hook.stats.queried), len(hook.stats.answered),
                         hook.stats.missing, model.inputs, scheduled_keys=sorted(hook.stats.answered))


def previous_workloads(model: Any, target: Any) -> list[Any]:
    """The kernels of the previous lowering (what :func:`build_previous` asks the hook for)."""
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.lowering import lower_previously
    from lorien.dialects.tvm.target import to_tvm_target
    from lorien.dialects.tvm.workloads import to_workload

    tvm_target = to_tvm_target(target)
    lowered = lower_previously(model.mod, tvm_target)
    return [to_workload(task.task_name, task.dispatched[0])
            for task in ms.relax_integration.extract_tasks(lowered, tvm_target)]


LOWERINGS = ("previous", "plain", "prepack")


def kernels_of(dialect: Any, target: Any, model: Any, lowering: str) -> dict[str, Any]:
    """The kernels with work in them (FLOPs > 0) of one way of lowering ``model``, by key."""
    if lowering == "previous":
        return {w.key: w for w in previous_workloads(model, target) if w.flops > 0}
    uses = dialect.extract(model, target, Lowering(prepack=lowering == "prepack"))
    return {u.workload.key: u.workload for u in uses if u.workload.flops > 0}


def tune_missing(dialect: Any, target: Any, kernels: dict[str, Any], store: Any, logs_dir: Path,
                 trials: int, search: str, network: str) -> None:
    """Tune, into the log folder and the store, every kernel the store has no record for on
    ``target`` (it holds the selected logs' schedules; another CPU's do not count), searching as
    ``search`` says (``any``: warm), so every row has the same budget per kernel, and record in a
    manifest that the kernels are ``network``'s (``model@batch``), as the campaign does.
    Resumable: what is tuned is in the logs."""
    from lorien.config import open_logs
    from lorien.datasets.campaign import CampaignWorkload, write_manifest
    from lorien.dialects import TuneOptions
    from lorien.tuner import tune_workloads

    logs = open_logs(f"file://{logs_dir.resolve()}")
    missing = [w for key, w in kernels.items() if not store.count(workload_key=key, target=target)]
    print(f"tuning {len(missing)} kernels without a {search} search on this target at {trials} trials",
          flush=True)
    if missing:
        write_manifest(logs, [CampaignWorkload(w, (network,)) for w in kernels.values()])
    tune_workloads(dialect, missing, target, store, logs,
                   TuneOptions(trials=trials, warm_start=search != "cold"), force=True)


def tuning_seconds(logs: list[TuningLog], keys: set[str], target: Any) -> float:
    """Wall time the logs spent on these kernels: a kernel's searches on ``target`` where it has
    any (the build takes their records first), else its searches on other CPUs."""
    spent = 0.0
    for key in keys:
        own = [log for log in logs if log.workload.key == key]
        here = [log for log in own if log.target == target]
        spent += sum(log.finished_at - log.started_at for log in here or own)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18", "mobilenet_v2", "bert_base_s64"])
    parser.add_argument("--lowerings", nargs="+", choices=LOWERINGS, default=list(LOWERINGS))
    parser.add_argument("--search", choices=("any", "cold", "warm"), default="any",
                        help="take schedules from these searches only (any)")
    parser.add_argument("--logs", type=Path, default=tuning_logs_dir(), help="tuning-log folder")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each build")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--tune-missing", type=int, metavar="TRIALS",
                        help="first tune every kernel the selected searches do not cover, at TRIALS "
                             "trials (into --logs; resumable)")
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/lorien.db") as store:
        seed_from_logs(store, search_logs(read_logs(LocalLogStore(args.logs))[0], args.search))
        if args.tune_missing:
            for name in args.models:
                model = dialect.load_model(load_model(name))
                for lowering in args.lowerings:
                    tune_missing(dialect, target, kernels_of(dialect, target, model, lowering), store,
                                 args.logs, args.tune_missing, args.search, f"{name}@1")
        logs = search_logs(read_logs(LocalLogStore(args.logs))[0], args.search)
        for name in args.models:
            source = load_model(name)
            model = dialect.load_model(source)
            reference = torch_outputs(source)
            untuned = dialect.time(dialect.compile(model, target, None), args.repeat).median
            for label in args.lowerings:
                if label == "previous":
                    compiled = build_previous(model, target, store, dialect.build_id())
                else:
                    compiled = dialect.compile(model, target, store, Lowering(prepack=label == "prepack"))
                answered = set(compiled.scheduled_keys)
                rows.append(Row(name, label, args.search, compiled.kernels, compiled.kernels_scheduled,
                                dialect.time(compiled, args.repeat).median * 1e3, math.nan,
                                untuned * 1e3, tuning_seconds(logs, answered, target),
                                max_abs_error(dialect.outputs(compiled), reference)))
                print(json.dumps(asdict(rows[-1])), flush=True)
            eager = time_torch_eager_alone(name, repeat=args.repeat).median * 1e3  # alone, last
            for row in rows:
                if row.model == name:
                    row.eager_ms = eager
    print(f"\ntarget {target.canonical}; logs {args.logs}; searches: {args.search}; "
          f"medians of {args.repeat} runs; PyTorch eager timed alone in a fresh process\n")
    header = ["model", "lowering", "kernels", "scheduled", "latency", "vs eager", "vs untuned",
              "tuning", "max |err|"]
    print(" | ".join(header))
    for r in rows:
        print(" | ".join([r.model, r.lowering, str(r.kernels), str(r.scheduled), f"{r.latency_ms:.1f} ms",
                          f"{r.latency_ms / r.eager_ms:.2f}x", f"{r.untuned_ms / r.latency_ms:.1f}x faster",
                          f"{r.tuning_s / 60:.0f} min", f"{r.max_abs_error:.1e}"]))
    for name in args.models:
        print(f"{name}: PyTorch eager {next(r.eager_ms for r in rows if r.model == name):.1f} ms")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))


if __name__ == "__main__":
    main()
