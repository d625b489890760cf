"""``lorien train``: logs in, a fitted, evaluated cost model out.

Reads every tuning log of a log store (any backend: the same code reads a local folder or S3),
builds the training table, evaluates the chosen model type network by network (leave-network-out),
fits it on everything and returns it with its metadata, ready to register.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lorien.datasets.campaign import read_networks
from lorien.datasets.tabular import LogTable, build_table, read_logs
from lorien.dialects import get_dialect
from lorien.errors import InvalidInput
from lorien.logstore import LogStore
from lorien.training.cost_models import GradientBoostingCostModel, LightGBMRankingCostModel
from lorien.training.evaluation import HeldOutResult, leave_network_out


def _autogluon(time_limit: float) -> Any:
    from lorien.training.autogluon_model import AutoGluonCostModel

    return AutoGluonCostModel(time_limit=time_limit)


MODEL_TYPES: dict[str, Callable[[float], Any]] = {
    "sklearn": lambda _: GradientBoostingCostModel(),
    "lightgbm": lambda _: LightGBMRankingCostModel(),
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


def train_cost_model(logs: LogStore, model_type: str, held_out: list[str] | None = None,
                     time_limit: float = 60.0, progress: bool = False) -> TrainedCostModel:
    """Train ``model_type`` on every log in ``logs``.

    Args:
        time_limit: seconds each AutoGluon fit may take (other model types ignore it).
        progress: show progress bars on stderr.
        held_out: networks (``model@batch``, or ``model`` for all its batches) to evaluate on,
            each left out of its own training; None for every model of the campaign manifest
            that has logged workloads.

    Raises:
        InvalidInput: unknown model type, no readable log, logs of several dialects.
    """
    if model_type not in MODEL_TYPES:
        raise InvalidInput(f"unknown model type {model_type!r}; choose from {', '.join(MODEL_TYPES)}")
    tuning_logs, skipped_logs, skipped_lines = read_logs(logs, progress=progress)
    if not tuning_logs:
        raise InvalidInput(f"no readable tuning log in {logs.uri} ({skipped_logs} unreadable)")
    dialects = {log.workload.dialect for log in tuning_logs}
    if len(dialects) != 1:
        raise InvalidInput(f"logs of several dialects ({', '.join(sorted(dialects))}); train one at a time")
    dialect = get_dialect(dialects.pop())
    table = build_table(dialect, tuning_logs, skipped_logs=skipped_logs, skipped_lines=skipped_lines,
                        progress=progress)
    networks_of = read_networks(logs)
    logged = set(table.workload_keys)
    available = sorted({name.split("@")[0] for key, names in networks_of.items() if key in logged
                        for name in names})
    targets = sorted({log.target.canonical for log in tuning_logs})
    make_model = functools.partial(MODEL_TYPES[model_type], time_limit)
    results = leave_network_out(table, networks_of, make_model,
                                held_out if held_out is not None else available) if networks_of else []
    started = time.perf_counter()
    model = make_model().fit(table.features, table.score, group=table.workload_keys)
    fit_seconds = time.perf_counter() - started
    metadata = {
        "model_type": model_type,
        "dialect": dialect.name,
        "feature_version": table.feature_version,
        "targets": targets,
        "training_data": {"logs": logs.uri, "rows": len(table), "workloads": len(table.workloads),
                          "failed_rows": int(table.failed.sum()), "skipped_logs": table.skipped_logs,
                          "skipped_lines": table.skipped_lines},
        "held_out": {r.network: r.metrics for r in results},
        "fit_seconds": fit_seconds,
        "time_limit": time_limit if model_type == "autogluon" else None,
    }
    return TrainedCostModel(model, model_type, table, results, fit_seconds, metadata)
