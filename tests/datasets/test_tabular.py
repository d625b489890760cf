"""Logs to a training table: features, per-workload normalised labels, failures kept and flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lorien.datasets.tabular import (
    CONV_GEOMETRY_NAMES,
    DESCRIPTOR_NAMES,
    KERNEL_KINDS,
    OP_KINDS,
    build_table,
    conv_geometry,
    kernel_kind,
    workload_descriptors,
)
from lorien.dialects import get_dialect
from lorien.dialects.tvm.features import FEATURE_WIDTH
from lorien.errors import InvalidInput
from lorien.logstore import LocalLogStore, log_key, read_logs
from lorien.records import Latency
from lorien.testing.factories import workload
from lorien.tuning_log import Measurement, TuningLog
from tests import tvm_models


def test_descriptors_read_the_workload_name() -> None:
    conv = workload()
    conv = type(conv)(dialect="tvm", key="k", name="conv2d(1x16x14x14:float32, 16x16x3x3:float32, "
                      "1x16x14x14:float32)", flops=2 * 16 * 16 * 9 * 196, payload="")
    values = dict(zip(DESCRIPTOR_NAMES, workload_descriptors(conv), strict=True))
    assert values["op_conv2d"] == 1 and sum(values[f"op_{k}"] for k in OP_KINDS) == 1
    assert values["n_args"] == 3
    assert values["log2_output_elements"] == pytest.approx(np.log2(16 * 14 * 14 + 1))


@pytest.mark.parametrize(("name", "kind"), [
    # the zoo's own names, as the TVM lowering writes them
    ("fused_conv2d_subtract_divide_multiply_add_relu(1x288x35x35:float32, 384x288x3x3:float32, "
     "1x384x1x1:float32, 1x384x17x17:float32)", "conv"),
    ("conv2d(1x1024x10x10:float32, 1024x1x3x3:float32, 1x1024x10x10:float32)", "depthwise conv"),
    ("fused_conv2d_add_relu(1x128x56x56:float32, 128x4x3x3:float32, 1x128x1x1:float32, "
     "1x128x56x56:float32)", "grouped conv"),
    ("fused_conv2d_subtract_divide_multiply_add_tir_clip(1x512x14x14:float32, 512x512x1x1:float32, "
     "1x512x14x14:float32)", "1x1 conv"),
    ("fused_conv2d_transpose_add(1x1024x16x16:float32, 1024x512x2x2:float32, 1x512x32x32:float32)", "conv"),
    ("fused_conv1d_add(1x1x32000:float32, 512x1x10:float32, 1x512x6399:float32)", "conv"),
    ("fused_matmul_add(1x64x768:float32, 768x768:float32, 1x64x768:float32)", "matmul"),
    ("fused_nn_dense(1x2048:float32, 1000x2048:float32, 1x1000:float32)", "matmul"),
    ("fused_max_pool2d_add(1x1024x19x19:float32, 1x1024x10x10:float32, 1x1024x10x10:float32)", "other"),
    ("op[0a]", "other"),
])
def test_kernel_kind_reads_the_workload_name(name: str, kind: str) -> None:
    conv = type(workload())(dialect="tvm", key="k", name=name, flops=1.0, payload="")
    assert kernel_kind(conv) == kind and kind in KERNEL_KINDS


def test_conv_geometry_reads_the_workload_name() -> None:
    make = type(workload())
    depthwise = make(dialect="tvm", key="k", flops=1.0, payload="", name=(
        "fused_conv2d_add_relu(1x144x56x56:float32, 144x1x7x7:float32, 1x144x1x1:float32, "
        "1x144x28x28:float32)"))
    values = dict(zip(CONV_GEOMETRY_NAMES, conv_geometry(depthwise), strict=True))
    assert values["depthwise"] == 1 and values["log2_group_channels"] == 0
    assert (values["kernel_h"], values["kernel_w"], values["stride"]) == (7, 7, 2)
    assert values["log2_in_channels"] == pytest.approx(np.log2(144))
    assert (values["log2_in_h"], values["log2_out_w"]) == pytest.approx((np.log2(56), np.log2(28)))
    gate = make(dialect="tvm", key="g", flops=1.0, payload="", name=(
        "fused_conv2d_add_tir_sigmoid_multiply(1x6x1x1:float32, 144x6x1x1:float32, 1x144x1x1:float32, "
        "1x144x56x56:float32, 1x144x56x56:float32)"))  # a squeeze-and-excitation gate: 1x1 out
    values = dict(zip(CONV_GEOMETRY_NAMES, conv_geometry(gate), strict=True))
    assert (values["log2_out_h"], values["stride"], values["depthwise"]) == (0, 1, 0)
    dense = make(dialect="tvm", key="d", flops=1.0, payload="",
                 name="fused_matmul_add(1x768:float32, 768x768:float32, 1x768:float32)")
    assert not conv_geometry(dense).any()
    empty = make(dialect="tvm", key="e", flops=1.0, payload="",
                 name="conv2d(1x16x0x14:float32, 16x16x3x3:float32, 1x16x0x14:float32)")
    assert not conv_geometry(empty).any()  # a zero extent, as an outside name may hold: no shape


def test_table_from_logs(tmp_path: Path) -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    schedules = tvm_models.sampled_schedules(use.workload, target)
    measurements = [Measurement(s, Latency(((i + 1) * 1e-3,))) for i, s in enumerate(schedules)]
    measurements[-1] = Measurement(schedules[-1], None, "run timed out")
    measurements[2] = Measurement(schedules[2], Latency((3e-3,)), origin="neighbour")
    measurements[3] = Measurement(schedules[3], Latency((4e-3,)), origin="neighbour")
    search = TuningLog(use.workload, target, dialect.build_id(), 9, 0.0, 1.0, tuple(measurements))
    # the same schedules timed again in a second log: a schedule is one row, labelled with its
    # fastest run of any timing, its origin the search's when the search found it too, and a
    # failed copy does not fail a schedule timed elsewhere
    again = TuningLog(use.workload, target, dialect.build_id(), 3, 2.0, 3.0, (
        Measurement(schedules[1], Latency((1.5e-3, 4e-3)), origin="random"),
        Measurement(schedules[0], None, "run timed out", origin="random"),
        Measurement(schedules[2], Latency((5e-3,)), origin="search")))
    logs = LocalLogStore(tmp_path)
    for log in (search, again):
        data = log.to_bytes()
        logs.put(log_key("tvm", use.workload.key, data), data)
    logs.put("tvm/broken/x.jsonl.gz", b"garbage")

    found, skipped_logs, _ = read_logs(logs)
    table = build_table(dialect, sorted(found, key=lambda log: log.started_at), skipped_logs=skipped_logs)
    assert len(table) == len(schedules) and table.skipped_logs == 1
    assert table.features.shape[1] == FEATURE_WIDTH + len(DESCRIPTOR_NAMES)
    assert table.score[0] == pytest.approx(1.0) and not table.failed[0]
    assert table.score[1] == pytest.approx(1 / 1.5) and table.latency[1] == pytest.approx(1.5e-3)
    assert table.score[2] == pytest.approx(1 / 3)
    assert table.failed[-1] and table.score[-1] == 0 and np.isinf(table.latency[-1])
    assert set(table.workload_keys) == {use.workload.key}
    assert table.feature_version == dialect.feature_version
    assert list(table.origins) == ["search"] * 3 + ["neighbour"] + ["search"] * (len(schedules) - 4)
    assert np.array_equal(table.features, build_table(dialect, [search]).features)


def test_no_measurement_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="nothing to train on"):
        build_table(get_dialect("tvm"), [])


def test_a_feature_cache_gives_the_same_table_without_featurising_again(tmp_path: Path) -> None:
    from lorien.datasets.feature_cache import FeatureCache

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    schedules = tvm_models.sampled_schedules(use.workload, target)
    logs = [TuningLog(use.workload, target, dialect.build_id(), 4, 0.0, 1.0, tuple(
        Measurement(s, Latency(((i + 1) * 1e-3,))) for i, s in enumerate(part)))
        for part in (schedules[:4], schedules[4:])]
    native = dialect.native_cost_model()
    calls: list[int] = []

    def counted(workload, target, found):  # type: ignore[no-untyped-def]
        calls.append(len(found))
        return native.featurize(workload, target, found)

    plain = build_table(dialect, logs)
    for recipe, featurize in (("features", None), ("native", counted)):
        cache = FeatureCache(tmp_path, recipe)
        first = build_table(dialect, logs, cache=cache, featurize=featurize)
        again = build_table(dialect, logs, cache=cache, featurize=featurize)
        assert len(first) == len(again) == len(schedules)
        if featurize is None:
            assert np.array_equal(first.features, plain.features)
            assert np.array_equal(again.features, plain.features)
        else:  # ragged per-store blocks come back block by block
            assert calls == [4, len(schedules) - 4]
            assert all(np.array_equal(a, b) for a, b in zip(first.features, again.features, strict=True))
    (next(tmp_path.rglob("*.npz"))).write_bytes(b"torn")  # an unreadable entry is computed again
    assert np.array_equal(build_table(dialect, logs, cache=FeatureCache(tmp_path, "features")).features,
                          plain.features)
    # filled by two worker processes first, the cache gives the same table without featurising
    from lorien.datasets.feature_fill import fill_feature_cache

    filled = FeatureCache(tmp_path / "filled", "features")
    assert fill_feature_cache(dialect, logs, filled, workers=2, min_logs=1) == 2
    assert fill_feature_cache(dialect, logs, filled, workers=2, min_logs=1) == 0  # nothing missing
    assert len(list((tmp_path / "filled").rglob("*.npz"))) == 2
    assert np.array_equal(build_table(dialect, logs, cache=filled).features, plain.features)


def test_each_row_records_the_sitting_its_log_was_timed_in() -> None:
    from lorien.datasets.tabular import SITTING_GAP_SECONDS, sittings_of

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    schedules = tvm_models.sampled_schedules(use.workload, target)[:6]

    def log(start: float, part: list[str], first_ms: float) -> TuningLog:
        return TuningLog(use.workload, target, dialect.build_id(), len(part), start, start + 60.0, tuple(
            Measurement(s, Latency(((first_ms + i) * 1e-3,))) for i, s in enumerate(part)))

    later = 120.0 + 60.0 + SITTING_GAP_SECONDS + 1.0
    # a search, its random samples a minute after it, and the kernel timed again in another
    # session, given first: sittings follow the logs' times, not their order
    logs = [log(later, schedules[4:], 4.0), log(0.0, schedules[:2], 1.0), log(120.0, schedules[2:4], 2.0)]
    assert sittings_of(logs) == [1, 0, 0]
    assert sittings_of(logs[1:]) == [0, 0]
    assert sittings_of([log(0.0, schedules, 1.0), log(60.0 + SITTING_GAP_SECONDS, schedules, 1.0)]) == [0, 0]
    table = build_table(dialect, logs)
    assert list(table.sittings) == [1, 1, 0, 0, 0, 0]
    # labels still compare every sitting of the group: the later session's best (4 ms) scores 1/4
    assert table.score.tolist() == pytest.approx([1 / 4, 1 / 5, 1.0, 1 / 2, 1 / 2, 1 / 3])
