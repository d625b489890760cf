"""Constant folding builds each distinct TIR function once, and folds to the same module."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lorien.dialects import Lowering, get_dialect
from tests import tvm_models

tvm = pytest.importorskip("tvm")


def _builds_through_the_global(functions: list[Any]) -> list[Any]:
    import tvm_ffi

    build = tvm_ffi.get_global_func("tirx.build")
    return [build(func, tvm.target.Target("llvm")) for func in functions]


def _add_one(name: str) -> Any:
    from tvm import te

    a = te.placeholder((16,), name="a")
    b = te.compute((16,), lambda i: a[i] + 1.0, name="b")
    return te.create_prim_func([a, b]).with_attr("global_symbol", name)


def test_inside_the_scope_equal_functions_are_built_once() -> None:
    from lorien.dialects.tvm.constant_folding import shared_builds

    with shared_builds():
        first, again, renamed = _builds_through_the_global(
            [_add_one("tir_function"), _add_one("tir_function"), _add_one("other")])
        with shared_builds():  # nested: the same cache
            (inner,) = _builds_through_the_global([_add_one("tir_function")])
    assert first.same_as(again) and first.same_as(inner)
    assert not renamed.same_as(first)  # a different symbol is a different function
    (after,) = _builds_through_the_global([_add_one("tir_function")])
    assert not after.same_as(first)  # the cache ended with the scope


def test_another_thread_is_not_in_the_scope() -> None:
    from lorien.dialects.tvm.constant_folding import shared_builds

    built: list[Any] = []
    with shared_builds():
        (mine,) = _builds_through_the_global([_add_one("tir_function")])
        thread = threading.Thread(target=lambda: built.extend(_builds_through_the_global(
            [_add_one("tir_function")] * 2)))
        thread.start()
        thread.join()
    assert not built[0].same_as(mine) and not built[0].same_as(built[1])


@pytest.mark.parametrize("prepack", [False, True], ids=["plain", "prepack"])
def test_folding_with_shared_builds_gives_the_same_kernels(prepack: bool) -> None:
    from lorien.dialects.tvm.lowering import kernel_passes, lower_to_kernels
    from lorien.dialects.tvm.target import to_tvm_target

    model = get_dialect("tvm").load_model(tvm_models.small_conv_bn())
    target = to_tvm_target(get_dialect("tvm").parse_target("host"))
    lowering = Lowering(prepack=prepack)
    with target, tvm.transform.PassContext(opt_level=3):
        unshared = tvm.transform.Sequential(kernel_passes(lowering))(model.mod)  # type: ignore[attr-defined]
    shared = lower_to_kernels(model.mod, target, lowering)  # type: ignore[attr-defined]
    tvm.ir.assert_structural_equal(shared, unshared, map_free_vars=True)
