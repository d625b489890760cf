"""Cost models: the scikit-learn estimator contract, and that they learn an order."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from lorien.training.cost_models import GradientBoostingCostModel, LightGBMRankingCostModel
from lorien.training.metrics import ranking_report

FAST = [GradientBoostingCostModel(max_iter=20), LightGBMRankingCostModel(n_estimators=20)]


@parametrize_with_checks(FAST)
def test_sklearn_estimator_contract(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)


@pytest.mark.parametrize("model", FAST, ids=lambda m: type(m).__name__)
def test_models_learn_the_order_of_schedules(model) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 30)
    features = rng.uniform(size=(len(groups), 6))
    latency = np.exp(2 * features[:, 0] - features[:, 1] + 0.05 * rng.normal(size=len(groups)))
    score = np.array([latency[groups == g].min() for g in groups]) / latency
    train, test = groups < 30, groups >= 30
    model.fit(features[train], score[train], group=groups[train])
    report = ranking_report(model.predict(features[test]), latency[test], groups[test])
    assert report["pairwise_accuracy"] > 0.85
    assert report["top5"] > 0.9
