"""``lorien db check``: a store's suspect schedules built and run against their kernels, the wrong
ones reported and, with ``--delete``, deleted (real TVM, a real SQLite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorien.config import open_store
from lorien.dialects import CandidateOptions, get_dialect
from lorien.dialects.tvm.tuning import schedule_json
from lorien.dialects.tvm.workloads import from_workload
from lorien.records import Latency, ScheduleRecord
from tests.cli.test_cli_errors import assert_one_line_error, run_cli
from tests.tvm_models import pointwise_conv, sampled_schedules, small_conv


def test_wrong_schedules_are_reported_then_deleted_and_right_ones_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three records of a 3x3 convolution: one of its own design space (not suspect), a 1x1
    convolution's schedule re-tiled onto it (suspect, right), and the same 1x1 schedule replayed
    whole, its layout rewrite included (suspect, wrong: what adapting did before it stopped at
    the postprocessing: its layout rewrite folds the 3x3 window's weights onto one place, told
    without a build)."""
    import tvm
    from tvm.s_tir.schedule import Trace

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    pointwise, conv = (dialect.extract(dialect.load_model(model()), target)[0].workload
                       for model in (pointwise_conv, small_conv))
    theirs = sampled_schedules(pointwise, target, 1)[0]
    options = CandidateOptions(samples=0, seed=0)
    [adapted] = dialect.candidates(conv, target, [theirs], None, options).schedules
    unguarded = tvm.s_tir.Schedule(from_workload(conv))  # as TVM alone replays it
    Trace.apply_json_to_schedule(json.loads(theirs), unguarded)
    replayed_whole = schedule_json(unguarded.trace)
    own = sampled_schedules(conv, target, 1)[0]

    def record(schedule: str, seconds: float, source: str) -> ScheduleRecord:
        return ScheduleRecord("tvm", conv.key, target, dialect.build_id(), schedule, Latency((seconds,)),
                              source=source)  # type: ignore[arg-type]

    wrong = record(replayed_whole, 1e-4, "measured")
    uri = f"sqlite:///{tmp_path}/s.db"
    with open_store(uri) as store:
        store.put_workloads([conv])
        store.commit([record(own, 3e-4, "tuned"), record(adapted, 2e-4, "measured"), wrong])

    code, out, _ = run_cli(capsys, "db", "check", "--store", uri)
    assert code == 6
    [line] = [line for line in out.splitlines() if line.startswith("wrong: ")]
    assert conv.name in line and "puts several weights in one place" in line
    assert "3 records of 1 workloads: 1 right, 1 wrong (0 deleted), 1 not checked" in out

    code, out, _ = run_cli(capsys, "db", "check", "--store", uri, "--delete", "--json")
    report = json.loads(out)
    assert code == 0 and report["deleted"] == 1 and report["right"] == 1
    assert [w["record_id"] for w in report["wrong"]] == [wrong.record_id]
    with open_store(uri) as store:
        assert sorted(r.schedule for r in store.records()) == sorted([own, adapted])

    code, out, _ = run_cli(capsys, "db", "check", "--store", uri, "--all")
    assert code == 0 and "2 records of 1 workloads: 2 right, 0 wrong" in out


def test_a_dialect_that_cannot_check_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "db", "check", "--store", f"sqlite:///{tmp_path}/s.db",
                           "--dialect", "instant")
    assert code == 2
    assert_one_line_error(err)
    assert "check schedules' outputs" in err
