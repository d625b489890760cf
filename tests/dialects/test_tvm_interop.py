"""Interoperability with TVM's own static-shape pipeline, both ways, prepacked and plain.

TVM's ``relax.pipeline.static_shape_tuning_pipeline`` tunes a small conv-BatchNorm net into a
JSONDatabase; Lorien imports it (``lorien db import-metaschedule``) and answers every kernel when it
compiles the same model the same way; Lorien's export (``lorien db export-metaschedule``) is then
used for every kernel by TVM's own pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lorien.cli.main import main
from lorien.config import open_store
from lorien.dialects import Lowering, get_dialect
from lorien.outputs import output_mismatch
from tests import tvm_models

pytestmark = pytest.mark.slow

@dataclass
class TunedByTVM:
    lowering: Lowering
    work_dir: Path
    model: object


@pytest.fixture(scope="module")
def tvm_work_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """JSONDatabases written by TVM's own pipeline at 2 trials per kernel, plain and prepacked,
    tuned at the same time in processes of their own (see :mod:`tests.tvm_pipeline_tune`)."""
    work_dirs = {prepack: tmp_path_factory.mktemp(f"tvm-{Lowering(prepack=prepack).name}")
                 for prepack in (False, True)}
    running = {prepack: subprocess.Popen(
        [sys.executable, "-m", "tests.tvm_pipeline_tune", str(work_dir), *(["--prepack"] if prepack else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for prepack, work_dir in work_dirs.items()}
    for process in running.values():
        _, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-3000:]
    return work_dirs


@pytest.fixture(scope="module", params=[Lowering(prepack=False), Lowering(prepack=True)],
                ids=lambda lowering: lowering.name)
def tuned_by_tvm(request: pytest.FixtureRequest, tvm_work_dirs: dict[bool, Path]) -> TunedByTVM:
    lowering: Lowering = request.param
    model = get_dialect("tvm").load_model(tvm_models.small_conv_bn())
    return TunedByTVM(lowering, tvm_work_dirs[lowering.prepack], model)


def _flag(lowering: Lowering) -> str:
    return "--prepack" if lowering.prepack else "--no-prepack"


def test_a_database_tuned_by_tvm_answers_every_kernel(
        tuned_by_tvm: TunedByTVM, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lorien.datasets.eager import torch_outputs

    store = f"sqlite:///{tmp_path}/lorien.db"
    assert main(["db", "import-metaschedule", str(tuned_by_tvm.work_dir), "--store", store]) == 0
    capsys.readouterr()
    model = "tests/tvm_models.py:small_conv_bn"
    library = tmp_path / "model.so"
    assert main(["compile", "--model", model, "--store", store, _flag(tuned_by_tvm.lowering),
                 "--check", "--json", "--repeat", "20", "--output", str(library)]) == 0
    summary = json.loads(capsys.readouterr().out)
    _assert_library_runs_like_torch(library)
    assert summary["lowering"] == tuned_by_tvm.lowering.name
    assert (summary["kernels"], summary["kernels_scheduled"], summary["missing"]) == (2, 2, [])
    assert summary["check"]["reference"] == "torch"
    assert summary["latency_s"]["lorien"] < summary["latency_s"]["untuned"] / 1.5, summary["latency_s"]

    # built the other way: a plain build finds none of a prepacked database's records, and a
    # prepacked build takes a plain database's records through its kernels' plain twins
    dialect = get_dialect("tvm")
    other = Lowering(prepack=not tuned_by_tvm.lowering.prepack)
    with open_store(store) as opened:
        compiled = dialect.compile(tuned_by_tvm.model, dialect.parse_target("host"), opened, other)
    assert (compiled.kernels, compiled.kernels_scheduled) == (2, 2 if other.prepack else 0)
    got = dialect.outputs(compiled)
    assert output_mismatch(got, torch_outputs(tvm_models.small_conv_bn()), rtol=1e-4, atol=1e-5) is None


def _assert_library_runs_like_torch(library: Path) -> None:
    """The five lines the README shows, prepacked or not: no parameter transform to call."""
    import tvm
    from tvm import relax

    source = tvm_models.small_conv_bn()
    vm = relax.VirtualMachine(tvm.runtime.load_module(str(library)), tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(source.example_inputs[0].numpy(), tvm.cpu()))
    want = source.module(source.example_inputs[0]).detach().numpy()
    np.testing.assert_allclose(out[0].numpy(), want, rtol=1e-4, atol=1e-5)


def test_tvm_pipeline_uses_lorien_export_for_every_kernel(
        tuned_by_tvm: TunedByTVM, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tvm
    from tvm import relax

    from lorien.dialects.tvm.target import to_tvm_target

    store, exported = f"sqlite:///{tmp_path}/lorien.db", tmp_path / "exported"
    assert main(["db", "import-metaschedule", str(tuned_by_tvm.work_dir), "--store", store]) == 0
    assert main(["db", "export-metaschedule", str(exported), "--store", store]) == 0
    capsys.readouterr()
    target = to_tvm_target(get_dialect("tvm").parse_target("host"))
    lowered = relax.pipeline.static_shape_tuning_pipeline(
        total_trials=0, target=target, work_dir=str(exported),
        cpu_weight_prepack=tuned_by_tvm.lowering.prepack)(tuned_by_tvm.model.mod)  # type: ignore[attr-defined]
    kernels = {gv.name_hint: func for gv, func in lowered.functions.items()
               if isinstance(func, tvm.tirx.PrimFunc)}
    if tuned_by_tvm.lowering.prepack:
        # each scheduled kernel was split into its weight packing and the kernel on packed weights
        assert sorted(name.rsplit("_", 1)[-1] for name in kernels) == ["prepack", "prepack",
                                                                       "prepacked", "prepacked"]
    else:
        assert len(kernels) == 2
        assert all(func.attrs.get("tirx.is_scheduled") for func in kernels.values())
    built = tvm.compile(lowered, target=target)
    vm = relax.VirtualMachine(built, tvm.cpu())
    source = tvm_models.small_conv_bn()
    out = vm["main"](tvm.runtime.tensor(source.example_inputs[0].numpy()))
    want = source.module(source.example_inputs[0]).detach().numpy()
    np.testing.assert_allclose(out[0].numpy(), want, rtol=1e-4, atol=1e-5)
