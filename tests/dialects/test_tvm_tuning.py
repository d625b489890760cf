"""Real MetaSchedule tuning, committed to a real store, used by a real build through the hook."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from lorien.config import open_logs, open_store
from lorien.dialects import Dialect, TuneOptions, get_dialect
from lorien.errors import InvalidInput
from lorien.logstore import LogStore
from lorien.records import Target, Workload
from lorien.store import ScheduleStore
from lorien.tuner import TuneReport, tune_workloads
from lorien.tuning_log import parse_tuning_log
from tests import tvm_models

pytestmark = pytest.mark.slow

TRIALS = 8


@dataclass
class Tuned:
    dialect: Dialect
    target: Target
    model: object
    workload: Workload
    store: ScheduleStore
    logs: LogStore
    report: TuneReport


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Tuned:
    root = tmp_path_factory.mktemp("tuned")
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    model = dialect.load_model(tvm_models.small_mlp())
    [use] = dialect.extract(model, target)
    store = open_store(f"sqlite:///{root}/lorien.db")
    logs = open_logs(f"file://{root}/logs")
    report = tune_workloads(dialect, [use.workload], target, store, logs,
                            TuneOptions(trials=TRIALS, keep=3, seed=0), progress=False)
    return Tuned(dialect, target, model, use.workload, store, logs, report)


def test_tuning_commits_best_records_and_the_full_log(tuned: Tuned) -> None:
    assert not tuned.report.failed and len(tuned.report.tuned) == 1
    records = tuned.store.top_k(tuned.workload.key, tuned.target, 10)
    assert 1 <= len(records) <= 3
    latencies = [r.latency.mean for r in records]
    assert latencies == sorted(latencies)
    assert all(r.source == "tuned" and r.build == tuned.dialect.build_id() for r in records)
    [log_ref] = {r.log_ref for r in records}
    parsed = parse_tuning_log(tuned.logs.get(log_ref))
    assert parsed.log.workload == tuned.workload
    assert len(parsed.log.measurements) == TRIALS
    # warm by default, from the shipped search model, and the log says so
    assert parsed.log.search is not None and parsed.log.search.startswith("warm:search_model.json@")
    assert min(m.latency.mean for m in parsed.log.succeeded) == pytest.approx(latencies[0])


def test_a_second_run_skips_what_is_tuned(tuned: Tuned) -> None:
    again = tune_workloads(tuned.dialect, [tuned.workload], tuned.target, tuned.store, tuned.logs,
                           TuneOptions(trials=TRIALS), progress=False)
    assert again.skipped == [tuned.workload] and not again.tuned


def test_a_record_applies_to_its_workload(tuned: Tuned) -> None:
    import tvm

    best = tuned.store.best(tuned.workload.key, tuned.target)
    assert best is not None
    scheduled = tuned.dialect.apply(tuned.workload, best)
    assert isinstance(scheduled, tvm.IRModule)
    assert "parallel" in scheduled.script() or "vectorized" in scheduled.script()


def test_the_build_consults_the_hook_and_is_faster(tuned: Tuned) -> None:
    with_store = tuned.dialect.compile(tuned.model, tuned.target, tuned.store)
    assert (with_store.kernels, with_store.kernels_scheduled, with_store.missing) == (1, 1, [])
    untuned = tuned.dialect.compile(tuned.model, tuned.target, None)
    assert untuned.kernels_scheduled == 0
    fast = tuned.dialect.time(with_store, repeat=5).median
    slow = tuned.dialect.time(untuned, repeat=5).median
    assert fast < slow / 2, (fast, slow)


def test_the_hook_reports_a_kernel_it_does_not_know(tuned: Tuned, tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/empty.db") as empty:
        compiled = tuned.dialect.compile(tuned.model, tuned.target, empty)
    assert (compiled.kernels, compiled.kernels_scheduled) == (1, 0)
    assert compiled.missing and compiled.missing[0].startswith("fused_matmul_add_relu(")


def test_the_hook_falls_back_to_another_cpu_of_the_same_kind(tuned: Tuned) -> None:
    other_cpu = tuned.dialect.parse_target('{"kind": "llvm", "mcpu": "x86-64", "num-cores": 2}')
    assert other_cpu != tuned.target
    compiled = tuned.dialect.compile(tuned.model, other_cpu, tuned.store)
    assert compiled.kernels_scheduled == 1


def test_metaschedule_export_import_round_trip(tuned: Tuned, tmp_path: Path) -> None:
    from tvm.s_tir import meta_schedule as ms

    records = list(tuned.store.records())
    written = tuned.dialect.export_native_database(tmp_path / "ms", tuned.store.list_workloads(), records)
    assert written == len(records)
    database = ms.database.JSONDatabase(work_dir=str(tmp_path / "ms"))
    assert len(database.get_all_tuning_records()) == len(records)
    workloads, imported = tuned.dialect.import_native_database(tmp_path / "ms", tuned.dialect.build_id())
    assert [w.key for w in workloads] == [tuned.workload.key]
    assert sorted((r.schedule, r.latency.runs) for r in imported) == sorted(
        (r.schedule, r.latency.runs) for r in records)
    with pytest.raises(InvalidInput, match="already holds"):
        tuned.dialect.export_native_database(tmp_path / "ms", tuned.store.list_workloads(), records)


def test_corrupt_metaschedule_folders_are_rejected_whole(tuned: Tuned, tmp_path: Path) -> None:
    folder = tmp_path / "ms"
    tuned.dialect.export_native_database(folder, tuned.store.list_workloads(), list(tuned.store.records()))
    record_file = folder / "database_tuning_record.json"
    lines = record_file.read_text().splitlines()
    record_file.write_text("\n".join([*lines, lines[0][: len(lines[0]) // 2]]) + "\n")
    with pytest.raises(InvalidInput, match=r"database_tuning_record.json:\d+: malformed JSON"):
        tuned.dialect.import_native_database(folder, "b")
    record_file.write_text(json.dumps([7, json.loads(lines[0])[1]]) + "\n")
    with pytest.raises(InvalidInput, match="unreadable record"):
        tuned.dialect.import_native_database(folder, "b")
    (folder / "database_workload.json").unlink()
    with pytest.raises(InvalidInput, match="missing"):
        tuned.dialect.import_native_database(folder, "b")
