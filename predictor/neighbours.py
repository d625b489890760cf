"""The most similar tuned workloads of a store: where a new workload's first schedules come from.

Similarity is measured on :func:`neighbour_descriptors` (op kinds, FLOPs and argument sizes, and a
convolution's window, stride and whether it is depthwise; all compiler-neutral, read from the
workload's name): workloads of other main op kinds or another kind of convolution are far, an
epilogue that differs (a ReLU more or less) is near, then the nearest in log sizes win. Only
workloads with a measured schedule for the target (same loose kind, e.g. any ``llvm_cpu``) count:
a ``tuned`` record, else a ``measured`` one (a schedule measured on that very kernel, e.g. an
adapted neighbour, never an estimate); their best schedules seed the candidates and their
throughput estimates the new workload's latency.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from lorien.datasets.tabular import CONV_GEOMETRY_NAMES, OP_KINDS, conv_geometry, workload_descriptors
from lorien.records import ScheduleRecord, Target, Workload, WorkloadSummary
from lorien.store.base import ScheduleStore

#: Distance added per main op kind (the loop nest a schedule tiles) that one workload has and the
#: other lacks.
OP_MISMATCH = 10.0
#: Op kinds of a kernel's epilogue: elementwise work fused after its main loop nest, which a
#: schedule's tiling fits whatever it is. One that differs adds :data:`EPILOGUE_MISMATCH`, not
#: :data:`OP_MISMATCH`: with 10 a kind, ResNet-18's 3x3 convolution with batch norm and no ReLU had
#: 1x1 projections of other networks (same epilogue) as nearly all its 96 nearest, while 88 3x3
#: convolutions with batch norm and a ReLU stood further; those 1x1 schedules re-tiled to a 3x3
#: window ran 4-130x slower than tuned.
EPILOGUE_KINDS = ("batch_norm", "add", "relu", "gelu")
EPILOGUE_MISMATCH = 1.0
#: Distance per unit of log2 difference in a convolution's window height or width (1x1 against
#: 3x3: 2 x 1.58 x 3 = 9.5, about a main op kind; 3x3 against 5x5: 4.4) and per unit of log2
#: difference in its stride; a depthwise convolution against any other counts as another main op.
WINDOW_WEIGHT = 3.0
STRIDE_WEIGHT = 2.0
_GEOMETRY = [CONV_GEOMETRY_NAMES.index(name) for name in ("depthwise", "kernel_h", "kernel_w", "stride")]


@dataclass(frozen=True)
class Neighbour:
    """A similar tuned workload (its summary: no payload), its best record for the target, and
    how far it is."""

    workload: WorkloadSummary
    record: ScheduleRecord
    distance: float


#: Similar workloads offered per neighbour kept: the dialect adapts those whose schedules fit best
#: (:attr:`lorien.predictor.PredictOptions.neighbour_pool` over ``neighbours``, 96 for 8).
#: Descriptors miss much of what matters to a schedule: before they held a convolution's window,
#: the 24 nearest of ResNet-18's 3x3 convolutions without an activation were all 1x1 convolutions
#: (EfficientNet's projections share their epilogue), whose schedules adapted ran 4-130x slower
#: than MetaSchedule-64's; 3x3 and 5x5 ones came at 29th to 52nd. With the window, 3 of the 8 a
#: 256-channel one keeps come from beyond the 8 nearest. Looking further costs a store lookup
#: per workload (7 ms for 96 on SQLite, against 3 ms for 24).
POOL_PER_NEIGHBOUR = 12


#: How far back a refresh asks again, for workloads stored meanwhile by machines whose clocks are
#: behind this one's (what was read already is kept by key, not read twice).
CLOCK_SLACK_S = 300.0


@dataclass(frozen=True)
class _Table:
    """A dialect's workload summaries and their descriptors, row for row."""

    summaries: tuple[WorkloadSummary, ...] = ()
    descriptors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    @property
    def newest(self) -> float:
        return max((s.stored_at for s in self.summaries), default=0.0)

    def extended(self, new: list[WorkloadSummary]) -> _Table:
        if not new:
            return self
        rows = np.stack([neighbour_descriptors(s) for s in new])
        return _Table((*self.summaries, *new),
                      np.concatenate([self.descriptors, rows]) if self.summaries else rows)


