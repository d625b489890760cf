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


@dataclass(frozen=True, eq=False)
class HeldOutResult:
    """Metrics of a model trained without one network, on that network's own workloads, and the
    predictions they were computed from (parallel arrays over the test rows, for plots)."""

    network: str
    train_rows: int
    test_rows: int
    test_workloads: int             # with at least two successful measurements: something to rank
    metrics: dict[str, float]
    predicted: np.ndarray
    score: np.ndarray
    workload_keys: np.ndarray


def network_split(table: LogTable, networks_of: Mapping[str, set[str]],
                  held_out: str) -> tuple[np.ndarray, np.ndarray]:
    """Row masks ``(train, test)``: test rows are workloads of ``held_out``; train rows are
    workloads that occur in no network of the same models (so ``resnet18@4`` is not trained on
    when ``resnet18@1`` is held out).

    ``held_out`` is ``model@batch``, a bare ``model`` for every batch of it, or several of those
    joined by ``+`` (variants of one architecture, e.g. ``bert_base_s64+bert_base_s128``)."""
    parts = held_out.split("+")
    families = {part.split("@")[0] for part in parts}
    in_family = {key for key, names in networks_of.items()
                 if any(name.split("@")[0] in families for name in names)}
    test_keys = {key for key, names in networks_of.items()
                 if any(part in names if "@" in part else
                        any(name.split("@")[0] == part for name in names) for part in parts)}
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
            test_workloads=_rankable(table.workload_keys[test], table.latency[test]),
            metrics=ranking_report(predicted, table.latency[test], table.workload_keys[test]),
            predicted=np.asarray(predicted, dtype=np.float64),
            score=table.score[test],
            workload_keys=table.workload_keys[test],
        ))
    return results


def _rankable(keys: np.ndarray, latency: np.ndarray) -> int:
    """Workloads with at least two successful measurements (the others have nothing to rank)."""
    ok_keys, counts = np.unique(keys[np.isfinite(latency)], return_counts=True)
    return int((counts >= 2).sum()) if len(ok_keys) else 0
