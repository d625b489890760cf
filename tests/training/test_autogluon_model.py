"""The AutoGluon cost model: respects its time limit, learns an order, pickles whole."""

from __future__ import annotations

import pickle
import time

import numpy as np
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
