"""PyTorch eager latency, the baseline Lorien's builds are compared with."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from lorien.dialects.base import TorchModel
from lorien.errors import InvalidInput
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


def time_torch_eager_alone(spec: str, batch: int = 1, repeat: int = 5, timeout_s: float = 900) -> Latency:
    """:func:`time_torch_eager` of the model ``spec`` names (see :func:`lorien.datasets.zoo.load_model`),
    run in a fresh Python process.

    Timed in the process that built and ran a TVM model, eager shares it with what TVM left there
    (its worker-thread pool): on this project's 2-core machine ResNet-18's eager ran 44.5 ms timed
    that way and 28.5 ms alone, in separate runs (``benchmarks/runtime_threads.py`` measures the
    two side by side). Baselines a user compares with are therefore timed alone. Blocks until the
    child exits; thread-safe.

    Raises:
        RuntimeError: the child failed or ran past ``timeout_s``; the message carries its last line.
    """
    command = [sys.executable, "-m", "lorien.datasets.eager", "--model", spec, "--batch", str(batch),
               "--repeat", str(repeat)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"timing {spec} in PyTorch eager ran past {timeout_s:g} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"timing {spec} in PyTorch eager failed: {last}")
    return Latency(tuple(json.loads(lines[-1])["runs_s"]))


def main(argv: list[str] | None = None) -> int:
    """``python -m lorien.datasets.eager --model SPEC [--batch B] [--repeat N]``: prints
    ``{"runs_s": [...]}`` on its last line."""
    from lorien.datasets.zoo import load_model

    parser = argparse.ArgumentParser(description="PyTorch eager latency of one model, in this process")
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model, args.batch)
    except InvalidInput as exc:
        print(exc, file=sys.stderr)
        return 2
    if not isinstance(model, TorchModel):
        print(f"{args.model} is not a PyTorch model", file=sys.stderr)
        return 2
    print(json.dumps({"runs_s": list(time_torch_eager(model, args.repeat).runs)}))
    return 0


def torch_outputs(model: TorchModel) -> list[np.ndarray]:
    """The outputs of one eager run of ``model`` on its example inputs, tuples flattened in order:
    the reference a build's outputs are checked against."""
    import torch

    with torch.no_grad():
        result = model.module(*model.example_inputs)
    return flatten_outputs(
        result, lambda v: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else None)


if __name__ == "__main__":
    sys.exit(main())
