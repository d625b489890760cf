"""``lorien db migrate``: a store written under the lowering before TVM's static-shape pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorien.cli.main import main
from lorien.config import open_store
from lorien.dialects import Lowering, get_dialect
from lorien.records import Latency, ScheduleRecord, Workload
from tests import tvm_models
from tests.tvm_models import sampled_schedules

MODELS = ["tests/tvm_models.py:small_mlp", "tests/tvm_models.py:small_conv_bn"]


def _previous_workloads(model: object) -> list[Workload]:
    """The kernels the earlier lowering (BatchNorm kernels of their own) gave ``model``."""
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.lowering import lower_previously
    from lorien.dialects.tvm.target import to_tvm_target
    from lorien.dialects.tvm.workloads import to_workload

    target = to_tvm_target(get_dialect("tvm").parse_target("host"))
    lowered = lower_previously(model.mod, target)  # type: ignore[attr-defined]
    return [to_workload(task.task_name, task.dispatched[0])
            for task in ms.relax_integration.extract_tasks(lowered, target)]


@pytest.fixture
def old_store(tmp_path: Path) -> str:
    """A store holding one tuned record for every kernel the earlier lowering gave both models."""
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    uri = f"sqlite:///{tmp_path}/old.db"
    with open_store(uri) as store:
        for factory in (tvm_models.small_mlp, tvm_models.small_conv_bn):
            workloads = [w for w in _previous_workloads(dialect.load_model(factory())) if w.flops > 0]
            store.put_workloads(workloads)
            store.commit([ScheduleRecord(dialect="tvm", workload_key=w.key, target=target,
                                         build=dialect.build_id(), schedule=schedule,
                                         latency=Latency((1e-4,)), source="tuned")
                          for w in workloads for schedule in sampled_schedules(w, target, count=1)])
    return uri


def _migrate(capsys: pytest.CaptureFixture[str], store: str, *flags: str) -> dict:
    args = ["db", "migrate", "--store", store, "--json", *flags]
    for model in MODELS:
        args += ["--model", model]
    assert main(args) == 0
    return {m["model"]: m for m in json.loads(capsys.readouterr().out)["models"]}


def test_unchanged_kernels_keep_their_records_and_changed_ones_are_named(
        old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    mlp, conv_bn = _migrate(capsys, old_store, "--no-prepack").values()
    assert (mlp["kernels"], mlp["covered"], mlp["uncovered"], mlp["retired"]) == (1, 1, [], 0)
    assert conv_bn["kernels"] == 2 and conv_bn["covered"] == 0 and not conv_bn["rekeyed"]
    assert sorted(n.split("(")[0] for n in conv_bn["uncovered"]) == [
        "fused_conv2d_subtract_divide_multiply_add", "fused_conv2d_subtract_divide_multiply_add_relu"]
    assert conv_bn["retired"] >= 2 and conv_bn["retired_records"] >= 2


def test_prepacked_kernels_take_their_plain_twins_records_once(
        old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    dry = _migrate(capsys, old_store, "--prepack", "--dry-run")
    assert dry[MODELS[0]]["rekeyed"] and dry[MODELS[0]]["covered"] == 0
    first = _migrate(capsys, old_store, "--prepack")
    [(kernel, copied)] = first[MODELS[0]]["rekeyed"].items()
    assert kernel.startswith("fused_matmul_add_relu(") and copied == 1
    assert len(first[MODELS[1]]["uncovered"]) == 2  # their plain twins have no records either
    again = _migrate(capsys, old_store, "--prepack")
    assert again[MODELS[0]]["covered"] == 1 and not again[MODELS[0]]["rekeyed"]

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    with open_store(old_store) as store:
        compiled = dialect.compile(dialect.load_model(tvm_models.small_mlp()), target, store,
                                   Lowering(prepack=True))
    assert (compiled.kernels, compiled.kernels_scheduled) == (1, 1)


def test_the_report_names_the_command_that_covers_what_cannot_move(
        old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "migrate", "--store", old_store, "--model", MODELS[1], "--no-prepack"]) == 0
    out = capsys.readouterr().out
    assert "2 kernels changed and have no records" in out
    assert f"lorien tune --model {MODELS[1]} --no-prepack" in out


def test_a_store_of_plain_schedules_serves_the_default_prepacked_build(
        old_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Prepacking is the default: a store tuned plain (as before) answers the prepacked kernels
    through their plain twins, with or without migrating it first."""
    args = ["compile", "--model", MODELS[0], "--store", old_store, "--no-baselines", "--repeat", "1",
            "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["kernels_scheduled"] == 1 and json.loads(out)["lowering"] == "prepack"
    assert "note:" not in err
    _migrate(capsys, old_store, "--prepack")
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["kernels_scheduled"] == 1
