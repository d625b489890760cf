"""Neighbour search and tile adaptation: pure logic, no compiler."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lorien.predictor.neighbours import NeighbourIndex, estimated_latency
from lorien.records import Latency, ScheduleRecord, Target, Workload
from lorien.store.memory import MemoryScheduleStore
from lorien.store.sqlite import SQLiteScheduleStore

CPU = Target('{"kind":"llvm","mcpu":"a"}', "llvm_cpu")
OTHER_CPU = Target('{"kind":"llvm","mcpu":"b"}', "llvm_cpu")
GPU = Target('{"kind":"cuda"}', "cuda")


def conv(key: str, channels: int, flops: float) -> Workload:
    return Workload("fake", key, f"fused_conv2d_add_relu(1x{channels}x56x56:float32, "
                                 f"{channels}x{channels}x3x3:float32, 1x{channels}x56x56:float32)",
                    flops, "{}")


def dense(key: str) -> Workload:
    name = "fused_matmul_add(1x512:float32, 512x1000:float32, 1x1000:float32)"
    return Workload("fake", key, name, 1e6, "{}")


def tuned(workload: Workload, target: Target, seconds: float) -> ScheduleRecord:
    return ScheduleRecord("fake", workload.key, target, "b1", f"s-{workload.key}", Latency((seconds,)))


def test_nearest_tuned_workloads_of_the_same_kind_come_first(tmp_path: Path) -> None:
    store = SQLiteScheduleStore(tmp_path / "s.db")
    near, far, other_op = conv("a1", 64, 2e9), conv("a2", 512, 3e10), dense("a3")
    untuned = conv("a4", 64, 2e9)
    store.put_workloads([near, far, other_op, untuned])
    store.commit([tuned(near, OTHER_CPU, 1e-3), tuned(far, CPU, 5e-3), tuned(other_op, CPU, 1e-5)])
    found = NeighbourIndex(store).nearest(conv("new", 96, 3e9), CPU, k=3)
    assert [n.workload.key for n in found] == ["a1", "a2", "a3"]  # a1 tuned on another CPU counts
    assert found[0].distance < found[1].distance < found[2].distance
    assert NeighbourIndex(store).nearest(conv("new", 96, 3e9), GPU, k=3) == []  # none tuned for cuda
    assert [n.workload.key for n in NeighbourIndex(store).nearest(near, CPU, k=1)] == ["a2"]  # not itself


def conv_bn(key: str, channels: int, size: int, window: int, stride: int = 1, groups: int = 1,
            relu: bool = False) -> Workload:
    """A convolution with batch norm as a model's lowering names it (``relu``: a ReLU after)."""
    out = size // stride
    flops = 2.0 * channels * channels // groups * window * window * out * out
    op = "fused_conv2d_subtract_divide_multiply_add" + ("_relu" if relu else "")
    return Workload("fake", key, f"{op}(1x{channels}x{size}x{size}:float32, "
                                 f"{channels}x{channels // groups}x{window}x{window}:float32, "
                                 f"1x{channels}x1x1:float32, 1x{channels}x{out}x{out}:float32)", flops, "{}")


def test_a_convolution_borrows_from_its_own_window_and_kind_before_its_own_epilogue(tmp_path: Path) -> None:
    """A 3x3 convolution without a ReLU is nearer 3x3 ones with a ReLU than 1x1 ones of its very
    epilogue and sizes (a 1x1 schedule re-tiled to a 3x3 window ran 4-130x slower than tuned); a
    depthwise convolution is far from a dense one of the same window; the stride counts."""
    store = SQLiteScheduleStore(tmp_path / "s.db")
    pointwise, windowed = conv_bn("p", 256, 14, 1), conv_bn("w", 192, 14, 3, relu=True)
    depthwise, strided = conv_bn("d", 256, 14, 3, groups=256), conv_bn("s", 256, 28, 3, stride=2, relu=True)
    five = conv_bn("f", 256, 14, 5, relu=True)
    store.put_workloads([pointwise, windowed, depthwise, strided, five])
    store.commit([tuned(w, CPU, 1e-3) for w in (pointwise, windowed, depthwise, strided, five)])
    index = NeighbourIndex(store)
    # the same loops over a stride-2 input are nearer than a 5x5 window
    nearest = index.nearest(conv_bn("new", 256, 14, 3), CPU, k=5)
    assert [n.workload.key for n in nearest] == ["w", "s", "f", "p", "d"]
    assert index.nearest(conv_bn("new", 256, 28, 3, stride=2), CPU, k=1)[0].workload.key == "s"
    assert index.nearest(conv_bn("new", 384, 14, 3, groups=384), CPU, k=1)[0].workload.key == "d"
    assert index.nearest(conv_bn("new", 384, 14, 1), CPU, k=1)[0].workload.key == "p"


def test_a_job_is_lent_the_best_schedules_of_the_pool_an_instant_answer_is_offered(tmp_path: Path) -> None:
    from lorien.predictor.neighbours import POOL_PER_NEIGHBOUR

    store = SQLiteScheduleStore(tmp_path / "s.db")
    convs = [conv(f"c{i}", 64 + 16 * i, 2e9 + 1e8 * i) for i in range(2 * POOL_PER_NEIGHBOUR + 3)]
    store.put_workloads(convs)
    store.commit([tuned(w, CPU, 1e-3) for w in convs])
    index = NeighbourIndex(store)
    lent = index.lend(convs[0], CPU, 2)
    assert lent == [n.record.schedule for n in index.nearest(convs[0], CPU, 2 * POOL_PER_NEIGHBOUR)]
    assert len(lent) == 2 * POOL_PER_NEIGHBOUR and "s-c0" not in lent  # never the kernel's own
    assert index.lend(convs[0], GPU, 2) == []


