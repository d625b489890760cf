"""Variants of the shipped ranker's recipe on the rows the ranker goal counts: search-and-random groups.

The goal (top-1 >= 0.80, top-5 >= 0.95 leave-network-out) is about ranking what a search and a
random draw find; groups that hold adapted neighbours only (a campaign of ``--trials 0
--random-samples 0``) are easier (a random pick scores about 0.72 there) and lift the averages
``lorien train`` prints. Here each family is held out in turn, every variant is trained on the
same rows as ``lorien train`` (neighbour-only groups included) and scored on the held-out family's
groups that hold search picks, beside a random pick (its exact expectation). One line per variant
with its workload-weighted top-1 / top-5, then each family's top-1.

Variants (LightGBM lambdarank as shipped, one change each):

* ``shipped``: the recipe of :class:`lorien.training.cost_models.LightGBMRankingCostModel`;
* ``group-relative``: each schedule feature also as its difference from its group's mean (what a
  schedule does against the other schedules of the same kernel);
* ``columns-0.3``: each tree sees 30% of the features (less fitting to the training families);
* ``columns-0.3-leaves-40``: that, with at least 40 rows a leaf and L2 regularisation 1;
* ``exponential-gain``: relevance gain ``2^(grade/3) - 1`` instead of the grade (weighs the best
  schedules more), with 30% of the features a tree;
* ``quadratic-gain``: gain ``grade^2 / 30`` (a milder tilt to the best than the exponential);
* ``xendcg``: LightGBM's ``rank_xendcg`` objective instead of lambdarank;
* ``all-pairs``: lambdarank over every pair of a group (truncation level 256 instead of 30: a
  searched group holds about 50 rows);
* ``truncation-10``: lambdarank over the pairs that involve the model's 10 first places only
  (truncation level 10 instead of 30: LightGBM's advice for a ranker judged on its first k is a
  level a little above k; the goal's open figure is top-5);
* ``no-neighbour-rows``: trained without the adapted neighbours' rows (they are other kernels'
  schedules re-tiled, ranked in groups of at most 8);
* ``bagged-5``: five rankers on 80% of the rows and features each (seeds 0-4), their
  predictions' ranks averaged within each group;
* ``with-regression``: the shipped ranker's and a regression of the score's (LightGBM, squared
  error) ranks averaged within each group;
* ``coarse-grades``: 10 relevance grades instead of 30 (a grade a tenth of the best's speed,
  about what a label moves between two timings on a busy machine: ``benchmarks/label_noise.py``);
* ``mlp-listwise``: no trees: a neural ranker (:class:`ListwiseMLP`, two hidden layers) on the
  features standardised, trained to put each group's softmax where its relative scores put theirs
  (ListNet); a model that interpolates between the kernels it has seen instead of cutting the
  feature space into boxes;
* ``with-mlp``: the shipped ranker's and that neural ranker's ranks averaged within each group;
* ``trees-150``, ``trees-600``: half or twice the shipped 300 boosting rounds (is the ranker
  under- or over-fitted to the training families now that the data set is larger?);
* ``leaves-15``: trees of 15 leaves instead of 63 (coarser cuts, which may transfer better);
* ``cpu-identity``: one more column per CPU model (``-mcpu``), 1 on its rows: every CPU of the
  set has 2 cores and 16 SIMD lanes, so the shipped CPU descriptors cannot tell them apart (an
  upper bound on what CPU descriptors could add when the CPU was seen in training);
* ``extra-trees``: LightGBM's extremely randomised trees (each split's threshold drawn at random,
  a regulariser that may transfer better to unseen kernels);
* ``path-smooth-10``: leaf values shrunk towards their parents' (``path_smooth`` 10: few-row
  leaves count less);
* ``max-bin-255``: features binned into LightGBM's default 255 values, as the shipped recipe was
  until it took 63 (which ranked as well in half the fit time);
* ``exp-gain-5``: relevance gain ``2^(grade/5) - 1``, alone (``exponential-gain`` came with 30% of
  the features a tree): each 5 grades near the best weigh twice the 5 below them;
* ``no-pooled``: without the pooled sum, mean and max over stores (492 of the 702 columns): the
  main store's row, the trace's decisions, the CPU's and the workload's descriptors only;
* ``cache-relative``: 22 more columns: each CPU's per-core L1d and L2 sizes (log2) and, for the
  main store's five buffers, the unique bytes touched and the reuse distance in bytes against
  each of the two (log2 differences): whether a tile fits in a cache is where CPUs of the same
  cores and lanes part (``emeraldrapids`` and ``znver5`` have 2 MiB and 1 MiB of L2 a core);
* ``by-sitting``: trained on each group's sittings apart (:func:`sitting_labels`: a kernel's logs
  timed hours apart, in another session, are not ranked against each other), scored on the whole
  groups as every variant is;
* ``conv-geometry``: 11 more columns for a convolution, read from its workload's name
  (:func:`~lorien.datasets.tabular.conv_geometry`: input and output channels, channels a group,
  whether depthwise, the window, input and output extents, the stride; zeros for any other
  kernel). The shipped descriptors know a kernel's FLOPs and argument sizes but not its shape,
  and the depthwise kernels, ranked worst of every kind, differ mostly in window and channels;
* ``knn-prior``: 3 more columns from what won on the nearest kernels of other families (computed
  per split from its training rows only, :func:`knn_prior`): each schedule's distance, in the
  trace's decisions relative to the kernel and the CPU, to the fastest schedules of the 5 most
  similar workloads (by descriptors and convolution geometry) measured on the same CPU, of no
  family the row's workload belongs to. A tree sees one row at a time; this tells it which of a
  group's schedules resemble what was best elsewhere, the prior an adapted neighbour carries;
  ``knn-prior-10``: the same from the 5 fastest schedules of 10 reference workloads;
* ``per-cpu``: one ranker per CPU, trained on that CPU's rows alone (of the other families) and
  ranking that CPU's held-out groups: does a CPU's own data rank its schedules better than every
  CPU's pooled?
* ``throughput``: no ranker: a regression (LightGBM, squared error, the shipped trees) of each
  timed schedule's absolute rate, log2 FLOP/s, across every kernel and CPU (the lambdarank recipe
  compares schedules of one kernel only; a rate carries what a schedule's decisions made of the
  hardware on other kernels too, as a search's cost model learns it); ``with-throughput``: the
  shipped ranker's and that regression's ranks averaged within each group;
  ``portfolio-throughput-1`` and ``-2``: the ranker's first 4 (3) picks, then the regression's
  best 1 (2) not among them, then the ranker's order (:func:`portfolio_order`; top-1 is the
  ranker's): does the regression find what the ranker misses, when a short list is measured?
* ``no-axis-tiles``: without the 13 trace columns of single axes' tiles (feature version v4's
  ``last_axis_*``, ``prev_axis_*`` and ``*_reduction_*``): the recipe before them, on the same
  rows.

    python benchmarks/ranker_variants.py --logs file://$PWD/datasets/tuning_logs

``--workload-folds K`` holds out K random folds of workloads instead of families (each workload
on every CPU in one fold; seeded): how well a variant ranks kernels it has not seen when kernels
of the same families were in training, against which the family held out is the harder test.
``--in-sample`` also scores each variant on the rows it was trained on (all of them): the most
its features let it tell apart. ``--processes N`` fits N (variant, family) pairs at once, each
LightGBM on its share of the cores (on 16 cores, 16 processes screen seven variants on every
family in about 7 minutes; on 2 cores keep 1). ``--by-batch`` also scores each variant on the
held-out groups of each batch size apart (a workload's batch is the smallest of the networks it
occurs in): does a ranker trained mostly on batch 1 rank batch 4 as well? ``--by-cpu`` does the
same for each CPU's groups: where a variant's top-5 is lost; ``--by-kind`` for each kind of
kernel (:func:`~lorien.datasets.tabular.kernel_kind`: depthwise, grouped, 1x1 and other
convolutions, matrix products, the rest). Each such line ends with the top-5 of each held-out
family on those groups and their count.

``--worst N`` prints, after each variant's line, how much of its top-5 shortfall the groups
under 0.9 carry and its N worst held-out groups: CPU, kernel, rows, the origin of the fastest
schedule, how far it stands from the next and from the median, where the model placed it and the
origins of the model's five picks (where a ranker fails, and whether the fastest was a lone find).

``--groups-out FILE`` writes each variant's top-1 and top-5 of every held-out group (keyed by the
held-out family's first network and the group); ``--same-groups FILE`` (such a file of an earlier
run, e.g. on the data set before kernels were added) also prints each variant's means over the
groups both runs scored, the earlier run's beside this one's: what added data did to the groups
that were there, apart from what the new groups weigh in the means.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import nullcontext
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from lorien.config import data_dir, open_logs
from lorien.datasets.tabular import DESCRIPTOR_NAMES, LogTable, conv_geometry, kernel_kind
from lorien.dialects.tvm.features import PER_STORE_WIDTH, POOLED_WIDTH, TRACE_FEATURE_NAMES
from lorien.training.cost_models import RELEVANCE_GRADES, LightGBMRankingCostModel
from lorien.training.evaluation import cpu_of, network_split, searched_groups
from lorien.training.metrics import per_workload, random_ranking_report, ranking_report, top_k_score
from lorien.training.pipeline import default_held_out, load_training_data
from lorien.training.plots import rank_within_workload

VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "group-relative": {"relative": True},
    "columns-0.3": {"params": {"colsample_bytree": 0.3}},
    "columns-0.3-leaves-40": {"params": {"colsample_bytree": 0.3, "min_child_samples": 40,
                                         "reg_lambda": 1.0}},
    "exponential-gain": {"gain": "exponential", "params": {"colsample_bytree": 0.3}},
    "quadratic-gain": {"gain": "quadratic"},
    "xendcg": {"params": {"objective": "rank_xendcg"}},
    "all-pairs": {"params": {"lambdarank_truncation_level": 256}},
    "truncation-10": {"params": {"lambdarank_truncation_level": 10}},
    "no-neighbour-rows": {"drop_origins": ("neighbour",)},
    "bagged-5": {"seeds": 5, "params": {"subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8}},
    "with-regression": {"regression": True},
    "cpu-identity": {"cpu_identity": True},
    "coarse-grades": {"grades": 10},
    "mlp-listwise": {"mlp": "only"},
    "with-mlp": {"mlp": "also"},
    "trees-150": {"params": {"n_estimators": 150}},
    "trees-600": {"params": {"n_estimators": 600}},
    "leaves-15": {"params": {"num_leaves": 15}},
    "extra-trees": {"params": {"extra_trees": True}},
    "path-smooth-10": {"params": {"path_smooth": 10.0}},
    "max-bin-255": {"params": {"max_bin": 255}},
    "exp-gain-5": {"gain": "exponential-5"},
    "no-pooled": {"no_pooled": True},
    "cache-relative": {"cache_relative": True},
    "by-sitting": {"by_sitting": True},
    "per-cpu": {"per_cpu": True},
    "conv-geometry": {"conv_geometry": True},
    "knn-prior": {"knn_prior": (5, 3)},
    "knn-prior-10": {"knn_prior": (10, 5)},
    "throughput": {"throughput": "only"},
    "with-throughput": {"throughput": "also"},
    "portfolio-throughput-1": {"throughput": "also", "portfolio": 1},
    "portfolio-throughput-2": {"throughput": "also", "portfolio": 2},
    "no-axis-tiles": {"no_axis_tiles": True},
}
#: What a variant changes in the rows it is trained on rather than in the model.
ROW_OPTIONS = ("drop_origins", "cpu_identity", "no_pooled", "cache_relative", "by_sitting", "per_cpu",
               "conv_geometry", "knn_prior", "throughput", "no_axis_tiles")
_GAINS = {"linear": float, "exponential": lambda g: 2 ** (g / 3) - 1, "quadratic": lambda g: g * g / 30,
          "exponential-5": lambda g: 2 ** (g / 5) - 1}
#: Per-core L1d and L2 sizes in bytes of the CPUs the data set holds (their vendors' specifications;
#: ``rocketlake`` as a machine of that name here reports them: LLVM names it by the model number its
#: hypervisor shows, family 6 model 167, while it has AMX and 2 MiB of L2 a core, a Xeon's, not a
#: Rocket Lake's 512 KiB); another CPU is taken as 32 KiB and 1 MiB.
CACHE_BYTES = {"emeraldrapids": (48 << 10, 2 << 20), "icelake-server": (48 << 10, 1280 << 10),
               "rocketlake": (48 << 10, 2 << 20), "znver4": (32 << 10, 1 << 20),
               "znver5": (48 << 10, 1 << 20)}
#: MetaSchedule's per-store row: 57 computation columns, then 5 buffers of 18 access columns, of
#: which the 5th is the unique bytes touched and the 12th the reuse distance in bytes (log2(x + 1)).
_BUFFERS_AT, _BUFFER_WIDTH, _UNIQUE_BYTES, _REUSE_BYTES = 57, 18, 4, 11


def cache_relative(features: np.ndarray, cpus: np.ndarray) -> np.ndarray:
    """``features`` with :data:`CACHE_BYTES`' two sizes (log2) of each row's CPU and, for each of
    the main store's buffers, its unique bytes and reuse distance minus each of the two."""
    sizes = np.array([CACHE_BYTES.get(cpu, (32 << 10, 1 << 20)) for cpu in cpus], dtype=np.float64)
    l1, l2 = np.log2(sizes[:, 0]), np.log2(sizes[:, 1])
    columns = [l1, l2]
    for buffer in range(5):
        for offset in (_UNIQUE_BYTES, _REUSE_BYTES):
            value = features[:, POOLED_WIDTH + _BUFFERS_AT + _BUFFER_WIDTH * buffer + offset]
            columns += [value - l1, value - l2]
    return np.hstack([features, np.stack(columns, axis=1)]).astype(np.float32)