class NeighbourIndex:
    """Descriptors of a store's workloads (read as summaries: no payload), refreshed every
    ``refresh_s`` seconds with only the workloads stored since the last read (workloads are never
    deleted).

    Thread-safe: a dialect's table is replaced whole under a lock. The store is borrowed, not
    owned.
    """

    def __init__(self, store: ScheduleStore, refresh_s: float = 30.0) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._tables: dict[str, _Table] = {}
        self._read_at: dict[str, float] = {}

    def nearest(self, workload: Workload, target: Target, k: int) -> list[Neighbour]:
        """Up to ``k`` other workloads of the same dialect with a tuned (else a measured) record for
        a target of ``target``'s loose kind, nearest first; one per name (the same ops and shapes
        lowered twice lend nothing new), never ``workload`` itself."""
        table = self._table(workload.dialect)
        if not table.summaries:
            return []
        distances = descriptor_distance(neighbour_descriptors(workload), table.descriptors)
        found: list[Neighbour] = []
        names: set[str] = set()
        for index in np.argsort(distances, kind="stable"):
            other = table.summaries[index]
            if other.key == workload.key or other.name in names:
                continue
            best = self.store.top_k(other.key, target, 1, match="loose")  # tuned, else measured
            if best and best[0].source != "predicted":
                names.add(other.name)
                found.append(Neighbour(other, best[0], float(distances[index])))
            if len(found) == k:
                break
        return found

    def lend(self, workload: Workload, target: Target, count: int) -> list[str]:
        """The best schedules (for ``target``'s kind) of the workloads an instant answer with
        ``count`` neighbours is offered (:data:`POOL_PER_NEIGHBOUR` times as many, nearest first),
        for a tuning job's neighbour samples (:attr:`lorien.jobs.TuningBudget.neighbour_samples`)."""
        return [n.record.schedule for n in self.nearest(workload, target, POOL_PER_NEIGHBOUR * count)]

    def _table(self, dialect: str) -> _Table:
        with self._lock:
            table = self._tables.get(dialect)
            if table is None or time.monotonic() - self._read_at[dialect] > self.refresh_s:
                if table is None:
                    table = _Table().extended(self.store.workload_summaries(dialect))
                else:  # only what was stored since, by key (a clock behind ours may store "earlier")
                    known = {s.key for s in table.summaries}
                    since = self.store.workload_summaries(dialect, table.newest - CLOCK_SLACK_S)
                    table = table.extended([s for s in since if s.key not in known])
                self._tables[dialect] = table
                self._read_at[dialect] = time.monotonic()
            return table


def neighbour_descriptors(workload: Workload | WorkloadSummary) -> np.ndarray:
    """What :func:`descriptor_distance` compares: the workload's
    :func:`~lorien.datasets.tabular.workload_descriptors`, then for a 2-D convolution whether it is
    depthwise and the log2 of its window's height and width and of its stride (zeros for any
    other kernel, as for a 1x1 convolution of stride 1)."""
    depthwise, height, width, stride = conv_geometry(workload)[_GEOMETRY]
    geometry = (depthwise, *np.log2(np.maximum([height, width, stride], 1.0)))
    return np.concatenate([workload_descriptors(workload), np.asarray(geometry, dtype=np.float32)])


def descriptor_distance(one: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Distance of :func:`neighbour_descriptors` ``one`` to every row of ``table``: main op kinds
    that differ count :data:`OP_MISMATCH` each, epilogue kinds :data:`EPILOGUE_MISMATCH`, a
    convolution's geometry (depthwise or not, window, stride) :data:`OP_MISMATCH`,
    :data:`WINDOW_WEIGHT` and :data:`STRIDE_WEIGHT` a unit, the other descriptors (log2 sizes,
    counts) their Euclidean distance."""
    kinds, shape = len(OP_KINDS), -len(_GEOMETRY)  # the first columns and the last ones
    epilogue = np.array([kind in EPILOGUE_KINDS for kind in OP_KINDS])
    differs = np.abs(table[:, :kinds] - one[:kinds])
    sizes = np.linalg.norm(table[:, kinds:shape] - one[kinds:shape], axis=1)
    geometry = np.abs(table[:, shape:] - one[shape:])
    return (OP_MISMATCH * differs[:, ~epilogue].sum(axis=1)
            + EPILOGUE_MISMATCH * differs[:, epilogue].sum(axis=1)
            + OP_MISMATCH * geometry[:, 0] + WINDOW_WEIGHT * geometry[:, 1:3].sum(axis=1)
            + STRIDE_WEIGHT * geometry[:, 3] + sizes)


def estimated_latency(workload: Workload, neighbours: list[Neighbour], default_s: float = 1e-3) -> float:
    """The workload's FLOPs at the median throughput (FLOP/s) of its nearest (up to 3) tuned
    neighbours with known FLOPs; ``default_s`` when FLOPs or neighbours are lacking."""
    rates = [n.workload.flops / n.record.latency.mean for n in neighbours[:3] if n.workload.flops > 0]
    if workload.flops <= 0 or not rates:
        return default_s
    return float(workload.flops / np.median(rates))
