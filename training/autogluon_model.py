"""The AutoML cost model: an AutoGluon ``TabularPredictor`` behind the scikit-learn contract."""

from __future__ import annotations

import io
import math
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

#: Model families left out by default: random forests and extra trees ignore the time limit
#: (292 s under a 60 s limit on 20k rows here), and the neural nets need torch-heavy extras.
EXCLUDED_MODEL_TYPES = ("RF", "XT", "KNN", "NN_TORCH", "FASTAI")


class AutoGluonCostModel(RegressorMixin, BaseEstimator):
    """AutoGluon regression of the normalised score, within a time limit.

    Args:
        time_limit: seconds AutoGluon may spend fitting models (positive). Preprocessing the
            feature table before (about 0.3 s on 40 rows, seconds on a busy machine) has its own
            allowance and does not eat into it, so a small limit still fits a model.
        presets: AutoGluon presets.
        hyperparameters: AutoGluon's model/hyper-parameter dict; None for its defaults minus
            :data:`EXCLUDED_MODEL_TYPES`.
        random_state: seed.
        num_cpus: CPU cores AutoGluon's models may use; None for every core.

    Pickling packs the fitted predictor's folder into the pickle, so a registered model is
    self-contained; the working folder (``path_``, under the system temporary folder) is left for
    the operating system to clean, since copies of a fitted model share it.
    """

    def __init__(self, time_limit: float = 60.0, presets: str = "medium_quality",
                 hyperparameters: dict[str, Any] | None = None, random_state: int = 0,
                 num_cpus: int | None = None) -> None:
        self.time_limit = time_limit
        self.presets = presets
        self.hyperparameters = hyperparameters
        self.random_state = random_state
        self.num_cpus = num_cpus

    def fit(self, X: Any, y: Any, group: Any = None) -> AutoGluonCostModel:
        """Fit on features ``X`` and scores ``y``; ``group`` is unused (a regressor)."""
        from autogluon.tabular import TabularPredictor

        if not (isinstance(self.time_limit, (int, float)) and math.isfinite(self.time_limit)
                and self.time_limit > 0):
            raise ValueError(f"time_limit must be a positive number of seconds, not {self.time_limit!r}")
        X, y = validate_data(self, X, y, y_numeric=True)
        frame = self._frame(X)
        frame["score"] = y
        self.path_ = tempfile.mkdtemp(prefix="lorien-autogluon-")
        # a fixed preprocessing allowance (>= 1 s) leaves the whole time limit to the models
        options: dict[str, Any] = {"time_limit": self.time_limit, "presets": self.presets,
                                   "time_limit_preprocessing": max(1.0, float(self.time_limit)),
                                   "num_cpus": "auto" if self.num_cpus is None else self.num_cpus}
        if self.hyperparameters is not None:
            options["hyperparameters"] = self.hyperparameters
        else:
            options["excluded_model_types"] = list(EXCLUDED_MODEL_TYPES)
        self.predictor_ = TabularPredictor(
            label="score", problem_type="regression", path=self.path_, verbosity=0
        ).fit(frame, **options, ag_args_fit={"random_seed": self.random_state})
        self.predictor_.persist()
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.predictor_.predict(self._frame(X)).to_numpy()

    @staticmethod
    def _frame(X: np.ndarray) -> Any:
        import pandas as pd

        return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if "predictor_" in state:
            state.pop("predictor_")
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                archive.add(self.path_, arcname="predictor")
            state["packed_predictor_"] = buffer.getvalue()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        packed = state.pop("packed_predictor_", None)
        self.__dict__.update(state)
        if packed is not None:
            from autogluon.tabular import TabularPredictor

            root = Path(tempfile.mkdtemp(prefix="lorien-autogluon-"))
            with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as archive:
                archive.extractall(root, filter="data")
            self.path_ = str(root / "predictor")
            self.predictor_ = TabularPredictor.load(self.path_, verbosity=0)

