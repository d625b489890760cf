"""Fixed-length features of TVM schedules, for cost models.

MetaSchedule's ``PerStoreFeature`` describes a scheduled kernel as one 164-wide row per buffer
store; a kernel has a varying number of stores, so Lorien pools the rows (sum, mean, max). Pooling
loses which store does the work, and what the schedule's decisions were relative to the kernel and
the CPU, so each row also carries:

- the main store's own 164 features (the store with the most arithmetic: a convolution's or a
  matmul's accumulation, not the padding or the bias);
- the trace's decisions relative to the kernel's extents (:data:`TRACE_FEATURE_NAMES`): spatial
  tiles from outermost (what is parallelised) to innermost (the register tile, the vector), their
  share of each loop's extent, the outer extent against the cores, the innermost tile of the last
  axis against the SIMD lanes, the reduction's split, the unrolling chosen, the compute location;
  and what an odd extent does to the vector: the innermost tile's remainder over the lanes, the
  loops of odd extent, the last loop's power-of-two factor, the lanes computed per useful lane
  (Inception-v3's 17-, 35- and 147-wide kernels, whose slow schedules vectorise 17 wide with the
  accumulator in memory, ranked worst of the zoo without them); and which axis each tile falls
  on, for the innermost axes (the last two spatial ones, the last three reductions): the sums
  over axes cannot tell a 3x3 window split [1, 3] over its rows and [3, 1] over its columns from
  the swap, and the two ran 1.5x apart;
- the CPU's descriptors (:data:`CPU_FEATURE_NAMES`: cores and SIMD lanes), so one model can rank
  for several CPUs.

``TVMDialect.feature_version`` names this recipe; models record it and refuse other versions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo

from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.schedule import apply_schedule
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.workloads import from_workload
from lorien.records import Target, Workload

PER_STORE_WIDTH = 164
POOLED_WIDTH = 3 * PER_STORE_WIDTH
#: The per-store columns that count arithmetic operations (MetaSchedule's group 1 begins with them).
ARITHMETIC_COLUMNS = slice(0, 16)
TRACE_FEATURE_NAMES = (
    "spatial_loops", "spatial_log2_extent", "outer_log2", "outer_vs_cores_log2", "second_log2",
    "third_log2", "inner_log2", "inner_share", "last_inner_log2", "last_inner_vs_lanes_log2",
    "reduction_loops", "reduction_log2_extent", "reduction_outer_log2", "reduction_inner_log2",
    "unroll_log2", "compute_location", "parallel_limit_log2", "vector_limit_log2",
    "last_inner_mod_lanes", "last_inner_odd", "odd_spatial_loops", "last_extent_pow2_log2",
    "last_extent_odd", "lanes_per_useful_lane",
    "last_axis_outer_log2", "last_axis_second_log2", "last_axis_third_log2",
    "prev_axis_outer_log2", "prev_axis_second_log2", "prev_axis_third_log2", "prev_axis_inner_log2",
    "last_reduction_outer_log2", "last_reduction_inner_log2",
    "prev_reduction_outer_log2", "prev_reduction_inner_log2",
    "third_reduction_outer_log2", "third_reduction_inner_log2",
)
#: Where :data:`TRACE_FEATURE_NAMES`' tiles of single axes begin: the last two spatial tilings'
#: levels (the last axis's innermost is ``last_inner_log2``), then the last three reductions'.
_AXIS_AT = TRACE_FEATURE_NAMES.index("last_axis_outer_log2")
_REDUCTION_AXIS_AT = TRACE_FEATURE_NAMES.index("last_reduction_outer_log2")
CPU_FEATURE_NAMES = ("cores_log2", "simd_lanes_log2")
FEATURE_WIDTH = POOLED_WIDTH + PER_STORE_WIDTH + len(TRACE_FEATURE_NAMES) + len(CPU_FEATURE_NAMES)

#: ``-mcpu`` names of x86 CPUs with AVX-512 (16 float32 lanes); other x86 CPUs are taken to have
#: AVX2 (8), Arm CPUs NEON (4).
_AVX512_CPUS = ("skylake-avx512", "cascadelake", "cooperlake", "cannonlake", "icelake", "tigerlake",
                "rocketlake", "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5",
                "knl", "knm")


def simd_lanes(config: Mapping[str, Any]) -> int:
    """float32 lanes of one vector register on a TVM target given as its JSON dict."""
    mcpu, mattr = str(config.get("mcpu", "")), " ".join(map(str, config.get("mattr") or []))
    if "+avx512f" in mattr or mcpu.startswith(_AVX512_CPUS):
        return 16
    triple = str(config.get("mtriple", ""))
    if triple.startswith(("aarch64", "arm")) or "neon" in mattr:
        return 4
    return 8


def cores(config: Mapping[str, Any]) -> int:
    """The cores a TVM target given as its JSON dict runs on (1 when it does not say)."""
    return max(int(config.get("num-cores") or 1), 1)


def cpu_features(config: Mapping[str, Any]) -> np.ndarray:
    """:data:`CPU_FEATURE_NAMES` of a TVM target given as its JSON dict."""
    return np.array([np.log2(cores(config)), np.log2(simd_lanes(config))], dtype=np.float32)


def _log2(value: float) -> float:
    return float(np.log2(max(value, 1.0)))


def _levels(tiles: list[int], count: int) -> list[float]:
    """The last ``count`` levels of one loop's tiles (log2), the innermost last; zeros in front
    for a tiling of fewer levels."""
    found = [_log2(t) for t in tiles[-count:]]
    return [0.0] * (count - len(found)) + found


def trace_features(schedule: str, cpu_cores: int, lanes: int) -> np.ndarray:
    """:data:`TRACE_FEATURE_NAMES` of a schedule's trace (its JSON text): the tile sizes sampled
    for each loop (a tiling of 3 levels or more is spatial, of 2 a reduction), the categorical
    choices (unrolling) and compute locations. Zeros where the trace has none."""
    out = np.zeros(len(TRACE_FEATURE_NAMES), dtype=np.float32)
    try:
        instructions, decisions = json.loads(schedule)
        decided = {int(index): value for index, value in decisions}
    except (ValueError, TypeError):
        return out
    spatial: list[list[int]] = []
    reduction: list[list[int]] = []
    unroll, location, limits = 0.0, -3.0, {"meta_schedule.parallel": 0.0, "meta_schedule.vectorize": 0.0}
    for index, instruction in enumerate(instructions):
        kind, inputs, attrs = instruction[0], instruction[1], instruction[2]
        if kind == "SamplePerfectTile" and isinstance(decided.get(index), list):
            tiles = [max(int(t), 1) for t in decided[index]]
            (spatial if len(tiles) >= 3 else reduction).append(tiles)
        elif kind == "SampleCategorical" and index in decided and attrs and isinstance(attrs[0], list):
            choice = int(decided[index])
            if 0 <= choice < len(attrs[0]):
                unroll = max(unroll, _log2(1 + float(attrs[0][choice])))
        elif kind == "SampleComputeLocation" and index in decided and location == -3.0:
            location = float(decided[index])
        elif kind == "Annotate" and attrs and attrs[0] in limits and len(inputs) > 1:
            if isinstance(inputs[1], int | float):
                limits[attrs[0]] = _log2(float(inputs[1]))
    if spatial:
        level = [sum(_log2(t[i]) for t in spatial) for i in range(3)]
        inner = sum(_log2(t[-1]) for t in spatial)
        extents = [_log2(float(np.prod(t))) for t in spatial]
        shares = [_log2(t[-1]) / e for t, e in zip(spatial, extents, strict=True) if e > 0]
        out[0:10] = [len(spatial), sum(extents), level[0], level[0] - _log2(cpu_cores), level[1], level[2],
                     inner, float(np.mean(shares)) if shares else 0.0, _log2(spatial[-1][-1]),
                     _log2(spatial[-1][-1]) - _log2(lanes)]
        last, last_extent = spatial[-1][-1], int(np.prod(spatial[-1]))
        out[18:24] = [(last % lanes) / lanes, float(last % 2 == 1 and last > 1),
                      sum(float(np.prod(t)) % 2 == 1 and float(np.prod(t)) > 1 for t in spatial),
                      _log2(last_extent & -last_extent), float(last_extent % 2 == 1 and last_extent > 1),
                      np.ceil(last / lanes) * lanes / last]
        out[_AXIS_AT:_AXIS_AT + 3] = _levels(spatial[-1], 4)[:3]
        if len(spatial) >= 2:
            out[_AXIS_AT + 3:_AXIS_AT + 7] = _levels(spatial[-2], 4)
    if reduction:
        out[10:14] = [len(reduction), sum(_log2(float(np.prod(t))) for t in reduction),
                      sum(_log2(t[0]) for t in reduction), sum(_log2(t[-1]) for t in reduction)]
        for slot, tiles in enumerate(reversed(reduction[-3:])):
            at = _REDUCTION_AXIS_AT + 2 * slot
            out[at:at + 2] = [_log2(tiles[0]), _log2(tiles[-1])]
    out[14:18] = [unroll, location, limits["meta_schedule.parallel"], limits["meta_schedule.vectorize"]]
    return out


def pool_stores(per_store: np.ndarray) -> np.ndarray:
    """One vector of a (stores, 164) array: its sum, mean and max over stores, then the main
    store's own row (the one with the most arithmetic)."""
    if per_store.shape[0] == 0:
        return np.zeros(POOLED_WIDTH + PER_STORE_WIDTH, dtype=np.float32)
    main = per_store[int(np.argmax(per_store[:, ARITHMETIC_COLUMNS].sum(1)))]
    return np.concatenate([per_store.sum(0), per_store.mean(0), per_store.max(0), main]).astype(np.float32)


def schedule_row(per_store: np.ndarray, schedule: str, config: Mapping[str, Any]) -> np.ndarray:
    """The whole feature row of one applied schedule: pooled and main-store features, trace
    features, CPU features (``config``: the target's JSON dict)."""
    trace = trace_features(schedule, cores(config), simd_lanes(config))
    return np.concatenate([pool_stores(per_store), trace, cpu_features(config)])


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
            sch = apply_schedule(mod, schedule)
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
    config = json.loads(target.canonical)
    for row in np.flatnonzero(ok):
        features[row] = schedule_row(per_store[row], schedules[int(row)], config)
    return features, ok
