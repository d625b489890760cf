"""Extraction: the dialect found by entry point, workloads keyed by content, ResNet-18's tasks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lorien.dialects import Dialect, available_dialects, get_dialect
from lorien.errors import InvalidInput
from tests import tvm_models


@pytest.fixture(scope="module")
def tvm_dialect() -> Dialect:
    return get_dialect("tvm")


def test_dialects_are_discovered_through_entry_points() -> None:
    assert "tvm" in available_dialects()
    assert get_dialect("tvm") is get_dialect("tvm")
    with pytest.raises(InvalidInput, match="unknown dialect"):
        get_dialect("halide")


def test_importing_lorien_does_not_import_a_compiler() -> None:
    code = ("import sys, lorien, lorien.dialects, lorien.store, lorien.cli.main, lorien.tuner;"
            "print('tvm' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_small_model_has_one_fused_kernel(tvm_dialect: Dialect) -> None:
    target = tvm_dialect.parse_target("host")
    [use] = tvm_dialect.extract(tvm_dialect.load_model(tvm_models.small_mlp()), target)
    assert use.weight == 1 and use.workload.dialect == "tvm"
    assert use.workload.name.startswith("fused_matmul_add_relu(64x256:float32")
    assert use.workload.flops == pytest.approx(2 * 64 * 256 * 256, rel=0.05)
    assert len(use.workload.key) == 16


def test_keys_are_stable_across_processes_and_frontends(tvm_dialect: Dialect) -> None:
    target = tvm_dialect.parse_target("host")
    [from_torch] = tvm_dialect.extract(tvm_dialect.load_model(tvm_models.small_conv()), target)
    [from_relax] = tvm_dialect.extract(tvm_dialect.load_model(tvm_models.small_conv_relax()), target)
    assert from_torch.workload.key == from_relax.workload.key
    code = ("from lorien.dialects import get_dialect; from tests import tvm_models;"
            "d = get_dialect('tvm'); t = d.parse_target('host');"
            "print(d.extract(d.load_model(tvm_models.small_conv()), t)[0].workload.key)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == from_torch.workload.key


def test_resnet18_kernels(tvm_dialect: Dialect) -> None:
    from lorien.datasets.zoo import load_model

    target = tvm_dialect.parse_target("host")
    uses = tvm_dialect.extract(tvm_dialect.load_model(load_model("resnet18")), target)
    names = [u.workload.name for u in uses]
    assert len({u.workload.key for u in uses}) == len(uses) == 22
    convs = [u for u in uses if u.workload.name.startswith("fused_conv2d_subtract_divide_multiply_add")]
    assert len(convs) == 18 and sum(u.weight for u in convs) == 20  # BatchNorm in every epilogue
    assert not any("conv2d" not in name and "subtract" in name for name in names)  # no BatchNorm pass
    assert any(name.startswith("fused_matmul_add(1x512") for name in names)
    total = sum(u.workload.flops * u.weight for u in uses)
    assert 3.4e9 < total < 3.9e9  # ResNet-18 is about 1.8 G multiply-adds


def test_models_the_dialect_cannot_read(tvm_dialect: Dialect) -> None:
    with pytest.raises(InvalidInput, match="Relax IRModule or a TorchModel"):
        tvm_dialect.load_model("resnet18")


def test_workload_payload_round_trips(tvm_dialect: Dialect) -> None:
    from lorien.dialects.tvm.workloads import from_workload

    [use] = tvm_dialect.extract(tvm_dialect.load_model(tvm_models.small_mlp()),
                                tvm_dialect.parse_target("host"))
    kernel = from_workload(use.workload)
    assert tvm_dialect.workload_key(kernel) == use.workload.key
    assert tvm_dialect.workload_key(kernel["main"]) == use.workload.key
    with pytest.raises(InvalidInput):
        tvm_dialect.workload_key("not a kernel")
