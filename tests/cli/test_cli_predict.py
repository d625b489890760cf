"""``lorien predict``: zero-shot schedules from the command line, stored as predicted on request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lorien.cli.main import main
from lorien.config import open_store


def test_predict_a_model_then_skip_what_is_stored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path}/s.db"
    argv = ["predict", "--model", "tests/tvm_models.py:small_mlp", "--store", store]
    assert main([*argv, "--commit", "--json"]) == 0
    [predicted] = json.loads(capsys.readouterr().out)
    assert predicted["record"]["source"] == "predicted" and not predicted["measured"]
    assert predicted["compiles"] and predicted["passed_over"] == 0  # compiled here before it was given
    with open_store(store) as opened:
        assert [r.source for r in opened.records(workload_key=predicted["key"])] == ["predicted"]
    assert main(argv) == 0  # predicted, not tuned: predicted again (not stored this time)
    out = capsys.readouterr().out
    assert "1 predicted with lorien-cost-model" in out and "compiles" in out
    with open_store(store) as opened:
        assert opened.count(workload_key=predicted["key"]) == 1


@pytest.mark.exclusive  # a budget of seconds must measure something
def test_predict_within_a_budget_stores_measured_answers(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from lorien.dialects import get_dialect
    from tests.tvm_models import small_mlp, start_budget_measurers

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    [use] = dialect.extract(dialect.load_model(small_mlp()), target)
    start_budget_measurers(use.workload, target)
    store = f"sqlite:///{tmp_path}/s.db"
    argv = ["predict", "--model", "tests/tvm_models.py:small_mlp", "--store", store, "--seed", "1", "--json"]
    assert main([*argv, "--budget", "8"]) == 0
    delivered = json.loads(capsys.readouterr().out)
    [kernel] = delivered["kernels"]
    assert delivered["budget_s"] == 8 and delivered["seconds"] < 8 + 15
    assert kernel["tier"] == "measured" and kernel["measured"] >= 1 and kernel["settled"] is None
    with open_store(store) as opened:
        stored = list(opened.records(workload_key=kernel["key"]))
    assert {r.source for r in stored} == {"measured", "predicted"}  # every improvement kept as found
    fastest = min((r for r in stored if r.source == "measured"), key=lambda r: r.latency.mean)
    assert fastest.to_dict() == kernel["record"]
    assert main([*argv, "--budget", "8"]) == 0  # measured on this CPU already: nothing to spend
    [again] = json.loads(capsys.readouterr().out)["kernels"]
    assert again["settled"] == "measured" and again["measured"] == 0


@pytest.mark.parametrize(("extra", "message"), [
    (["--budget", "-1"], "--budget must be a finite number of seconds"),
    (["--budget", "nan"], "--budget must be a finite number of seconds"),
    (["--budget", "5", "--measure-top-k", "2"], "not both"),
    (["--budget", "5", "--target", '{"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2}'],
     "--budget measures on this machine"),
])
def test_a_bad_budget_is_one_line_and_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  extra: list[str], message: str) -> None:
    argv = ["predict", "--model", "tests/tvm_models.py:small_mlp", "--store", f"sqlite:///{tmp_path}/s.db"]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
