"""TVM targets: canonical forms and loose keys."""

from __future__ import annotations

import json

import pytest

from lorien.dialects import get_dialect
from lorien.errors import InvalidInput
from tests.payload_corpus import HOSTILE_TARGETS


@pytest.fixture(scope="module")
def tvm_dialect():  # type: ignore[no-untyped-def]
    return get_dialect("tvm")


def test_host_is_this_cpu(tvm_dialect) -> None:  # type: ignore[no-untyped-def]
    from lorien.dialects.tvm.target import host_cores, host_cpu

    target = tvm_dialect.parse_target("host")
    config = json.loads(target.canonical)
    assert config["kind"] == "llvm" and config["mcpu"] == host_cpu()
    assert config["num-cores"] == host_cores()
    assert target.loose_key == "llvm_cpu"
    assert tvm_dialect.parse_target("llvm") == target


def test_json_targets_are_canonical_whatever_the_key_order(tvm_dialect) -> None:  # type: ignore[no-untyped-def]
    a = tvm_dialect.parse_target('{"kind": "llvm", "mcpu": "skylake", "num-cores": 4}')
    b = tvm_dialect.parse_target('{"num-cores": 4, "mcpu": "skylake", "kind": "llvm"}')
    assert a == b and '"mcpu":"skylake"' in a.canonical


def test_missing_mcpu_gets_the_host_unless_cross_compiling(tvm_dialect) -> None:  # type: ignore[no-untyped-def]
    from lorien.dialects.tvm.target import host_cpu

    assert json.loads(tvm_dialect.parse_target('{"kind": "llvm"}').canonical)["mcpu"] == host_cpu()
    cross = tvm_dialect.parse_target('{"kind": "llvm", "mtriple": "aarch64-linux-gnu"}')
    assert "mcpu" not in json.loads(cross.canonical)


def test_gpu_loose_key(tvm_dialect) -> None:  # type: ignore[no-untyped-def]
    assert tvm_dialect.parse_target('{"kind": "cuda", "arch": "sm_80"}').loose_key == "cuda_gpu"


@pytest.mark.parametrize("text", ["", "llvm -mcpu=skylake", '{"kind": "bogus"}', '{"kind": ',
                                  "[1, 2]", '{"mcpu": "x"}', '{"kind": "llvm", "num-cores": "many"}',
                                  *HOSTILE_TARGETS.values()])
def test_bad_targets_are_one_line_errors(tvm_dialect, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as raised:
        tvm_dialect.parse_target(text)
    assert "\n" not in str(raised.value)
