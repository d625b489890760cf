"""Weight layout rewrites that fold weights onto one place (real TVM, a kernel that concatenates,
normalises and splits, as MixNet's do): TVM's own design space makes them, Lorien's does not, and
a stored one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lorien.dialects import CandidateOptions, TuneOptions, TuneOutcome, get_dialect
from lorien.outputs import output_mismatch
from lorien.records import Latency, ScheduleRecord, Workload
from tests.tvm_models import concat_norm_split, sampled_schedules, small_conv_bn


@pytest.fixture(scope="module")
def split_kernel() -> Workload:
    dialect = get_dialect("tvm")
    [use] = dialect.extract(dialect.load_model(concat_norm_split()), dialect.parse_target("host"))
    assert "concatenate" in use.workload.name and use.workload.name.split("(")[0].endswith("_split")
    return use.workload


def unguarded_outputs(workload: Workload, schedule: str | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The kernel built with ``schedule`` replayed by TVM alone (no check of its layout rewrite),
    or unscheduled when None, run on fixed random arguments: (arguments before, after)."""
    import tvm
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    from tvm.s_tir.schedule import Trace

    from lorien.dialects.tvm.workloads import from_workload

    mod = from_workload(workload)
    if schedule is not None:
        sch = tvm.s_tir.Schedule(mod)
        Trace.apply_json_to_schedule(json.loads(schedule), sch)
        mod = sch.mod
    draw = np.random.default_rng(0)
    arrays = [draw.standard_normal([int(x) for x in info.as_json()[2]]).astype("float32")
              for info in ArgInfo.from_prim_func(mod["main"])]
    built = tvm.compile(mod, target="llvm")
    tensors = [tvm.runtime.tensor(array.copy(), tvm.cpu()) for array in arrays]
    built(*tensors)
    return arrays, [tensor.numpy() for tensor in tensors]


def test_tvm_s_own_design_space_folds_the_split_kernel_s_weights_and_lorien_refuses_the_schedule(
        split_kernel: Workload) -> None:
    """Every sample of MetaSchedule's design space, as TVM ships it, rewrites the normalisation's
    16 per-channel parameters into 8 places: built and run, it computes other values than the
    kernel unscheduled. Lorien will not apply such a schedule, and says why."""
    from lorien.dialects.tvm.kernel_check import kernel_output_mismatch
    from lorien.dialects.tvm.schedule import FoldedLayoutRewrite, apply_schedule
    from lorien.dialects.tvm.workloads import from_workload

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    theirs = sampled_schedules(split_kernel, target, 4, as_tvm_ships=True)
    _, want = unguarded_outputs(split_kernel, None)
    _, got = unguarded_outputs(split_kernel, theirs[0])
    assert output_mismatch(got, want) is not None
    for schedule in theirs:
        with pytest.raises(FoldedLayoutRewrite, match="puts several weights in one place"):
            apply_schedule(from_workload(split_kernel), schedule)
        assert "several weights in one place" in (kernel_output_mismatch(split_kernel, schedule) or "")
    record = ScheduleRecord("tvm", split_kernel.key, target, dialect.build_id(), theirs[0], Latency((1e-5,)))
    [check] = dialect.check_outputs(split_kernel, [record])  # a design-space schedule, still checked
    assert check.verdict == "wrong" and "several weights in one place" in check.detail


def test_lorien_s_design_space_keeps_the_weights_apart_and_a_convolution_s_rewrite(
        split_kernel: Workload) -> None:
    """Lorien's samples of the same kernel carry no layout rewrite and compute what the kernel
    does; a convolution's samples keep theirs (the guard drops only rewrites that fold), as do
    TVM's own, which fold nothing there."""
    from lorien.dialects.tvm.kernel_check import kernel_output_mismatch

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    ours = dialect.candidates(split_kernel, target, [], None, CandidateOptions(samples=6, seed=0)).schedules
    assert ours and all('"TransformLayout"' not in schedule for schedule in ours)
    assert [kernel_output_mismatch(split_kernel, schedule) for schedule in ours] == [None] * len(ours)
    conv = dialect.extract(dialect.load_model(small_conv_bn()), target)[0].workload
    for as_tvm_ships in (False, True):
        samples = sampled_schedules(conv, target, 4, as_tvm_ships=as_tvm_ships)
        assert any('"TransformLayout"' in schedule for schedule in samples)
        assert [kernel_output_mismatch(conv, schedule) for schedule in samples] == [None] * 4


