"""Schedule features: fixed length, deterministic, different schedules look different."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lorien.dialects import get_dialect
from lorien.dialects.tvm.features import (
    FEATURE_WIDTH,
    PER_STORE_WIDTH,
    POOLED_WIDTH,
    TRACE_FEATURE_NAMES,
    pool_stores,
    simd_lanes,
    trace_features,
)
from tests import tvm_models


def test_pooling_is_fixed_length_and_keeps_the_main_store() -> None:
    stores = np.ones((3, 164), dtype=np.float32)
    stores[1, :16] = 5.0  # the store with the most arithmetic
    stores[1, 100] = 7.0
    pooled = pool_stores(stores)
    assert pooled.shape == (POOLED_WIDTH + PER_STORE_WIDTH,)
    assert np.array_equal(pooled[POOLED_WIDTH:], stores[1])
    assert not pool_stores(np.zeros((0, 164), dtype=np.float32)).any()


#: A conv2d's trace in MetaSchedule's form, cut to the instructions the trace features read.
TRACE = json.dumps([[
    ["SamplePerfectTile", ["l7"], [4, 64], ["v0", "v1", "v2", "v3"]],
    ["SamplePerfectTile", ["l8"], [4, 64], ["v4", "v5", "v6", "v7"]],
    ["SamplePerfectTile", ["l9"], [2, 64], ["v8", "v9"]],
    ["Annotate", ["b6", 32], ["meta_schedule.parallel"], []],
    ["Annotate", ["b6", 64], ["meta_schedule.vectorize"], []],
    ["SampleCategorical", [], [[0, 16, 64, 512], [0.25, 0.25, 0.25, 0.25]], ["v10"]],
    ["SampleComputeLocation", ["b0"], [], ["l11"]],
], [[0, [4, 2, 2, 2]], [1, [1, 2, 2, 32]], [2, [16, 4]], [5, 2], [6, -1]]])


def test_trace_features_relate_the_decisions_to_the_extents_and_the_cpu() -> None:
    values = dict(zip(TRACE_FEATURE_NAMES, trace_features(TRACE, cpu_cores=2, lanes=16), strict=True))
    assert values["spatial_loops"] == 2 and values["spatial_log2_extent"] == 5 + 7  # 32 x 128
    assert values["outer_log2"] == 2 and values["outer_vs_cores_log2"] == 1  # 4 outer tiles, 2 cores
    assert values["inner_log2"] == 1 + 5 and values["last_inner_log2"] == 5
    assert values["last_inner_vs_lanes_log2"] == 1  # 32 against 16 lanes
    assert values["inner_share"] == pytest.approx((1 / 5 + 5 / 7) / 2)
    reduction = values["reduction_loops"], values["reduction_outer_log2"], values["reduction_inner_log2"]
    assert reduction == (1, 4, 2)  # 16 x 4
    assert values["unroll_log2"] == pytest.approx(np.log2(65)) and values["compute_location"] == -1
    assert (values["parallel_limit_log2"], values["vector_limit_log2"]) == (5, 6)
    assert values["last_inner_mod_lanes"] == values["last_inner_odd"] == values["odd_spatial_loops"] == 0
    assert (values["last_extent_pow2_log2"], values["last_extent_odd"]) == (7, 0)  # 128 wide
    assert values["lanes_per_useful_lane"] == 1  # 32 = two full vectors
    last_axis = [values[f"last_axis_{level}_log2"] for level in ("outer", "second", "third")]
    assert last_axis == [0, 1, 1]  # 1 x 2 x 2 x 32: its innermost is last_inner_log2
    prev_axis = [values[f"prev_axis_{level}_log2"] for level in ("outer", "second", "third", "inner")]
    assert prev_axis == [2, 1, 1, 1]
    assert (values["last_reduction_outer_log2"], values["last_reduction_inner_log2"]) == (4, 2)
    assert values["prev_reduction_outer_log2"] == values["third_reduction_inner_log2"] == 0  # one reduction
    assert not trace_features("not json", 2, 16).any()


def test_trace_features_tell_which_axis_a_tile_falls_on() -> None:
    """A 3x3 window split [1, 3] over its rows and [3, 1] over its columns, and the swap: the
    sums over axes are the same, the schedules are not (one such pair ran 1.5x apart)."""
    def window(rows: list[int], columns: list[int]) -> np.ndarray:
        trace = [[["SamplePerfectTile", ["l0"], [4, 64], ["v0"]],
                  ["SamplePerfectTile", ["l1"], [2, 64], ["v1"]],
                  ["SamplePerfectTile", ["l2"], [2, 64], ["v2"]],
                  ["SamplePerfectTile", ["l3"], [2, 64], ["v3"]]],
                 [[0, [1, 2, 2, 4]], [1, [8, 2]], [2, rows], [3, columns]]]
        return trace_features(json.dumps(trace), cpu_cores=2, lanes=16)

    one, swapped = window([1, 3], [3, 1]), window([3, 1], [1, 3])
    summed = TRACE_FEATURE_NAMES.index("last_axis_outer_log2")
    assert np.array_equal(one[:summed], swapped[:summed])  # what the columns before them see
    values = dict(zip(TRACE_FEATURE_NAMES, one, strict=True))
    three = pytest.approx(np.log2(3))
    assert (values["last_reduction_outer_log2"], values["last_reduction_inner_log2"]) == (three, 0)
    assert (values["prev_reduction_outer_log2"], values["prev_reduction_inner_log2"]) == (0, three)
    assert (values["third_reduction_outer_log2"], values["third_reduction_inner_log2"]) == (3, 1)
    assert not np.array_equal(one, swapped)


def test_trace_features_name_a_vector_that_odd_extents_leave_partly_empty() -> None:
    """Inception-v3's 17-wide rows: a 17-wide innermost tile fills one 16-lane vector and 1 lane
    of a second."""
    trace = json.dumps([[
        ["SamplePerfectTile", ["l7"], [4, 64], ["v0", "v1", "v2", "v3"]],
        ["SamplePerfectTile", ["l8"], [4, 64], ["v4", "v5", "v6", "v7"]],
        ["SamplePerfectTile", ["l9"], [2, 64], ["v8", "v9"]],
    ], [[0, [1, 96, 1, 1]], [1, [1, 1, 1, 17]], [2, [36, 4]]]])
    values = dict(zip(TRACE_FEATURE_NAMES, trace_features(trace, cpu_cores=2, lanes=16), strict=True))
    assert values["last_inner_mod_lanes"] == pytest.approx(1 / 16) and values["last_inner_odd"] == 1
    assert values["odd_spatial_loops"] == 1 and values["last_extent_odd"] == 1
    assert values["last_extent_pow2_log2"] == 0
    assert values["lanes_per_useful_lane"] == pytest.approx(32 / 17)


@pytest.mark.parametrize("config, lanes", [
    ({"kind": "llvm", "mcpu": "icelake-server"}, 16), ({"kind": "llvm", "mcpu": "emeraldrapids"}, 16),
    ({"kind": "llvm", "mcpu": "haswell"}, 8), ({"kind": "llvm", "mattr": ["+avx512f"]}, 16),
    ({"kind": "llvm", "mtriple": "aarch64-linux-gnu"}, 4)])
def test_simd_lanes_follow_the_cpu(config: dict[str, object], lanes: int) -> None:
    assert simd_lanes(config) == lanes


def test_features_of_sampled_schedules() -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    schedules = tvm_models.sampled_schedules(use.workload, target)
    features, ok = dialect.schedule_features(use.workload, target, [*schedules, "[[], []]x"])
    assert features.shape == (len(schedules) + 1, FEATURE_WIDTH)
    assert ok[:-1].all() and not ok[-1] and not features[-1].any()
    again, _ = dialect.schedule_features(use.workload, target, schedules)
    assert np.array_equal(features[:-1], again)
    assert len({row.tobytes() for row in features[:-1]}) > 1


def test_candidates_carry_the_features_of_their_traces() -> None:
    """The predictor ranks candidates by features computed from the scheduled kernels; training
    computed them from the logged traces: both paths must give the same rows."""
    from lorien.dialects import CandidateOptions

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    found = dialect.candidates(use.workload, target, [], None, CandidateOptions(samples=6, seed=1))
    again, ok = dialect.schedule_features(use.workload, target, found.schedules)
    assert ok.all() and found.features.shape == again.shape
    assert np.allclose(found.features, again)
