"""PyTorch eager latency, the baseline Lorien's builds are compared with."""

from __future__ import annotations

import time

import numpy as np

from lorien.dialects.base import TorchModel
from lorien.outputs import flatten_outputs
from lorien.records import Latency


def time_torch_eager(model: TorchModel, repeat: int = 5, warmup: int = 2) -> Latency:
    """Wall-clock latency of ``model.module(*model.example_inputs)`` under ``torch.no_grad``."""
    import torch

    with torch.no_grad():
        for _ in range(warmup):
            model.module(*model.example_inputs)
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            model.module(*model.example_inputs)
            runs.append(time.perf_counter() - start)
    return Latency(tuple(runs))


def torch_outputs(model: TorchModel) -> list[np.ndarray]:
    """The outputs of one eager run of ``model`` on its example inputs, tuples flattened in order:
    the reference a build's outputs are checked against."""
    import torch

    with torch.no_grad():
        result = model.module(*model.example_inputs)
    return flatten_outputs(
        result, lambda v: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else None)