def test_a_search_of_the_split_kernel_finds_schedules_that_compute_what_it_does(
        split_kernel: Workload) -> None:
    """MetaSchedule's evolutionary search, run by Lorien, postprocesses its candidates with the
    guarded layout rewrite: every schedule it measured computes what the kernel does."""
    from lorien.dialects.tvm.kernel_check import kernel_output_mismatch

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    outcome = dialect.tune(split_kernel, target, TuneOptions(trials=8, repeat=1, warm_start=False))
    measured = [m.schedule for m in outcome.log.succeeded]
    assert measured and outcome.records
    assert [kernel_output_mismatch(split_kernel, schedule) for schedule in measured] == [None] * len(measured)


def test_a_stored_folding_schedule_is_not_used_and_the_build_computes_right(
        split_kernel: Workload, tmp_path: Path) -> None:
    """A store holding such a schedule (tuned before the guard) does not make a wrong build: the
    compiler hook reports it unusable and the kernel is built unscheduled, its outputs PyTorch's."""
    from lorien.config import open_store
    from lorien.datasets.eager import torch_outputs

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [folding] = sampled_schedules(split_kernel, target, 1, as_tvm_ships=True)
    with open_store(f"sqlite:///{tmp_path}/store.db") as store:
        store.put_workloads([split_kernel])
        store.commit([ScheduleRecord("tvm", split_kernel.key, target, dialect.build_id(), folding,
                                     Latency((1e-5,)), source="tuned")])
        built = dialect.compile(dialect.load_model(concat_norm_split()), target, store)
    assert built.kernels_scheduled == 0
    assert "several weights in one place" in built.unusable[split_kernel.key]
    assert output_mismatch(dialect.outputs(built), torch_outputs(concat_norm_split())) is None


def test_a_tuning_job_keeps_no_record_that_computes_wrong(split_kernel: Workload) -> None:
    """Were a search to keep a schedule that computes the wrong thing (as MetaSchedule's own did
    for this kernel), the job checks its records against the kernel unscheduled before they are
    stored: the wrong one goes, its measurement is failed in the log, a right one stays."""
    from lorien.tuner.sampling import without_wrong_records
    from lorien.tuning_log import Measurement, TuningLog

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [folding] = sampled_schedules(split_kernel, target, 1, as_tvm_ships=True)
    sampling = CandidateOptions(samples=1, seed=0)
    [right] = dialect.candidates(split_kernel, target, [], None, sampling).schedules
    log = TuningLog(split_kernel, target, dialect.build_id(), 2, 0.0, 1.0,
                    (Measurement(folding, Latency((1e-5,))), Measurement(right, Latency((2e-5,)))))
    records = tuple(ScheduleRecord("tvm", split_kernel.key, target, dialect.build_id(), m.schedule, m.latency,
                                   source="tuned") for m in log.measurements)
    checked = without_wrong_records(dialect, TuneOutcome(records=records, log=log, seconds=1.0))
    assert [r.schedule for r in checked.records] == [right]
    assert checked.log.measurements[0].latency is None
    assert (checked.log.measurements[0].error or "").startswith("wrong output: the schedule's weight layout")
    assert checked.log.measurements[1] == log.measurements[1]


def test_metaschedule_databases_do_not_carry_a_folding_schedule_either_way(
        split_kernel: Workload, tmp_path: Path) -> None:
    """A MetaSchedule database tuned by TVM alone may hold such a record: importing it keeps the
    rest and leaves that one out; exporting a store that holds one writes the rest."""
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm.s_tir.meta_schedule.arg_info import ArgInfo
    from tvm.s_tir.schedule import Trace

    from lorien.dialects.tvm.target import to_tvm_target
    from lorien.dialects.tvm.workloads import from_workload

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [folding] = sampled_schedules(split_kernel, target, 1, as_tvm_ships=True)
    sampling = CandidateOptions(samples=1, seed=0)
    [right] = dialect.candidates(split_kernel, target, [], None, sampling).schedules
    mod = from_workload(split_kernel)
    (tmp_path / "tvm").mkdir()
    database = ms.database.JSONDatabase(work_dir=str(tmp_path / "tvm"))
    workload = database.commit_workload(mod)
    for schedule, seconds in ((folding, 1e-5), (right, 2e-5)):
        sch = tvm.s_tir.Schedule(mod)
        Trace.apply_json_to_schedule(json.loads(schedule), sch)  # as TVM alone replays it
        database.commit_tuning_record(ms.database.TuningRecord(
            sch.trace, workload, [seconds], to_tvm_target(target), ArgInfo.from_prim_func(mod["main"])))
    _, imported = dialect.import_native_database(tmp_path / "tvm", dialect.build_id())
    assert [r.latency.runs for r in imported] == [(2e-5,)]
    records = [ScheduleRecord("tvm", split_kernel.key, target, dialect.build_id(), schedule, Latency((s,)),
                              source="tuned") for schedule, s in ((folding, 1e-5), (right, 2e-5))]
    assert dialect.export_native_database(tmp_path / "out", [split_kernel], records) == 1