def sitting_labels(table: LogTable) -> tuple[np.ndarray, np.ndarray]:
    """``(score, groups)`` with each group split into its sittings (:attr:`LogTable.sittings`) and
    each row labelled against its own sitting's best: no pair of schedules timed in two sessions
    (hours or days apart, perhaps on two machines of one CPU model) is ranked by those timings."""
    groups = np.char.add(np.char.add(table.groups, "#"), table.sittings.astype(str))
    _, sitting = np.unique(groups, return_inverse=True)
    best = np.full(sitting.max() + 1, np.inf)
    np.minimum.at(best, sitting, table.latency)  # as the table's own labels: the best of every timed row
    with np.errstate(invalid="ignore"):  # a sitting of failed rows only: inf / inf, replaced by 0
        score = np.where(table.failed, 0.0, best[sitting] / table.latency)  # and 0 for a failed one
    return score, groups


#: The trace columns (of :data:`TRACE_FEATURE_NAMES`) :func:`knn_prior` compares schedules by: the
#: decisions relative to the kernel's extents, the cores and the lanes, which mean the same on
#: another kernel.
KNN_TRACE_COLUMNS = ("spatial_loops", "outer_vs_cores_log2", "inner_log2", "inner_share",
                     "last_inner_vs_lanes_log2", "reduction_loops", "reduction_outer_log2",
                     "reduction_inner_log2", "unroll_log2", "compute_location", "last_inner_mod_lanes",
                     "lanes_per_useful_lane")


