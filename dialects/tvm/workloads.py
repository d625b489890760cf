"""TVM kernels as Lorien workloads: content key, readable name, FLOPs, serialised payload."""

from __future__ import annotations

import re

import tvm
import tvm_ffi
from tvm.s_tir.meta_schedule.arg_info import ArgInfo

from lorien.dialects.tvm.payload import check_object_graph
from lorien.errors import InvalidInput
from lorien.records import Workload

DIALECT = "tvm"
_OP_NUMBERING = re.compile(r"(?<=[a-z])\d+(?=_|$)")


def workload_key(mod: tvm.IRModule) -> str:
    """The content key of a kernel module: its structural hash (names of variables and of the
    function do not count), as 16 hex digits. Equal to MetaSchedule's own workload hash."""
    return format(int(tvm_ffi.structural_hash(mod)) & 0xFFFFFFFFFFFFFFFF, "016x")


def readable_name(task_name: str, mod: tvm.IRModule) -> str:
    """``op(shape, shape, ...)``: the fused op names without the model's numbering, then every
    argument's shape and dtype (outputs last)."""
    op = _OP_NUMBERING.sub("", task_name) or "kernel"
    args = []
    for info in ArgInfo.from_prim_func(mod["main"]):
        shape = "x".join(str(int(dim)) for dim in info.shape) or "scalar"
        args.append(f"{shape}:{info.dtype}")
    return f"{op}({', '.join(args)})"


#: The largest extent of one dimension, and the most elements of one argument, a kernel may have.
MAX_EXTENT = 2**31 - 1
MAX_ELEMENTS = 2**34


def check_kernel_shapes(mod: tvm.IRModule, key: str) -> None:
    """Raise :class:`InvalidInput` unless every argument of the kernel has a static shape of
    positive extents of a sane size (schedules are searched over these extents).
    """
    for number, info in enumerate(ArgInfo.from_prim_func(mod["main"])):
        shape = getattr(info, "shape", None)
        if shape is None:
            raise InvalidInput(f"workload {key}: argument {number} is not a tensor")
        elements = 1
        for dim in shape:
            if not isinstance(dim, int) or not 1 <= dim <= MAX_EXTENT:
                raise InvalidInput(f"workload {key}: argument {number} has a dimension {str(dim)[:40]}; "
                                   f"extents must be static, from 1 to {MAX_EXTENT}")
            elements *= dim
        if elements > MAX_ELEMENTS:
            raise InvalidInput(f"workload {key}: argument {number} has {elements} elements, "
                               f"more than {MAX_ELEMENTS}")


def kernel_flops(mod: tvm.IRModule) -> float:
    """Estimated floating point operations of one run of the kernel (0 when TVM cannot tell)."""
    try:
        from tvm.s_tir.analysis import estimate_tir_flops

        return float(estimate_tir_flops(mod))
    except Exception:  # estimation fails on some data-dependent kernels
        return 0.0


def to_workload(task_name: str, mod: tvm.IRModule) -> Workload:
    """A :class:`Workload` of a single-kernel module (its function named ``main``)."""
    return Workload(
        dialect=DIALECT,
        key=workload_key(mod),
        name=readable_name(task_name, mod),
        flops=kernel_flops(mod),
        payload=tvm.ir.save_json(mod),
    )


def from_workload(workload: Workload) -> tvm.IRModule:
    """The kernel module a workload carries.

    The payload is checked (:func:`~lorien.dialects.tvm.payload.check_object_graph`) before TVM's
    loader reads it, wherever it came from.

    Raises:
        InvalidInput: not a tvm workload, or a payload TVM cannot read.
    """
    if workload.dialect != DIALECT:
        raise InvalidInput(f"workload {workload.key} belongs to dialect {workload.dialect!r}")
    check_object_graph(workload.payload, what=f"the payload of workload {workload.key}")
    try:
        mod = tvm.ir.load_json(workload.payload)
    except Exception as exc:
        raise InvalidInput(f"workload {workload.key}: unreadable TVM payload ({exc!r})") from exc
    if not isinstance(mod, tvm.IRModule):
        raise InvalidInput(f"workload {workload.key}: payload is not an IRModule")
    return mod
