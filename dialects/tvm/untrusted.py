"""Schedules and MetaSchedule records from outside, read where a crash cannot hurt.

TVM's trace reader (``Trace.apply_json_to_schedule``, ``TuningRecord.from_json``) trusts the JSON
it is given: a null where it expects an attribute, a decision attached to the wrong instruction, an
input that names nothing, and the process dies with SIGSEGV (found by mutating real traces: most
runs of a few dozen mutations crash). Unlike a kernel's object graph
(:mod:`lorien.dialects.tvm.payload`), a trace's meaning is each instruction's own, so it is not
checked in Python: it is applied to its kernel in a :class:`~lorien.sandbox.Sandbox` child, and
only what applies there is stored. A trace that applied there applies the same way in any process.

The functions named ``*_in_child`` run in the child; the others run in the caller.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from lorien.dialects.tvm.payload import check_object_graph
from lorien.errors import InvalidInput
from lorien.records import Target, Workload
from lorien.sandbox import Sandbox

#: Characters of one schedule (a trace), at most (real traces are 2-20 KB).
MAX_SCHEDULE_CHARS = 1_000_000
#: Instructions in one trace, at most (real traces have 30-200).
MAX_INSTRUCTIONS = 10_000


@functools.cache
def sandbox() -> Sandbox:
    """This process's sandbox for TVM's readers (started on first use, kept)."""
    return Sandbox(timeout_s=60.0, name="lorien-tvm-sandbox")


def check_trace_shape(schedule: str) -> Any:
    """The parsed trace, after the checks Python can make: ``[instructions, decisions]``, each
    instruction ``[name, inputs, attrs, outputs]``, each decision ``[instruction index, value]``.

    Raises:
        InvalidInput: with one line saying what is wrong.
    """
    if len(schedule) > MAX_SCHEDULE_CHARS:
        raise InvalidInput(f"schedule of {len(schedule)} characters, more than {MAX_SCHEDULE_CHARS}")
    try:
        trace = json.loads(schedule)
    except (ValueError, RecursionError):
        raise InvalidInput("schedule is not JSON") from None
    if not (isinstance(trace, list) and len(trace) == 2 and all(isinstance(p, list) for p in trace)):
        raise InvalidInput("schedule is not a trace: [instructions, decisions]")
    instructions, decisions = trace
    if len(instructions) > MAX_INSTRUCTIONS:
        raise InvalidInput(f"schedule has {len(instructions)} instructions, more than {MAX_INSTRUCTIONS}")
    for number, inst in enumerate(instructions):
        if not (isinstance(inst, list) and len(inst) == 4 and isinstance(inst[0], str)
                and all(isinstance(part, list) for part in inst[1:])):
            raise InvalidInput(f"schedule instruction {number} is not [name, inputs, attrs, outputs]")
    for decision in decisions:
        if not (isinstance(decision, list) and len(decision) == 2 and isinstance(decision[0], int)
                and not isinstance(decision[0], bool) and 0 <= decision[0] < len(instructions)):
            raise InvalidInput("schedule decision is not [instruction index, value]")
    return trace


def schedule_problem(workload: Workload, schedule: str) -> str | None:
    """Why ``schedule`` cannot be applied to ``workload`` (one line), or None when it applies.

    The trace is applied in the sandbox; a trace that crashes TVM is reported, not fatal.
    """
    try:
        check_object_graph(workload.payload, what=f"workload {workload.key}")
        check_trace_shape(schedule)
    except InvalidInput as exc:
        return str(exc)
    outcome = sandbox().call(apply_in_child, workload.payload, schedule)
    return None if outcome.ok else f"schedule does not apply to workload {workload.key}: {outcome.error}"


def apply_in_child(payload: str, schedule: str) -> None:
    """Apply a trace to a kernel (raises when it does not apply)."""
    import tvm

    _apply(tvm.ir.load_json(payload), schedule)


def _apply(mod: Any, schedule: str) -> None:
    from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics
    from lorien.dialects.tvm.schedule import apply_schedule

    load_cpu_intrinsics()
    apply_schedule(mod, schedule)


def read_record_in_child(payload: str, body: Any) -> tuple[tuple[float, ...], Target, str, str | None]:
    """A MetaSchedule record line's body read against its kernel: its runs, canonical target,
    Lorien schedule string, and why it computes the wrong thing when its weight layout rewrite
    folds weights (:class:`~lorien.dialects.tvm.schedule.FoldedLayoutRewrite`), else None."""
    import tvm
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics
    from lorien.dialects.tvm.schedule import FoldedLayoutRewrite
    from lorien.dialects.tvm.target import canonical_target
    from lorien.dialects.tvm.tuning import schedule_json

    load_cpu_intrinsics()
    mod = tvm.ir.load_json(payload)
    record = ms.database.TuningRecord.from_json(body, ms.database.Workload(mod))
    runs = tuple(float(r) for r in (record.run_secs or []))
    schedule = schedule_json(record.trace)
    try:
        _apply(mod, schedule)
    except FoldedLayoutRewrite as exc:
        return runs, canonical_target(record.target), schedule, str(exc)
    return runs, canonical_target(record.target), schedule, None
