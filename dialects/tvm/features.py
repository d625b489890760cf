"""Fixed-length features of TVM schedules, for cost models.

MetaSchedule's ``PerStoreFeature`` describes a scheduled kernel as one 164-wide row per buffer
store; a kernel has a varying number of stores, so Lorien pools the rows (sum, mean, max) into one
492-wide vector. ``TVMDialect.feature_version`` names this recipe; models record it and refuse other versions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.schedule import Trace

from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.workloads import from_workload
from lorien.records import Target, Workload

PER_STORE_WIDTH = 164
FEATURE_WIDTH = 3 * PER_STORE_WIDTH


def pool_stores(per_store: np.ndarray) -> np.ndarray:
    """One vector of a (stores, 164) array: its sum, mean and max over stores."""
    if per_store.shape[0] == 0:
        return np.zeros(FEATURE_WIDTH, dtype=np.float32)
    return np.concatenate([per_store.sum(0), per_store.mean(0), per_store.max(0)]).astype(np.float32)


def per_store_features(
    workload: Workload, target: Target, schedules: Sequence[str]
) -> tuple[list[np.ndarray], np.ndarray]:
    """MetaSchedule's raw per-store features of each schedule of ``workload``.

    Returns:
        ``(per_store, ok)``: one float32 (stores, 164) array per schedule, and a boolean mask of
        the schedules that applied (the arrays of the others have no rows).
    """
    tvm_target = to_tvm_target(target)
    load_intrinsics_for(tvm_target.kind.name)
    mod = from_workload(workload)
    context = ms.TuneContext(mod=mod, target=tvm_target, num_threads=1)
    args_info = ArgInfo.from_prim_func(mod["main"])
    per_store = [np.zeros((0, PER_STORE_WIDTH), dtype=np.float32) for _ in schedules]
    ok = np.zeros(len(schedules), dtype=bool)
    candidates, rows = [], []
    for row, schedule in enumerate(schedules):
        try:
            sch = tvm.s_tir.Schedule(mod)
            Trace.apply_json_to_schedule(json.loads(schedule), sch)
        except Exception:  # a trace that does not fit this kernel: no features, flagged
            continue
        candidates.append(ms.MeasureCandidate(sch, args_info))
        rows.append(row)
    if candidates:
        extracted = ms.feature_extractor.PerStoreFeature().extract_from(context, candidates)
        for row, stores in zip(rows, extracted, strict=True):
            per_store[row] = stores.numpy().astype(np.float32)
            ok[row] = True
    return per_store, ok


def schedule_features(
    workload: Workload, target: Target, schedules: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Features of each schedule of ``workload``, pooled to a fixed length.

    Returns:
        ``(features, ok)``: a (len(schedules), FEATURE_WIDTH) float32 array, and a boolean mask of
        the schedules that applied (rows of the others are zeros).
    """
    per_store, ok = per_store_features(workload, target, schedules)
    features = np.zeros((len(schedules), FEATURE_WIDTH), dtype=np.float32)
    for row in np.flatnonzero(ok):
        features[row] = pool_stores(per_store[row])
    return features, ok
