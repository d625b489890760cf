"""The cost model that guides MetaSchedule's search from its first trial: MetaSchedule's own
XGBoost model, pre-trained on tuning logs.

MetaSchedule's ``XGBModel`` answers with random scores until it has seen 100 measurements. Tuning
one kernel at 64 trials (one search iteration of 64) therefore never uses it: the picks are
random design-space samples mutated under a random model, and their latencies match plain random
samples'. TVM's own pipeline escapes this by tuning a whole network with one shared model;
Lorien tunes kernels one job at a time, on many machines, so it carries the learning in a model
pre-trained on its logs instead (what TenSet did for Ansor). The model is MetaSchedule's own
(same per-store features, same pack-sum objective), with the labels every Lorien model reads
(:func:`lorien.tuning_log.relative_scores`).
MetaSchedule's adaptive training keeps it as it is until the kernel's own measurements outnumber
a fifth of the model's training rows, then retrains on those as it always does.

A search model is a file: XGBoost's JSON booster plus, as a booster attribute, how many
measurements it was trained on. One ships with Lorien (:data:`SHIPPED_SEARCH_MODEL`, trained on
the shipped data set); ``python -m lorien.dialects.tvm.search_model --logs DIR --out FILE`` trains
another. Not thread safe: each tuning gets its own :func:`warm_cost_model`.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lorien.dialects.tvm.native_cost_model import MetaScheduleXGBCostModel, per_store_rows
from lorien.dialects.tvm.target import host_cores
from lorien.errors import InvalidInput
from lorien.tuning_log import TuningLog, relative_scores

#: The search model trained on the data set that ships with Lorien.
SHIPPED_SEARCH_MODEL = Path(__file__).resolve().parent / "shipped" / "search_model.json"
_ROWS_ATTRIBUTE = "lorien_training_rows"


def search_model_rows(logs: Iterable[TuningLog],
                      exclude: Collection[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Per-store feature rows and labels (``best / latency`` within a workload on one target, 0
    for a failed measurement) of every measurement in ``logs`` whose workload key is not in
    ``exclude``. Latencies of different CPUs are never compared."""
    by_workload: dict[tuple[str, str], list[TuningLog]] = {}
    for log in logs:
        if log.workload.key not in exclude:
            by_workload.setdefault((log.workload.key, log.target.canonical), []).append(log)
    features: list[np.ndarray] = []
    labels: list[float] = []
    for _, group in sorted(by_workload.items()):
        measurements = [m for log in group for m in log.measurements]
        if not any(m.ok for m in measurements):
            continue
        rows, applied = per_store_rows(group[0].workload, group[0].target, [m.schedule for m in measurements])
        for row, score, fits in zip(rows, relative_scores(measurements), applied, strict=True):
            if fits:
                features.append(row)
                labels.append(score)
    feature_array = np.empty(len(features), dtype=object)
    for i, row in enumerate(features):
        feature_array[i] = row
    return feature_array, np.asarray(labels, dtype=np.float64)


def fit_search_model(logs: Iterable[TuningLog],
                     exclude: Collection[str] = ()) -> tuple[MetaScheduleXGBCostModel, int]:
    """MetaSchedule's XGBoost model trained on ``logs`` (except the workload keys in ``exclude``),
    and how many measurements it learnt from.

    Raises:
        InvalidInput: no measurement to learn from.
    """
    features, labels = search_model_rows(logs, exclude)
    if not (labels > 0).any():
        raise InvalidInput("no successful measurement in the logs: nothing to train a search model on")
    return MetaScheduleXGBCostModel(nthread=host_cores()).fit(list(features), labels), len(labels)


def save_search_model(model: MetaScheduleXGBCostModel, rows: int, path: Path) -> Path:
    """Write a fitted model, trained on ``rows`` measurements, as a search model file (XGBoost's
    JSON format)."""
    booster = model.model_.booster
    booster.set_attr(**{_ROWS_ATTRIBUTE: str(int(rows))})
    path = Path(path)
    booster.save_model(str(path))
    return path


@functools.cache
def _booster_bytes(path: Path) -> tuple[bytearray, int]:
    """The raw booster of a search model file and its training-row count (read once per process)."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except (xgb.core.XGBoostError, OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a search model: {str(exc).splitlines()[0][:200]}") from None
    rows = booster.attr(_ROWS_ATTRIBUTE)
    if rows is None or not rows.isdigit():
        raise InvalidInput(f"{path} is not a search model: it lacks the {_ROWS_ATTRIBUTE} attribute")
    return booster.save_raw(), int(rows)


@functools.cache
def search_model_digest(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of the file at ``path`` (read once per process):
    which search model guided a run, as its tuning log records it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def check_search_model(path: Path) -> int:
    """The number of rows the search model in ``path`` was trained on.

    Raises:
        InvalidInput: no file at ``path``, or it is not a search model.
    """
    if not path.is_file():
        raise InvalidInput(f"no search model at {path}")
    return _booster_bytes(path.resolve())[1]


def warm_cost_model(path: Path = SHIPPED_SEARCH_MODEL) -> Any:
    """A fresh MetaSchedule ``XGBModel`` that predicts with the model in ``path`` from the first
    candidate. It updates like any ``XGBModel``: it retrains, on the kernel's own measurements,
    once those outnumber a fifth of what the file was trained on.

    Raises:
        InvalidInput: ``path`` is missing or not a search model file.
    """
    import xgboost as xgb
    from tvm.s_tir.meta_schedule.cost_model.xgb_model import XGBConfig, XGBModel

    path = Path(path).resolve()
    check_search_model(path)
    raw, rows = _booster_bytes(path)
    booster = xgb.Booster(model_file=raw)
    booster.set_param({"nthread": host_cores()})
    model = XGBModel(config=XGBConfig(nthread=host_cores()), verbose_eval=0)
    model.booster = booster
    model.data_size = model.last_train_size = max(rows, model.num_warmup_samples)
    return model


def main(argv: list[str] | None = None) -> None:
    """Train a search model on a folder of tuning logs."""
    from lorien.logstore import LocalLogStore, read_logs

    parser = argparse.ArgumentParser(description="Train the search model (MetaSchedule's XGBoost, "
                                                 "pre-trained) on a folder of tuning logs.")
    parser.add_argument("--logs", type=Path, required=True, help="tuning-log folder")
    parser.add_argument("--out", type=Path, default=SHIPPED_SEARCH_MODEL, help="model file to write")
    args = parser.parse_args(argv)
    logs, unreadable, _ = read_logs(LocalLogStore(args.logs))
    try:
        model, rows = fit_search_model(logs)
        save_search_model(model, rows, args.out)
    except (InvalidInput, OSError) as exc:
        raise SystemExit(f"search_model: error: {exc}") from None
    print(json.dumps({"out": str(args.out), "rows": rows, "unreadable_logs": unreadable,
                      "workloads": len({log.workload.key for log in logs})}))


if __name__ == "__main__":
    main()
