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

#: The absolute tolerance per unit of an output's root mean square when one kernel is checked on
#: random arguments: float32 sums reordered by a schedule leave a few values that cancel to near
#: zero off by 1e-5 to 3e-5 of the output's RMS (four convolutions with normalisation, 1 to 5
#: values of up to 1.4 million each), while a schedule that computes the wrong thing is off by
#: the order of the RMS itself (a folded layout rewrite: 33x, at 96% of the values).
KERNEL_SCALED_ATOL = 1e-3


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
                    atol: float = DEFAULT_ATOL, scaled_atol: float = 0.0) -> str | None:
    """Why ``got`` differs from ``want`` (one line), or None when every output is within
    ``|got - want| <= atol + scaled_atol * rms(want) + rtol * |want|`` (``rms``: that output's
    root mean square; NaN equal only to NaN). ``scaled_atol`` allows for a value that summation
    in another order leaves near zero by cancellation, where an absolute tolerance alone is too
    tight for large terms (see :data:`KERNEL_SCALED_ATOL`).
    """
    if len(got) != len(want):
        return f"{len(got)} outputs, the reference has {len(want)}"
    for number, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        mine, theirs = np.asarray(mine), np.asarray(theirs)
        if mine.shape != theirs.shape:
            return f"output {number} has shape {mine.shape}, the reference {theirs.shape}"
        if mine.size == 0:
            continue
        allowed = atol
        if scaled_atol:
            finite = theirs[np.isfinite(theirs)].astype(np.float64)
            allowed += scaled_atol * (float(np.sqrt(np.mean(finite ** 2))) if finite.size else 0.0)
        close = np.isclose(mine, theirs, rtol=rtol, atol=allowed, equal_nan=True)
        if not close.all():
            error = np.abs(mine.astype(np.float64) - theirs.astype(np.float64))
            worst = np.unravel_index(int(np.nanargmax(np.where(close, 0.0, error))), mine.shape)
            return (f"output {number} differs from the reference at {int((~close).sum())} of {mine.size} "
                    f"values (worst at {tuple(int(i) for i in worst)}: {float(mine[worst]):.6g} vs "
                    f"{float(theirs[worst]):.6g}; tolerance rtol={rtol:g}, atol={allowed:g})")
    return None


def max_abs_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    """The largest absolute difference over all outputs (shapes must match)."""
    return max((float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                for a, b in zip(got, want, strict=True) if np.asarray(a).size), default=0.0)
