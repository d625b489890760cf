"""How much of the ranker's top-1 a CPU's measurement noise leaves reachable.

A schedule's label is the minimum of its timed runs, taken once during its kernel's job; the
search's fastest picks (and every measurement whose runs disagree) are timed again minutes later
(``--remeasure``). Those pairs show how much a label moves between two moments on the same machine.
For each CPU of the data set this prints:

* ``pairs``: schedules timed twice, and among the search's four fastest (by the first timing;
  always re-timed) the median of second / first and the noise a single timing carries, as a
  standard deviation of log latency (robust: the median absolute deviation of the pairs' log
  ratios, over sqrt(2));
* ``ceiling``: the top-1 / top-5 a ranker that knew every schedule's latency exactly would score
  on that CPU's search-and-random groups when each label carries that noise (simulated: each
  group's labels taken as the truth, timed again with the noise, 64 draws; the figure the goal
  is stated in, ``best label / label of the pick``);
* ``two logs``: schedules timed in two logs of the same kernel on the same CPU (a random draw a
  search had also picked, a neighbour's schedule the search found too), which a group's labels
  compare as if timed together: how many, and the median disagreement (larger / smaller label),
  first for logs timed in one sitting (a campaign's logs of a kernel, minutes apart), then for
  logs of two sittings (sessions hours or days apart, :attr:`LogTable.sittings`);
* ``shipped recipe``: the shipped ranker's leave-network-out top-1 / top-5 on the same groups
  (every family held out in turn, as ``benchmarks/ranker_variants.py``), beside a random pick.

    python benchmarks/label_noise.py --logs file://$PWD/datasets/tuning_logs
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from lorien.config import data_dir, open_logs
from lorien.datasets.campaign import log_kind
from lorien.datasets.tabular import sittings_of
from lorien.training.cost_models import LightGBMRankingCostModel
from lorien.training.evaluation import cpu_of, network_split, searched_groups
from lorien.training.metrics import random_ranking_report, ranking_report
from lorien.training.pipeline import default_held_out, load_training_data
from lorien.tuning_log import TuningLog, label_latency

#: The search picks always timed again, by the first timing (the campaign's ``--remeasure``).
FASTEST = 4


def timed_twice(logs: list[TuningLog]) -> dict[str, dict[str, list[float]]]:
    """Per CPU, the log ratio second / first timing of every schedule timed twice (``all``) and
    of the search's fastest picks (``fastest``). A re-timed measurement holds twice the runs of
    the others of its log, the first half from the first timing."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"all": [], "fastest": []})
    for log in logs:
        if log_kind(log) != "search":
            continue
        timed = [m.latency for m in log.measurements if m.latency is not None]
        if not timed:
            continue
        runs = min(len(latency.runs) for latency in timed)
        pairs = sorted((min(latency.runs[:runs]), min(latency.runs[runs:2 * runs]))
                       for latency in timed if len(latency.runs) >= 2 * runs)
        cpu = out[cpu_of(log.target.canonical)]
        cpu["all"] += [float(np.log(b / a)) for a, b in pairs]
        cpu["fastest"] += [float(np.log(b / a)) for a, b in pairs[:FASTEST]]
    return out


def timed_in_two_logs(logs: list[TuningLog]) -> dict[str, dict[str, list[float]]]:
    """Per CPU, ``|log(label in one log / label in another)|`` of every schedule whose kernel has
    it in two logs on that CPU (the first two, in the order given; labels as the table's), apart
    for logs of one sitting (``same``: timed within minutes, :func:`~lorien.datasets.tabular.sittings_of`)
    and of two (``apart``: sessions hours or days apart)."""
    by_kernel: dict[tuple[str, str], list[TuningLog]] = defaultdict(list)
    for log in logs:
        by_kernel[(log.target.canonical, log.workload.key)].append(log)
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"same": [], "apart": []})
    for (target, _), kernel_logs in by_kernel.items():
        labels: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for log, sitting in zip(kernel_logs, sittings_of(kernel_logs), strict=True):
            seen: set[str] = set()
            for m in log.measurements:
                if m.latency is not None and m.schedule not in seen:
                    seen.add(m.schedule)
                    labels[m.schedule].append((label_latency(m.latency), sitting))
        for timed in labels.values():
            if len(timed) >= 2:
                (first, one), (second, other) = timed[:2]
                out[cpu_of(target)]["same" if one == other else "apart"].append(
                    abs(float(np.log(second / first))))
    return out