def geometry_rows(table: LogTable) -> np.ndarray:
    """Each row's workload's :func:`~lorien.datasets.tabular.conv_geometry` (read once a workload)."""
    geometry = {key: conv_geometry(workload) for key, workload in table.workloads.items()}
    return np.stack([geometry[key] for key in table.workload_keys])


def _zscored(values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``values`` less the mean of ``rows`` (every row when None) over their spread (a constant
    column left as it is apart from the mean)."""
    reference = values if rows is None else values[rows]
    spread = reference.std(0)
    return (values - reference.mean(0)) / np.where(spread > 0, spread, 1.0)


def knn_prior(table: LogTable, train: np.ndarray, families: np.ndarray, cpus: np.ndarray,
              geometry: np.ndarray, neighbours: int = 5, best: int = 3) -> np.ndarray:
    """Three columns for every row of ``table``: the distance of its schedule (standardised
    :data:`KNN_TRACE_COLUMNS`) to the nearest of the ``best`` fastest schedules of its group's
    ``neighbours`` reference groups, the mean distance to each reference group's fastest, and the
    references' mean distance to its workload (standardised descriptors and convolution geometry,
    ``geometry``: :func:`geometry_rows`). A group's references are the ``train`` groups nearest its
    workload on the same CPU (then on any, when too few), whose workloads share no family with its
    own (``families``: each row's family bit mask), never itself: a training row sees what a
    held-out one does, other families' kernels."""
    trace_at = POOLED_WIDTH + PER_STORE_WIDTH
    columns = [trace_at + TRACE_FEATURE_NAMES.index(name) for name in KNN_TRACE_COLUMNS]
    ok = ~table.failed
    trace = _zscored(table.features[:, columns].astype(np.float64), ok)
    names, first, group_of = np.unique(table.groups, return_index=True, return_inverse=True)
    embedding = _zscored(np.hstack([table.features[first, -len(DESCRIPTOR_NAMES):], geometry[first]])
                         .astype(np.float64))
    group_cpu, group_family = cpus[first], families[first]
    tops: dict[int, np.ndarray] = {}
    for index in np.unique(group_of[train & ok]):
        rows = np.flatnonzero((group_of == index) & ok)
        tops[index] = rows[np.argsort(-table.score[rows], kind="stable")[:best]]
    referable = np.array(sorted(tops))
    out = np.zeros((len(table), 3), dtype=np.float32)
    for index in range(len(names)):
        candidates = referable[(referable != index) & ((group_family[referable] & group_family[index]) == 0)]
        if not len(candidates):
            continue
        distance = np.linalg.norm(embedding[candidates] - embedding[index], axis=1)
        same = group_cpu[candidates] == group_cpu[index]
        order = np.lexsort((distance, ~same)) if same.sum() >= neighbours else np.argsort(distance)
        chosen = candidates[order[:neighbours]]
        rows = np.flatnonzero(group_of == index)
        references = np.concatenate([tops[c] for c in chosen])
        apart = np.linalg.norm(trace[rows][:, None, :] - trace[references][None, :, :], axis=2)
        firsts = np.cumsum([0] + [len(tops[c]) for c in chosen[:-1]])
        out[rows, 0] = apart.min(1)
        out[rows, 1] = apart[:, firsts].mean(1)
        out[rows, 2] = distance[order[:neighbours]].mean()
    return out


def family_masks(table: LogTable, networks_of: dict[str, set[str]]) -> np.ndarray:
    """Each row's workload's families (:func:`~lorien.datasets.zoo.model_family` of the networks
    it occurs in) as a bit mask."""
    from lorien.datasets.zoo import model_family

    of_key = {key: {model_family(name.split("@")[0]) for name in names} for key, names in networks_of.items()}
    bits = {family: 1 << index for index, family in enumerate(sorted(set().union(*of_key.values())))}
    if len(bits) > 62:
        raise ValueError(f"{len(bits)} families do not fit a 64-bit mask")
    masks = {key: sum(bits[family] for family in found) for key, found in of_key.items()}
    return np.array([masks.get(key, 0) for key in table.workload_keys], dtype=np.int64)


#: The trace columns of single axes' tiles (feature version v4), which ``no-axis-tiles`` drops.
AXIS_TILE_NAMES = TRACE_FEATURE_NAMES[TRACE_FEATURE_NAMES.index("last_axis_outer_log2"):]


def variant_features(name: str, table: LogTable) -> np.ndarray:
    """The columns variant ``name`` trains on (:data:`ROW_OPTIONS` that change them)."""
    options = VARIANTS[name]
    features, targets = table.features, table.targets
    if options.get("conv_geometry"):
        features = np.hstack([features, geometry_rows(table)])
    if options.get("cpu_identity") or options.get("cache_relative"):
        cpus = np.array([cpu_of(t) for t in targets])
        if options.get("cpu_identity"):
            features = np.hstack([features, (cpus[:, None] == np.unique(cpus)[None, :]).astype(np.float32)])
        if options.get("cache_relative"):
            features = cache_relative(features, cpus)
    if options.get("no_axis_tiles"):
        first = POOLED_WIDTH + PER_STORE_WIDTH + TRACE_FEATURE_NAMES.index(AXIS_TILE_NAMES[0])
        features = np.delete(features, np.arange(first, first + len(AXIS_TILE_NAMES)), axis=1)
    if options.get("no_pooled"):
        features = features[:, POOLED_WIDTH:]
    return features


def group_relative(features: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each schedule feature (not the workload descriptors, constant in a group) minus its group's
    mean."""
    schedule = features[:, :features.shape[1] - len(DESCRIPTOR_NAMES)].astype(np.float64)
    out = np.empty_like(schedule)
    for group in np.unique(groups):
        rows = groups == group
        out[rows] = schedule[rows] - schedule[rows].mean(0)
    return out


def workload_folds(workload_keys: np.ndarray, folds: int, tested: np.ndarray
                   ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, train, test)`` row masks of ``folds`` seeded random folds of workloads (a
    workload's rows on every CPU in one fold); test rows limited to ``tested``."""
    keys = np.unique(workload_keys)
    fold_of = dict(zip(keys, np.random.default_rng(0).permutation(len(keys)) % folds, strict=True))
    fold = np.array([fold_of[key] for key in workload_keys])
    return [(f"fold{k}", fold != k, (fold == k) & tested) for k in range(folds)]


class ListwiseMLP(BaseEstimator):
    """A neural ranker: features standardised by their training median and spread (clipped),
    two hidden ReLU layers, trained with a listwise loss: the cross-entropy between the softmax of
    each group's predictions and the softmax of its relative scores times ``temperature`` (ListNet,
    Cao et al. 2007), groups in batches of ``batch_groups``, Adam. Deterministic for a ``seed``.

    Not thread safe (torch's global seed and thread count)."""

    def __init__(self, hidden: int = 256, epochs: int = 30, temperature: float = 10.0, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, batch_groups: int = 32,
                 seed: int = 0) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.temperature = temperature
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_groups = batch_groups
        self.seed = seed

    def _standardised(self, features: np.ndarray) -> np.ndarray:
        return np.clip((features - self.center_) / self.spread_, -8.0, 8.0).astype(np.float32)

    def fit(self, features: np.ndarray, score: np.ndarray, group: np.ndarray) -> ListwiseMLP:
        import torch

        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        x = features.astype(np.float64)
        quartiles = np.percentile(x, [25, 75], axis=0)
        std = x.std(0)
        self.center_ = np.median(x, axis=0)
        self.spread_ = np.where(quartiles[1] > quartiles[0], quartiles[1] - quartiles[0],
                                np.where(std > 0, std, 1.0))
        rows = torch.from_numpy(self._standardised(features))
        order = np.argsort(group, kind="stable")
        _, starts, sizes = np.unique(group[order], return_index=True, return_counts=True)
        members = np.full((len(sizes), int(sizes.max())), -1, dtype=np.int64)
        for index, (start, size) in enumerate(zip(starts, sizes, strict=True)):
            members[index, :size] = order[start:start + size]
        scores = torch.from_numpy(np.clip(score, 0.0, 1.0).astype(np.float32))
        width = self.hidden
        self.net_ = torch.nn.Sequential(
            torch.nn.Linear(rows.shape[1], width), torch.nn.ReLU(), torch.nn.Dropout(self.dropout),
            torch.nn.Linear(width, width // 2), torch.nn.ReLU(), torch.nn.Linear(width // 2, 1))
        optimiser = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate,
                                     weight_decay=self.weight_decay)
        self.net_.train()
        for _ in range(self.epochs):
            for batch in np.array_split(rng.permutation(len(sizes)), max(len(sizes) // self.batch_groups, 1)):
                index = torch.from_numpy(members[batch])
                present = index >= 0
                safe = index.clamp(min=0)
                predicted = self.net_(rows[safe]).squeeze(-1).masked_fill(~present, float("-inf"))
                target = (scores[safe] * self.temperature).masked_fill(~present, float("-inf")).softmax(-1)
                loss = -torch.where(present, target * predicted.log_softmax(-1), 0.0).sum(-1).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.net_.eval()
        return self

    def predict(self, features: np.ndarray, group: np.ndarray | None = None) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.net_(torch.from_numpy(self._standardised(features))).squeeze(-1).numpy().astype(float)


class RankerVariant(BaseEstimator):
    """The shipped lambdarank recipe with one change (see :data:`VARIANTS`); ``predict`` takes the
    rows' groups too (group-relative features and rank averaging need them)."""

    def __init__(self, params: dict[str, Any] | None = None, gain: str = "linear",
                 relative: bool = False, seeds: int = 1, regression: bool = False,
                 grades: int = RELEVANCE_GRADES, mlp: str = "", throughput: str = "",
                 portfolio: int = 0) -> None:
        self.params = params
        self.throughput = throughput
        self.portfolio = portfolio
        self.mlp = mlp
        self.gain = gain
        self.relative = relative
        self.seeds = seeds
        self.regression = regression
        self.grades = grades

    def _rows(self, features: np.ndarray, groups: np.ndarray) -> np.ndarray:
        if not self.relative:
            return features
        return np.hstack([features, group_relative(features, groups)]).astype(np.float32)

    def fit(self, features: np.ndarray, score: np.ndarray, group: np.ndarray,
            rate: np.ndarray | None = None) -> RankerVariant:
        """``rate``: each row's log2 FLOP/s (NaN when it failed), for the ``throughput`` variants."""
        from lightgbm import LGBMRanker, LGBMRegressor

        order = np.argsort(group, kind="stable")
        _, sizes = np.unique(group[order], return_counts=True)
        grades = np.rint(np.clip(score[order], 0.0, 1.0) * self.grades).astype(int)
        gain = [float(_GAINS[self.gain](g * RELEVANCE_GRADES / self.grades)) for g in range(self.grades + 1)]
        rows = self._rows(features, group)[order]
        shipped = {**LightGBMRankingCostModel().get_params(), "min_child_samples": 5}
        self.models_: list[Any] = []
        if self.mlp:
            self.models_.append(ListwiseMLP().fit(self._rows(features, group), score, group))
            if self.mlp == "only":
                return self
        if self.throughput:
            if rate is None:
                raise ValueError("the throughput variants need each row's rate")
            timed = np.isfinite(rate)
            self.models_.append(LGBMRegressor(verbose=-1, **shipped).fit(
                self._rows(features, group)[timed], rate[timed]))
            if self.throughput == "only":
                return self
        for seed in range(self.seeds):
            settings = {**shipped, **(self.params or {}), "random_state": seed}
            self.models_.append(LGBMRanker(label_gain=gain, verbose=-1, **settings).fit(
                rows, grades, group=sizes))
        if self.regression:
            self.models_.append(LGBMRegressor(verbose=-1, **shipped).fit(rows, score[order]))
        return self

    def predict(self, features: np.ndarray, group: np.ndarray) -> np.ndarray:
        rows = self._rows(features, group)
        predictions = [np.asarray(model.predict(rows)) for model in self.models_]
        if len(predictions) == 1:
            return predictions[0]
        if self.portfolio:  # the first model fitted is the second opinion, the last the ranker
            return portfolio_order(predictions[-1], predictions[0], group, TOP_K - self.portfolio)
        return np.mean([rank_within_workload(p, group) for p in predictions], axis=0)


#: The picks a portfolio fills: the figure the goal is stated in is top-5.
TOP_K = 5


def portfolio_order(first: np.ndarray, second: np.ndarray, group: np.ndarray, kept: int) -> np.ndarray:
    """Scores whose order within each group is ``first``'s ``kept`` best, then ``second``'s best
    that are not among them up to :data:`TOP_K` picks, then the rest in ``first``'s order: a
    short list measured on the machine hedges one model's blind spot with another's pick, and
    the first pick stays the first model's."""
    out = np.zeros(len(first))
    for key in np.unique(group):
        rows = np.flatnonzero(group == key)
        by_first = rows[np.argsort(-first[rows], kind="stable")]
        head = list(by_first[:kept])
        extra = [row for row in rows[np.argsort(-second[rows], kind="stable")] if row not in head]
        order = head + extra[:TOP_K - kept]
        picked = set(order)
        order += [row for row in by_first if row not in picked]
        out[order] = np.arange(len(order), 0, -1)
    return out


#: What forked workers read (set by :func:`main` before the pool starts): the table, the splits,
#: LightGBM's threads a fit (0: its default) and each variant's columns.
_SCREEN: dict[str, Any] = {}


def _fit_and_predict(task: tuple[str, int]) -> tuple[str, np.ndarray, float]:
    """Variant ``name`` trained on split ``index``'s training rows; its predictions for the split's
    test rows and the seconds the fit took."""
    name, index = task
    table, (_, train, test) = _SCREEN["table"], _SCREEN["splits"][index]
    features, groups = _SCREEN["features"][name], table.groups
    train = train & ~np.isin(table.origins, VARIANTS[name].get("drop_origins", ()))
    options = {k: v for k, v in VARIANTS[name].items() if k not in ROW_OPTIONS}
    if _SCREEN["threads"]:
        options["params"] = {**options.get("params", {}), "n_jobs": _SCREEN["threads"]}
    score, fit_groups = _SCREEN["by_sitting"] if VARIANTS[name].get("by_sitting") else (table.score, groups)
    started = time.perf_counter()
    if VARIANTS[name].get("knn_prior"):
        neighbours, best = VARIANTS[name]["knn_prior"]
        features = np.hstack([features, knn_prior(table, train, _SCREEN["families"], _SCREEN["cpus"],
                                                  _SCREEN["geometry"], neighbours, best)])
    rate = None
    if VARIANTS[name].get("throughput"):
        rate = _SCREEN["rates"][train]
        options["throughput"] = VARIANTS[name]["throughput"]
    if not VARIANTS[name].get("per_cpu"):
        model = RankerVariant(**options).fit(features[train], score[train], fit_groups[train], rate)
        return name, model.predict(features[test], groups[test]), time.perf_counter() - started
    cpus = _SCREEN["cpus"]
    predicted = np.zeros(int(test.sum()))
    for cpu in np.unique(cpus[test]):
        fit, scored = train & (cpus == cpu), cpus[test] == cpu
        model = RankerVariant(**options).fit(features[fit], score[fit], fit_groups[fit])
        predicted[scored] = model.predict(features[test][scored], groups[test][scored])
    return name, predicted, time.perf_counter() - started


def group_failures(family: str, predicted: np.ndarray, latency: np.ndarray, groups: np.ndarray,
                   origins: np.ndarray, names: dict[str, str]) -> list[dict[str, Any]]:
    """What each held-out group's top-5 lost and why it might have: the group's CPU and kernel,
    its rows, the origin of its fastest schedule, how far the fastest stands from the next and
    from the median, where the model placed it and the origins of the model's five picks."""
    found = []
    for group in np.unique(groups):
        rows = groups == group
        timed = latency[rows][np.isfinite(latency[rows])]
        if len(timed) < 2:
            continue
        order = np.argsort(-predicted[rows], kind="stable")
        fastest = int(np.argmin(latency[rows]))
        ranked = np.sort(timed)
        found.append({
            "family": family, "cpu": cpu_of(group.split("@", 1)[1]), "kernel": names[group.split("@", 1)[0]],
            "rows": int(rows.sum()), "top5": float(ranked[0] / latency[rows][order[:5]].min()),
            "fastest_origin": str(origins[rows][fastest]), "next_over_fastest": float(ranked[1] / ranked[0]),
            "median_over_fastest": float(np.median(timed) / ranked[0]),
            "fastest_place": int(np.flatnonzero(order == fastest)[0]) + 1,
            "picks": "".join(str(origin)[:1] for origin in origins[rows][order[:5]])})
    return found


def print_failures(name: str, failures: list[dict[str, Any]], worst: int) -> None:
    """The share of ``name``'s top-5 shortfall that groups under 0.9 carry, then its worst groups."""
    lost = np.array([1.0 - f["top5"] for f in failures])
    poor = lost > 0.1
    print(f"  {name}: {int(poor.sum())} of {len(failures)} held-out groups under 0.9 top-5 carry "
          f"{lost[poor].sum() / max(lost.sum(), 1e-12):.0%} of the top-5 shortfall; the worst "
          f"(picks: s search, r random, n neighbour):")
    for f in sorted(failures, key=lambda f: f["top5"])[:worst]:
        print(f"    top-5 {f['top5']:.2f} {f['family']:<20} {f['cpu']:<15} rows {f['rows']:3} fastest "
              f"{f['fastest_origin']:<9} (next {f['next_over_fastest']:.2f}x, median "
              f"{f['median_over_fastest']:.1f}x slower; placed {f['fastest_place']}) picks {f['picks']} "
              f"{f['kernel'][:70]}")


def row_rates(table: LogTable) -> np.ndarray:
    """Each row's log2 FLOP/s (NaN where it failed): the ``throughput`` variants' target."""
    flops = np.array([table.workloads[key].flops for key in table.workload_keys], dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(table.failed, np.nan, np.log2(np.maximum(flops, 1.0) / table.latency))


def smallest_batch(networks: set[str]) -> int:
    """The smallest batch size (``model@batch``) among the networks a workload occurs in; 1 when
    none names one."""
    return min((int(name.rsplit("@", 1)[1]) for name in networks
                if "@" in name and name.rsplit("@", 1)[1].isdigit()), default=1)


def same_groups_line(before: dict[str, list[float]], now: dict[str, list[float]]) -> str:
    """The means of top-1 and top-5 over the groups both runs scored, the earlier run's first."""
    shared = sorted(set(before) & set(now))
    if not shared:
        return "  same groups: none scored by both runs"
    then, here = np.array([before[k] for k in shared]), np.array([now[k] for k in shared])
    return (f"  same groups ({len(shared)} of {len(now)}): before top-1 {then[:, 0].mean():.3f} top-5 "
            f"{then[:, 1].mean():.3f}, now top-1 {here[:, 0].mean():.3f} top-5 {here[:, 1].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", default="file://" + str(Path("datasets/tuning_logs").resolve()))
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--families", nargs="*", default=None,
                        help="hold out only the families whose name contains one of these (a quicker screen)")
    parser.add_argument("--workload-folds", type=int, default=0,
                        help="hold out this many random folds of workloads instead of families")
    parser.add_argument("--in-sample", action="store_true",
                        help="also score each variant on every row, trained on every row")
    parser.add_argument("--by-batch", action="store_true",
                        help="also score each variant on the held-out groups of each batch size apart")
    parser.add_argument("--by-cpu", action="store_true",
                        help="also score each variant on the held-out groups of each CPU apart")
    parser.add_argument("--by-kind", action="store_true",
                        help="also score each variant on the held-out groups of each kind of kernel apart")
    parser.add_argument("--groups-out", type=Path, default=None,
                        help="write each variant's top-1 and top-5 of every held-out group to this JSON file")
    parser.add_argument("--same-groups", type=Path, default=None,
                        help="a --groups-out file of an earlier run: also score the groups both runs scored")
    parser.add_argument("--worst", type=int, default=0, metavar="N",
                        help="also print each variant's N worst held-out groups (top-5), and the share "
                             "of the top-5 shortfall that groups under 0.9 carry")
    parser.add_argument("--processes", type=int, default=1,
                        help="fit this many (variant, family) pairs at once, the cores shared among them")
    args = parser.parse_args()
    if args.workload_folds and args.families is not None:
        parser.error("--families and --workload-folds choose the held-out rows two ways: give one")
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    earlier: dict[str, dict[str, list[float]]] = {}
    if args.same_groups is not None:
        try:
            earlier = json.loads(args.same_groups.read_text())
        except (OSError, ValueError) as error:
            parser.error(f"--same-groups {args.same_groups}: {error}")
    data = load_training_data(open_logs(args.logs), cache=data_dir() / "feature-cache")
    table, networks_of = data.table, data.networks_of
    groups = table.groups
    searched = searched_groups(table)
    if args.workload_folds:
        splits = workload_folds(table.workload_keys, args.workload_folds, searched)
    else:
        families = [family for family in default_held_out(table, networks_of)
                    if args.families is None or any(part in family for part in args.families)]
        splits = []
        for family in families:
            train, test = network_split(table, networks_of, family)
            if (test & searched).any():
                splits.append((family, train, test & searched))
    weights = np.array([len(np.unique(groups[test])) for _, _, test in splits], dtype=float)
    print(f"{len(table)} rows; {int(weights.sum())} search-and-random groups held out "
          f"in {len(splits)} {'folds' if args.workload_folds else 'families'}")
    random = [random_ranking_report(table.latency[test], groups[test]) for _, _, test in splits]
    if args.in_sample:  # scored beside the held-out splits, not averaged with them
        splits.append(("in-sample", np.ones(len(table), dtype=bool), searched))
    print(f"{'random pick':<24} top-1 {np.average([r['top1'] for r in random], weights=weights):.3f} "
          f"top-5 {np.average([r['top5'] for r in random], weights=weights):.3f}")
    threads = max(1, (os.cpu_count() or 1) // args.processes) if args.processes > 1 else 0
    by_sitting = any(VARIANTS[name].get("by_sitting") for name in args.variants)
    cpus = np.array([cpu_of(target) for target in table.targets])  # each row's CPU
    knn = any(VARIANTS[name].get("knn_prior") for name in args.variants)
    _SCREEN.update(table=table, splits=splits, threads=threads, cpus=cpus,
                   rates=row_rates(table) if any(VARIANTS[name].get("throughput")
                                                 for name in args.variants) else None,
                   families=family_masks(table, networks_of) if knn else None,
                   geometry=geometry_rows(table) if knn else None,
                   by_sitting=sitting_labels(table) if by_sitting else None, features={
                       name: variant_features(name, table) for name in args.variants})
    tasks = [(name, index) for name in args.variants for index in range(len(splits))]
    found: dict[str, list[dict[str, float]]] = {name: [] for name in args.variants}
    #: Each breakdown's value of every row: the held-out groups are scored apart by it too.
    breakdowns: dict[str, np.ndarray] = {}
    if args.by_batch:
        breakdowns["batch"] = np.array([str(smallest_batch(networks_of.get(key, set())))
                                        for key in table.workload_keys])
    if args.by_cpu:
        breakdowns["cpu"] = cpus
    if args.by_kind:
        kinds = {key: kernel_kind(workload) for key, workload in table.workloads.items()}
        breakdowns["kind"] = np.array([kinds[key] for key in table.workload_keys])
    parts: dict[str, dict[tuple[str, str], list[tuple[dict[str, float], int, str]]]] = {
        name: {} for name in args.variants}
    seconds = dict.fromkeys(args.variants, 0.0)
    #: Each variant's ``[top-1, top-5]`` of every held-out group, keyed ``family|group``.
    per_group: dict[str, dict[str, list[float]]] = {name: {} for name in args.variants}
    failures: dict[str, list[dict[str, Any]]] = {name: [] for name in args.variants}
    names = {key: workload.name for key, workload in table.workloads.items()}
    with get_context("fork").Pool(args.processes) if args.processes > 1 else nullcontext() as pool:
        fitted = pool.imap(_fit_and_predict, tasks) if pool is not None else map(_fit_and_predict, tasks)
        for (name, index), (_, predicted, took) in zip(tasks, fitted, strict=True):
            test = splits[index][2]
            latency, tested = table.latency[test], groups[test]
            found[name].append(ranking_report(predicted, latency, tested))
            if (args.groups_out is not None or earlier) and index < len(weights):
                family = splits[index][0].split("+")[0]
                top1, top5 = (per_workload(top_k_score(k), predicted, latency, tested) for k in (1, 5))
                per_group[name].update({f"{family}|{group}": [top1[group], top5[group]]
                                        for group in top1 if not np.isnan(top1[group])})
            for label, values in breakdowns.items() if index < len(weights) else ():
                held = values[test]
                for value in np.unique(held):
                    rows = held == value
                    parts[name].setdefault((label, str(value)), []).append((ranking_report(
                        predicted[rows], latency[rows], tested[rows]), len(np.unique(tested[rows])),
                        splits[index][0].split("+")[0]))
            if args.worst and index < len(weights):
                failures[name] += group_failures(splits[index][0].split("+")[0], predicted, latency,
                                                 tested, table.origins[test], names)
            seconds[name] += took
            if len(found[name]) < len(splits):
                continue
            per_family = " ".join(f"{family.split('+')[0]}={r['top1']:.2f}"
                                  for (family, _, _), r in zip(splits, found[name], strict=True))
            scored = found[name][:len(weights)]
            print(f"{name:<24} top-1 {np.average([r['top1'] for r in scored], weights=weights):.3f} "
                  f"top-5 {np.average([r['top5'] for r in scored], weights=weights):.3f} "
                  f"({seconds[name]:.0f} s of fits)  {per_family}", flush=True)
            for (label, value), scored_apart in sorted(parts[name].items()):
                counts = [n for _, n, _ in scored_apart]
                per_family = " ".join(f"{family}={r['top5']:.2f}({n})" for r, n, family in scored_apart)
                print(f"{'  ' + label + ' ' + value:<24} top-1 "
                      f"{np.average([r['top1'] for r, _, _ in scored_apart], weights=counts):.3f} top-5 "
                      f"{np.average([r['top5'] for r, _, _ in scored_apart], weights=counts):.3f} "
                      f"({sum(counts)} groups)  top-5 (groups): {per_family}", flush=True)
            if earlier:
                print(same_groups_line(earlier.get(name, {}), per_group[name]), flush=True)
            if args.worst:
                print_failures(name, failures[name], args.worst)
    if args.groups_out is not None:
        args.groups_out.write_text(json.dumps(per_group))


if __name__ == "__main__":
    main()