def test_latency_estimate_uses_the_neighbours_throughput(tmp_path: Path) -> None:
    store = SQLiteScheduleStore(tmp_path / "s.db")
    a, b = conv("a1", 64, 2e9), conv("a2", 128, 4e9)
    store.put_workloads([a, b])
    store.commit([tuned(a, CPU, 1e-2), tuned(b, CPU, 1e-2)])  # 200 and 400 GFLOP/s
    found = NeighbourIndex(store).nearest(conv("new", 96, 3e9), CPU, k=3)
    assert math.isclose(estimated_latency(conv("new", 96, 3e9), found), 3e9 / 3e11)
    assert estimated_latency(conv("new", 96, 0.0), found, default_s=0.5) == 0.5
    assert estimated_latency(conv("new", 96, 3e9), [], default_s=0.5) == 0.5


@pytest.mark.parametrize(("extent", "factors", "inner"), [
    (56, [8, 16, 2, 1], 0), (7, [1, 4, 2, 8], 0), (1000, [1, 1000], 64), (64, [64, 1], 0), (1, [3, 5], 0),
])
def test_nearest_tiling_is_an_exact_factorisation(extent: int, factors: list[int], inner: int) -> None:
    from lorien.dialects.tvm.candidates import nearest_tiling

    tiles = nearest_tiling(extent, factors, inner)
    assert len(tiles) == len(factors) and math.prod(tiles) == extent
    if inner:
        assert tiles[-1] <= inner
    if extent == 64:
        assert tiles == [64, 1]  # already exact: unchanged


def test_one_neighbour_per_name(tmp_path: Path) -> None:
    """Two lowerings of the same ops and shapes (same name, other keys) count once; the nearer
    one with a tuned record stands for both."""
    store = SQLiteScheduleStore(tmp_path / "s.db")
    twin, other_lowering, next_one = conv("a1", 64, 2e9), conv("a2", 64, 2e9), conv("a3", 128, 4e9)
    store.put_workloads([twin, other_lowering, next_one])
    store.commit([tuned(twin, CPU, 1e-3), tuned(other_lowering, CPU, 1e-3), tuned(next_one, CPU, 2e-3)])
    found = NeighbourIndex(store).nearest(conv("new", 64, 2e9), CPU, k=3)
    assert [n.workload.key for n in found] == ["a1", "a3"]


class SummaryCountingStore(MemoryScheduleStore):
    """Records how the index reads workloads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[float | None] = []

    def list_workloads(self, dialect: str | None = None) -> list[Workload]:
        raise AssertionError("the index reads summaries, not whole workloads")

    def workload_summaries(self, dialect: str, since: float | None = None):  # type: ignore[no-untyped-def]
        self.reads.append(since)
        return super().workload_summaries(dialect, since)


def test_the_index_reads_summaries_and_then_only_what_is_new() -> None:
    store = SummaryCountingStore()
    first, second = conv("a1", 64, 2e9), conv("a2", 128, 4e9)
    store.put_workloads([first])
    store.commit([tuned(first, CPU, 1e-3)])
    index = NeighbourIndex(store, refresh_s=0.0)
    assert [n.workload.key for n in index.nearest(conv("new", 96, 3e9), CPU, k=3)] == ["a1"]
    store.put_workloads([second])
    store.commit([tuned(second, CPU, 1e-3)])
    assert [n.workload.key for n in index.nearest(conv("new", 96, 3e9), CPU, k=3)] == ["a2", "a1"]
    assert store.reads[0] is None and all(since is not None for since in store.reads[1:])
    cached = NeighbourIndex(store, refresh_s=3600.0)
    cached.nearest(conv("new", 96, 3e9), CPU, k=3)
    cached.nearest(conv("new", 96, 3e9), CPU, k=3)
    assert len(store.reads) == 3  # one read for both calls within refresh_s


def test_a_measured_schedule_lends_when_no_tuned_one_exists_and_an_estimate_never(tmp_path: Path) -> None:
    """A kernel measured but never searched (an adapted neighbour's best, a budgeted delivery's
    pick) is a neighbour; a tuned record wins over a measured one of the same workload; an
    unmeasured estimate (``predicted``) lends nothing."""
    store = SQLiteScheduleStore(tmp_path / "s.db")
    measured_only, both, estimate_only = conv("m1", 64, 2e9), conv("m2", 80, 2.2e9), conv("m3", 72, 2.1e9)
    store.put_workloads([measured_only, both, estimate_only])
    store.commit([
        ScheduleRecord("fake", "m1", CPU, "b1", "measured-m1", Latency((1e-3,)), source="measured"),
        ScheduleRecord("fake", "m2", CPU, "b1", "measured-m2", Latency((1e-4,)), source="measured"),
        tuned(both, CPU, 2e-3),
        ScheduleRecord("fake", "m3", CPU, "b1", "estimate-m3", Latency((1e-4,)), source="predicted"),
    ])
    found = {n.workload.key: n.record for n in NeighbourIndex(store).nearest(conv("new", 68, 2e9), CPU, k=3)}
    assert set(found) == {"m1", "m2"}
    assert found["m1"].schedule == "measured-m1"
    assert found["m2"].schedule == "s-m2"  # the tuned record, though the measured one is faster
