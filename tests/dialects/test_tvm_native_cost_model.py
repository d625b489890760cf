"""MetaSchedule's XGBoost as an offline baseline: its input rows, and that it learns an order."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from lorien.dialects import get_dialect
from lorien.dialects.tvm.features import PER_STORE_WIDTH, pool_stores
from lorien.dialects.tvm.native_cost_model import MetaScheduleXGBCostModel
from lorien.training.metrics import ranking_report
from tests import tvm_models


def test_rows_are_the_per_store_features_that_pooled_features_summarise() -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(tvm_models.small_conv()), target)
    schedules = tvm_models.sampled_schedules(use.workload, target)
    native = dialect.native_cost_model()
    assert native.name == "metaschedule-xgb"
    rows, ok = native.featurize(use.workload, target, [*schedules, "not a trace"])
    pooled, _ = dialect.schedule_features(use.workload, target, schedules)
    assert rows.dtype == object and len(rows) == len(schedules) + 1
    assert ok[:-1].all() and not ok[-1] and rows[-1].shape == (0, PER_STORE_WIDTH)
    for stores, vector in zip(rows[:-1], pooled, strict=True):
        assert stores.shape[1] == PER_STORE_WIDTH and len(stores) > 0
        assert np.allclose(pool_stores(stores), vector[: len(pool_stores(stores))])


def synthetic(groups: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    keys = np.repeat(np.arange(groups), 25)
    rows = np.empty(len(keys), dtype=object)
    latency = np.empty(len(keys))
    for i in range(len(keys)):
        stores = rng.uniform(size=(1, PER_STORE_WIDTH)).astype(np.float32)
        rows[i] = stores
        latency[i] = np.exp(2 * stores[0, 0] - stores[0, 1] + 0.05 * rng.normal())
    score = np.array([latency[keys == k].min() for k in keys]) / latency
    return rows, score, latency, keys


def test_learns_the_order_of_unseen_workloads() -> None:
    rng = np.random.default_rng(0)
    rows, score, latency, keys = synthetic(30, rng)
    score[::17] = 0.0  # failed measurements weigh nothing and break nothing
    train, test = keys < 22, keys >= 22
    model = MetaScheduleXGBCostModel(nthread=1).fit(rows[train], score[train], group=keys[train])
    report = ranking_report(model.predict(rows[test]), latency[test], keys[test])
    assert report["pairwise_accuracy"] > 0.8
    assert model.predict([np.zeros((0, PER_STORE_WIDTH)), rows[0]]).shape == (2,)


def test_estimator_contract_basics() -> None:
    model = MetaScheduleXGBCostModel(nthread=1, early_stopping_rounds=5)
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(Exception, match="not fitted"):
        model.predict([np.zeros((1, PER_STORE_WIDTH))])
    with pytest.raises(ValueError, match="164"):
        model.fit([np.zeros((1, 3))], [1.0])
    with pytest.raises(ValueError, match="every measurement failed"):
        model.fit([np.zeros((1, PER_STORE_WIDTH))], [0.0])
