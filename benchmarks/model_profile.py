"""Where a built model's time goes: each kernel's time inside the model against its time measured
alone while tuning, and what the model spends outside its kernels. One run, medians.

    python benchmarks/model_profile.py --model resnet18 --search warm --repeat 20

The model is built with the data set's schedules (``--search`` keeps only searches that started
that way; ``--extra-logs`` adds further searches, e.g. ``benchmarks/heavy_kernels.py``'s), then run
with every call the VM makes timed (:func:`lorien.dialects.tvm.build.profile_compiled`) and,
separately, uninstrumented. A kernel slower in the model than alone points at the model (caches,
data movement between kernels), not at its schedule; time outside the kernels points at what
fusion or the runtime leave.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
from collections import defaultdict, deque
from pathlib import Path

import tvm
from tvm import relax
from tvm.s_tir import meta_schedule as ms

from lorien.config import open_store
from lorien.datasets.campaign import search_logs
from lorien.datasets.seed import seed_from_logs, tuning_logs_dir
from lorien.datasets.zoo import load_model
from lorien.dialects import Lowering, get_dialect
from lorien.dialects.tvm.build import profile_compiled
from lorien.dialects.tvm.lowering import lower_to_kernels
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.workloads import to_workload
from lorien.logstore import LocalLogStore, read_logs
from lorien.lookup import find_schedule


def kernel_calls(lowered: tvm.IRModule) -> list[str]:
    """The kernels ``main`` of a lowered module calls, in order (one entry per call)."""
    call_tir = tvm.ir.Op.get("relax.call_tir")
    return [binding.value.args[0].name_hint
            for block in lowered["main"].body.blocks for binding in block.bindings
            if isinstance(binding.value, relax.Call) and binding.value.op.same_as(call_tir)]


def _pattern(name: str) -> str:
    """A kernel's name without the numbering and suffix building adds (``add1_relu1_prepacked``)."""
    return re.sub(r"\d+", "", name).removesuffix("_prepacked")


def name_calls(built: list[str], lowered: list[str]) -> list[str | None]:
    """For each call of the built model, the lowered kernel it runs (None for the VM's builtins
    and anything not matched): building renames kernels, so the k-th call of a name pattern is
    taken to be the k-th lowered call of that pattern, calls keeping their order."""
    queues: dict[str, deque[str]] = defaultdict(deque)
    for name in lowered:
        queues[_pattern(name)].append(name)
    named: list[str | None] = []
    for symbol in built:
        queue = queues.get(_pattern(symbol)) if not symbol.startswith("vm.builtin.") else None
        named.append(queue.popleft() if queue else None)
    return named


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--lowering", choices=("plain", "prepack"), default="prepack")
    parser.add_argument("--search", choices=("any", "cold", "warm"), default="warm")
    parser.add_argument("--logs", type=Path, default=tuning_logs_dir(), help="the data set's logs")
    parser.add_argument("--extra-logs", type=Path, help="further tuning logs to seed the store with")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each kind")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    lowering = Lowering(prepack=args.lowering == "prepack")
    model = dialect.load_model(load_model(args.model))
    lowered = lower_to_kernels(model.mod, to_tvm_target(target), lowering)  # type: ignore[attr-defined]
    tasks = ms.relax_integration.extract_tasks(lowered, to_tvm_target(target))
    workloads = {task.task_name: to_workload(task.task_name, task.dispatched[0]) for task in tasks}
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/lorien.db") as store:
        seed_from_logs(store, search_logs(read_logs(LocalLogStore(args.logs))[0], args.search))
        if args.extra_logs:
            seed_from_logs(store, read_logs(LocalLogStore(args.extra_logs))[0])
        compiled = dialect.compile(model, target, store, lowering)
        whole_ms = dialect.time(compiled, args.repeat).median * 1e3
        profile = profile_compiled(compiled, args.repeat)  # type: ignore[arg-type]
        alone_ms: dict[str, float | None] = {}
        for name, workload in workloads.items():
            found = find_schedule(store, workload.key, target, dialect.build_id(),
                                  dialect.equivalent_keys(workload))
            alone_ms[name] = found.record.latency.median * 1e3 if found else None

    names = name_calls([symbol for symbol, _ in profile], kernel_calls(lowered))
    per_kernel: dict[str, list[list[float]]] = defaultdict(list)
    per_other: dict[str, list[list[float]]] = defaultdict(list)
    for (symbol, times), name in zip(profile, names, strict=True):
        (per_kernel[name] if name else per_other[symbol]).append(times)

    def median_ms(calls_times: list[list[float]]) -> float:
        return statistics.median(sum(run) for run in zip(*calls_times, strict=True)) * 1e3

    instrumented_ms = median_ms([times for _, times in profile])
    kernels = sorted(((name, median_ms(t)) for name, t in per_kernel.items()), key=lambda row: -row[1])
    others = sorted(((name, median_ms(t)) for name, t in per_other.items()), key=lambda row: -row[1])
    calls = {name: len(t) for name, t in per_kernel.items()}
    kernel_ms = sum(ms_ for _, ms_ in kernels)
    other_ms = sum(ms_ for _, ms_ in others)
    scheduled = [(name, ms_, alone_ms[name]) for name, ms_ in kernels if alone_ms.get(name) is not None]

    print(f"\n{args.model}, {args.lowering}; schedules from {args.search} searches"
          f"{' + ' + str(args.extra_logs) if args.extra_logs else ''}; target {target.canonical}; "
          f"medians of {args.repeat} runs\n")
    print("kernel | calls | in the model | alone while tuning (x calls) | in the model / alone")
    for name, ms_ in kernels:
        alone = alone_ms[name] * calls[name] if alone_ms.get(name) else None
        alone_text = f"{alone:.2f} ms | {ms_ / alone:.2f}x" if alone else "- | -"
        label = workloads[name].name if name in workloads else name
        print(f"{label[:70]} | {calls[name]} | {ms_:.2f} ms | {alone_text}")
    in_model = sum(ms_ for _, ms_, _ in scheduled)
    alone_sum = sum(alone * calls[name] for name, _, alone in scheduled)
    print(f"\nscheduled kernels: {in_model:.1f} ms in the model, {alone_sum:.1f} ms alone "
          f"({in_model / alone_sum:.2f}x)")
    print(f"all kernels: {kernel_ms:.1f} ms; other calls ({', '.join(s for s, _ in others[:4])}"
          f"{', ...' if len(others) > 4 else ''}): {other_ms:.2f} ms")
    print(f"instrumented run: {instrumented_ms:.1f} ms (calls only); uninstrumented run: {whole_ms:.1f} ms")
    if args.json:
        args.json.write_text(json.dumps({
            "model": args.model, "lowering": args.lowering, "search": args.search,
            "kernels": [{"name": workloads[n].name if n in workloads else n, "calls": calls[n],
                         "in_model_ms": m, "alone_ms": alone_ms[n] * calls[n] if alone_ms.get(n) else None}
                        for n, m in kernels],
            "other_calls_ms": dict(others), "whole_ms": whole_ms, "instrumented_ms": instrumented_ms},
            indent=2))


if __name__ == "__main__":
    main()
