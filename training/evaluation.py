"""Leave-network-out evaluation: train on the workloads of some networks, score on another's.

Random rows would leak: schedules of one workload are near copies of each other. Holding out a
whole network (every workload that occurs only in it) measures what users get on a model Lorien
never tuned, which is the promise of the predictor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lorien.datasets.tabular import LogTable
from lorien.errors import InvalidInput
from lorien.training.metrics import ranking_report


@dataclass(frozen=True)
class HeldOutResult:
    """Metrics of a model trained without one network, on that network's own workloads."""

    network: str
    train_rows: int
    test_rows: int
    test_workloads: int
    metrics: dict[str, float]


def network_split(table: LogTable, networks_of: Mapping[str, set[str]],
                  held_out: str) -> tuple[np.ndarray, np.ndarray]:
    """Row masks ``(train, test)``: test rows are workloads of ``held_out`` (``model@batch``, or a
    bare ``model`` for every batch of it); train rows are workloads that occur in no network of
    the same model (so ``resnet18@4`` is not trained on when ``resnet18@1`` is held out)."""
    family = held_out.split("@")[0]
    in_family = {key for key, names in networks_of.items()
                 if any(name.split("@")[0] == family for name in names)}
    test_keys = in_family if "@" not in held_out else {
        key for key, names in networks_of.items() if held_out in names}
    keys = table.workload_keys
    test = np.isin(keys, list(test_keys))
    train = ~np.isin(keys, list(in_family))
    return train, test


def leave_network_out(
    table: LogTable,
    networks_of: Mapping[str, set[str]],
    make_model: Callable[[], Any],
    held_out: list[str],
) -> list[HeldOutResult]:
    """Fit a fresh model without each held-out network and score it on that network.

    Raises:
        InvalidInput: a held-out network has no rows, or nothing is left to train on.
    """
    results = []
    for network in held_out:
        train, test = network_split(table, networks_of, network)
        if not test.any():
            raise InvalidInput(f"no logged workload of network {network!r}")
        if not train.any():
            raise InvalidInput(f"holding out {network!r} leaves nothing to train on")
        model = make_model()
        model.fit(table.features[train], table.score[train], group=table.workload_keys[train])
        predicted = model.predict(table.features[test])
        results.append(HeldOutResult(
            network=network,
            train_rows=int(train.sum()),
            test_rows=int(test.sum()),
            test_workloads=len(set(table.workload_keys[test])),
            metrics=ranking_report(predicted, table.latency[test], table.workload_keys[test]),
        ))
    return results
