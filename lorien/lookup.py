"""Which stored record answers "the schedule of this workload for this target": one rule for the
compiler hook and the service.

Tuned beats measured beats predicted (an estimated latency is never ranked against a measured
one); then the exact target beats another target of the same kind (``loose``,
e.g. another x86 CPU); then this compiler build beats another. So a workload tuned on a similar CPU
is used before a prediction for this one, and a prediction only when nothing was measured.
"""

from __future__ import annotations

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

    @property
    def complete(self) -> bool:
        """Tuned for exactly this target and build: nothing left to tune."""
        return self.record.source == "tuned" and self.match == "exact" and self.same_build


def find_schedule(store: ScheduleStore, workload_key: str, target: Target, build: str) -> Found | None:
    """The best record for the workload and target by the module's rule, or None."""
    for source in RECORD_SOURCES:
        for match in ("exact", "loose"):
            for wanted in (build, None):
                found = store.top_k(workload_key, target, 1, match=match, build=wanted,  # type: ignore[arg-type]
                                    source=source)  # type: ignore[arg-type]
                if found:
                    return Found(found[0], match, found[0].build == build)  # type: ignore[arg-type]
    return None
