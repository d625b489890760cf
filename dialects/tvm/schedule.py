"""The one way a schedule (a MetaSchedule trace as JSON text) is applied to a kernel."""

from __future__ import annotations

import json

import tvm
from tvm.s_tir.schedule import Trace

from lorien.dialects.tvm.layout_rewrite import folded_rewrites, rewrites_layout


class FoldedLayoutRewrite(ValueError):
    """A schedule whose weight layout rewrite puts several weights in one place: it builds and
    runs, and computes the wrong thing (:mod:`lorien.dialects.tvm.layout_rewrite`)."""


def apply_schedule(mod: tvm.IRModule, schedule: str) -> tvm.s_tir.Schedule:
    """``mod`` scheduled by ``schedule``: a fresh :class:`tvm.s_tir.Schedule` of it, the trace
    replayed onto it (``sch.mod`` is the scheduled kernel, ``sch.trace`` its trace).

    Raises:
        FoldedLayoutRewrite: the schedule's weight layout rewrite folds weights onto one place
            (checked when the trace rewrites a layout; no build).
        ValueError: ``schedule`` is not JSON.
        Exception: whatever TVM raises when the trace does not fit the kernel; a trace from
            outside must be applied in the sandbox first (:mod:`lorien.dialects.tvm.untrusted`),
            since a malformed one can crash TVM's reader.
    """
    sch = tvm.s_tir.Schedule(mod)
    Trace.apply_json_to_schedule(json.loads(schedule), sch)
    if rewrites_layout(schedule):
        folded = folded_rewrites(sch)
        if folded:
            raise FoldedLayoutRewrite(f"the schedule's weight layout rewrite puts several weights in one "
                                      f"place ({', '.join(sorted(folded))}): it computes the wrong thing")
    return sch
