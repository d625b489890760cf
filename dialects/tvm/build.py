"""Building a Relax model with (or without) the store's schedules, and timing it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tvm
from tvm import relax
from tvm.s_tir import meta_schedule as ms

from lorien.dialects.base import CompiledModel, Lowering, TorchModel
from lorien.dialects.tvm.frontend import to_relax
from lorien.dialects.tvm.hook import LorienDatabase
from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.lowering import build as build_lowered
from lorien.dialects.tvm.lowering import lower_to_kernels
from lorien.dialects.tvm.target import to_tvm_target
from lorien.errors import InvalidInput
from lorien.outputs import flatten_outputs
from lorien.records import Latency, Target
from lorien.store.base import ScheduleStore


@dataclass(frozen=True)
class RelaxModel:
    """A model in the tvm dialect's form: a Relax module and inputs to run it with."""

    mod: tvm.IRModule
    inputs: tuple[np.ndarray, ...]
    name: str = "model"


def load_relax_model(model: object) -> RelaxModel:
    """A :class:`RelaxModel` from a TorchModel, a Relax IRModule (random inputs made from its
    signature), or a RelaxModel."""
    if isinstance(model, RelaxModel):
        return model
    mod = to_relax(model)
    if isinstance(model, TorchModel):
        inputs = tuple(t.detach().cpu().numpy() for t in model.example_inputs)
        return RelaxModel(mod, inputs, model.name)
    return RelaxModel(mod, _random_inputs(mod))


def _random_inputs(mod: tvm.IRModule) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    inputs = []
    for param in mod["main"].params:
        info = param.ty
        shape = getattr(info, "shape", None)
        if shape is None or not hasattr(shape, "values"):
            raise InvalidInput(f"main parameter {param.name_hint} has no static tensor shape")
        try:
            dims = [int(d) for d in shape.values]
        except TypeError:
            raise InvalidInput(f"main parameter {param.name_hint} has a symbolic shape") from None
        inputs.append(rng.standard_normal(dims).astype(str(info.dtype)))
    return tuple(inputs)


def compile_model(
    model: RelaxModel, target: Target, store: ScheduleStore | None, build: str, lowering: Lowering
) -> CompiledModel:
    """Build ``model`` with ``lowering``; with a store, every kernel it has a schedule for uses it."""
    tvm_target = to_tvm_target(target)
    load_intrinsics_for(tvm_target.kind.name)
    lowered = lower_to_kernels(model.mod, tvm_target, lowering)
    if store is None:
        kernels = len(ms.relax_integration.extract_tasks(lowered, tvm_target))
        executable = build_lowered(lowered, tvm_target, lowering, None)
        return CompiledModel(executable, kernels, 0, [], model.inputs, lowering)
    hook = LorienDatabase(store, target, build, lowering)
    executable = build_lowered(lowered, tvm_target, lowering, hook)
    stats = hook.stats
    return CompiledModel(executable, len(stats.queried), len(stats.answered), stats.missing,
                         model.inputs, lowering, sorted(stats.answered), dict(stats.failed))


def run_compiled(compiled: CompiledModel) -> list[np.ndarray]:
    """The outputs of one run of ``compiled`` on its inputs, tuples flattened in order."""
    device = tvm.cpu()
    vm = relax.VirtualMachine(compiled.executable, device)
    result = vm["main"](*[tvm.runtime.tensor(x, device) for x in compiled.inputs or ()])
    return flatten_outputs(result, lambda v: v.numpy() if isinstance(v, tvm.runtime.Tensor) else None,
                           (list, tuple, tvm.ir.Array))


def export_compiled(compiled: CompiledModel, path: Path) -> list[Path]:
    """Write the built model as one shared library (weights included as constants), loadable
    with ``tvm.runtime.load_module`` and runnable by ``relax.VirtualMachine``."""
    path = Path(path)
    if path.suffix != ".so":
        raise InvalidInput(f"--output must name a .so file, got {path}")
    if not path.parent.is_dir():
        raise InvalidInput(f"cannot write {path}: {path.parent} is not a folder")
    try:
        compiled.executable.export_library(str(path))
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    return [path]


def profile_compiled(compiled: CompiledModel, repeat: int = 5) -> list[tuple[str, list[float]]]:
    """Every call the model's VM makes in one run, in order, each with the seconds it took in each
    of ``repeat`` runs after a warm-up: ``[(symbol, [run 1, run 2, ...]), ...]``. Kernels and the
    VM's builtins (``vm.builtin.*``: allocation, tuples, reshapes) are both calls; what the VM does
    between calls is not counted, and each call costs a Python call more than uninstrumented.
    Kernels are named as the built module names them, which after prepacking is not always as
    lowering named them. Thread-safe (each call has its own VM)."""
    import time

    device = tvm.cpu()
    vm = relax.VirtualMachine(compiled.executable, device)
    args = [tvm.runtime.tensor(x, device) for x in compiled.inputs or ()]
    vm["main"](*args)  # warm-up
    runs: list[list[tuple[str, float]]] = []
    started: list[float] = []

    def instrument(_func: object, symbol: str, before_run: bool, _ret: object, *_args: object) -> int:
        if before_run:
            started.append(time.perf_counter())
        else:
            runs[-1].append((symbol, time.perf_counter() - started.pop()))
        return int(relax.VMInstrumentReturnKind.NO_OP)

    vm.set_instrument(tvm.runtime.convert(instrument))
    for _ in range(repeat):
        runs.append([])
        vm["main"](*args)
    if any([symbol for symbol, _ in run] != [symbol for symbol, _ in runs[0]] for run in runs):
        raise RuntimeError("the model made different calls in different runs")
    return [(symbol, [run[i][1] for run in runs]) for i, (symbol, _) in enumerate(runs[0])]


def time_compiled(compiled: CompiledModel, repeat: int = 5) -> Latency:
    """Median-friendly latency of one forward pass (``repeat`` timed runs after a warm-up)."""
    device = tvm.cpu()
    vm = relax.VirtualMachine(compiled.executable, device)
    args = [tvm.runtime.tensor(x, device) for x in compiled.inputs or ()]
    vm["main"](*args)  # warm-up
    evaluator = vm.time_evaluator("main", device, number=1, repeat=repeat, min_repeat_ms=0)
    return Latency(tuple(float(r) for r in evaluator(*args).results))
