"""Relax constant folding that builds each distinct TIR function once.

Relax's ``FoldConstant`` evaluates every operator whose inputs are all constants by building its
TIR function through the global ``tirx.build`` and running it. In TVM 0.27 its own build cache
never hits (it is keyed on the function after renaming it), so a network with BatchNorm folded
into its convolutions builds hundreds of small functions that are mostly the same function: 313
builds of 40 distinct ones for MobileNetV2, 727 of 94 for DenseNet-121, about 15 and 33 seconds of
a 17 and 37 second lowering.

:func:`shared_builds` makes ``FoldConstant`` (and anything else that builds through the global
``tirx.build``) inside it reuse one build per structurally equal function and target. The result
is the same module: a built function depends only on the function and the target.

Thread safety: the global is replaced once per process by a wrapper that passes every call
through unless the calling thread is inside :func:`shared_builds`; each such scope has its own
cache, dropped when it ends, so threads never share builds and nothing outlives a lowering.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_BUILD_GLOBAL = "tirx.build"
_install_lock = threading.Lock()
_installed = False
_scope = threading.local()


@contextmanager
def shared_builds() -> Iterator[None]:
    """Within this scope, the calling thread's builds through ``tirx.build`` of structurally equal
    functions for the same target happen once. Scopes nest (an inner one shares the outer cache)."""
    _install()
    outer = getattr(_scope, "cache", None)
    if outer is None:
        _scope.cache = {}
    try:
        yield
    finally:
        if outer is None:
            _scope.cache = None


def _install() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        import tvm_ffi

        original = tvm_ffi.get_global_func(_BUILD_GLOBAL)

        def build(func: Any, target: Any = None, *args: Any) -> Any:
            cache: dict[tuple[int, str], list[tuple[Any, Any]]] | None = getattr(_scope, "cache", None)
            if cache is None or args:
                return original(func, target, *args)
            key = (tvm_ffi.structural_hash(func), str(target))
            entries = cache.setdefault(key, [])
            for seen, built in entries:
                if tvm_ffi.structural_equal(seen, func):
                    return built
            built = original(func, target)
            entries.append((func, built))
            return built

        tvm_ffi.register_global_func(_BUILD_GLOBAL, build, override=True)
        _installed = True
