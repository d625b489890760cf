"""The TVM dialect lowers as TVM's static-shape pipeline does, with and without weight prepacking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lorien.config import open_store
from lorien.dialects import Lowering, get_dialect
from lorien.outputs import output_mismatch
from tests import tvm_models

PLAIN, PREPACK = Lowering(prepack=False), Lowering(prepack=True)


@pytest.fixture(scope="module")
def conv_bn() -> object:
    return get_dialect("tvm").load_model(tvm_models.small_conv_bn())


def _tvm_pipeline_keys(model: object, lowering: Lowering, work_dir: Path) -> set[str]:
    """The kernels TVM's own ``static_shape_tuning_pipeline`` leaves in the module (no tuning)."""
    import tvm
    from tvm import relax
    from tvm.s_tir import meta_schedule as ms

    from lorien.dialects.tvm.target import to_tvm_target
    from lorien.dialects.tvm.workloads import workload_key

    target = to_tvm_target(get_dialect("tvm").parse_target("host"))
    pipeline = relax.pipeline.static_shape_tuning_pipeline(
        total_trials=0, target=target, work_dir=str(work_dir), cpu_weight_prepack=lowering.prepack)
    lowered = pipeline(model.mod)  # type: ignore[attr-defined]
    assert isinstance(lowered, tvm.IRModule)
    return {workload_key(task.dispatched[0]) for task in ms.relax_integration.extract_tasks(lowered, target)}


def test_batchnorm_folds_into_the_convolution_before_it(conv_bn: object) -> None:
    dialect = get_dialect("tvm")
    uses = dialect.extract(conv_bn, dialect.parse_target("host"), PLAIN)
    names = sorted(use.workload.name.split("(")[0] for use in uses)
    assert names == ["fused_conv2d_subtract_divide_multiply_add",
                     "fused_conv2d_subtract_divide_multiply_add_relu"]


@pytest.mark.parametrize("lowering", [PLAIN, PREPACK], ids=lambda lowering: lowering.name)
def test_the_kernels_are_the_ones_tvm_pipeline_tunes(conv_bn: object, lowering: Lowering,
                                                     tmp_path: Path) -> None:
    dialect = get_dialect("tvm")
    keys = {use.workload.key for use in dialect.extract(conv_bn, dialect.parse_target("host"), lowering)}
    assert keys == _tvm_pipeline_keys(conv_bn, lowering, tmp_path)


def test_prepacked_and_plain_kernels_never_share_a_key() -> None:
    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    for model in (tvm_models.small_conv_bn(), tvm_models.small_mlp()):
        loaded = dialect.load_model(model)
        plain = {use.workload.key for use in dialect.extract(loaded, target, PLAIN)}
        prepacked = {use.workload.key for use in dialect.extract(loaded, target, PREPACK)}
        assert plain and prepacked and not plain & prepacked


def test_prepacking_is_what_extract_and_the_hook_use_unless_told(conv_bn: object, tmp_path: Path) -> None:
    from lorien.dialects.tvm.hook import LorienDatabase

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    assert dialect.default_lowering == PREPACK
    default = {use.workload.key for use in dialect.extract(conv_bn, target)}
    assert default == {use.workload.key for use in dialect.extract(conv_bn, target, PREPACK)}
    with open_store(f"sqlite:///{tmp_path}/lorien.db") as store:
        hooks = [dialect.compiler_hook(store, target), LorienDatabase(store, target, dialect.build_id()),
                 dialect.compiler_hook(store, target, PLAIN)]
        assert all(isinstance(hook, LorienDatabase) for hook in hooks)
        assert [hook.lowering for hook in hooks] == [PREPACK, PREPACK, PLAIN]  # type: ignore[attr-defined]


def _stored_samples(store: object, workloads: list, latency: float) -> dict[str, str]:
    """One sampled schedule per workload committed as tuned at ``latency``; key -> schedule."""
    from lorien.records import Latency, ScheduleRecord
    from tests.tvm_models import sampled_schedules

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    chosen = {w.key: sampled_schedules(w, target, count=1)[0] for w in workloads}
    store.put_workloads(workloads)  # type: ignore[attr-defined]
    store.commit([ScheduleRecord(dialect="tvm", workload_key=key, target=target,  # type: ignore[attr-defined]
                                 build=dialect.build_id(), schedule=schedule,
                                 latency=Latency((latency,)), source="tuned")
                  for key, schedule in chosen.items()])
    return chosen


