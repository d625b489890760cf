"""MetaSchedule's own XGBoost cost model, trained offline on Lorien's logs: the baseline.

During tuning, MetaSchedule's ``XGBModel`` learns from each batch of measurements of the kernel
being tuned. Here the same model (same per-store features, same "pack-sum" objective that sums
per-store predictions into a schedule's score, same labels ``best cost / cost`` per workload, same
hyper-parameters) is trained once on the logs of many workloads, so its ranking of unseen
networks can be compared with Lorien's models on equal data.

``XGBModel``'s public ``update`` retrains on every call, and with adaptive training may skip
the last data; fitting calls its ``_train`` once on all rows instead, the step ``update`` ends in
(TVM is pinned, and a test covers this call).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from lorien.dialects.tvm.features import PER_STORE_WIDTH, per_store_features
from lorien.records import Target, Workload


def _as_blocks(X: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per-store arrays ready for PackSum: float32, and one zero row for a schedule without
    stores (PackSum maps predictions back by row counts, so a schedule needs at least one row)."""
    blocks = []
    for stores in X:
        array = np.asarray(stores, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != PER_STORE_WIDTH:
            raise ValueError(f"each sample must be a (stores, {PER_STORE_WIDTH}) array, got {array.shape}")
        blocks.append(array if len(array) else np.zeros((1, PER_STORE_WIDTH), dtype=np.float32))
    return blocks


class MetaScheduleXGBCostModel(BaseEstimator):
    """MetaSchedule's ``XGBModel`` as an estimator over per-store features.

    ``X`` is a sequence (e.g. an object array) of per-store arrays, one (stores, 164) array per
    schedule, as :func:`lorien.dialects.tvm.features.per_store_features` returns them; ``y`` the
    normalised score in [0, 1] (0 for a failed measurement, which MetaSchedule weighs 0).

    Args:
        nthread: XGBoost threads; None for MetaSchedule's default (physical cores).
        early_stopping_rounds: as in ``XGBModel``.
        seed: XGBoost's seed.
    """

    def __init__(self, nthread: int | None = None, early_stopping_rounds: int = 50, seed: int = 43) -> None:
        self.nthread = nthread
        self.early_stopping_rounds = early_stopping_rounds
        self.seed = seed

    def fit(self, X: Sequence[np.ndarray], y: Any, group: Any = None) -> MetaScheduleXGBCostModel:
        """Fit on per-store features ``X`` and scores ``y``; ``group`` is accepted for a common
        signature and unused (the scores are already normalised per workload)."""
        from tvm.s_tir.meta_schedule.cost_model.xgb_model import XGBConfig, XGBModel

        blocks = _as_blocks(X)
        scores = np.asarray(y, dtype=np.float64)
        if len(blocks) != len(scores):
            raise ValueError(f"X has {len(blocks)} samples and y {len(scores)}")
        if not (scores > 0).any():
            raise ValueError("no positive score: every measurement failed, nothing to learn")
        model = XGBModel(config=XGBConfig(seed=self.seed, nthread=self.nthread),
                         early_stopping_rounds=self.early_stopping_rounds, verbose_eval=0,
                         adaptive_training=False)
        model._train(xs=blocks, ys=scores)
        self.model_ = model
        self.n_features_in_ = PER_STORE_WIDTH
        return self

    def predict(self, X: Sequence[np.ndarray]) -> np.ndarray:
        """Higher for faster schedules; one number per sample."""
        check_is_fitted(self)
        blocks = _as_blocks(X)
        if not blocks:
            return np.zeros(0)
        return np.asarray(self.model_._predict(xs=blocks), dtype=np.float64)


def per_store_rows(workload: Workload, target: Target,
                   schedules: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The model's input rows for schedules of one workload: an object array of per-store arrays,
    and the mask of schedules that applied."""
    per_store, ok = per_store_features(workload, target, schedules)
    rows = np.empty(len(per_store), dtype=object)
    for row, stores in enumerate(per_store):  # element-wise: equal shapes must not become a 3-D array
        rows[row] = stores
    return rows, ok
