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


@pytest.mark.parametrize("model_type", ["lightgbm", "sklearn"])
def test_each_model_type_fits_on_the_threads_it_is_given(model_type: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """``MODEL_TYPES[t](time_limit, threads)``: LightGBM is told its thread count; scikit-learn's
    OpenMP runtime is capped while it fits and predicts, and left as it was after."""
    from threadpoolctl import threadpool_info

    from lorien.training.pipeline import MODEL_TYPES

    def openmp_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}

    seen: list[set[int]] = []
    if model_type == "sklearn":
        from sklearn.ensemble import HistGradientBoostingRegressor

        fit = HistGradientBoostingRegressor.fit
        monkeypatch.setattr(HistGradientBoostingRegressor, "fit",
                            lambda self, *a, **k: (seen.append(openmp_threads()), fit(self, *a, **k))[1])
    before = openmp_threads()
    rng = np.random.default_rng(0)
    model = MODEL_TYPES[model_type](1.0, 1)
    model.fit(rng.uniform(size=(60, 4)), rng.uniform(size=60), group=np.repeat(np.arange(6), 10))
    assert model.predict(rng.uniform(size=(3, 4))).shape == (3,)
    if model_type == "lightgbm":
        assert model.model_.booster_.params["num_threads"] == 1
    else:
        assert seen == [{1}]
    assert openmp_threads() == before


def test_the_baseline_and_autogluon_take_the_thread_count() -> None:
    from lorien.dialects import Featurizer, get_dialect
    from lorien.training.pipeline import MODEL_TYPES

    native = get_dialect("tvm", Featurizer).native_cost_model()
    assert native is not None and native.make(threads=2).nthread == 2 and native.make().nthread is None
    assert MODEL_TYPES["autogluon"](5.0, 3).num_cpus == 3


def test_a_model_pickled_before_it_had_a_thread_count_still_predicts() -> None:
    import pickle

    rng = np.random.default_rng(0)
    model = GradientBoostingCostModel(max_iter=5).fit(rng.uniform(size=(40, 3)), rng.uniform(size=40))
    del model.n_jobs  # as an estimator registered by an earlier release unpickles
    restored = pickle.loads(pickle.dumps(model))
    assert restored.predict(rng.uniform(size=(2, 3))).shape == (2,)
