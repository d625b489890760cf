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
    with open_store(store) as opened:
        assert [r.source for r in opened.records(workload_key=predicted["key"])] == ["predicted"]
    assert main(argv) == 0  # predicted, not tuned: predicted again (not stored this time)
    assert "1 predicted with lorien-cost-model" in capsys.readouterr().out
    with open_store(store) as opened:
        assert opened.count(workload_key=predicted["key"]) == 1
