"""Kernel object graphs are checked before TVM's loader reads them: every crash class refused with
its reason, every real payload accepted, and the refused classes shown to crash TVM unchecked."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from importlib import resources

import pytest

from lorien.dialects.tvm.payload import MAX_DEPTH, check_object_graph
from lorien.errors import InvalidInput
from tests.payload_corpus import hostile_payloads, shipped_workload_and_schedule

REASONS = {
    "self-reference": "refers to node", "field-cycle": "refers to node", "root-cycle": "refers to node",
    "two-node-cycle": "refers to node", "deep-chain": f"more than {MAX_DEPTH}",
    "forward-reference": "refers to node", "negative-reference": "refers to node -1",
    "truncated": "is not a node", "unknown-type": "unknown node type", "huge-integer": "wrong kind or size",
    "root-not-a-module": "not a ir.IRModule", "not-a-graph": "non-empty list", "not-json": "not JSON",
    "null-in-shape": "holds a null", "null-field": "holds a null", "unknown-loop-kind": "field kind",
}


def test_every_shipped_payload_passes() -> None:
    logs = resources.files("lorien.datasets") / "tuning_logs" / "tvm"
    checked = 0
    for folder in logs.iterdir():
        for log in folder.iterdir():
            with gzip.open(str(log), "rt") as lines:
                check_object_graph(json.loads(next(lines))["workload"]["payload"])
                checked += 1
    assert checked >= 80


@pytest.mark.parametrize("name", sorted(REASONS))
def test_each_crash_class_is_refused_with_its_reason(name: str) -> None:
    workload, _ = shipped_workload_and_schedule()
    with pytest.raises(InvalidInput, match=REASONS[name]) as refused:
        check_object_graph(hostile_payloads(workload)[name])
    assert "\n" not in str(refused.value)


def test_a_chain_just_within_the_depth_bound_passes() -> None:
    nodes = [{"type": "ffi.Array", "data": []}]
    nodes += [{"type": "ffi.Array", "data": [i]} for i in range(MAX_DEPTH - 2)]
    nodes.append({"type": "ir.IRModule", "data": {}})  # fields are TVM's to require, not the check's
    check_object_graph(json.dumps({"root_index": len(nodes) - 1, "nodes": nodes}))


@pytest.mark.parametrize("name", ["self-reference", "deep-chain", "null-in-shape", "unknown-loop-kind"])
def test_the_refused_classes_really_crash_tvm_unchecked(name: str) -> None:
    """Without the check, TVM dies (SIGSEGV) loading these, or printing what it loaded: the check
    is what stands in the way."""
    workload, _ = shipped_workload_and_schedule()
    script = "import sys, tvm; tvm.ir.load_json(sys.stdin.read()).script()"
    done = subprocess.run([sys.executable, "-c", script], input=hostile_payloads(workload)[name],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode < 0, (done.returncode, done.stderr[-500:])


def test_a_kernel_with_an_open_clip_bound_passes_and_loads() -> None:
    """Hard-swish lowers to clips with -inf and inf bounds, which TVM writes as the bare constants
    ``-Infinity`` and ``Infinity``: a float field takes them; a field of any other kind does not."""
    import torch

    from lorien.dialects import TorchModel, get_dialect

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    model = TorchModel(torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.Hardswish()).eval(),
                       (torch.randn(1, 16),), name="hardswish")
    [use] = dialect.extract(dialect.load_model(model), target)
    assert "Infinity" in use.workload.payload
    assert dialect.check_workload(use.workload) == use.workload
    graph = json.loads(use.workload.payload)
    graph["root_index"] = "Infinity"
    with pytest.raises(InvalidInput):
        check_object_graph(json.dumps(graph).replace('"Infinity"', "Infinity"))