def single_timing_sigma(log_ratios: list[float]) -> float:
    """The standard deviation of one timing's log latency, from pairs' log ratios: their median
    absolute deviation (about the median, which drops a common shift such as the fastest picks'
    regression to the mean) scaled to a normal's, over sqrt(2) (a ratio holds two timings)."""
    ratios = np.asarray(log_ratios)
    return float(1.4826 * np.median(np.abs(ratios - np.median(ratios))) / np.sqrt(2))


def noise_ceiling(latency: np.ndarray, groups: np.ndarray, sigma: float, draws: int = 64,
                  seed: int = 0) -> tuple[float, float]:
    """Top-1 and top-5 of a ranker that orders each group by ``latency`` exactly, scored against
    labels timed again with log-normal noise ``sigma`` (mean over groups of two or more
    successful rows, and over ``draws``)."""
    rng = np.random.default_rng(seed)
    top1, top5 = [], []
    for group in np.unique(groups):
        truth = latency[(groups == group) & np.isfinite(latency)]
        if len(truth) < 2:
            continue
        order = np.argsort(truth, kind="stable")
        for _ in range(draws):
            label = truth * np.exp(rng.normal(0.0, sigma, len(truth)))
            top1.append(label.min() / label[order[0]])
            top5.append(label.min() / label[order[:5]].min())
    return float(np.mean(top1)), float(np.mean(top5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", default="file://" + str(Path("datasets/tuning_logs").resolve()))
    parser.add_argument("--no-model", action="store_true", help="skip training the shipped recipe")
    args = parser.parse_args()
    data = load_training_data(open_logs(args.logs), cache=data_dir() / "feature-cache")
    table, groups = data.table, data.table.groups
    searched = searched_groups(table)
    cpus = np.array([cpu_of(target) for target in table.targets])
    predicted = np.full(len(table), np.nan)
    if not args.no_model:
        for family in default_held_out(table, data.networks_of):
            train, test = network_split(table, data.networks_of, family)
            test &= searched
            if test.any():
                model = LightGBMRankingCostModel().fit(table.features[train], table.score[train],
                                                       groups[train])
                predicted[test] = model.predict(table.features[test])
    pairs, two_logs = timed_twice(data.tuning_logs), timed_in_two_logs(data.tuning_logs)
    print(f"{'CPU':<16} {'groups':>6} {'timed twice':>11} {'fastest 2nd/1st':>15} {'sigma':>6} "
          f"{'ceiling':>13} {'two logs: same / two sittings':>29} {'shipped recipe':>14} {'random pick':>13}")
    for cpu in sorted(set(cpus[searched])):
        rows = searched & (cpus == cpu)
        fastest = pairs[cpu]["fastest"] if cpu in pairs else []
        sigma = single_timing_sigma(fastest) if len(fastest) >= 8 else float("nan")
        ceiling = ("n/a" if np.isnan(sigma) else
                   "{:.3f} / {:.3f}".format(*noise_ceiling(table.latency[rows], groups[rows], sigma)))
        tested = rows & np.isfinite(predicted)
        model = ("n/a" if not tested.any() else "{top1:.3f} / {top5:.3f}".format(
            **ranking_report(predicted[tested], table.latency[tested], groups[tested])))
        random = random_ranking_report(table.latency[rows], groups[rows])
        ratio = f"{np.exp(np.median(fastest)):.3f}" if fastest else "n/a"
        twice = len(pairs[cpu]["all"]) if cpu in pairs else 0
        across = " ".join(f"{len(found)}: {np.exp(np.median(found)):.3f}" if found else "0: n/a"
                          for found in (two_logs[cpu]["same"], two_logs[cpu]["apart"]))
        print(f"{cpu:<16} {len(np.unique(groups[rows])):>6} {twice:>11} "
              f"{ratio:>15} {sigma:>6.3f} {ceiling:>13} {across:>29} {model:>14} "
              f"{random['top1']:.3f} / {random['top5']:.3f}", flush=True)


if __name__ == "__main__":
    main()
