"""Ranking metrics on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from lorien.training.metrics import ranking_report

INF = float("inf")


def test_a_perfect_model_scores_one() -> None:
    latency = np.array([3.0, 1.0, 2.0, 4.0, 5.0, 6.0])
    report = ranking_report(-latency, latency, np.array(["a"] * 6))
    assert report == pytest.approx({"top1": 1.0, "top5": 1.0, "ndcg@5": 1.0, "pairwise_accuracy": 1.0})


def test_a_reversed_model() -> None:
    latency = np.array([1.0, 2.0, 4.0])
    report = ranking_report(latency, latency, np.array(["a"] * 3))
    assert report["top1"] == pytest.approx(1 / 4)   # picks the 4 s schedule; best is 1 s
    assert report["top5"] == pytest.approx(1.0)     # three schedules: top-5 holds them all
    assert report["pairwise_accuracy"] == 0.0


def test_failures_and_workload_weights() -> None:
    latency = np.array([INF, 2.0, 1.0, 1.0, 3.0])
    predicted = np.array([9.0, 1.0, 0.0, 5.0, 1.0])  # workload a: picks the failed one first
    group = np.array(["a", "a", "a", "b", "b"])
    report = ranking_report(predicted, latency, group, weight={"a": 1.0, "b": 3.0})
    assert report["top1"] == pytest.approx((0.0 * 1 + 1.0 * 3) / 4)
    assert 0 < report["ndcg@5"] < 1


def test_workloads_where_everything_failed_are_left_out() -> None:
    report = ranking_report(np.array([1.0, 2.0, 1.0, 2.0]), np.array([INF, INF, 2.0, 1.0]),
                            np.array(["a", "a", "b", "b"]))
    assert report["top1"] == 1.0


def test_workloads_with_one_schedule_have_nothing_to_rank() -> None:
    report = ranking_report(np.array([1.0, 1.0, 2.0]), np.array([5.0, 2.0, 1.0]),
                            np.array(["single", "b", "b"]))
    assert report["top1"] == 1.0 and report["ndcg@5"] == 1.0  # only "b" counts


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        ranking_report(np.zeros(2), np.zeros(3), np.zeros(3))


def test_a_random_pick_scores_its_exact_expectation() -> None:
    import itertools

    from lorien.training.metrics import random_ranking_report

    latency = np.array([1.0, 2.0, 4.0, np.inf, 3.0, 1.5, 8.0, 2.0])
    group = np.array(["a"] * 6 + ["b"] * 2)
    relevance = {"a": np.where(np.isfinite(latency[:6]), 1.0 / latency[:6], 0.0), "b": np.array([1.0, 0.25])}

    def brute(k: int, rel: np.ndarray) -> float:
        subsets = itertools.combinations(range(len(rel)), min(k, len(rel)))
        return float(np.mean([rel[list(c)].max() for c in subsets]))

    report = random_ranking_report(latency, group)
    for name, k in (("top1", 1), ("top5", 5)):
        assert report[name] == pytest.approx(np.mean([brute(k, rel) for rel in relevance.values()]))
    assert report["pairwise_accuracy"] == 0.5 and 0 < report["ndcg@5"] < 1


def test_the_spread_picks_reach_past_near_copies_of_a_slow_schedule() -> None:
    """Five near copies of one slow schedule ranked first, two unlike ones after them: the
    model's five first find 4 ms, its five spread picks (what a predictor measures) the 1 ms one."""
    from lorien.training.metrics import spread_keys

    predicted = np.array([10.0, 9.9, 9.8, 9.7, 9.6, 9.5, 9.4])
    features = np.array([[0.0, 0.0], [0.0, 0.01], [0.01, 0.0], [0.0, 0.02], [0.02, 0.0],
                         [5.0, 5.0], [5.0, -5.0]])
    latency = np.array([4.0, 4.1, 4.2, 4.3, 4.4, 1.0, 2.0])
    group = np.array(["a"] * 7)
    keys = spread_keys(predicted, features, group)
    report = ranking_report(predicted, latency, group, spread=keys)
    assert report["top5"] == pytest.approx(1.0 / 4.0)
    assert report["top5_spread"] == pytest.approx(1.0)
    assert report["top1"] == pytest.approx(1.0 / 4.0)  # the first pick stays
    assert "top5_spread" not in ranking_report(predicted, latency, group)


def test_spread_keys_rank_each_group_on_its_own() -> None:
    from lorien.training.metrics import spread_keys

    predicted = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    features = np.arange(10.0).reshape(5, 2)
    group = np.array(["a", "a", "a", "b", "b"])
    keys = spread_keys(predicted, features, group, k=1)  # k=1: the model's order
    assert list(np.argsort(-keys[:3], kind="stable")) == [0, 2, 1]
    assert keys[3] > keys[4]
    with pytest.raises(ValueError, match="same length"):
        spread_keys(predicted, features[:4], group)
