"""The most similar tuned workloads of a store: where a new workload's first schedules come from.

Similarity is measured on :func:`lorien.datasets.tabular.workload_descriptors` (op kinds, FLOPs and
argument sizes, all compiler-neutral): workloads of other op kinds are far, then the nearest in log
sizes win. Only workloads with a ``tuned`` record for the target (same loose kind, e.g. any
``llvm_cpu``) count: their best schedules seed the candidates and their throughput estimates the
new workload's latency.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from lorien.datasets.tabular import OP_KINDS, workload_descriptors
from lorien.records import ScheduleRecord, Target, Workload
from lorien.store.base import ScheduleStore

#: Distance added per op kind that one workload has and the other lacks.
OP_MISMATCH = 10.0


@dataclass(frozen=True)
class Neighbour:
    """A similar tuned workload, its best record for the target, and how far it is."""

    workload: Workload
    record: ScheduleRecord
    distance: float


class NeighbourIndex:
    """Descriptors of a store's workloads, read once and refreshed every ``refresh_s`` seconds.

    Thread-safe: the cached table is replaced whole under a lock. The store is borrowed, not owned.
    """

    def __init__(self, store: ScheduleStore, refresh_s: float = 30.0) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._loaded_at = -float("inf")
        self._workloads: dict[str, list[Workload]] = {}
        self._descriptors: dict[str, np.ndarray] = {}

    def nearest(self, workload: Workload, target: Target, k: int) -> list[Neighbour]:
        """Up to ``k`` other workloads of the same dialect with a tuned record for a target of
        ``target``'s loose kind, nearest first; one per name (the same ops and shapes lowered
        twice lend nothing new), never ``workload`` itself."""
        candidates, table = self._table(workload.dialect)
        if not candidates:
            return []
        distances = descriptor_distance(workload_descriptors(workload), table)
        found: list[Neighbour] = []
        names: set[str] = set()
        for index in np.argsort(distances, kind="stable"):
            other = candidates[index]
            if other.key == workload.key or other.name in names:
                continue
            best = self.store.top_k(other.key, target, 1, match="loose", source="tuned")
            if best:
                names.add(other.name)
                found.append(Neighbour(other, best[0], float(distances[index])))
            if len(found) == k:
                break
        return found

    def _table(self, dialect: str) -> tuple[list[Workload], np.ndarray]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.refresh_s:
                self._workloads, self._descriptors = {}, {}
                self._loaded_at = time.monotonic()
            if dialect not in self._workloads:
                workloads = self.store.list_workloads(dialect)
                self._workloads[dialect] = workloads
                self._descriptors[dialect] = (np.stack([workload_descriptors(w) for w in workloads])
                                              if workloads else np.zeros((0, 0)))
            return self._workloads[dialect], self._descriptors[dialect]


def descriptor_distance(one: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Distance of descriptor ``one`` to every row of ``table``: op kinds that differ count
    :data:`OP_MISMATCH` each, the other descriptors (log2 sizes, counts) their Euclidean distance."""
    kinds = len(OP_KINDS)
    mismatch = np.abs(table[:, :kinds] - one[:kinds]).sum(axis=1)
    sizes = np.linalg.norm(table[:, kinds:] - one[kinds:], axis=1)
    return OP_MISMATCH * mismatch + sizes


def estimated_latency(workload: Workload, neighbours: list[Neighbour], default_s: float = 1e-3) -> float:
    """The workload's FLOPs at the median throughput (FLOP/s) of its nearest (up to 3) tuned
    neighbours with known FLOPs; ``default_s`` when FLOPs or neighbours are lacking."""
    rates = [n.workload.flops / n.record.latency.mean for n in neighbours[:3] if n.workload.flops > 0]
    if workload.flops <= 0 or not rates:
        return default_s
    return float(workload.flops / np.median(rates))
