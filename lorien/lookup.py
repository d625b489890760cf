"""Which stored record answers "the schedule of this workload for this target": one rule for the
compiler hook and the service.

Tuned beats measured beats predicted (an estimated latency is never ranked against a measured
one); then the exact target beats another target of the same kind (``loose``,
e.g. another x86 CPU); then this compiler build beats another. So a workload tuned on a similar CPU
is used before a prediction for this one, and a prediction only when nothing was measured.

A workload may have equivalents: other workloads whose schedules, applied to it, give exactly its
code (for TVM, a prepacked kernel's plain twin). Their records compete with the workload's own at
each step of the rule, the fastest winning, so a schedule found for either serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lorien.records import RECORD_SOURCES, ScheduleRecord, Target
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
    the returned record's ``workload_key`` says whose it is."""
    keys = [workload_key, *(key for key in dict.fromkeys(equivalents) if key != workload_key)]
    for source in RECORD_SOURCES:
        for match in ("exact", "loose"):
            for wanted in (build, None):
                found = [record for key in keys
                         for record in store.top_k(key, target, 1, match=match, build=wanted,  # type: ignore[arg-type]
                                                   source=source)]  # type: ignore[arg-type]
                if found:
                    best = min(found, key=lambda r: r.latency.mean)
                    return Found(best, match, best.build == build,  # type: ignore[arg-type]
                                 own=best.workload_key == workload_key)
    return None
