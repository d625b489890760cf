"""PyTorch eager latency, the baseline Lorien's builds are compared with."""

from __future__ import annotations

import time

import numpy as np

from lorien.dialects.base import TorchModel
from lorien.errors import InvalidInput
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
    flat: list[np.ndarray] = []
    pending = [result]
    while pending:
        value = pending.pop(0)
        if isinstance(value, torch.Tensor):
            flat.append(value.detach().cpu().numpy())
        elif isinstance(value, (list, tuple)):
            pending = list(value) + pending
        else:
            raise InvalidInput(f"the model returns a {type(value).__name__}, not tensors")
    return flat
