"""The spread picks: the first few places of a ranked list taken over unlike schedules."""

from __future__ import annotations

import numpy as np
import pytest

from lorien.spread import WINDOW_PER_PICK, spread_order


def clusters(sizes: list[int], seed: int = 0) -> np.ndarray:
    """Rows in ranked order: ``sizes[i]`` near copies of the i-th of points all equally apart
    (10 times the i-th unit vector)."""
    rng = np.random.default_rng(seed)
    return np.vstack([10.0 * np.eye(len(sizes))[i] + rng.normal(scale=0.01, size=(size, len(sizes)))
                      for i, size in enumerate(sizes)])


def test_near_copies_of_the_first_pick_give_way_to_unlike_candidates() -> None:
    order = spread_order(clusters([3, 2, 2]), 3)
    assert sorted(order) == list(range(7))  # a permutation
    assert list(order[:3]) == [0, 3, 5]  # one of each kind, each kind's best
    assert list(order[3:]) == [1, 2, 4, 6]  # the rest in the model's order


def test_the_first_pick_and_small_lists_keep_the_models_order() -> None:
    features = clusters([4, 4])
    assert list(spread_order(features, 1)) == list(range(8))
    assert list(spread_order(features, 0)) == list(range(8))
    assert list(spread_order(features[:3], 3)) == [0, 1, 2]  # no more rows than picks
    assert spread_order(features, 4)[0] == 0
    assert list(spread_order(np.ones((8, 3)), 4)) == list(range(8))  # all alike: nothing to spread


def test_picks_come_from_the_models_first_few_only() -> None:
    """An unlike candidate ranked past the window is never pulled forward; inside it, it is."""
    k = 2
    window = WINDOW_PER_PICK * k
    assert window not in spread_order(clusters([window, 1]), k)[:k]
    assert list(spread_order(clusters([window - 1, 1]), k)[:k]) == [0, window - 1]


def test_a_copy_loses_more_places_than_a_typical_neighbour() -> None:
    """A candidate a few places down that copies the first pick loses to an unlike one further
    down, while an unlike one loses at most a fraction of the push."""
    rng = np.random.default_rng(1)
    features = rng.normal(size=(15, 4))
    features[1] = features[0]  # the second is a copy of the first
    order = spread_order(features, 5)
    assert 1 not in order[:5]


def test_non_finite_features_are_taken_as_zero_and_a_bad_shape_refused() -> None:
    features = clusters([3, 3])
    features[1, 0] = np.nan
    features[4, 1] = np.inf
    order = spread_order(features, 2)
    assert order[0] == 0 and sorted(order) == list(range(6))
    with pytest.raises(ValueError, match="one row per candidate"):
        spread_order(np.zeros(5), 2)


def test_a_feature_of_weight_zero_is_left_out_and_a_wrong_weight_is_refused() -> None:
    # ranked A, A, B, C, A, C: B differs from A in the second feature only, C in the first only
    kinds = {"A": (0.0, 0.0), "B": (0.0, 10.0), "C": (10.0, 0.0)}
    noise = np.random.default_rng(0).normal(scale=0.01, size=(6, 2))
    features = np.array([kinds[kind] for kind in "AABCAC"]) + noise
    assert list(spread_order(features, 2)[:2]) == [0, 2]  # B is unlike A
    assert list(spread_order(features, 2, weight=np.ones(2))) == list(spread_order(features, 2))
    assert list(spread_order(features, 2, weight=np.array([1.0, 0.0]))[:2]) == [0, 3]  # B is A's copy
    assert set(spread_order(features, 2, window_per_pick=1)[:2]) == {0, 1}  # a window of 2 rows
    with pytest.raises(ValueError, match="one entry per feature"):
        spread_order(features, 2, weight=np.ones(3))
    with pytest.raises(ValueError, match="at least a row a pick"):
        spread_order(features, 2, window_per_pick=0)
