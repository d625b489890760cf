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

from lorien.records import RecordSource, ScheduleRecord, Target
from lorien.store.base import ScheduleStore

Match = Literal["exact", "loose"]

#: The rule's steps in order (see the module's description).
STEPS: tuple[tuple[RecordSource, Match], ...] = (
    ("tuned", "exact"), ("measured", "exact"), ("tuned", "loose"), ("measured", "loose"),
    ("predicted", "exact"), ("predicted", "loose"))


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
    (:meth:`ScheduleStore.lookup_records`), ranked here."""
    keys = [workload_key, *(key for key in dict.fromkeys(equivalents) if key != workload_key)]
    return rank(store.lookup_records(keys, target), workload_key, target, build)


def rank(records: Sequence[ScheduleRecord], workload_key: str, target: Target, build: str) -> Found | None:
    """The best of ``records`` (a workload's and its equivalents', for targets of ``target``'s
    kind) by the module's rule, or None: the first step that holds a record, this build before
    another, the fastest (then the lowest record id) within it."""
    for source, match in STEPS:
        for wanted in (build, None):
            found = [r for r in records if r.source == source and (wanted is None or r.build == wanted)
                     and r.target.loose_key == target.loose_key
                     and (match == "loose" or r.target.canonical == target.canonical)]
            if found:
                best = min(found, key=lambda r: (r.latency.mean, r.record_id))
                return Found(best, match, best.build == build, own=best.workload_key == workload_key)
    return None
