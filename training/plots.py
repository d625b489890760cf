"""Pictures of held-out evaluations, written as PNG files.

- ``predicted_vs_measured.png``: for every model, each held-out schedule's measured score (best
  latency of its workload / its latency) against the model's predicted rank within its workload
  (models predict on different scales; the rank is what a tuner uses). A good model climbs to the
  top right.
- ``top_k_by_network.png``: top-1 and top-5 scores per held-out network, models side by side,
  with TenSet's reference figures as dashed lines.

Uses Matplotlib's object API (no pyplot), so plotting touches no global state and is safe from
any thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lorien.training.evaluation import HeldOutResult

#: TenSet's pre-trained XGBoost on its CPU data (Zheng et al., 2021), the reference to beat.
TENSET_REFERENCE = {"top1": 0.83, "top5": 0.91}


def rank_within_workload(predicted: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Each prediction's percentile among its workload's (1 = the model's first pick)."""
    ranks = np.zeros(len(predicted))
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        order = np.argsort(np.argsort(predicted[rows], kind="stable"), kind="stable")
        ranks[rows] = order / max(len(rows) - 1, 1)
    return ranks


def plot_predicted_vs_measured(results: Mapping[str, Sequence[HeldOutResult]], path: Path) -> Path:
    """One panel per model, every held-out schedule a dot coloured by network."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * len(results), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(1, len(results), sharey=True))
    for axis, (model, held_out) in zip(axes, results.items(), strict=True):
        for result in held_out:
            axis.scatter(rank_within_workload(result.predicted, result.groups), result.score,
                         s=6, alpha=0.45, label=result.network.split("@")[0][:24])
        pairwise = np.average([r.metrics["pairwise_accuracy"] for r in held_out],
                              weights=[r.test_workloads for r in held_out])
        axis.set_title(f"{model}\npairwise accuracy {pairwise:.3f}")
        axis.set_xlabel("predicted rank within workload (1 = first pick)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("measured score (best latency / latency)")
    axes[-1].legend(fontsize=7, markerscale=2, loc="upper left")
    figure.savefig(path, dpi=110)
    return path


def plot_top_k_by_network(results: Mapping[str, Sequence[HeldOutResult]], path: Path) -> Path:
    """Top-1 and top-5 per held-out network, grouped bars per model."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    networks = [r.network for r in next(iter(results.values()))]
    figure = Figure(figsize=(max(7.0, 1.2 * len(networks) * max(len(results), 2) / 2), 6.5),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 1, sharex=True)
    width = 0.8 / len(results)
    positions = np.arange(len(networks))
    for axis, metric in zip(axes, ("top1", "top5"), strict=True):
        for i, (model, held_out) in enumerate(results.items()):
            by_network = {r.network: r.metrics[metric] for r in held_out}
            axis.bar(positions + (i - (len(results) - 1) / 2) * width,
                     [by_network.get(n, np.nan) for n in networks], width, label=model)
        axis.axhline(TENSET_REFERENCE[metric], color="black", linestyle="--", linewidth=1,
                     label=f"TenSet XGB {TENSET_REFERENCE[metric]}")
        axis.set_ylabel(f"{metric} score")
        axis.set_ylim(0, 1.05)
        axis.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, fontsize=8, ncols=min(len(results) + 1, 5), loc="outside upper center")
    axes[1].set_xticks(positions, [n.replace("+", "+\n") for n in networks], fontsize=8)
    axes[1].set_xlabel("held-out network (never seen in training)")
    figure.savefig(path, dpi=110)
    return path


def write_plots(results: Mapping[str, Sequence[HeldOutResult]], folder: Path) -> list[Path]:
    """Both plots of ``results`` (model name -> its held-out results) into ``folder``."""
    if not results or not any(results.values()):
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [plot_predicted_vs_measured(results, folder / "predicted_vs_measured.png"),
            plot_top_k_by_network(results, folder / "top_k_by_network.png")]
