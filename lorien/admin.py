"""Store administration behind ``lorien db``: copy between backends, statistics.

Copying is resumable: records are copied a workload at a time in key order, and the last
workload copied is written to a checkpoint file under Lorien's data folder (one per source and
destination), so a second run skips what the first finished. Commits are idempotent (a record
already there is kept once), so a run interrupted mid-workload loses nothing either.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lorien.config import data_dir, open_logs, open_store
from lorien.errors import InvalidInput
from lorien.files import write_atomically
from lorien.records import ScheduleRecord, content_hash

STORE_SCHEMES = ("sqlite", "dynamodb")
LOG_SCHEMES = ("file", "s3")

Progress = Callable[[int, int], None]


def uri_kind(uri: str) -> str:
    """``store`` or ``logs``, by the URI's scheme.

    Raises:
        InvalidInput: a scheme that names neither.
    """
    scheme = urlsplit(uri).scheme
    if scheme in STORE_SCHEMES:
        return "store"
    if scheme in LOG_SCHEMES:
        return "logs"
    raise InvalidInput(f"{uri!r} is neither a schedule store ({', '.join(STORE_SCHEMES)}) "
                       f"nor a log store ({', '.join(LOG_SCHEMES)})")


@dataclass
class CopyReport:
    """What a copy did."""

    kind: str
    workloads: int = 0
    records: int = 0
    logs: int = 0
    skipped: int = 0          # workloads (stores) or logs already at the destination
    resumed_after: str | None = None


def _checkpoint_path(source: str, destination: str) -> Path:
    return data_dir() / "copy-checkpoints" / f"{content_hash(source, destination)}.json"


def copy(source: str, destination: str, *, progress: Progress | None = None,
         restart: bool = False) -> CopyReport:
    """Copy every workload and record (two stores), or every log (two log stores).

    Args:
        progress: called as ``progress(done, total)``.
        restart: ignore the checkpoint of an earlier run.

    Raises:
        InvalidInput: the URIs name different kinds of storage, or the same storage.
    """
    kind = uri_kind(source)
    if uri_kind(destination) != kind:
        raise InvalidInput(f"cannot copy between a {kind} URI and a {uri_kind(destination)} URI")
    if source == destination:
        raise InvalidInput("source and destination are the same")
    if kind == "logs":
        return _copy_logs(source, destination, progress)
    return _copy_store(source, destination, progress, restart)


def _copy_logs(source: str, destination: str, progress: Progress | None) -> CopyReport:
    report = CopyReport("logs")
    src, dst = open_logs(source), open_logs(destination, create=True)
    try:
        keys = list(src.list())
        for done, key in enumerate(keys, 1):
            if dst.exists(key):
                report.skipped += 1
            else:
                dst.put(key, src.get(key))
                report.logs += 1
            if progress:
                progress(done, len(keys))
    finally:
        src.close()
        dst.close()
    return report


def _records_by_workload(records: Iterator[ScheduleRecord]) -> Iterator[tuple[str, list[ScheduleRecord]]]:
    current: list[ScheduleRecord] = []
    for rec in records:
        if current and rec.workload_key != current[0].workload_key:
            yield current[0].workload_key, current
            current = []
        current.append(rec)
    if current:
        yield current[0].workload_key, current


def _copy_store(source: str, destination: str, progress: Progress | None, restart: bool) -> CopyReport:
    report = CopyReport("store")
    checkpoint = _checkpoint_path(source, destination)
    done_through = None
    if not restart and checkpoint.is_file():
        done_through = json.loads(checkpoint.read_text()).get("done_through")
    report.resumed_after = done_through
    with open_store(source) as src, open_store(destination, create=True) as dst:
        workloads = src.list_workloads()
        report.workloads = dst.put_workloads(workloads)
        keys = sorted({g.workload_key for g in src.groups()})
        for done, (key, records) in enumerate(_records_by_workload(src.records()), 1):
            if done_through is not None and key <= done_through:
                report.skipped += 1
            else:
                dst.commit(records)
                report.records += len(records)
                _write_checkpoint(checkpoint, {"source": source, "destination": destination,
                                               "done_through": key})
            if progress:
                progress(done, len(keys))
    checkpoint.unlink(missing_ok=True)
    return report


def _write_checkpoint(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, lambda handle: handle.write(json.dumps(data).encode()))


@dataclass
class StoreStats:
    """Counts of a store, from group summaries (no schedule is read)."""

    workloads: int
    records: int
    groups: int
    by_dialect: Counter[str] = field(default_factory=Counter)
    by_target: Counter[str] = field(default_factory=Counter)
    by_build: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)
    tuned_workloads: int = 0


def stats(uri: str) -> StoreStats:
    """Workload, record and group counts, and records per dialect, target, build and source."""
    with open_store(uri) as store:
        result = StoreStats(workloads=len(store.list_workloads()), records=0, groups=0)
        tuned: set[str] = set()
        for group in store.groups():
            result.groups += 1
            result.records += group.records
            result.by_dialect[group.dialect] += group.records
            result.by_target[group.target.canonical] += group.records
            result.by_build[group.build] += group.records
            result.by_source[group.source] += group.records
            if group.source == "tuned":
                tuned.add(group.workload_key)
        result.tuned_workloads = len(tuned)
    return result
