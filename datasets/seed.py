"""The data set's best schedules in a schedule store: what a fresh service starts with.

The tuning-log data set ships in the repository (``datasets/tuning_logs``, tuned with
MetaSchedule on the CPUs its manifest names); seeding stores its workloads and their best measured
schedules: ``tuned`` records where a search (or the random samples beside it) found them,
``measured`` where the schedule is a tuned neighbour's adapted to the kernel and measured on it
(such a kernel was not searched, and a service still queues its tuning).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from lorien.logstore import LocalLogStore, read_logs
from lorien.records import ScheduleRecord, best_per_group
from lorien.store.base import ScheduleStore
from lorien.tuning_log import TuningLog


def tuning_logs_dir() -> Path:
    """The data set of tuning logs that ships with Lorien."""
    return Path(__file__).resolve().parent / "tuning_logs"


def seed_store(store: ScheduleStore, logs_dir: Path | None = None,
               exclude: Collection[str] = ()) -> tuple[int, int]:
    """Store the workloads of the shipped tuning logs and their best measured schedules
    (:func:`seed_from_logs`; the store keeps its best N), except the workload keys in ``exclude``.
    Safe to repeat: records are content-keyed.

    Returns:
        ``(workloads, records kept)``.
    """
    logs, _, _ = read_logs(LocalLogStore(logs_dir or tuning_logs_dir()))
    return seed_from_logs(store, [log for log in logs if log.workload.key not in exclude])


def seed_from_logs(store: ScheduleStore, logs: Sequence[TuningLog]) -> tuple[int, int]:
    """Store the workloads of ``logs`` and their measured schedules (the store keeps its best N
    of each source): ``tuned`` records, except adapted neighbours (measurement origin
    ``neighbour``), which are ``measured`` records. Returns ``(workloads, records kept)``."""
    records = [
        ScheduleRecord(dialect=log.workload.dialect, workload_key=log.workload.key, target=log.target,
                       build=log.build, schedule=m.schedule, latency=m.latency,
                       source="measured" if m.origin == "neighbour" else "tuned",
                       created_at=log.finished_at)
        for log in logs for m in log.succeeded if m.latency is not None
    ]
    store.put_workloads(log.workload for log in logs)
    # Only what the store would keep (its own semantics, applied here first): the data set's
    # 42,000 measurements commit as 6,000, and a fresh store seeds in half the time.
    result = store.commit(best_per_group(records, store.keep))
    return len({log.workload.key for log in logs}), result.kept

