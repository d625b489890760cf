"""Which of a ranked list's candidates to measure: the first few spread over unlike schedules.

A cost model's errors are shared by schedules that look alike: when it overrates a schedule it
overrates the schedule's near copies too, and measuring five near copies of a slow schedule finds
a slow schedule five times. On the held-out networks of the shipped data set that is where much
of the ranker's top-5 shortfall sits: groups whose five first picks are variations of one slow
decision (on an Xception 1x1 convolution, the model's five picks all put one 19-long output axis
at the outermost tile level and ran 16x slower than the schedules it placed sixth and seventh).
So the first ``k`` places, the ones a caller measures, are taken greedily from the model's first
``3k``: the first pick is the model's best, and each next pick is the candidate whose place in
the model's order, pushed back by up to ``3k`` places for resembling the pick nearest to it
already made, comes first. Resemblance is ``exp(-distance / median distance)`` between feature
rows standardised over those ``3k`` candidates (constant columns dropped), so a candidate as far
from every pick as two typical candidates are from each other loses about ``1.1k`` places, and a
copy of a pick loses ``3k``.

On the shipped data set's held-out groups (``lorien train``'s ``top5_spread``, each family held
out in turn) the five spread picks score top-5 0.949 on the groups that hold a search's picks,
against 0.942 for the model's first five: the gain is on a search's picks (evolved near copies,
0.948 against 0.942), none on those groups' adapted neighbours and random samples (0.963 both).
Measured on held-out networks (``benchmarks/spread_picks.py``), the spread five of the instant
pool (adapted neighbours and samples) made MobileNetV2's kernels 1.36x faster than the model's
first five, ResNet-18's 1.01x and Xception's 0.97-0.99x, and spread rounds of the local search's
mutants found the faster schedule more often than the first four. Both spread: the predictor's
``measure_top_k`` and the budgeted predictor's local rounds.

Pure functions of their arguments; safe from any thread.
"""

from __future__ import annotations

import numpy as np

#: The model's first ``WINDOW_PER_PICK * k`` candidates are where ``k`` spread picks come from.
WINDOW_PER_PICK = 3
#: A copy of a pick already made loses ``PUSH_PER_PICK * k`` places.
PUSH_PER_PICK = 3


def spread_order(features: np.ndarray, k: int, *, window_per_pick: int = WINDOW_PER_PICK,
                 push_per_pick: float = PUSH_PER_PICK, weight: np.ndarray | None = None) -> np.ndarray:
    """A permutation of ``range(len(features))``, the rows of a list ranked best first: its first
    ``k`` entries are the spread picks (see the module's docstring), the rest the other rows in
    their order. ``k`` of 1 or less, or a list of ``k`` rows or fewer, keeps the order.

    Args:
        features: one row per ranked candidate, best first, in the space the model ranked them in.
        k: how many candidates will be measured.
        window_per_pick: the picks come from the first ``window_per_pick * k`` rows.
        push_per_pick: a copy of a pick already made loses ``push_per_pick * k`` places.
        weight: each feature's weight in the distance (None: alike; a feature of weight 0 is
            left out), for ``benchmarks/spread_variants.py``.

    Raises:
        ValueError: ``features`` is not a 2-d array, ``weight`` not one entry per feature, the
            window under one row a pick or the push negative.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be one row per candidate, got shape {features.shape}")
    if window_per_pick < 1 or not push_per_pick >= 0:
        raise ValueError(f"the window must hold at least a row a pick and the push be at least 0, "
                         f"got {window_per_pick} and {push_per_pick}")
    if weight is not None:
        weight = np.asarray(weight, dtype=np.float64)
        if weight.shape != (features.shape[1],):
            raise ValueError(f"weight must have one entry per feature ({features.shape[1]}), "
                             f"got shape {weight.shape}")
    count = len(features)
    if k <= 1 or count <= k:
        return np.arange(count)
    window = min(count, window_per_pick * k)
    rows = np.nan_to_num(features[:window], nan=0.0, posinf=0.0, neginf=0.0)
    spread = rows.std(axis=0)
    varying = spread > 1e-9
    if weight is not None:
        varying &= weight > 0
    if not varying.any():  # the model's first candidates are all alike: nothing to spread over
        return np.arange(count)
    standard = (rows[:, varying] - rows[:, varying].mean(axis=0)) / spread[varying]
    share = np.full(int(varying.sum()), 1.0) if weight is None else weight[varying]
    share = share / share.sum()
    distance = np.sqrt(((standard[:, None, :] - standard[None, :, :]) ** 2 * share).sum(axis=-1))
    typical = max(float(np.median(distance[np.triu_indices(window, 1)])), 1e-12)
    places = np.arange(window, dtype=np.float64)
    push = push_per_pick * k
    picks = [0]
    while len(picks) < k:
        value = -places - push * np.exp(-distance[:, picks].min(axis=1) / typical)
        value[picks] = -np.inf
        picks.append(int(np.argmax(value)))
    chosen = set(picks)
    return np.array(picks + [i for i in range(count) if i not in chosen])
