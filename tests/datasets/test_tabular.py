"""Logs to a training table: features, per-workload normalised labels, failures kept and flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lorien.datasets.tabular import DESCRIPTOR_NAMES, OP_KINDS, build_table, workload_descriptors
from lorien.dialects import get_dialect
from lorien.errors import InvalidInput
from lorien.logstore import LocalLogStore, log_key, read_logs
from lorien.records import Latency
from lorien.tuning_log import Measurement, TuningLog
from tests import tvm_models
from tests.factories import workload


def test_descriptors_read_the_workload_name() -> None:
    conv = workload()
    conv = type(conv)(dialect="tvm", key="k", name="conv2d(1x16x14x14:float32, 16x16x3x3:float32, "
                      "1x16x14x14:float32)", flops=2 * 16 * 16 * 9 * 196, payload="")
    values = dict(zip(DESCRIPTOR_NAMES, workload_descriptors(conv), strict=True))
    assert values["op_conv2d"] == 1 and sum(values[f"op_{k}"] for k in OP_KINDS) == 1
    assert values["n_args"] == 3
    assert values["log2_output_elements"] == pytest.approx(np.log2(16 * 14 * 14 + 1))


def test_table_from_logs(tmp_path: Path) -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    schedules = tvm_models.sampled_schedules(use.workload, target)
    measurements = [Measurement(s, Latency(((i + 1) * 1e-3,))) for i, s in enumerate(schedules)]
    measurements.append(Measurement(schedules[0], None, "run timed out"))
    log = TuningLog(use.workload, target, dialect.build_id(), 9, 0.0, 1.0, tuple(measurements))
    logs = LocalLogStore(tmp_path)
    data = log.to_bytes()
    logs.put(log_key("tvm", use.workload.key, data), data)
    logs.put("tvm/broken/x.jsonl.gz", b"garbage")

    found, skipped_logs, _ = read_logs(logs)
    table = build_table(dialect, found, skipped_logs=skipped_logs)
    assert len(table) == len(schedules) + 1 and table.skipped_logs == 1
    assert table.features.shape[1] == 492 + len(DESCRIPTOR_NAMES)
    assert table.score.max() == pytest.approx(1.0)
    assert table.score[1] == pytest.approx(0.5)
    assert table.failed[-1] and table.score[-1] == 0 and np.isinf(table.latency[-1])
    assert set(table.workload_keys) == {use.workload.key}
    assert table.feature_version == dialect.feature_version


def test_no_measurement_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="nothing to train on"):
        build_table(get_dialect("tvm"), [])
