"""Whether a built model computes what it should: its outputs against a reference's.

A schedule that computes the wrong thing must never be served, so a build is checked against a
reference (PyTorch for a torch model, the compiler's unscheduled build otherwise) on the same
inputs, output by output, within a tolerance that allows for summation in another order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from lorien.errors import InvalidInput

#: Relative and absolute tolerance of a float32 output: schedules reorder sums, nothing more.
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-4


def flatten_outputs(result: Any, as_array: Callable[[Any], np.ndarray | None],
                    sequences: tuple[type, ...] = (list, tuple)) -> list[np.ndarray]:
    """A model's outputs as one list of arrays, nested sequences flattened in order.

    Args:
        result: what one run returned.
        as_array: a leaf's array (a tensor of the framework), None for anything else.
        sequences: the types to descend into.

    Raises:
        InvalidInput: something in ``result`` is neither a tensor nor a sequence.
    """
    flat: list[np.ndarray] = []
    pending = [result]
    while pending:
        value = pending.pop(0)
        array = as_array(value)
        if array is not None:
            flat.append(array)
        elif isinstance(value, sequences) and isinstance(value, Iterable):
            pending = list(value) + pending
        else:
            raise InvalidInput(f"the model returns a {type(value).__name__}, not tensors")
    return flat


def output_mismatch(got: Sequence[np.ndarray], want: Sequence[np.ndarray], *, rtol: float = DEFAULT_RTOL,
                    atol: float = DEFAULT_ATOL) -> str | None:
    """Why ``got`` differs from ``want`` (one line), or None when every output is within
    ``|got - want| <= atol + rtol * |want|`` (NaN equal only to NaN).
    """
    if len(got) != len(want):
        return f"{len(got)} outputs, the reference has {len(want)}"
    for number, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        mine, theirs = np.asarray(mine), np.asarray(theirs)
        if mine.shape != theirs.shape:
            return f"output {number} has shape {mine.shape}, the reference {theirs.shape}"
        if mine.size == 0:
            continue
        close = np.isclose(mine, theirs, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            error = np.abs(mine.astype(np.float64) - theirs.astype(np.float64))
            worst = np.unravel_index(int(np.nanargmax(np.where(close, 0.0, error))), mine.shape)
            return (f"output {number} differs from the reference at {int((~close).sum())} of {mine.size} "
                    f"values (worst at {tuple(int(i) for i in worst)}: {float(mine[worst]):.6g} vs "
                    f"{float(theirs[worst]):.6g}; tolerance rtol={rtol:g}, atol={atol:g})")
    return None


def max_abs_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    """The largest absolute difference over all outputs (shapes must match)."""
    return max((float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                for a, b in zip(got, want, strict=True) if np.asarray(a).size), default=0.0)
