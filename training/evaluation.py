"""Held-out evaluation: train on the workloads of some networks (or CPUs), score on another's.

Random rows would leak: schedules of one workload are near copies of each other. Holding out a
whole network (every workload that occurs only in it) measures what users get on a model Lorien
never tuned, which is the promise of the predictor. Holding out a CPU (every row measured on it)
measures what a model trained elsewhere is worth on a machine it never saw.

Rows rank within their group (a workload on one target, :attr:`LogTable.groups`); a workload's
metrics count once per CPU it was measured on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lorien.datasets.tabular import LogTable
from lorien.errors import InvalidInput
from lorien.training.metrics import random_ranking_report, ranking_report, spread_keys


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
    groups: np.ndarray              # each test row's ranking group (workload@target)
    #: each test row's key in its group's order with the first five places spread over unlike
    #: schedules (:func:`~lorien.training.metrics.spread_keys`); None where there is none (a random
    #: pick, a compiler's own features)
    spread: np.ndarray | None = None


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
        results.append(_held_out(table, network, train, test, make_model))
    return results


def cpu_split(table: LogTable, cpu: str) -> tuple[np.ndarray, np.ndarray]:
    """Row masks ``(train, test)``: test rows were measured on ``cpu`` (a target's canonical
    text, or its ``mcpu``), train rows on every other target."""
    test = np.array([target == cpu or _mcpu(target) == cpu for target in table.targets], dtype=bool)
    return ~test, test


def cpu_of(target: str) -> str:
    """The CPU a target (its canonical text) names: its ``mcpu``, else the canonical text."""
    return _mcpu(target) or target


def cpus_of(table: LogTable) -> list[str]:
    """The CPUs (:func:`cpu_of`) the table's rows were measured on."""
    return sorted({cpu_of(t) for t in table.targets})


def leave_cpu_out(table: LogTable, make_model: Callable[[], Any], cpus: list[str] | None = None
                  ) -> list[HeldOutResult]:
    """Fit a fresh model without each CPU's rows and score it on them (``network`` of each result
    names the CPU); None holds out each CPU of the table in turn. A table of one CPU gives no
    result.

    Raises:
        InvalidInput: a CPU has no rows.
    """
    results = []
    for cpu in cpus if cpus is not None else cpus_of(table):
        train, test = cpu_split(table, cpu)
        if not test.any():
            raise InvalidInput(f"no row measured on {cpu!r}")
        if train.any():
            results.append(_held_out(table, cpu, train, test, make_model))
    return results


def random_pick(table: LogTable, name: str, test: np.ndarray) -> HeldOutResult:
    """What picking schedules at random scores on the ``test`` rows (exact expectations, see
    :func:`lorien.training.metrics.random_ranking_report`), as a result like a model's: the
    floor every model is compared with, on the same rows and splits."""
    groups = table.groups[test]
    return HeldOutResult(
        network=name, train_rows=0, test_rows=int(test.sum()),
        test_workloads=_rankable(groups, table.latency[test]),
        metrics=random_ranking_report(table.latency[test], groups),
        predicted=np.random.default_rng(0).uniform(size=int(test.sum())),
        score=table.score[test], groups=groups)


def searched_groups(table: LogTable) -> np.ndarray:
    """Row mask of the groups that hold search picks (a search's and, beside it, random samples'),
    the rows a ranker's goal is stated on: groups of adapted neighbours alone rank only an instant
    answer's few candidates, where a random pick scores far higher. Every row when the table
    does not record origins."""
    if len(table.origins) != len(table):
        return np.ones(len(table), dtype=bool)
    return np.isin(table.groups, np.unique(table.groups[table.origins == "search"]))


def within_groups(result: HeldOutResult, groups: np.ndarray) -> HeldOutResult | None:
    """``result`` scored again on its rows of ``groups`` only (same predictions; the labels'
    latencies relative to each group's best are all a metric needs), or None when it has none."""
    rows = np.isin(result.groups, groups)
    if not rows.any():
        return None
    latency = np.where(result.score[rows] > 0, 1.0 / np.maximum(result.score[rows], 1e-300), np.inf)
    spread = None if result.spread is None else result.spread[rows]
    return HeldOutResult(
        network=result.network, train_rows=result.train_rows, test_rows=int(rows.sum()),
        test_workloads=_rankable(result.groups[rows], latency),
        metrics=ranking_report(result.predicted[rows], latency, result.groups[rows], spread=spread),
        predicted=result.predicted[rows], score=result.score[rows], groups=result.groups[rows],
        spread=spread)


def workload_weighted(results: list[HeldOutResult]) -> dict[str, float]:
    """Each metric's mean over held-out results, weighted by their rankable workloads (a network
    of 60 kernels counts 20 times one of 3); empty when no result has a workload."""
    weights = np.array([r.test_workloads for r in results], dtype=float)
    if not weights.sum():
        return {}
    return {m: float(np.average([r.metrics[m] for r in results], weights=weights))
            for m in results[0].metrics}


def _mcpu(target: str) -> str:
    try:
        config = json.loads(target)
    except ValueError:
        return ""
    return str(config.get("mcpu", "")) if isinstance(config, dict) else ""


def _held_out(table: LogTable, name: str, train: np.ndarray, test: np.ndarray,
              make_model: Callable[[], Any]) -> HeldOutResult:
    model = make_model()
    model.fit(table.features[train], table.score[train], group=table.groups[train])
    predicted = np.asarray(model.predict(table.features[test]), dtype=np.float64)
    groups = table.groups[test]
    # a compiler's own features may be rows of several lengths (MetaSchedule's, one per store):
    # nothing to measure distances in, so no spread picks
    tabular = table.features.ndim == 2 and np.issubdtype(table.features.dtype, np.number)
    spread = spread_keys(predicted, table.features[test], groups) if tabular else None
    return HeldOutResult(
        network=name,
        train_rows=int(train.sum()),
        test_rows=int(test.sum()),
        test_workloads=_rankable(groups, table.latency[test]),
        metrics=ranking_report(predicted, table.latency[test], groups, spread=spread),
        predicted=predicted,
        score=table.score[test],
        groups=groups,
        spread=spread,
    )


def _rankable(keys: np.ndarray, latency: np.ndarray) -> int:
    """Groups with at least two successful measurements (the others have nothing to rank)."""
    ok_keys, counts = np.unique(keys[np.isfinite(latency)], return_counts=True)
    return int((counts >= 2).sum()) if len(ok_keys) else 0
