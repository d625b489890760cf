"""How a Relax model becomes TIR kernels and a built model: TVM's documented static-shape pipeline.

This is the one definition every path uses (extract, tune, the compiler hook, ``lorien compile``,
the service's clients). It follows ``relax.pipeline.static_shape_tuning_pipeline`` for CPU:

1. ``DecomposeOpsForInference`` and ``CanonicalizeBindings``: BatchNorm becomes
   subtract/divide/multiply/add, which fuses into the convolution before it;
2. ``LegalizeOps .. FuseTIR`` (the zero pipeline's passes): the fused TIR kernels tuning sees;
3. with weight prepacking, ``AttachAttrLayoutFreeBuffers``: weights are marked layout-free, so
   MetaSchedule's ``RewriteLayout`` may choose their layout;

and, to build, after the database is applied (``MetaScheduleApplyDatabase``):

4. with weight prepacking, ``SplitLayoutRewritePreproc``, ``LiftTransformParams`` and
   ``FoldConstant``: the weight layout rewrites leave the kernels and, weights being constants,
   run once at build time, never per call;
5. ``tvm.compile``'s default pipeline.

Weight prepacking is part of the kernels themselves: step 3 adds a ``layout_free_buffers``
attribute to every kernel, so the two modes never share a workload key, and a schedule found for one
is never served for the other (see :func:`kernel_lowering`). Kernels the decomposition does not
touch (no BatchNorm next to them) are the same kernels, with the same keys, as under plain
``LegalizeOps .. FuseTIR``.

Constant folding (steps 2 and 4) builds each distinct TIR function once
(:mod:`lorien.dialects.tvm.constant_folding`): five times faster on networks with BatchNorm.

The database is applied in step 4's place only, never inside the zero pipeline: with prepacking,
TVM's zero pipeline would otherwise ask the current database for the kernels without the attribute
first.
"""

from __future__ import annotations

from typing import Any

import tvm
from tvm import relax

from lorien.dialects.base import Lowering
from lorien.dialects.tvm.constant_folding import shared_builds

#: The attribute weight prepacking adds to every kernel.
LAYOUT_FREE_ATTR = "layout_free_buffers"


def _fusion_passes() -> list[Any]:
    """TVM's zero pipeline without its database step: operators to TIR, fused into kernels."""
    return [
        relax.transform.LegalizeOps(),
        relax.transform.AnnotateTIROpPattern(),
        relax.transform.FoldConstant(),
        relax.transform.FuseOps(),
        relax.transform.FuseTIR(),
    ]


def kernel_passes(lowering: Lowering) -> list[Any]:
    """Steps 1-3: the passes that turn a Relax model into the fused TIR kernels tuning sees."""
    passes = [
        relax.transform.DecomposeOpsForInference(),
        relax.transform.CanonicalizeBindings(),
        *_fusion_passes(),
    ]
    if lowering.prepack:
        passes.append(relax.transform.AttachAttrLayoutFreeBuffers())
    return passes


def post_database_passes(lowering: Lowering) -> list[Any]:
    """Step 4: what runs after the database is applied (nothing without prepacking)."""
    if not lowering.prepack:
        return []
    return [
        relax.transform.SplitLayoutRewritePreproc(),
        relax.transform.LiftTransformParams(),
        relax.transform.FoldConstant(),
    ]


def lower_to_kernels(mod: tvm.IRModule, target: tvm.target.Target, lowering: Lowering) -> tvm.IRModule:
    """``mod`` with every operator lowered and fused into TIR kernels (steps 1-3)."""
    with target, tvm.transform.PassContext(opt_level=3), shared_builds():
        return tvm.transform.Sequential(kernel_passes(lowering))(mod)


def build(lowered: tvm.IRModule, target: tvm.target.Target, lowering: Lowering,
          database: Any | None) -> relax.VMExecutable:
    """A module :func:`lower_to_kernels` gave, built for ``target`` (steps 4-5): kernels the
    ``database`` (a MetaSchedule ``Database``, e.g. the compiler hook) answers take its schedule;
    the others are built unscheduled."""
    from tvm.s_tir import meta_schedule as ms

    database = database if database is not None else ms.database.MemoryDatabase()
    with target, database, tvm.transform.PassContext(opt_level=3), shared_builds():
        lowered = relax.transform.MetaScheduleApplyDatabase()(lowered)
        lowered = tvm.transform.Sequential(post_database_passes(lowering))(lowered)
        return tvm.compile(lowered, target=target)


def kernel_lowering(mod: tvm.IRModule) -> Lowering:
    """The lowering a single-kernel module came from: prepacked when its function carries the
    layout-free attribute (weight prepacking adds it to every kernel, empty where there is no
    weight)."""
    func = mod["main"]
    attrs = func.attrs
    return Lowering(prepack=attrs is not None and LAYOUT_FREE_ATTR in attrs)


def lower_previously(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """``mod`` lowered as Lorien did before it followed TVM's static-shape pipeline (LegalizeOps ..
    FuseTIR on the model as imported, BatchNorm left as kernels of its own). Kept only to tell
    which stored kernels that lowering produced: Lorien builds nothing with it."""
    passes = [relax.backend.DispatchSampling(), relax.backend.DispatchSortScan(), *_fusion_passes()]
    with target, tvm.transform.PassContext(opt_level=3):
        return tvm.transform.Sequential(passes)(mod)


def plain_twin(mod: tvm.IRModule) -> tvm.IRModule:
    """A prepacked kernel without the layout-free attribute: the kernel the plain lowering gives.
    A schedule of the twin applied to the prepacked kernel gives exactly the twin's code (its trace
    holds no layout rewrite), so the twin's measured records hold for it too."""
    func = mod["main"]
    if func.attrs is None or LAYOUT_FREE_ATTR not in func.attrs:
        return mod
    return tvm.IRModule({"main": func.without_attr(LAYOUT_FREE_ATTR)})


def equivalent_keys(mod: tvm.IRModule) -> tuple[str, ...]:
    """Keys of the kernels whose schedules give ``mod``'s code exactly: a prepacked kernel's plain
    twin (a plain schedule holds no layout rewrite, so applied to the prepacked kernel it gives the
    twin's code, and its measured latency holds); none for a plain kernel."""
    from lorien.dialects.tvm.workloads import workload_key

    twin = plain_twin(mod)
    return () if twin is mod else (workload_key(twin),)