def test_the_hook_answers_prepacked_kernels_never_their_plain_kernels(conv_bn: object,
                                                                      tmp_path: Path) -> None:
    """Plain kernels' schedules stored; TVM's own pipeline with prepacking asks the hook for the
    plain kernels first (its zero pipeline applies the current database before the weights are
    marked layout-free): those stay unscheduled, so that prepacking can rewrite their weights.
    Then it asks for the prepacked ones, which their plain twins' schedules answer."""
    import tvm
    from tvm import relax

    from lorien.dialects.tvm.hook import LorienDatabase
    from lorien.dialects.tvm.target import to_tvm_target

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    tvm_target = to_tvm_target(target)
    plain = [use.workload for use in dialect.extract(conv_bn, target, PLAIN)]
    with open_store(f"sqlite:///{tmp_path}/lorien.db") as store:
        _stored_samples(store, plain, latency=1e-4)
        hook = dialect.compiler_hook(store, target, PREPACK)
        assert isinstance(hook, LorienDatabase)
        pipeline = relax.pipeline.static_shape_tuning_pipeline(
            total_trials=0, target=tvm_target, work_dir=str(tmp_path / "unused"), cpu_weight_prepack=True)
        with tvm_target, hook:
            lowered = pipeline(conv_bn.mod)  # type: ignore[attr-defined]
        prepacked = {use.workload.key for use in dialect.extract(conv_bn, target, PREPACK)}
        assert set(hook.stats.other_lowering) == {w.key for w in plain}
        assert set(hook.stats.queried) == set(hook.stats.answered) == prepacked
        assert {r.workload_key for r in hook.stats.answered.values()} == {w.key for w in plain}
        assert isinstance(lowered, tvm.IRModule)
        plain_build = dialect.compile(conv_bn, target, store, PLAIN)
    assert (plain_build.kernels, plain_build.kernels_scheduled) == (2, 2)


def test_a_prepacked_build_takes_the_faster_of_each_kernels_own_and_plain_schedule(
        conv_bn: object, tmp_path: Path) -> None:
    """Each kernel of a prepacked build gets the faster of its prepacked schedule and its plain
    twin's, and the build computes what PyTorch computes either way."""
    from lorien.datasets.eager import torch_outputs
    from lorien.dialects.tvm.hook import LorienDatabase
    from lorien.dialects.tvm.target import to_tvm_target
    from lorien.dialects.tvm.workloads import from_workload

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    plain = {u.workload.name.split("(")[0]: u.workload for u in dialect.extract(conv_bn, target, PLAIN)}
    prepacked = {u.workload.name.split("(")[0]: u.workload
                 for u in dialect.extract(conv_bn, target, PREPACK)}
    relu = "fused_conv2d_subtract_divide_multiply_add_relu"
    other = "fused_conv2d_subtract_divide_multiply_add"
    with open_store(f"sqlite:///{tmp_path}/lorien.db") as store:
        _stored_samples(store, list(plain.values()), latency=1e-4)
        faster = _stored_samples(store, [prepacked[relu]], latency=5e-5)
        _stored_samples(store, [prepacked[other]], latency=2e-4)
        hook = dialect.compiler_hook(store, target, PREPACK)
        assert isinstance(hook, LorienDatabase)
        tvm_target = to_tvm_target(target)
        with tvm_target:
            for name in (relu, other):
                assert hook.query_tuning_record(from_workload(prepacked[name]), tvm_target, name) is not None
        answered = {r.workload_key: r for r in hook.stats.answered.values()}
        assert answered[prepacked[relu].key].schedule == faster[prepacked[relu].key]  # its own: faster
        assert plain[other].key in answered  # its plain twin's: faster than its own
        compiled = dialect.compile(conv_bn, target, store, PREPACK)
    assert compiled.kernels_scheduled == 2
    source = tvm_models.small_conv_bn()
    assert output_mismatch(dialect.outputs(compiled), torch_outputs(source), rtol=1e-4, atol=1e-5) is None


@pytest.mark.parametrize("lowering", [PLAIN, PREPACK], ids=lambda lowering: lowering.name)
def test_untuned_builds_compute_what_torch_computes(lowering: Lowering) -> None:
    from lorien.datasets.eager import torch_outputs

    dialect = get_dialect("tvm")
    source = tvm_models.small_conv_bn()
    compiled = dialect.compile(dialect.load_model(source), dialect.parse_target("host"), None, lowering)
    assert compiled.lowering == lowering and compiled.kernels == 2
    got, want = dialect.outputs(compiled), torch_outputs(source)
    assert output_mismatch(got, want, rtol=1e-4, atol=1e-5) is None
    assert np.abs(want[0]).max() > 1  # BatchNorm's statistics moved the outputs: folding them matters


def test_prepacked_schedules_round_trip_through_lorien_schedule_strings(conv_bn: object) -> None:
    """A prepacked kernel's schedules rewrite the weight layout (an ``IndexMap`` in the trace):
    Lorien's schedule string keeps it in the form TVM's trace reader reads back."""
    from lorien.records import Latency, ScheduleRecord
    from tests.tvm_models import sampled_schedules

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    workload = dialect.extract(conv_bn, target, PREPACK)[0].workload
    schedules = sampled_schedules(workload, target, count=2)
    assert all('"TransformLayout"' in schedule for schedule in schedules)
    for schedule in schedules:
        assert dialect.schedule_problem(workload, schedule) is None
        record = ScheduleRecord(dialect="tvm", workload_key=workload.key, target=target,
                                build=dialect.build_id(), schedule=schedule, latency=Latency((1e-4,)))
        assert "layout_rewrite_preproc" in dialect.apply(workload, record).script()  # type: ignore[attr-defined]
