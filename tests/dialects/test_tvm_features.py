"""Schedule features: fixed length, deterministic, different schedules look different."""

from __future__ import annotations

import numpy as np

from lorien.dialects import get_dialect
from lorien.dialects.tvm.features import FEATURE_WIDTH, pool_stores
from tests import tvm_models


def test_pooling_is_fixed_length() -> None:
    assert pool_stores(np.ones((3, 164), dtype=np.float32)).shape == (FEATURE_WIDTH,)
    assert not pool_stores(np.zeros((0, 164), dtype=np.float32)).any()


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
