"""MetaSchedule ``JSONDatabase`` folders in and out, so TVM users can bring what they tuned.

A JSONDatabase folder holds ``database_workload.json`` (lines ``[shash, base64 module]``) and
``database_tuning_record.json`` (lines ``[workload line index, [trace, run_secs, target,
args_info]]``). Reading validates every line before anything is returned, so a corrupt folder is
rejected whole.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

import tvm
from tvm.s_tir import meta_schedule as ms

from lorien.dialects.tvm.hook import trace_record
from lorien.dialects.tvm.intrinsics import load_cpu_intrinsics
from lorien.dialects.tvm.payload import check_object_graph
from lorien.dialects.tvm.schedule import FoldedLayoutRewrite
from lorien.dialects.tvm.target import to_tvm_target
from lorien.dialects.tvm.tuning import plain_json, valid_runs
from lorien.dialects.tvm.untrusted import check_trace_shape, read_record_in_child, sandbox
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

    Records whose every run failed (MetaSchedule's 1e10 s) are left out, and so are those that
    compute the wrong thing (TVM 0.27's own layout rewrite folds some kernels' weights:
    :mod:`lorien.dialects.tvm.layout_rewrite`). Nothing in the folder
    reaches TVM unchecked: each workload's object graph is checked
    (:func:`~lorien.dialects.tvm.payload.check_object_graph`) before TVM loads it, and each record
    is read by TVM in the sandbox (:mod:`lorien.dialects.tvm.untrusted`), so a corrupt or hostile
    line is reported, never fatal.

    Raises:
        InvalidInput: the folder is missing files or any line is malformed.
    """
    load_cpu_intrinsics()
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    workload_path, record_path = folder / WORKLOAD_FILE, folder / RECORD_FILE
    workloads = []
    for number, item in _lines(workload_path):
        try:
            text = _workload_graph(item)
            check_object_graph(text, what="workload")
            mod = tvm.ir.load_json(text)
            names = [gv.name_hint for gv in mod.get_global_vars()] if isinstance(mod, tvm.IRModule) else []
            if names != ["main"]:
                raise InvalidInput("not a module of one function named main")
            symbol = mod["main"].attrs.get("global_symbol", "kernel") if mod["main"].attrs else "kernel"
            workloads.append(to_workload(str(symbol), mod))
        except Exception as exc:
            raise InvalidInput(f"{workload_path}:{number}: unreadable workload ({_reason(exc)})") from None
    records = []
    for number, item in _lines(record_path):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
                and not isinstance(item[0], bool) and 0 <= item[0] < len(workloads)
                and isinstance(item[1], list) and len(item[1]) == 4):
            raise InvalidInput(f"{record_path}:{number}: unreadable record (not [workload index, [trace, "
                               "run_secs, target, args_info]] with an index of the workload file)")
        index, body = item
        try:
            check_trace_shape(json.dumps(body[0]))
        except InvalidInput as exc:
            raise InvalidInput(f"{record_path}:{number}: unreadable record ({exc})") from None
        outcome = sandbox().call(read_record_in_child, workloads[index].payload, body)
        if not outcome.ok:
            raise InvalidInput(f"{record_path}:{number}: unreadable record ({outcome.error})"[:300])
        runs, target, schedule, folded = outcome.value
        if not valid_runs(list(runs)) or folded is not None:
            continue
        records.append(ScheduleRecord(
            dialect=DIALECT, workload_key=workloads[index].key, target=target, build=build,
            schedule=schedule, latency=Latency(runs), source="tuned",
        ))
    return workloads, records


def _workload_graph(item: object) -> str:
    """The object graph of a workload line ``[shash, base64]``: the base64 holds the graph's
    length (8 bytes, little-endian) and then the graph."""
    if not (isinstance(item, list) and len(item) == 2 and all(isinstance(p, str) for p in item)):
        raise InvalidInput("not [structural hash, base64 module]")
    try:
        raw = base64.b64decode(item[1], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the module is not base64") from None
    size = int.from_bytes(raw[:8], "little")
    if len(raw) < 8 or size != len(raw) - 8:
        raise InvalidInput("the module's length does not match its bytes")
    try:
        return raw[8:].decode()
    except UnicodeDecodeError:
        raise InvalidInput("the module is not text") from None


def _reason(exc: Exception) -> str:
    text = str(exc) if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0][:240] if text else type(exc).__name__


def _record_json(record: ms.database.TuningRecord) -> object:
    """``TuningRecord.as_json`` before its Python conversion, which fails on the ``IndexMap`` of a
    weight layout rewrite (TVM's own JSONDatabase writes it from C++)."""
    from tvm.s_tir.meta_schedule import _ffi_api

    return _ffi_api.TuningRecordAsJSON(record)


def write_json_database(
    folder: Path, workloads: list[Workload], records: list[ScheduleRecord]
) -> int:
    """Write records (and the workloads they need) as a new JSONDatabase folder, but those whose
    weight layout rewrite folds weights (they compute the wrong thing).

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
        try:
            ms_record = trace_record(modules[workload.key], record, to_tvm_target(record.target))
        except FoldedLayoutRewrite:
            continue  # computes the wrong thing: not handed to a compiler
        record_lines.append(json.dumps([index[workload.key], plain_json(_record_json(ms_record))]))
    folder.mkdir(parents=True, exist_ok=True)
    workload_path.write_text("".join(line + "\n" for line in workload_lines))
    record_path.write_text("".join(line + "\n" for line in record_lines))
    return len(record_lines)
