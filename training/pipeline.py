"""``lorien train``: logs in, a fitted, evaluated cost model out.

Reads every tuning log of a log store (any backend: the same code reads a local folder or S3),
builds the training table, evaluates the chosen model type network by network (leave-network-out),
fits it on everything and returns it with its metadata, ready to register.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lorien.datasets.campaign import read_networks
from lorien.datasets.feature_cache import FeatureCache
from lorien.datasets.feature_fill import fill_feature_cache
from lorien.datasets.tabular import LogTable, build_table
from lorien.datasets.zoo import model_family
from lorien.dialects import Featurizer, get_dialect
from lorien.errors import InvalidInput
from lorien.logstore import LogStore, read_logs
from lorien.training.cost_models import GradientBoostingCostModel, LightGBMRankingCostModel
from lorien.training.evaluation import (
    HeldOutResult,
    cpu_split,
    cpus_of,
    leave_cpu_out,
    leave_network_out,
    network_split,
    random_pick,
    searched_groups,
    within_groups,
    workload_weighted,
)
from lorien.tuning_log import TuningLog


def _autogluon(time_limit: float, threads: int | None = None) -> Any:
    from lorien.training.autogluon_model import AutoGluonCostModel

    return AutoGluonCostModel(time_limit=time_limit, num_cpus=threads)


#: Each model type's factory: ``make(time_limit, threads=None)``, a fresh estimator that fits within
#: ``time_limit`` seconds where it honours one (AutoGluon) on at most ``threads`` CPU threads
#: (None: every core).
MODEL_TYPES: dict[str, Callable[..., Any]] = {
    "sklearn": lambda _, threads=None: GradientBoostingCostModel(n_jobs=threads),
    "lightgbm": lambda _, threads=None: LightGBMRankingCostModel(n_jobs=threads),
    "autogluon": _autogluon,
}


@dataclass
class TrainedCostModel:
    """A model fitted on every row, its held-out results, and what it was trained on."""

    model: Any
    model_type: str
    table: LogTable
    held_out: list[HeldOutResult]
    fit_seconds: float
    metadata: dict[str, Any] = field(default_factory=dict)
    baseline_name: str = ""
    baseline: list[HeldOutResult] = field(default_factory=list)
    random: list[HeldOutResult] = field(default_factory=list)
    #: leave-CPU-out results (one per CPU, when the logs hold several) by model: the trained
    #: model's type, ``random`` and the baseline's name.
    cpu_out: dict[str, list[HeldOutResult]] = field(default_factory=dict)


def default_held_out(table: LogTable, networks_of: Mapping[str, set[str]]) -> list[str]:
    """Every model with logged workloads, variants of one architecture joined by ``+`` (see
    :func:`lorien.training.evaluation.network_split`), so each is evaluated as unseen."""
    logged = set(table.workload_keys)
    families: dict[str, set[str]] = {}
    for key, names in networks_of.items():
        if key in logged:
            for name in names:
                model = name.split("@")[0]
                families.setdefault(model_family(model), set()).add(model)
    return ["+".join(sorted(models)) for _, models in sorted(families.items())]


@dataclass
class TrainingData:
    """Everything a log store gives training: its logs, their table, and the campaign manifest."""

    dialect: Featurizer
    tuning_logs: list[TuningLog]
    table: LogTable
    networks_of: dict[str, set[str]]


def fit_ranker_without(data: TrainingData, excluded: Collection[str]) -> tuple[LightGBMRankingCostModel, int]:
    """The shipped recipe (:class:`LightGBMRankingCostModel`'s defaults) fitted on ``data``'s rows
    of every workload but the ``excluded`` keys, and how many rows it saw: the ranker a held-out
    benchmark answers with.

    Raises:
        InvalidInput: no row is left to fit on.
    """
    table = data.table
    keep = ~np.isin(table.workload_keys, sorted(excluded))
    if not keep.any():
        raise InvalidInput("every workload of the training data is excluded: nothing to fit on")
    fitted = LightGBMRankingCostModel().fit(table.features[keep], table.score[keep], group=table.groups[keep])
    return fitted, int(keep.sum())


def kept_ranker_without(path: Path, logs: LogStore, excluded: Collection[str],
                        cache: Path | None = None) -> LightGBMRankingCostModel:
    """:func:`fit_ranker_without` on ``logs`` (features cached in ``cache``), kept as text in
    ``path`` and read back from it when it exists: a held-out benchmark's ranker, trained once.
    Not safe for two processes sharing ``path``."""
    if not path.exists():
        fitted, _ = fit_ranker_without(load_training_data(logs, cache=cache), excluded)
        path.write_text(fitted.to_text())
    return LightGBMRankingCostModel.from_text(path.read_text())


def feature_cache(folder: Path | None, dialect: Featurizer, recipe: str) -> FeatureCache | None:
    """A cache of ``recipe``'s features for this compiler build in ``folder`` (None: no cache)."""
    return None if folder is None else FeatureCache(folder, f"{recipe}@{dialect.build_id()}")


#: The metrics a summary of held-out results keeps (``top5_spread`` where the results have it).
SUMMARY_METRICS = ("top1", "top5", "top5_spread")


def load_training_data(logs: LogStore, progress: bool = False, cache: Path | None = None,
                       workers: int | None = None) -> TrainingData:
    """Read every log of ``logs`` and build its table (the dialect's features, kept in ``cache``
    when given, where the logs it lacks are first featurised on ``workers`` processes: every
    core when None; see :func:`lorien.datasets.feature_fill.fill_feature_cache`).

    Raises:
        InvalidInput: no readable log, logs of several dialects, or of a dialect without schedule
            features.
    """
    tuning_logs, skipped_logs, skipped_lines = read_logs(logs, progress=progress)
    if not tuning_logs:
        raise InvalidInput(f"no readable tuning log in {logs.uri} ({skipped_logs} unreadable)")
    dialects = {log.workload.dialect for log in tuning_logs}
    if len(dialects) != 1:
        raise InvalidInput(f"logs of several dialects ({', '.join(sorted(dialects))}); train one at a time")
    dialect = get_dialect(dialects.pop(), Featurizer)
    kept = feature_cache(cache, dialect, dialect.feature_version)
    if kept is not None:
        fill_feature_cache(dialect, tuning_logs, kept, workers or os.cpu_count() or 1, progress)
    table = build_table(dialect, tuning_logs, skipped_logs=skipped_logs, skipped_lines=skipped_lines,
                        progress=progress, cache=kept)
    return TrainingData(dialect, tuning_logs, table, read_networks(logs))


def train_cost_model(logs: LogStore, model_type: str, held_out: list[str] | None = None,
                     time_limit: float = 60.0, progress: bool = False,
                     baseline: bool = False, cache: Path | None = None,
                     threads: int | None = None) -> TrainedCostModel:
    """Train ``model_type`` on every log in ``logs``.

    Args:
        time_limit: seconds each AutoGluon fit may take (other model types ignore it).
        progress: show progress bars on stderr.
        baseline: also evaluate the compiler's own cost model
            (:meth:`~lorien.dialects.Featurizer.native_cost_model`) on the same held-out networks,
            trained on the same rows.
        held_out: networks (``model@batch``, or ``model`` for all its batches) to evaluate on,
            each left out of its own training; None for :func:`default_held_out`.
        cache: a folder where schedule features are kept between runs (None: computed anew).
        threads: CPU threads each fit and prediction may use (the model's and the baseline's),
            and processes featurising the logs the cache lacks; None: every core. Fewer let
            training run beside measurements on the same machine.

    Besides the model, every held-out split is also scored for a random pick (``random``), and,
    when the logs hold several CPUs, each CPU is held out in turn (leave-CPU-out) for the model,
    the random pick and the baseline. ``metadata["summary"]`` holds each one's workload-weighted
    leave-network-out ``top1`` and ``top5`` (and, for a model of tabular features, ``top5_spread``:
    top-5 of the model's first five spread over unlike schedules, :mod:`lorien.spread`);
    ``metadata["summary_leave_cpu_out"]`` the same over
    held-out CPUs; ``summary_searched`` and ``summary_searched_leave_cpu_out`` the same on the
    groups that hold search picks only (:func:`~lorien.training.evaluation.searched_groups`: the
    rows the ranker's goal counts, without the easier groups of adapted neighbours alone).

    Raises:
        InvalidInput: unknown model type, no readable log, logs of several dialects.
    """
    if model_type not in MODEL_TYPES:
        raise InvalidInput(f"unknown model type {model_type!r}; choose from {', '.join(MODEL_TYPES)}")
    if threads is not None and threads < 1:
        raise InvalidInput(f"threads must be at least 1, not {threads}")
    data = load_training_data(logs, progress, cache, workers=threads)
    dialect, tuning_logs, table, networks_of = data.dialect, data.tuning_logs, data.table, data.networks_of
    targets = sorted({log.target.canonical for log in tuning_logs})
    make_model = functools.partial(MODEL_TYPES[model_type], time_limit, threads)
    networks = held_out if held_out is not None else default_held_out(table, networks_of)
    results = leave_network_out(table, networks_of, make_model, networks) if networks_of else []
    tests = {r.network: network_split(table, networks_of, r.network)[1] for r in results}
    randoms = [random_pick(table, r.network, tests[r.network]) for r in results]
    cpus = cpus_of(table) if len(cpus_of(table)) > 1 else []
    cpu_tests = {cpu: cpu_split(table, cpu)[1] for cpu in cpus}
    cpu_out = {model_type: leave_cpu_out(table, make_model, cpus),
               "random": [random_pick(table, cpu, cpu_tests[cpu]) for cpu in cpus]} if cpus else {}
    native = dialect.native_cost_model() if baseline else None
    if baseline and native is None:
        raise InvalidInput(f"dialect {dialect.name!r} has no cost model of its own to compare with")
    baseline_results = []
    if native is not None:
        make_native = functools.partial(native.make, threads=threads)
        native_table = build_table(dialect, tuning_logs, progress=progress, featurize=native.featurize,
                                   cache=feature_cache(cache, dialect, native.name))
        if networks_of:
            baseline_results = leave_network_out(native_table, networks_of, make_native, networks)
        if cpus:
            cpu_out[native.name] = leave_cpu_out(native_table, make_native, cpus)
    started = time.perf_counter()
    model = make_model().fit(table.features, table.score, group=table.groups)
    fit_seconds = time.perf_counter() - started
    evaluated = {model_type: results, "random": randoms,
                 **({native.name: baseline_results} if native is not None else {})}

    def summary(by_model: Mapping[str, list[HeldOutResult]]) -> dict[str, dict[str, float]]:
        return {name: {m: v for m, v in workload_weighted(found).items() if m in SUMMARY_METRICS}
                for name, found in by_model.items() if found}

    searched = searched_groups(table)
    kept = np.unique(table.groups[searched])

    def on_searched(by_model: Mapping[str, list[HeldOutResult]], test_of: Mapping[str, np.ndarray]
                    ) -> dict[str, list[HeldOutResult]]:
        # the same predictions on the groups with search picks; a random pick's expectation anew
        scored = {name: [s for r in found if (s := within_groups(r, kept)) is not None]
                  for name, found in by_model.items() if name != "random"}
        scored["random"] = [random_pick(table, r.network, test_of[r.network] & searched)
                            for r in scored[model_type]]
        return scored

    metadata = {
        "model_type": model_type,
        "dialect": dialect.name,
        "feature_version": table.feature_version,
        "targets": targets,
        "training_data": {"logs": logs.uri, "rows": len(table), "workloads": len(table.workloads),
                          "cpus": cpus_of(table), "failed_rows": int(table.failed.sum()),
                          "skipped_logs": table.skipped_logs, "skipped_lines": table.skipped_lines},
        "held_out": {r.network: r.metrics for r in results},
        "random": {"held_out": {r.network: r.metrics for r in randoms}},
        **({"baseline": {"name": native.name, "held_out": {r.network: r.metrics for r in baseline_results}}}
           if native is not None else {}),
        "leave_cpu_out": {name: {r.network: r.metrics for r in found} for name, found in cpu_out.items()},
        "summary": summary(evaluated),
        "summary_leave_cpu_out": summary(cpu_out),
        "summary_searched": summary(on_searched(evaluated, tests)),
        "summary_searched_leave_cpu_out": summary(on_searched(cpu_out, cpu_tests)) if cpus else {},
        "fit_seconds": fit_seconds,
        "time_limit": time_limit if model_type == "autogluon" else None,
    }
    return TrainedCostModel(model, model_type, table, results, fit_seconds, metadata,
                            native.name if native else "", baseline_results, randoms, cpu_out)
