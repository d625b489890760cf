"""Which stored record answers "the schedule of this workload for this target": one rule for the
compiler hook and the service.

The steps, first found wins:

1. tuned on this very target;
2. measured on this very target (a short measurement here, e.g. a budgeted delivery's);
3. tuned on another target of the same kind (``loose``, e.g. another x86 CPU);
4. measured on another target of the same kind;
5. predicted for this target, then for another of its kind.

An estimated latency (``predicted``) is never ranked against a measured one. A measurement on this
very target ranks above a search on another CPU: on this machine another x86 CPU's tuned schedules
ran ResNet-18 1.46x slower than its own (README, "Figures", "Lowering"), and a budgeted delivery measures
the other CPUs' tuned schedules among its candidates, so what it measured here is at least as fast
as they are here. Within a step, this compiler build beats another.

A workload may have equivalents: other workloads whose schedules, applied to it, give exactly its
code (for TVM, a prepacked kernel's plain twin). Their records compete with the workload's own at
each step of the rule, the fastest winning, so a schedule found for either serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lorien.records import ScheduleRecord, Target
from lorien.store.base import ScheduleStore

Match = Literal["exact", "loose"]


@dataclass(frozen=True)
class Found:
    """A record and how well it matches the request."""

    record: ScheduleRecord
    match: Match
    same_build: bool
    own: bool = True  # the workload's own record, not an equivalent's

    @property
    def complete(self) -> bool:
        """Its own record, tuned for exactly this target and build: nothing left to tune (an
        equivalent's tuned record serves it, but its own search may still find better)."""
        return self.record.source == "tuned" and self.match == "exact" and self.same_build and self.own


def find_schedule(store: ScheduleStore, workload_key: str, target: Target, build: str,
                  equivalents: Sequence[str] = ()) -> Found | None:
    """The best record for the workload and target by the module's rule, or None. Records of the
    ``equivalents`` (keys whose schedules give this workload's code exactly) compete with its own;
    the returned record's ``workload_key`` says whose it is. One store call
    (:meth:`ScheduleStore.lookup`, which ranks by :func:`lorien.store.base.lookup_rank`: the rule
    as one sort order)."""
    keys = [workload_key, *(key for key in dict.fromkeys(equivalents) if key != workload_key)]
    record = store.lookup(keys, target, build)
    if record is None:
        return None
    return Found(record, "exact" if record.target.canonical == target.canonical else "loose",
                 record.build == build, own=record.workload_key == workload_key)
