"""The one way a schedule (a MetaSchedule trace as JSON text) is applied to a kernel."""

from __future__ import annotations

import json

import tvm
from tvm.s_tir.schedule import Trace


def apply_schedule(mod: tvm.IRModule, schedule: str) -> tvm.s_tir.Schedule:
    """``mod`` scheduled by ``schedule``: a fresh :class:`tvm.s_tir.Schedule` of it, the trace
    replayed onto it (``sch.mod`` is the scheduled kernel, ``sch.trace`` its trace).

    Raises:
        ValueError: ``schedule`` is not JSON.
        Exception: whatever TVM raises when the trace does not fit the kernel; a trace from
            outside must be applied in the sandbox first (:mod:`lorien.dialects.tvm.untrusted`),
            since a malformed one can crash TVM's reader.
    """
    sch = tvm.s_tir.Schedule(mod)
    Trace.apply_json_to_schedule(json.loads(schedule), sch)
    return sch
