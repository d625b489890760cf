"""``lorien extract --list``: every zoo network extracts, with its task count."""

from __future__ import annotations

import json

import pytest

from lorien.cli.main import main

pytestmark = pytest.mark.slow


def test_extract_lists_the_zoo_with_task_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "--list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["resnet18"]["tasks"] == 22  # BatchNorm folded into the convolutions
    assert all(row["tasks"] > 0 and row["flops"] > 0 for row in rows.values())
    # a longer sequence means more work, the same kinds of kernels
    assert rows["bert_base_s256"]["flops"] > 2 * rows["bert_base_s128"]["flops"] > 0
