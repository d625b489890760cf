"""Cheap loading of TVM's tensor intrinsics, once per process.

Creating a MetaSchedule ``TuneContext`` or building a candidate imports
``tvm.s_tir.tensor_intrin``, whose package body registers the intrinsics of every backend. The CUDA
ones dominate (tens of seconds on two cores). A CPU tuning process needs only the x86 or Arm ones:
we register the package without running its body and import only the submodules the host needs,
after which TVM's own ``import tvm.s_tir.tensor_intrin`` is a no-op. A process that later needs
every backend (a GPU target) gets them all through :func:`load_intrinsics_for`.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import sys
import threading
from collections.abc import Callable

_PACKAGE = "tvm.s_tir.tensor_intrin"
_lock = threading.Lock()


def _host_submodules() -> tuple[str, ...]:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686", "i386"):
        return ("x86",)
    if machine in ("aarch64", "arm64") or machine.startswith("arm"):
        return ("arm_cpu",)
    if machine.startswith("riscv"):
        return ("riscv_cpu",)
    return ()


def load_cpu_intrinsics() -> None:
    """Register the host CPU's tensor intrinsics, skipping the other backends' (idempotent).

    Safe to call from several threads; also used as the initializer of builder worker processes.
    """
    with _lock:
        if _PACKAGE in sys.modules:
            return
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or spec.loader is None:  # pragma: no cover - broken TVM install
            raise ImportError(f"cannot find {_PACKAGE}")
        package = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        try:
            for name in _host_submodules():
                importlib.import_module(f"{_PACKAGE}.{name}")
        except BaseException:
            sys.modules.pop(_PACKAGE, None)
            raise


def load_all_intrinsics() -> None:
    """Register every backend's intrinsics (needed for GPU targets)."""
    with _lock:
        for name in ("cuda", "arm_cpu", "x86", "rocm", "hexagon", "riscv_cpu"):
            importlib.import_module(f"{_PACKAGE}.{name}")


def load_intrinsics_for(target_kind: str) -> Callable[[], None] | None:
    """Register what a target of this kind needs; return the initializer builder worker processes
    should run (None: TVM's own full import)."""
    if target_kind == "llvm":
        load_cpu_intrinsics()
        return load_cpu_intrinsics
    load_all_intrinsics()
    return None
