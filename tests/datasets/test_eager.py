"""PyTorch eager timing, in this process and alone in a fresh one."""

from __future__ import annotations

import pytest

from lorien.datasets.eager import time_torch_eager, time_torch_eager_alone
from tests.tvm_models import small_mlp


def test_in_process_timing_runs_the_model_repeat_times() -> None:
    latency = time_torch_eager(small_mlp(), repeat=3)
    assert len(latency.runs) == 3 and latency.median > 0


def test_alone_times_the_named_model_in_a_fresh_process() -> None:
    latency = time_torch_eager_alone("tests/tvm_models.py:small_mlp", repeat=4)
    assert len(latency.runs) == 4 and all(run > 0 for run in latency.runs)


@pytest.mark.parametrize(("spec", "says"), [
    ("tests/tvm_models.py:no_such_model", "no_such_model"),
    ("tests/tvm_models.py:small_conv_relax", "not a PyTorch model"),
])
def test_alone_failure_is_one_line_with_the_childs_reason(spec: str, says: str) -> None:
    with pytest.raises(RuntimeError, match="PyTorch eager failed") as caught:
        time_torch_eager_alone(spec, repeat=1)
    assert says in str(caught.value) and "\n" not in str(caught.value)
