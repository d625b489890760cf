"""Profiling a built model: every kernel it calls is timed in every run, nothing counted twice."""

from __future__ import annotations

import time

import pytest

from lorien.dialects import Lowering, get_dialect
from tests import tvm_models


@pytest.mark.parametrize("prepack", [False, True], ids=["plain", "prepack"])
def test_every_kernel_the_model_calls_is_timed_in_every_run(prepack: bool) -> None:
    import tvm
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.build import profile_compiled
    from lorien.dialects.tvm.lowering import lower_to_kernels
    from lorien.dialects.tvm.target import to_tvm_target

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    model = dialect.load_model(tvm_models.small_conv_bn())
    lowering = Lowering(prepack=prepack)
    compiled = dialect.compile(model, target, None, lowering)
    lowered = lower_to_kernels(model.mod, to_tvm_target(target), lowering)  # type: ignore[attr-defined]
    kernels = {task.task_name for task in ms.relax_integration.extract_tasks(lowered, to_tvm_target(target))}
    assert len(kernels) == 2

    started = time.perf_counter()
    profile = profile_compiled(compiled, repeat=3)
    wall = time.perf_counter() - started

    symbols = [symbol for symbol, _ in profile]
    assert kernels <= set(symbols)  # untuned, the kernels keep their names in the built model
    call_tir = tvm.ir.Op.get("relax.call_tir")
    in_order = [b.value.args[0].name_hint for block in lowered["main"].body.blocks for b in block.bindings
                if isinstance(b.value, relax.Call) and b.value.op.same_as(call_tir)]
    assert [symbol for symbol in symbols if symbol in kernels] == in_order  # calls in the model's order
    assert all(len(times) == 3 for _, times in profile)
    assert all(t > 0 for symbol, times in profile if symbol in kernels for t in times)
    assert sum(sum(times) for _, times in profile) < wall  # nested or repeated calls not double-counted

