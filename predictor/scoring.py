"""A registered cost model as a scorer of a workload's candidate schedules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lorien.datasets.tabular import DESCRIPTOR_NAMES, workload_descriptors
from lorien.dialects import Featurizer
from lorien.errors import InvalidInput
from lorien.records import Workload


class CostModelScorer:
    """Scores schedules with a fitted cost model: higher is faster; only the order within a
    workload means anything.

    The model's input is the dialect's schedule features followed by the workload descriptors,
    as in :func:`lorien.datasets.tabular.build_table`. Safe to share between threads as long as the
    model's ``predict`` is (LightGBM's and scikit-learn's are).

    Raises:
        InvalidInput: the model was trained on another dialect or another feature recipe.
    """

    def __init__(self, model: Any, metadata: dict[str, Any], dialect: Featurizer, name: str = "") -> None:
        trained_on = metadata.get("dialect")
        if trained_on != dialect.name:
            raise InvalidInput(f"cost model {name!r} was trained for dialect {trained_on!r}, "
                               f"not {dialect.name!r}")
        version = metadata.get("feature_version")
        if version != dialect.feature_version:
            raise InvalidInput(f"cost model {name!r} uses features {version!r}; dialect {dialect.name!r} "
                               f"makes {dialect.feature_version!r}: retrain it")
        self.model = model
        self.metadata = metadata
        self.dialect = dialect
        self.name = name

    def for_workload(self, workload: Workload) -> Callable[[np.ndarray], np.ndarray]:
        """A scorer of the dialect's schedule features of ``workload``'s schedules."""
        descriptors = workload_descriptors(workload)

        def score(features: np.ndarray) -> np.ndarray:
            if len(features) == 0:
                return np.zeros(0)
            rows = np.hstack([features, np.broadcast_to(descriptors, (len(features), len(DESCRIPTOR_NAMES)))])
            return np.asarray(self.model.predict(rows.astype(np.float32)), dtype=np.float64)

        return score
