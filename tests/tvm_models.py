"""Tiny models for tests, also loadable by the CLI as ``tests/tvm_models.py:small_mlp``."""

from __future__ import annotations

from lorien.dialects import TorchModel


def small_mlp() -> TorchModel:
    """One fused kernel: relu(x @ W^T + b) with x 64x256 and W 256x256 (tunes in seconds)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU()).eval()
    return TorchModel(module, (torch.randn(64, 256),), name="small_mlp")


def small_conv() -> TorchModel:
    """One conv2d kernel: 1x16x14x14 input, 16 filters of 3x3, no bias."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Conv2d(16, 16, 3, padding=1, bias=False).eval()
    return TorchModel(module, (torch.randn(1, 16, 14, 14),), name="small_conv")


def small_layer_norm() -> TorchModel:
    """One layer norm kernel over 16 rows of 256 (a reduction whose statistics some schedules
    recompute for every element)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.LayerNorm(256).eval()
    return TorchModel(module, (torch.randn(1, 16, 256),), name="small_layer_norm")


def small_conv_relax() -> object:
    """The same conv2d as :func:`small_conv`, written directly in Relax (another frontend)."""
    import numpy as np
    import tvm
    from tvm import relax

    builder = relax.BlockBuilder()
    x = relax.Var("data", relax.TensorType((1, 16, 14, 14), "float32"))
    weight = relax.const(np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype("float32"))
    with builder.function("main", [x]):
        with builder.dataflow():
            out = builder.emit_output(relax.op.nn.conv2d(x, weight, padding=(1, 1)))
        builder.emit_func_output(out)
    mod = builder.get()
    assert isinstance(mod, tvm.IRModule)
    return mod


def sampled_schedules(workload: object, target: object, count: int = 8,
                      as_tvm_ships: bool = False) -> list[str]:
    """``count`` schedules of a tvm workload sampled from its design space (nothing measured): the
    design space Lorien searches, or with ``as_tvm_ships`` MetaSchedule's own (its layout rewrite
    unguarded)."""
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics
    from lorien.dialects.tvm.layout_rewrite import space_generator
    from lorien.dialects.tvm.target import to_tvm_target
    from lorien.dialects.tvm.tuning import schedule_json
    from lorien.dialects.tvm.workloads import from_workload

    load_cpu_intrinsics()  # else the TuneContext imports every backend's (a minute on two cores)
    mod, tvm_target = from_workload(workload), to_tvm_target(target)  # type: ignore[arg-type]
    design = "post-order-apply" if as_tvm_ships else space_generator(mod, tvm_target)
    context = ms.TuneContext(mod=mod, target=tvm_target, space_generator=design,
                             search_strategy="replay-trace", num_threads=1)
    context.pre_tuning(max_trials=count, num_trials_per_iter=count,
                       design_spaces=context.generate_design_space())
    return [schedule_json(c.sch.trace) for c in context.generate_measure_candidates()]


def start_budget_measurers(workload: object, target: object) -> None:
    """Start the TVM dialect's measuring processes with the settings a budgeted delivery measures
    with, by measuring one sampled schedule of ``workload``: a test timing a budget of seconds is
    not about their cold start (seconds, most of a small budget on a busy machine)."""
    from lorien.dialects import Measurer, get_dialect
    from lorien.predictor import BudgetOptions
    from lorien.predictor.predictor import measure_options

    defaults = BudgetOptions()
    get_dialect("tvm", Measurer).measure(workload, target, sampled_schedules(workload, target, 1),  # type: ignore[arg-type]
                                         measure_options(defaults.build_timeout_s, defaults.run_timeout_s))


def small_conv_bn() -> TorchModel:
    """Conv-BatchNorm-ReLU then conv-BatchNorm on 1x8x16x16 (two kernels once BatchNorm is folded
    into the convolutions; BatchNorm statistics random, so folding them wrong shows)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(8, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 1, bias=False), torch.nn.BatchNorm2d(16),
    ).eval()
    with torch.no_grad():
        for layer in module:
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.uniform_(-1, 1)
                layer.running_var.uniform_(0.5, 2)
                layer.weight.uniform_(0.5, 2)
                layer.bias.uniform_(-1, 1)
    return TorchModel(module, (torch.randn(1, 8, 16, 16),), name="small_conv_bn")


def stem_conv() -> TorchModel:
    """ResNet-18's stem: conv 7x7 stride 2 (64 filters), BatchNorm, ReLU on 1x3x224x224."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                                 torch.nn.BatchNorm2d(64), torch.nn.ReLU()).eval()
    return TorchModel(module, (torch.randn(1, 3, 224, 224),), name="stem_conv")


def pointwise_conv() -> TorchModel:
    """One 1x1 conv2d kernel: 1x16x14x14 input, 16 filters, no bias (no padding, so its design
    space samples differently from :func:`small_conv`'s)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Conv2d(16, 16, 1, bias=False).eval()
    return TorchModel(module, (torch.randn(1, 16, 14, 14),), name="pointwise_conv")


def outputs_with_schedule(model: TorchModel, schedule: str, folder: object) -> list[object]:
    """``model`` (one kernel) built with ``schedule`` as its kernel's only record, in a store
    under ``folder``: its outputs on the model's inputs."""
    from lorien.config import open_store
    from lorien.dialects import get_dialect
    from lorien.records import Latency, ScheduleRecord

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(model), target)
    with open_store(f"sqlite:///{folder}/one-schedule.db") as store:
        store.put_workloads([use.workload])
        store.commit([ScheduleRecord(dialect="tvm", workload_key=use.workload.key, target=target,
                                     build=dialect.build_id(), schedule=schedule,
                                     latency=Latency((1e-3,)), source="predicted")])
        built = dialect.compile(dialect.load_model(model), target, store)
    assert built.kernels_scheduled == 1
    return dialect.outputs(built)


def concat_norm_split() -> TorchModel:
    """Two 1x8x6x6 inputs concatenated, BatchNorm-SiLU over the 16 channels, split back in two
    halves: one kernel (``fused_concatenate_..._split``), as MixNet's mixed convolutions make.
    Each half reads the normalisation's per-channel parameters at its own offset, which TVM's
    layout rewrite folds onto one half's range."""
    import torch

    class ConcatNormSplit(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.BatchNorm2d(16)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
            mixed = torch.nn.functional.silu(self.norm(torch.cat([a, b], dim=1)))
            return tuple(torch.split(mixed, 8, dim=1))

    torch.manual_seed(0)
    module = ConcatNormSplit().eval()
    with torch.no_grad():
        module.norm.running_mean.uniform_(-1, 1)
        module.norm.running_var.uniform_(0.5, 2)
        module.norm.weight.uniform_(0.5, 2)
        module.norm.bias.uniform_(-1, 1)
    return TorchModel(module, (torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)), name="concat_norm_split")
