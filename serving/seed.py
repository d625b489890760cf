"""What a fresh service starts with: the project's own tuned schedules and a trained cost model.

Both ship in the repository. The schedules are the best measurements of the tuning-log data set
(``datasets/tuning_logs``, tuned with MetaSchedule on a 2-core CPU); the cost model is a LightGBM
ranker trained on the same logs, kept in LightGBM's text format (``shipped/cost_model.txt``, no
pickle) with its metadata beside it. Regenerate the model after the logs or the features change::

    python -m lorien.serving.seed --train
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from lorien.errors import NotFound
from lorien.logstore import LocalLogStore, read_logs
from lorien.records import ScheduleRecord, content_hash
from lorien.store.base import ScheduleStore
from lorien.tuning_log import TuningLog

SHIPPED = Path(__file__).resolve().parent / "shipped"
MODEL_TEXT = SHIPPED / "cost_model.txt"
MODEL_METADATA = SHIPPED / "cost_model.json"
#: The registered name of the shipped cost model, the service's default.
DEFAULT_MODEL = "lorien-cost-model"


def tuning_logs_dir() -> Path:
    """The data set of tuning logs that ships with Lorien."""
    from lorien import datasets

    return Path(datasets.__file__).resolve().parent / "tuning_logs"


def seed_store(store: ScheduleStore, logs_dir: Path | None = None,
               exclude: Collection[str] = ()) -> tuple[int, int]:
    """Store the workloads of the shipped tuning logs and their best measured schedules
    (``tuned`` records; the store keeps its best N), except the workload keys in ``exclude``.
    Safe to repeat: records are content-keyed.

    Returns:
        ``(workloads, records kept)``.
    """
    logs, _, _ = read_logs(LocalLogStore(logs_dir or tuning_logs_dir()))
    return seed_from_logs(store, [log for log in logs if log.workload.key not in exclude])


def seed_from_logs(store: ScheduleStore, logs: Sequence[TuningLog]) -> tuple[int, int]:
    """Store the workloads of ``logs`` and their measured schedules as ``tuned`` records (the
    store keeps its best N). Returns ``(workloads, records kept)``."""
    records = [
        ScheduleRecord(dialect=log.workload.dialect, workload_key=log.workload.key, target=log.target,
                       build=log.build, schedule=m.schedule, latency=m.latency, source="tuned",
                       created_at=log.finished_at)
        for log in logs for m in log.succeeded if m.latency is not None
    ]
    store.put_workloads(log.workload for log in logs)
    result = store.commit(records)
    return len({log.workload.key for log in logs}), result.kept


def ensure_shipped_model(tag: str = DEFAULT_MODEL) -> str:
    """Register the shipped cost model under ``tag`` unless that model is registered; returns the
    tag in use. ``DEFAULT_MODEL`` (its latest version) is registered again when the latest one is
    not the model this Lorien ships (an upgrade brings a retrained model, possibly of another
    feature version); other names must have been registered with ``lorien train``.

    Raises:
        NotFound: ``tag`` is not the shipped model's name and is not registered.
    """
    import bentoml

    digest = content_hash(MODEL_TEXT.read_text(), MODEL_METADATA.read_text())
    try:
        found = bentoml.models.get(tag)
        if tag != DEFAULT_MODEL or found.info.metadata.get("shipped_digest") == digest:
            return str(found.tag)
    except bentoml.exceptions.NotFound:
        if tag.split(":")[0] != DEFAULT_MODEL:
            raise NotFound(f"no registered cost model {tag!r} (register one with lorien train --out)"
                           ) from None
    from lorien.training.cost_models import LightGBMRankingCostModel
    from lorien.training.registry import register_model

    model = LightGBMRankingCostModel.from_text(MODEL_TEXT.read_text())
    return register_model(DEFAULT_MODEL, model, {**shipped_metadata(), "shipped_digest": digest})


def shipped_metadata() -> dict[str, Any]:
    return json.loads(MODEL_METADATA.read_text())


def train_shipped_model(time_limit: float = 60.0) -> dict[str, Any]:
    """Train the shipped LightGBM model on the shipped logs and write it beside this module."""
    from lorien.config import data_dir
    from lorien.training.pipeline import train_cost_model

    trained = train_cost_model(LocalLogStore(tuning_logs_dir()), "lightgbm", progress=True,
                               time_limit=time_limit, cache=data_dir() / "feature-cache")
    metadata = {**trained.metadata, "training_data": {**trained.metadata["training_data"],
                                                      "logs": "datasets/tuning_logs"}}
    SHIPPED.mkdir(exist_ok=True)
    MODEL_TEXT.write_text(trained.model.to_text())
    MODEL_METADATA.write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lorien.serving.seed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="retrain the shipped cost model")
    args = parser.parse_args(argv)
    if args.train:
        metadata = train_shipped_model()
        shown = {key: metadata[key] for key in ("held_out", "summary", "summary_leave_cpu_out")}
        print(json.dumps(shown, indent=1), file=sys.stderr)
        print(f"wrote {MODEL_TEXT} ({MODEL_TEXT.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
