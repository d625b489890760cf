"""``lorien extract --list``: zoo networks extract, each with its task count.

The listing extracts every network (seconds each, on every core); the test lists a subset that
covers each kind of network in the zoo (a plain convnet, a mobile one with squeeze-and-excite,
factorised convolutions, a ConvNeXt, an encoder, a decoder generating over a cache), to
keep the suite's time. Every network's PyTorch forward is checked in ``tests/datasets/test_zoo.py``.
"""

from __future__ import annotations

import json

import pytest

from lorien.cli.main import main
from lorien.datasets import zoo

pytestmark = pytest.mark.slow

LISTED = ("resnet18", "mobilenet_v3_large", "inception_v3", "convnext_tiny", "bert_base_s128",
          "gpt2_decode_c256")


def test_extract_lists_the_zoo_with_task_counts(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    entries = zoo.zoo_entries()
    assert set(LISTED) < {entry.name for entry in entries}
    monkeypatch.setattr(zoo, "zoo_entries", lambda: [entry for entry in entries if entry.name in LISTED])
    assert main(["extract", "--list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(LISTED)
    assert rows["resnet18"]["tasks"] == 22  # BatchNorm folded into the convolutions
    assert all(row["tasks"] > 0 and row["flops"] > 0 for row in rows.values())
    # generating one token is matrix-vector work: far less than reading a prompt
    assert rows["gpt2_decode_c256"]["flops"] < rows["bert_base_s128"]["flops"] / 10
