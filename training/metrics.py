"""How well a cost model ranks schedules, measured per workload and averaged over workloads.

A workload with fewer than two successful measurements has nothing to rank: its metrics are NaN
and it does not count. All metrics take parallel arrays: the model's ``predicted`` score (higher =
faster), the measured ``latency`` in seconds (``inf`` for a failed measurement) and each row's
``group`` (workload key). A workload's metric counts with its ``weight`` (e.g. how often
networks run it; 1 by default).

- ``top_k_score`` (TenSet, Zheng et al. 2021): best latency of the workload divided by the best
  latency among the model's top-k picks; 1.0 means the model's k picks include the fastest.
- ``ndcg_at_k``: normalised discounted cumulative gain of the model's order, with relevance
  ``best latency / latency`` (0 for failures).
- ``pairwise_accuracy``: share of schedule pairs with different latencies that the model orders
  correctly.
- ``top5_spread``: ``top5`` of the model's first five spread over unlike schedules
  (:mod:`lorien.spread`), as the predictor picks what it measures (``measure_top_k``, the
  budgeted local search's mutants); reported when the rows' features are given
  (:func:`spread_keys`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy.special import comb

from lorien.spread import spread_order

GroupMetric = Callable[[np.ndarray, np.ndarray], float]


def _relevance(latency: np.ndarray) -> np.ndarray:
    finite = np.isfinite(latency)
    if not finite.any():
        return np.zeros_like(latency, dtype=float)
    best = latency[finite].min()
    return np.where(finite, best / np.where(finite, latency, 1.0), 0.0)


def top_k_score(k: int) -> GroupMetric:
    """The per-group metric ``best latency / best latency among the model's top-k picks`` (NaN when
    fewer than two rows succeeded; 0 when every pick failed)."""

    def metric(predicted: np.ndarray, latency: np.ndarray) -> float:
        if np.isfinite(latency).sum() < 2:  # nothing to rank
            return float("nan")
        picks = np.argsort(-predicted, kind="stable")[:k]
        best_pick = latency[picks].min()
        return float(latency[np.isfinite(latency)].min() / best_pick) if np.isfinite(best_pick) else 0.0

    return metric


def _ndcg(k: int) -> GroupMetric:
    def metric(predicted: np.ndarray, latency: np.ndarray) -> float:
        relevance = _relevance(latency)
        if np.count_nonzero(relevance) < 2:  # nothing to rank
            return float("nan")
        discounts = 1.0 / np.log2(np.arange(2, min(k, len(relevance)) + 2))
        gained = relevance[np.argsort(-predicted, kind="stable")][:k]
        ideal = np.sort(relevance)[::-1][:k]
        return float((gained * discounts).sum() / (ideal * discounts).sum())

    return metric


def _pairwise(predicted: np.ndarray, latency: np.ndarray) -> float:
    relevance = _relevance(latency)
    true_order = np.sign(relevance[:, None] - relevance[None, :])
    model_order = np.sign(predicted[:, None] - predicted[None, :])
    pairs = true_order != 0
    if not pairs.any():
        return float("nan")
    return float((true_order[pairs] == model_order[pairs]).mean())


def per_workload(metric: GroupMetric, predicted: np.ndarray, latency: np.ndarray,
                 group: np.ndarray) -> dict[str, float]:
    """The metric of each workload (NaN where it is undefined, e.g. every run failed)."""
    predicted, latency, group = np.asarray(predicted, float), np.asarray(latency, float), np.asarray(group)
    if not (len(predicted) == len(latency) == len(group)):
        raise ValueError("predicted, latency and group must have the same length")
    return {str(key): metric(predicted[group == key], latency[group == key])
            for key in np.unique(group)}


def weighted_mean(values: Mapping[str, float], weight: Mapping[str, float] | None = None) -> float:
    """Mean over workloads with a defined value, weighted by ``weight`` (1 when missing)."""
    pairs = [(v, (weight or {}).get(k, 1.0)) for k, v in values.items() if not np.isnan(v)]
    total = sum(w for _, w in pairs)
    return float(sum(v * w for v, w in pairs) / total) if total else float("nan")


def spread_keys(predicted: np.ndarray, features: np.ndarray, group: np.ndarray, k: int = 5,
                **spread: Any) -> np.ndarray:
    """Each row's key (higher first) in the model's order with its group's first ``k`` places
    spread (:func:`lorien.spread.spread_order` over the rows' ``features``, with its keyword
    arguments ``spread``: the shipped window and push when none). Ties in ``predicted`` keep the
    rows' order, as in the metrics.

    Raises:
        ValueError: the arrays do not have one entry (row) per row.
    """
    predicted, features, group = np.asarray(predicted, float), np.asarray(features), np.asarray(group)
    if not (len(predicted) == len(features) == len(group)):
        raise ValueError("predicted, features and group must have the same length")
    keys = np.zeros(len(predicted))
    for key in np.unique(group):
        rows = np.flatnonzero(group == key)
        ranked = rows[np.argsort(-predicted[rows], kind="stable")]
        order = ranked[spread_order(features[ranked], k, **spread)]
        keys[order] = -np.arange(len(order), dtype=float)
    return keys


def ranking_report(predicted: np.ndarray, latency: np.ndarray, group: np.ndarray,
                   weight: Mapping[str, float] | None = None,
                   spread: np.ndarray | None = None) -> dict[str, float]:
    """Top-1, top-5, NDCG@5 and pairwise accuracy, each averaged over workloads; and
    ``top5_spread`` when ``spread`` holds the rows' :func:`spread_keys`."""
    metrics: dict[str, GroupMetric] = {
        "top1": top_k_score(1), "top5": top_k_score(5), "ndcg@5": _ndcg(5),
        "pairwise_accuracy": _pairwise,
    }
    report = {name: weighted_mean(per_workload(m, predicted, latency, group), weight)
              for name, m in metrics.items()}
    if spread is not None:
        report["top5_spread"] = weighted_mean(per_workload(top_k_score(5), spread, latency, group), weight)
    return report


def expected_top_k(k: int) -> Callable[[np.ndarray], float]:
    """The top-k score a uniformly random order gets on average, exactly: the expected best
    relevance among k rows drawn without replacement."""

    def metric(latency: np.ndarray) -> float:
        if np.isfinite(latency).sum() < 2:
            return float("nan")
        relevance = np.sort(_relevance(latency))[::-1]
        n = len(relevance)
        if k >= n:
            return 1.0
        # P(the i-th best (0-based) is the best of the k picks) = C(n-1-i, k-1) / C(n, k)
        chance = comb(n - 1 - np.arange(n), k - 1) / comb(n, k)
        return float((relevance * chance).sum())

    return metric


def random_ranking_report(latency: np.ndarray, group: np.ndarray,
                          weight: Mapping[str, float] | None = None) -> dict[str, float]:
    """What a random pick scores on :func:`ranking_report`'s metrics, as exact expectations for
    top-1 and top-5 (pairwise accuracy 0.5; NDCG@5 averaged over 64 seeded random orders)."""
    latency, group = np.asarray(latency, float), np.asarray(group)
    keys = np.unique(group)
    report = {}
    for name, k in (("top1", 1), ("top5", 5)):
        expected = expected_top_k(k)
        report[name] = weighted_mean({str(key): expected(latency[group == key]) for key in keys}, weight)
    rng = np.random.default_rng(0)
    report["ndcg@5"] = float(np.mean([
        weighted_mean(per_workload(_ndcg(5), rng.uniform(size=len(latency)), latency, group), weight)
        for _ in range(64)]))
    report["pairwise_accuracy"] = 0.5
    return report
