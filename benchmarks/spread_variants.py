"""Variants of the spread picks (:mod:`lorien.spread`) on the held-out groups the ranker goal counts.

The predictor measures the first five places of the ranker's order spread over unlike schedules
(``measure_top_k``, the budgeted predictor's local rounds). How wide a window the picks come from,
how far a pick's near copies are pushed back and the space resemblance is measured in are the
spread's choices; this script scores each choice on the same held-out predictions: the shipped
recipe trained without each family in turn (and without each CPU in turn), scored on the held-out
groups that hold search picks (:func:`~lorien.training.evaluation.searched_groups`), weighted by
group as ``lorien train`` weighs them. The ranker's own first five and a random pick are printed
beside them.

The fits take most of the time (13 minutes on 2 cores for 98,806 measurements); their
predictions are kept in ``--predictions`` and reused while the logs' rows are the same.

Variants (``name: window per pick, push per pick, space``):

* ``ranker``: the model's own first five, no spread;
* ``shipped``: :data:`~lorien.spread.WINDOW_PER_PICK` and :data:`~lorien.spread.PUSH_PER_PICK`
  over every feature, standardised among the window;
* ``w<W>-p<P>``: window ``W * 5``, push ``P * 5`` over every feature;
* ``gain-w<W>-p<P>``: the same, each feature's standardised difference weighted by its share of
  the fold's model's split gain (the space the ranker reads, not every column alike);
* ``top<N>-w<W>-p<P>``: the same over the ``N`` features of most gain only.

Example::

    python benchmarks/spread_variants.py --predictions /tmp/held_out_predictions.npz
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from lorien.config import data_dir, open_logs
from lorien.spread import PUSH_PER_PICK, WINDOW_PER_PICK
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.evaluation import cpu_split, cpus_of, network_split, searched_groups
from lorien.training.metrics import per_workload, random_ranking_report, spread_keys, top_k_score
from lorien.training.pipeline import default_held_out, load_training_data

VARIANT_NAMES = ("ranker", "shipped", "w2-p3", "w4-p3", "w3-p2", "w3-p5", "w4-p5",
                 "gain-w3-p3", "gain-w4-p3", "gain-w4-p5", "top64-w3-p3", "top64-w4-p5")


def parse_variant(name: str) -> tuple[int, float, str, int]:
    """``(window per pick, push per pick, space, features kept)`` of a variant's name (see the
    module's docstring); window 0 is the ranker's own order."""
    if name == "ranker":
        return 0, 0.0, "all", 0
    if name == "shipped":
        return WINDOW_PER_PICK, float(PUSH_PER_PICK), "all", 0
    parts = name.split("-")
    space, kept = "all", 0
    if parts[0] == "gain":
        space, parts = "gain", parts[1:]
    elif parts[0].startswith("top"):
        space, kept, parts = "gain", int(parts[0][3:]), parts[1:]
    return int(parts[0][1:]), float(parts[1][1:]), space, kept


def fold_predictions(table, splits, threads: int) -> list[dict[str, np.ndarray]]:
    """Each split's test rows, the shipped recipe's predictions for them and the fitted model's
    share of split gain per feature."""
    found = []
    for name, train, test in splits:
        started = time.perf_counter()
        model = LightGBMRankingCostModel(n_jobs=threads or None).fit(
            table.features[train], table.score[train], group=table.groups[train])
        gain = model.model_.booster_.feature_importance(importance_type="gain").astype(np.float64)
        found.append({"name": np.array(name), "rows": np.flatnonzero(test),
                      "predicted": np.asarray(model.predict(table.features[test]), dtype=np.float64),
                      "gain": gain / max(gain.sum(), 1e-300)})
        print(f"  fitted without {name} in {time.perf_counter() - started:.0f} s", flush=True)
    return found


def score_variant(name: str, table, folds: list[dict[str, np.ndarray]], searched: np.ndarray
                  ) -> tuple[float, float]:
    """``(top-1, top-5)`` of variant ``name``'s first places over every fold's searched groups
    (each group counts once per fold it is held out in)."""
    window, push, space, kept = parse_variant(name)
    top1: list[float] = []
    top5: list[float] = []
    for fold in folds:
        rows = fold["rows"][searched[fold["rows"]]]
        predicted = fold["predicted"][searched[fold["rows"]]]
        groups, latency = table.groups[rows], table.latency[rows]
        weight = None
        if space == "gain":
            weight = fold["gain"].copy()
            if kept:
                weight[np.argsort(-weight)[kept:]] = 0.0
        keys = predicted if window == 0 else spread_keys(
            predicted, table.features[rows], groups, 5, window_per_pick=window, push_per_pick=push,
            weight=weight)
        for values, k in ((top1, 1), (top5, 5)):
            scored = per_workload(top_k_score(k), predicted if k == 1 else keys, latency, groups)
            values.extend(v for v in scored.values() if not np.isnan(v))
    return float(np.mean(top1)), float(np.mean(top5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", default="file://" + str(Path("datasets/tuning_logs").resolve()))
    parser.add_argument("--predictions", type=Path, required=True,
                        help="npz file of the folds' predictions: read when it matches the logs' rows, "
                             "else written")
    parser.add_argument("--variants", nargs="*", default=list(VARIANT_NAMES))
    parser.add_argument("--threads", type=int, default=0, help="threads a fit uses (0: every core)")
    args = parser.parse_args()
    for name in args.variants:
        try:
            parse_variant(name)
        except (ValueError, IndexError):
            parser.error(f"unknown variant {name!r}")
    data = load_training_data(open_logs(args.logs), cache=data_dir() / "feature-cache")
    table, networks_of = data.table, data.networks_of
    digest = hashlib.sha256("\n".join(table.groups).encode() + table.score.tobytes()).hexdigest()[:16]
    searched = searched_groups(table)
    folds: dict[str, list[dict[str, np.ndarray]]] = {}
    saved = np.load(args.predictions) if args.predictions.exists() else None
    if saved is not None and str(saved["digest"]) == digest:
        for kind in ("family", "cpu"):
            folds[kind] = [{key: saved[f"{kind}{i}_{key}"] for key in ("name", "rows", "predicted", "gain")}
                           for i in range(int(saved[f"{kind}_folds"]))]
    else:
        splits = {"family": [(family, *network_split(table, networks_of, family))
                             for family in default_held_out(table, networks_of)],
                  "cpu": [(cpu, *cpu_split(table, cpu)) for cpu in cpus_of(table)]}
        arrays: dict[str, np.ndarray] = {"digest": np.array(digest)}
        for kind, chosen in splits.items():
            chosen = [(n, train, test) for n, train, test in chosen
                      if (test & searched).any() and train.any()]
            print(f"{kind} held out: {len(chosen)} folds", flush=True)
            folds[kind] = fold_predictions(table, chosen, args.threads)
            arrays[f"{kind}_folds"] = np.array(len(folds[kind]))
            arrays.update({f"{kind}{i}_{key}": value for i, fold in enumerate(folds[kind])
                           for key, value in fold.items()})
        np.savez_compressed(args.predictions, **arrays)
    print(f"{len(table)} rows, {len(table.workloads)} workloads")
    for kind, found in folds.items():
        rows = np.concatenate([fold["rows"][searched[fold["rows"]]] for fold in found])
        groups = np.concatenate([np.char.add(f"{i}|", table.groups[fold["rows"][searched[fold["rows"]]]])
                                 for i, fold in enumerate(found)])
        random = random_ranking_report(table.latency[rows], groups)
        print(f"{kind} held out ({len(np.unique(groups))} groups): random pick top-1 {random['top1']:.3f} "
              f"top-5 {random['top5']:.3f}")
        for name in args.variants:
            started = time.perf_counter()
            top1, top5 = score_variant(name, table, found, searched)
            print(f"  {name:<16} top-1 {top1:.4f} top-5 {top5:.4f}  ({time.perf_counter() - started:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
