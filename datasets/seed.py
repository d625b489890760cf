"""The data set's best schedules in a schedule store: what a fresh service starts with.

The tuning-log data set ships in the repository (``datasets/tuning_logs``, tuned with
MetaSchedule on the CPUs its manifest names); seeding stores its workloads and their best measured
schedules: ``tuned`` records where a search (or the random samples beside it) found them,
``measured`` where the schedule is a tuned neighbour's adapted to the kernel and measured on it
(such a kernel was not searched, and a service still queues its tuning).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from lorien.logstore import LocalLogStore, read_logs
from lorien.records import ScheduleRecord
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
    records = (
        ScheduleRecord(dialect=log.workload.dialect, workload_key=log.workload.key, target=log.target,
                       build=log.build, schedule=m.schedule, latency=m.latency,
                       source="measured" if m.origin == "neighbour" else "tuned",
                       created_at=log.finished_at)
        for log in logs for m in log.succeeded if m.latency is not None
    )
    store.put_workloads(log.workload for log in logs)
    result = store.commit(best_of_each_group(records, store.keep))
    return len({log.workload.key for log in logs}), result.kept


def best_of_each_group(records: Iterable[ScheduleRecord], keep: int) -> list[ScheduleRecord]:
    """The records a store keeping ``keep`` per group could keep, in the store's order: each
    (workload, target, build, source) group's ``keep`` fastest distinct schedules (the fastest
    measurement of a schedule measured twice). A store given the rest would drop them, so a
    commit of these alone stores the same; the data set's 42,000 measurements commit as 6,000."""
    fastest: dict[str, ScheduleRecord] = {}
    for record in records:
        known = fastest.get(record.record_id)
        if known is None or record.latency.mean < known.latency.mean:
            fastest[record.record_id] = record
    groups: dict[tuple[str, str, str, str], list[ScheduleRecord]] = defaultdict(list)
    for record in fastest.values():
        groups[(record.workload_key, record.target.canonical, record.build, record.source)].append(record)
    return [record for group in groups.values()
            for record in sorted(group, key=lambda r: (r.latency.mean, r.record_id))[:keep]]
