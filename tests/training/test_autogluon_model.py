"""The AutoGluon cost model: respects its time limit (preprocessing aside), learns an order, pickles whole."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest
from sklearn.base import clone

from lorien.training.autogluon_model import AutoGluonCostModel
from lorien.training.metrics import ranking_report


def test_fit_predict_pickle_clone() -> None:
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 20)
    features = rng.uniform(size=(len(groups), 5))
    latency = np.exp(2 * features[:, 0] - features[:, 1])
    score = np.array([latency[groups == g].min() for g in groups]) / latency
    train, test = groups < 22, groups >= 22
    model = AutoGluonCostModel(time_limit=20, hyperparameters={"GBM": {}})
    started = time.perf_counter()
    assert model.fit(features[train], score[train]) is model
    assert time.perf_counter() - started < 60
    predicted = model.predict(features[test])
    assert ranking_report(predicted, latency[test], groups[test])["pairwise_accuracy"] > 0.85
    again = pickle.loads(pickle.dumps(model))
    assert np.allclose(again.predict(features[test]), predicted)
    fresh = clone(model)
    assert fresh.get_params() == model.get_params() and not hasattr(fresh, "predictor_")


def test_a_time_limit_shorter_than_the_preprocessing_still_fits_a_model() -> None:
    # 704 columns as the shipped features: preprocessing them takes about 0.3 s here and longer on
    # a busy machine; it must not eat the models' time limit
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 704))
    features[:, :300] = 0.0
    model = AutoGluonCostModel(time_limit=0.3).fit(features, rng.uniform(size=40))
    assert model.predict(features[:3]).shape == (3,)


@pytest.mark.parametrize("limit", [0, -1.0, float("nan"), "60"])
def test_a_time_limit_that_is_not_a_positive_number_is_refused(limit: object) -> None:
    with pytest.raises(ValueError, match="time_limit"):
        AutoGluonCostModel(time_limit=limit).fit(np.zeros((4, 2)), np.zeros(4))  # type: ignore[arg-type]
