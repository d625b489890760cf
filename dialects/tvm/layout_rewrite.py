"""Weight layout rewrites that fold several weights onto one place: told apart and kept out.

TVM 0.27's ``RewriteLayout`` postprocessor gives each layout-free buffer (a weight, with weight
prepacking) the layout one of the blocks reading it wants. When a kernel reads the buffer in
several blocks at different offsets (a normalisation fused between a concatenate and a split:
each half of the split reads the per-channel parameters at its own offset), the new layout is
derived from one block's range and folds the buffer onto it (``i1 % 120`` over 240 channels), so
the scheduled kernel computes the wrong thing, whatever the schedule's decisions. Layout
transformation itself is right for any map that keeps every weight in its own place, so the
check is exact: a schedule is wrong through its layout rewrite if and only if one of its rewrite
blocks writes two weights to the same place.

:func:`folded_rewrites` tells it of a scheduled kernel (:func:`lorien.dialects.tvm.schedule.apply_schedule`
refuses such a schedule); :class:`InjectiveRewriteLayout` is the postprocessor MetaSchedule's
search and Lorien's candidates run instead of ``RewriteLayout``: the same rewrite where it keeps
the weights apart, none where it would fold them (the kernel then reads its weights as they are).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms

#: The annotation ``RewriteLayout`` puts on the block that copies a weight into its new layout.
PREPROC_ANNOTATION = "meta_schedule.layout_rewrite_preproc"


def rewrites_layout(schedule: str) -> bool:
    """Whether ``schedule`` (a trace as JSON text) rewrites a buffer's layout: the only schedules
    :func:`folded_rewrites` can find anything in (a string test, no parse)."""
    return '"TransformLayout"' in schedule


def folded_rewrites(sch: tvm.s_tir.Schedule) -> list[str]:
    """Names of the weight layout rewrites of scheduled kernel ``sch`` that put two weights in one
    place: rewrite blocks (annotated :data:`PREPROC_ANNOTATION`) whose written indices are not a
    one-to-one map of the weight's own indices. Empty for a schedule without a layout rewrite.
    Cheap (no build) and read-only: the kernel's statements are read, not scheduled, so ``sch``'s
    trace is left as it was."""
    return [block.name_hint
            for func in sch.mod.functions.values() if isinstance(func, tvm.tirx.PrimFunc)
            for block in _blocks(func.body)
            if PREPROC_ANNOTATION in block.annotations and not _one_to_one(block)]


def _blocks(stmt: Any) -> list[Any]:
    """Every block under ``stmt``, outermost first."""
    found = []
    pending = [stmt]
    while pending:
        node = pending.pop()
        if isinstance(node, tvm.s_tir.SBlockRealize):
            pending.append(node.block)
        elif isinstance(node, tvm.s_tir.SBlock):
            found.append(node)
            pending.append(node.body)
        elif isinstance(node, tvm.tirx.SeqStmt):
            pending.extend(reversed(list(node.seq)))
        elif isinstance(node, tvm.tirx.IfThenElse):
            pending.extend(case for case in (node.then_case, node.else_case) if case is not None)
        elif hasattr(node, "body") and isinstance(node.body, tvm.tirx.Stmt):
            pending.append(node.body)  # loops, lets, attributes, buffer declarations
    return found


#: The most index tuples :func:`_one_to_one` enumerates for one group of iterators that the
#: rewrite's indices mix (a component of the weight's index space); beyond it the rewrite is taken
#: as one-to-one, as TVM takes it.
MAX_ENUMERATED = 1 << 24


def _one_to_one(block: Any) -> bool:
    """Whether the rewrite ``block`` (a single store over the weight's index space) writes each
    weight to its own place. Exact: the block's iterators are grouped by the written indices that
    mix them, and each group's index space is enumerated (usually one iterator: a rewrite splits
    each axis on its own) and its written indices evaluated and counted. A group over
    :data:`MAX_ENUMERATED` tuples, or an index expression other than integer arithmetic on the
    iterators, is taken as one-to-one."""
    store = block.body
    if not isinstance(store, tvm.tirx.BufferStore):
        return True
    extents = {iter_var.var: int(iter_var.dom.extent) for iter_var in block.iter_vars}
    uses = [_vars_of(index) for index in store.indices]
    if any(used is None for used in uses):
        return True
    for group in _groups([used for used in uses if used], list(extents)):
        size = int(np.prod([extents[var] for var in group]))
        if size <= 1:
            continue
        if size > MAX_ENUMERATED:
            return True
        grids = np.meshgrid(*[np.arange(extents[var], dtype=np.int64) for var in group], indexing="ij")
        env = {var: grid.ravel() for var, grid in zip(group, grids, strict=True)}
        written = [_evaluate(index, env, size) for index, used in zip(store.indices, uses, strict=True)
                   if used and used <= set(group)]
        if not written:
            return False  # the group's iterators write nowhere apart: all to one place
        if np.unique(np.stack(written), axis=1).shape[1] != size:
            return False
    return True


def _vars_of(expr: Any) -> set[Any] | None:
    """The iterators ``expr`` reads, or None when it is not integer arithmetic on them."""
    if isinstance(expr, tvm.tirx.Var):
        return {expr}
    if isinstance(expr, tvm.tirx.IntImm):
        return set()
    if isinstance(expr, tvm.tirx.Cast):
        return _vars_of(expr.value)
    if isinstance(expr, _BINARY):
        a, b = _vars_of(expr.a), _vars_of(expr.b)
        return None if a is None or b is None else a | b
    return None


def _groups(uses: list[set[Any]], variables: list[Any]) -> list[list[Any]]:
    """``variables`` grouped so that no index in ``uses`` reads two groups (in their order)."""
    groups: list[set[Any]] = []
    for used in uses:
        joined = [g for g in groups if g & used]
        merged = set(used).union(*joined)
        groups = [g for g in groups if not g & used] + [merged]
    grouped = set().union(*groups) if groups else set()
    groups += [{var} for var in variables if var not in grouped]  # written nowhere: folded if extent > 1
    return [[var for var in variables if var in group] for group in groups]


_BINARY = (tvm.tirx.Add, tvm.tirx.Sub, tvm.tirx.Mul, tvm.tirx.FloorDiv, tvm.tirx.FloorMod,
           tvm.tirx.Min, tvm.tirx.Max)


def _evaluate(expr: Any, env: dict[Any, np.ndarray], size: int) -> np.ndarray:
    """``expr`` (integer arithmetic, :func:`_vars_of`) at every point of ``env``."""
    if isinstance(expr, tvm.tirx.Var):
        return env[expr]
    if isinstance(expr, tvm.tirx.IntImm):
        return np.full(size, int(expr.value), dtype=np.int64)
    if isinstance(expr, tvm.tirx.Cast):
        return _evaluate(expr.value, env, size)
    a, b = _evaluate(expr.a, env, size), _evaluate(expr.b, env, size)
    if isinstance(expr, tvm.tirx.Add):
        return a + b
    if isinstance(expr, tvm.tirx.Sub):
        return a - b
    if isinstance(expr, tvm.tirx.Mul):
        return a * b
    if isinstance(expr, tvm.tirx.FloorDiv):
        return np.floor_divide(a, b)
    if isinstance(expr, tvm.tirx.FloorMod):
        return np.mod(a, b)
    return np.minimum(a, b) if isinstance(expr, tvm.tirx.Min) else np.maximum(a, b)


@derived_object
class InjectiveRewriteLayout(ms.postproc.PyPostproc):
    """``RewriteLayout`` where every map it makes keeps the weights apart (tried on a copy of the
    schedule first); where one would fold weights, the schedule is left without a layout rewrite
    and still succeeds. Thread safety: one instance per search thread, as MetaSchedule clones
    postprocessors."""

    def __init__(self) -> None:
        self.rewrite = ms.postproc.RewriteLayout()

    def _initialize_with_tune_context(self, context: ms.TuneContext) -> None:
        return None  # RewriteLayout keeps nothing of the context

    def apply(self, sch: tvm.s_tir.Schedule) -> bool:
        trial = sch.copy()
        if not self.rewrite.apply(trial):
            return False
        if folded_rewrites(trial):
            return True
        return bool(self.rewrite.apply(sch))

    def clone(self) -> ms.postproc.Postproc:
        return InjectiveRewriteLayout()


def safe_postprocs(postprocs: list[Any]) -> list[Any]:
    """``postprocs`` with every ``RewriteLayout`` replaced by :class:`InjectiveRewriteLayout`."""
    return [InjectiveRewriteLayout() if isinstance(p, ms.postproc.RewriteLayout) else p for p in postprocs]


def space_generator(mod: tvm.IRModule, target: tvm.target.Target) -> Any:
    """MetaSchedule's post-order design space of kernel ``mod`` for ``target`` with the target's own rules,
    postprocessors and mutators (as ``"post-order-apply"`` resolves them), every
    ``RewriteLayout`` among the postprocessors replaced (:func:`safe_postprocs`)."""
    defaults = ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply").space_generator
    return ms.space_generator.PostOrderApply(
        sch_rules=[rule.clone() for rule in defaults.sch_rules],
        postprocs=safe_postprocs([postproc.clone() for postproc in defaults.postprocs]),
        mutator_probs={mutator.clone(): float(p) for mutator, p in defaults.mutator_probs.items()})
