"""``lorien compile --check`` and ``--output``: a build's outputs against the reference, a wrong
one refused with exit code 6, and a library that loads and runs in a fresh process. The
predictor's schedules (adapted neighbours, samples) go through the same check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lorien.cli.main import main
from lorien.config import open_store
from lorien.datasets.seed import seed_store
from lorien.dialects import CandidateOptions, get_dialect
from lorien.outputs import output_mismatch
from tests.cli.test_cli_errors import assert_one_line_error, run_cli
from tests.tvm_models import outputs_with_schedule, small_conv

MODEL = "tests/tvm_models.py:small_conv"


def test_output_mismatch_reasons() -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert output_mismatch([a], [a + 1e-6]) is None
    assert "2 outputs" in (output_mismatch([a, a], [a]) or "")
    assert "shape (2, 3)" in (output_mismatch([a], [a.reshape(3, 2)]) or "")
    wrong = a.copy()
    wrong[1, 2] = 7.0
    reason = output_mismatch([wrong], [a]) or ""
    assert "1 of 6 values" in reason and "(1, 2)" in reason and "\n" not in reason
    nan = np.array([np.nan, 1.0])
    assert output_mismatch([nan], [nan]) is None and output_mismatch([nan], [np.ones(2)]) is not None


@pytest.fixture(scope="module")
def predicted_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with the shipped tuned schedules and a prediction for small_conv's kernel."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('check')}/lorien.db"
    with open_store(uri) as store:
        seed_store(store)
    code = main(["predict", "--model", MODEL, "--store", uri, "--commit"])
    assert code == 0
    return uri


def test_a_build_from_predicted_schedules_matches_torch_and_exports(
        capsys: pytest.CaptureFixture[str], predicted_store: str, tmp_path: Path) -> None:
    library = tmp_path / "model.so"
    code, out, err = run_cli(capsys, "compile", "--model", MODEL, "--store", predicted_store, "--check",
                             "--output", str(library), "--no-baselines", "--repeat", "1", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["kernels_scheduled"] == summary["kernels"] == 1
    assert summary["check"]["reference"] == "torch" and summary["check"]["max_abs_error"] < 1e-3
    assert summary["output"] == [str(library)] and library.stat().st_size > 0
    model = small_conv()
    np.save(tmp_path / "x.npy", model.example_inputs[0].numpy())
    expected = model.module(*model.example_inputs).detach().numpy()
    script = ("import sys, numpy as np, tvm\nfrom tvm import relax\n"
              "vm = relax.VirtualMachine(tvm.runtime.load_module(sys.argv[1]), tvm.cpu())\n"
              "out = vm['main'](tvm.runtime.tensor(np.load(sys.argv[2]), tvm.cpu()))\n"
              "np.save(sys.argv[3], out[0].numpy())  # torch models return a tuple\n")
    ran = subprocess.run([sys.executable, "-c", script, str(library), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert output_mismatch([np.load(tmp_path / "y.npy")], [expected]) is None


def test_a_build_that_computes_the_wrong_thing_is_refused_and_not_written(
        capsys: pytest.CaptureFixture[str], predicted_store: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from lorien.datasets import eager

    original = eager.torch_outputs
    monkeypatch.setattr(eager, "torch_outputs", lambda model: [x + 1.0 for x in original(model)])
    library = tmp_path / "model.so"
    code, _, err = run_cli(capsys, "compile", "--model", MODEL, "--store", predicted_store, "--check",
                           "--output", str(library), "--no-baselines", "--repeat", "1")
    assert code == 6 and "computes the wrong thing" in err and "differs from the reference" in err
    assert_one_line_error(err)
    assert not library.exists()


def test_every_adapted_neighbour_schedule_computes_the_right_thing(predicted_store: str,
                                                                   tmp_path: Path) -> None:
    """The predictor re-tiles neighbours' schedules for a new kernel, and a budgeted delivery
    mutates them; each one proposed for small_conv, built alone into the model, gives torch's
    outputs."""
    from lorien.datasets.eager import torch_outputs
    from lorien.predictor import NeighbourIndex

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    model = small_conv()
    [use] = dialect.extract(dialect.load_model(model), target)
    with open_store(predicted_store) as store:
        neighbours = NeighbourIndex(store).nearest(use.workload, target, 8)
        seeds = [n.record.schedule for n in neighbours]
    found = dialect.candidates(use.workload, target, seeds, None, CandidateOptions(samples=2, evolve=False))
    adapted = [s for s, origin in zip(found.schedules, found.origins, strict=True) if origin == "neighbour"]
    assert adapted, "no neighbour schedule could be adapted"
    local = dialect.candidates(use.workload, target, adapted[:2], None,
                               CandidateOptions(samples=0, mutants=16, seed=3))
    mutants = [s for s, origin in zip(local.schedules, local.origins, strict=True) if origin == "mutant"]
    assert mutants, "no mutant of the adapted schedules"
    reference = torch_outputs(model)
    for number, schedule in enumerate([*adapted[:4], *found.schedules[-2:], *mutants[:3]]):
        (tmp_path / str(number)).mkdir()
        got = outputs_with_schedule(model, schedule, tmp_path / str(number))
        assert output_mismatch(got, reference) is None, number
