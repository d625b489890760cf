"""The compiler hook: a MetaSchedule ``Database`` that answers from Lorien's schedule store.

``MetaScheduleApplyDatabase`` (see :mod:`lorien.dialects.tvm.lowering`) asks the current
database for each fused kernel with ``query_tuning_record(mod, target, name)``; this one looks the
kernel's key up in the store and rebuilds the MetaSchedule record from the stored trace. It is
read-only: tuning commits go through Lorien's tuner, never through the hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo

from lorien.dialects.base import Lowering
from lorien.dialects.tvm import DEFAULT_LOWERING
from lorien.dialects.tvm.lowering import equivalent_keys, kernel_lowering
from lorien.dialects.tvm.schedule import apply_schedule
from lorien.dialects.tvm.workloads import readable_name, workload_key
from lorien.lookup import find_schedule
from lorien.records import ScheduleRecord, Target
from lorien.store.base import ScheduleStore


@dataclass
class HookStats:
    """What the compiler asked the hook for during one build."""

    queried: dict[str, str] = field(default_factory=dict)  # key -> readable name
    other_lowering: dict[str, str] = field(default_factory=dict)  # key -> name, not this build's
    answered: dict[str, ScheduleRecord] = field(default_factory=dict)  # key -> record used (maybe a twin's)
    failed: dict[str, str] = field(default_factory=dict)  # key -> why a stored record was unusable

    @property
    def missing(self) -> list[str]:
        return sorted(name for key, name in self.queried.items() if key not in self.answered)


def trace_record(mod: tvm.IRModule, record: ScheduleRecord, target: tvm.target.Target) -> Any:
    """A MetaSchedule ``TuningRecord`` of ``mod`` scheduled by ``record`` (re-applied, so a trace
    that does not fit the kernel raises here rather than inside the build)."""
    sch = apply_schedule(mod, record.schedule)
    return ms.database.TuningRecord(
        trace=sch.trace,
        workload=ms.database.Workload(mod),
        run_secs=[float(r) for r in record.latency.runs],
        target=target,
        args_info=ArgInfo.from_prim_func(mod["main"]),
    )


@derived_object
class LorienDatabase(ms.database.PyDatabase):
    """MetaSchedule database view of a :class:`ScheduleStore` for one target, build and lowering.

    Look-up order per kernel: :func:`lorien.lookup.find_schedule` (tuned before predicted, exact
    target before one of the same kind, this build before another), a prepacked kernel's plain
    twin competing with it (:func:`~lorien.dialects.tvm.lowering.equivalent_keys`), so each kernel
    of a prepacked build takes the faster of its prepacked and plain schedules. A kernel of the other
    lowering (with or without weight prepacking, told by the kernel's own attributes) is never
    answered: TVM's zero pipeline asks the current database for the kernels without the
    prepacking attribute before it is attached, and those must stay unscheduled so that the
    prepacked ones can be. Not thread-safe: one build at a time. ``stats`` tells what was asked
    and answered.
    """

    def __init__(self, store: ScheduleStore, target: Target, build: str,
                 lowering: Lowering | None = None) -> None:
        self.store = store
        self.target = target
        self.build = build
        self.lowering = lowering or DEFAULT_LOWERING
        self.stats = HookStats()

    def lookup(self, key: str, equivalents: tuple[str, ...] = ()) -> ScheduleRecord | None:
        found = find_schedule(self.store, key, self.target, self.build, equivalents)
        return found.record if found else None

    def has_workload(self, mod: tvm.IRModule) -> bool:
        return (kernel_lowering(mod) == self.lowering
                and self.lookup(workload_key(mod), equivalent_keys(mod)) is not None)

    def commit_workload(self, mod: tvm.IRModule) -> Any:
        return ms.database.Workload(mod)

    def commit_tuning_record(self, record: Any) -> None:
        return None  # read-only: tuning results reach the store through Lorien's tuner

    def get_top_k(self, workload: Any, top_k: int) -> list[Any]:
        if kernel_lowering(workload.mod) != self.lowering:
            return []
        key = workload_key(workload.mod)
        target = tvm.target.Target.current(allow_none=True)
        records = self.store.top_k(key, self.target, top_k, match="loose")
        return [trace_record(workload.mod, r, target) for r in records]

    def get_all_tuning_records(self) -> list[Any]:
        return []

    def query_tuning_record(
        self, mod: tvm.IRModule, target: tvm.target.Target, workload_name: str | None = None
    ) -> Any:
        key = workload_key(mod)
        if kernel_lowering(mod) != self.lowering:
            self.stats.other_lowering[key] = readable_name(workload_name or "kernel", mod)
            return None
        self.stats.queried[key] = readable_name(workload_name or "kernel", mod)
        record = self.lookup(key, equivalent_keys(mod))
        if record is None:
            return None
        try:
            result = trace_record(mod, record, target)
        except Exception as exc:  # a stored trace that no longer fits: a miss, reported
            self.stats.failed[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return None
        self.stats.answered[key] = record
        return result

    def __len__(self) -> int:
        return self.store.count(target=self.target)
