"""Cost models that rank schedules, following the scikit-learn estimator contract.

Each model learns ``score = best latency of the workload / latency`` (see
:mod:`lorien.datasets.tabular`) from schedule features and predicts a number that is higher for
faster schedules; only the order within a workload matters. ``fit`` returns ``self``; fitted
attributes end in ``_``; hyper-parameters are constructor arguments stored unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from lorien.errors import InvalidInput

if TYPE_CHECKING:
    from lightgbm import Booster, LGBMRanker

#: LightGBM's lambdarank takes integer relevance grades; scores in [0, 1] map onto 0..RELEVANCE_GRADES.
RELEVANCE_GRADES = 30


class GradientBoostingCostModel(RegressorMixin, BaseEstimator):
    """The scikit-learn baseline: histogram gradient boosting regressing the normalised score.

    Args:
        max_iter: boosting iterations.
        learning_rate: shrinkage.
        random_state: seed.
        n_jobs: OpenMP threads for fitting and predicting; None for every core.
    """

    def __init__(self, max_iter: int = 200, learning_rate: float = 0.1,
                 random_state: int | None = 0, n_jobs: int | None = None) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any, group: Any = None) -> GradientBoostingCostModel:
        """Fit on features ``X`` and scores ``y``; ``group`` (workload keys) is accepted for a
        common signature and unused: a regressor needs no grouping."""
        X, y = validate_data(self, X, y, y_numeric=True)
        with threadpool_limits(self.n_jobs, user_api="openmp"):
            self.model_ = HistGradientBoostingRegressor(
                max_iter=self.max_iter, learning_rate=self.learning_rate, random_state=self.random_state
            ).fit(X, y)
        self.n_iter_ = self.model_.n_iter_
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        # a model registered before ``n_jobs`` existed unpickles without it: every core, as then
        with threadpool_limits(getattr(self, "n_jobs", None), user_api="openmp"):
            return self.model_.predict(X)

class LightGBMRankingCostModel(BaseEstimator):
    """LightGBM with the lambdarank objective: learns the order of schedules within a workload.

    Not a regressor: its predictions rank, they are not on the scale of the scores.

    Args:
        n_estimators: boosting rounds.
        learning_rate: shrinkage.
        num_leaves: leaves per tree.
        max_bin: values each feature is binned into before the trees cut it (63 ranks as well as
            LightGBM's default 255 on the held-out families and fits in about half the time:
            ``benchmarks/ranker_variants.py``'s ``max-bin-255``).
        random_state: seed.
        n_jobs: threads for fitting and predicting; None for LightGBM's default (every physical
            core).
    """

    #: The fitted ranker, or its booster when read back with :meth:`from_text` (they predict alike).
    model_: LGBMRanker | Booster

    def __init__(self, n_estimators: int = 300, learning_rate: float = 0.05, num_leaves: int = 63,
                 max_bin: int = 63, random_state: int | None = 0, n_jobs: int | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_bin = max_bin
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any, group: Any = None) -> LightGBMRankingCostModel:
        """Fit on features ``X``, scores ``y`` in [0, 1] and ``group`` (one workload key per row;
        all rows one group when None)."""
        from lightgbm import LGBMRanker

        X, y = validate_data(self, X, y, y_numeric=True)
        keys = np.zeros(len(y), dtype=int) if group is None else np.asarray(group)
        if len(keys) != len(y):
            raise ValueError(f"group has {len(keys)} entries for {len(y)} rows")
        order = np.argsort(keys, kind="stable")
        _, sizes = np.unique(keys[order], return_counts=True)
        grades = np.rint(np.clip(y[order], 0.0, 1.0) * RELEVANCE_GRADES).astype(int)
        self.model_ = LGBMRanker(
            objective="lambdarank", n_estimators=self.n_estimators,
            learning_rate=self.learning_rate, num_leaves=self.num_leaves, max_bin=self.max_bin,
            random_state=self.random_state, label_gain=list(range(RELEVANCE_GRADES + 1)),
            min_child_samples=5, verbose=-1, n_jobs=self.n_jobs,
        ).fit(X[order], grades, group=sizes)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return np.asarray(self.model_.predict(X))

    def to_text(self) -> str:
        """The fitted model in LightGBM's own text format (no pickle), for :meth:`from_text`."""
        check_is_fitted(self)
        booster = self.model_.booster_ if hasattr(self.model_, "booster_") else self.model_
        return booster.model_to_string()

    @classmethod
    def from_text(cls, text: str) -> LightGBMRankingCostModel:
        """A fitted model read back from :meth:`to_text`; predicts exactly as the original.

        Raises:
            InvalidInput: not a LightGBM model text.
        """
        from lightgbm import Booster

        try:
            booster = Booster(model_str=text)
        except Exception as exc:
            raise InvalidInput(f"not a LightGBM model: {str(exc).splitlines()[0][:200]}") from None
        model = cls()
        model.model_ = booster
        model.n_features_in_ = booster.num_feature()
        return model
