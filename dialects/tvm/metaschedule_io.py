"""MetaSchedule ``JSONDatabase`` folders in and out, so TVM users can bring what they tuned.

A JSONDatabase folder holds ``database_workload.json`` (lines ``[shash, base64 module]``) and
``database_tuning_record.json`` (lines ``[workload line index, [trace, run_secs, target,
args_info]]``). Reading validates every line before anything is returned, so a corrupt folder is
rejected whole.
"""

from __future__ import annotations

import json
from pathlib import Path

from tvm.s_tir import meta_schedule as ms

from lorien.dialects.tvm.hook import trace_record
from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics
from lorien.dialects.tvm.target import canonical_target, to_tvm_target
from lorien.dialects.tvm.tuning import schedule_json, valid_runs
from lorien.dialects.tvm.workloads import DIALECT, from_workload, to_workload
from lorien.errors import InvalidInput
from lorien.records import Latency, ScheduleRecord, Workload

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"


def _lines(path: Path) -> list[tuple[int, object]]:
    if not path.is_file():
        raise InvalidInput(f"{path} is missing: not a MetaSchedule JSONDatabase folder")
    parsed = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{number}: malformed JSON ({exc.msg})") from None
    return parsed


def read_json_database(folder: Path, build: str) -> tuple[list[Workload], list[ScheduleRecord]]:
    """Workloads and successfully measured records of a JSONDatabase folder.

    Records whose every run failed (MetaSchedule's 1e10 s) are left out.

    Raises:
        InvalidInput: the folder is missing files or any line is malformed.
    """
    load_cpu_intrinsics()
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    workload_path, record_path = folder / WORKLOAD_FILE, folder / RECORD_FILE
    ms_workloads = []
    workloads = []
    for number, item in _lines(workload_path):
        try:
            ms_workload = ms.database.Workload.from_json(item)
            mod = ms_workload.mod
            symbol = mod["main"].attrs.get("global_symbol", "kernel") if mod["main"].attrs else "kernel"
            workloads.append(to_workload(str(symbol), mod))
        except Exception as exc:
            raise InvalidInput(f"{workload_path}:{number}: unreadable workload ({exc!r})"[:300]) from None
        ms_workloads.append(ms_workload)
    records = []
    for number, item in _lines(record_path):
        try:
            index, body = item  # type: ignore[misc]
            ms_record = ms.database.TuningRecord.from_json(body, ms_workloads[int(index)])
            runs = tuple(float(r) for r in (ms_record.run_secs or []))
            target = canonical_target(ms_record.target)
            schedule = schedule_json(ms_record.trace)
        except Exception as exc:
            raise InvalidInput(f"{record_path}:{number}: unreadable record ({exc!r})"[:300]) from None
        if not valid_runs(list(runs)):
            continue
        records.append(ScheduleRecord(
            dialect=DIALECT, workload_key=workloads[int(index)].key, target=target, build=build,
            schedule=schedule, latency=Latency(runs), source="tuned",
        ))
    return workloads, records


def write_json_database(
    folder: Path, workloads: list[Workload], records: list[ScheduleRecord]
) -> int:
    """Write records (and the workloads they need) as a new JSONDatabase folder.

    Raises:
        InvalidInput: the folder already holds a database, or a record's workload is missing.
    """
    load_cpu_intrinsics()
    folder = Path(folder)
    workload_path, record_path = folder / WORKLOAD_FILE, folder / RECORD_FILE
    if any(p.exists() and p.stat().st_size for p in (workload_path, record_path)):
        raise InvalidInput(f"{folder} already holds a MetaSchedule database; choose an empty folder")
    by_key = {w.key: w for w in workloads if w.dialect == DIALECT}
    index: dict[str, int] = {}
    workload_lines: list[str] = []
    record_lines: list[str] = []
    modules = {}
    for record in records:
        if record.dialect != DIALECT:
            continue
        workload = by_key.get(record.workload_key)
        if workload is None:
            raise InvalidInput(f"record of workload {record.workload_key} has no stored workload")
        if workload.key not in index:
            modules[workload.key] = from_workload(workload)
            index[workload.key] = len(workload_lines)
            workload_lines.append(json.dumps(ms.database.Workload(modules[workload.key]).as_json()))
        ms_record = trace_record(modules[workload.key], record, to_tvm_target(record.target))
        record_lines.append(json.dumps([index[workload.key], ms_record.as_json()]))
    folder.mkdir(parents=True, exist_ok=True)
    workload_path.write_text("".join(line + "\n" for line in workload_lines))
    record_path.write_text("".join(line + "\n" for line in record_lines))
    return len(record_lines)
